//===- HostCPU.h - what the host x86 CPU and OS let us run ------*- C++ -*-===//
//
// dq-cpu-pipeline{kernel=auto} and dq-compile --target=host pick the int8
// kernel for the machine that compiles: these ask LLVM's host feature
// detection and, for AMX, Linux.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_TARGET_X86_HOSTCPU_H
#define DQMLIR_TARGET_X86_HOSTCPU_H

namespace mlir::dq {

/// Whether the host CPU has what the VNNI kernel runs on (avx512f, avx512bw,
/// avx512vnni): the backend aborts on the vpdpbusd intrinsic otherwise.
bool hostHasVNNI();

/// Whether the host CPU has avx2, what the AVX2 kernel runs on.
bool hostHasAVX2();
/// Whether the host CPU has amx-tile and amx-int8 (and the 512-bit vectors
/// the AMX kernel's epilogue and copies use). It says nothing about the
/// process's permission to use the tile state (processMayUseAMX).
bool hostHasAMX();

/// Whether this process has been granted the AMX tile state (Linux
/// arch_prctl(ARCH_GET_XCOMP_PERM) reports XFEATURE_XTILEDATA): the
/// permission is per process (python/dqmlir/amx.py and the runtime ask for
/// it). Always false elsewhere.
bool processMayUseAMX();

} // namespace mlir::dq

#endif // DQMLIR_TARGET_X86_HOSTCPU_H
