//===- ModelLibrary.h - LLVM-dialect modules to saved model libraries -*- C++ -*-===//
//
// The ahead-of-time end of the compiler: a module lowered by dq-cpu-pipeline
// becomes the files of a saved model (include/dqmlir/runtime.h,
// lib/Runtime/Model.h): model.so, compiled by LLVM for a named x86 CPU
// level, and weights.bin, every large constant the code reads, which the
// runtime loads at open and whose address the code finds in
// `dqmlir_weights`.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_TARGET_MODELLIBRARY_MODELLIBRARY_H
#define DQMLIR_TARGET_MODELLIBRARY_MODELLIBRARY_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>
#include <vector>

namespace mlir::dq {

/// A CPU level code is compiled for: LLVM's CPU (which fixes the
/// instructions used) plus extra features, a CPU to tune for, and the int8
/// kernel it runs. `features` lists everything the code may use, by the
/// names lib/Runtime/CPUFeatures checks before it loads the code.
struct TargetLevel {
  std::string name, cpu, tune;
  std::vector<std::string> features;
  std::string kernel; // dq-cpu-pipeline's kernel option
};

/// The named levels: "amx" (AVX-512 VNNI + AMX-INT8, x86-64-v4 based),
/// "avx512-vnni", "x86-64-v3" (AVX2, the avx2 kernel) and "host" (the best of
/// them this machine has, tuned for it). Fails on other names.
FailureOr<TargetLevel> resolveTargetLevel(StringRef name);

/// Names of all levels, for help texts.
std::vector<std::string> targetLevelNames();

/// Moves the initializer of every constant llvm.mlir.global of at least
/// `minBytes` into `weights` (each at a 64-byte aligned offset) and makes
/// each of its addresses `dqmlir_weights + offset`; adds the external global
/// `dqmlir_weights` (a pointer the runtime sets).
LogicalResult externalizeWeights(ModuleOp module, size_t minBytes,
                                 std::string &weights);

/// Adds `dqmlir_entry(void **)`, the packed form of `_mlir_ciface_<entry>`
/// (args[0] points to the result pointer, args[i] to the i-th argument's
/// descriptor pointer), and the constant `dqmlir_interface_crc`.
LogicalResult addEntryPoint(ModuleOp module, StringRef entry,
                            uint32_t interfaceCRC);

/// Translates `module` (LLVM dialect) to LLVM IR, optimizes it at
/// `optLevel` and emits an object file for `target` into `object`.
/// `llvmIR`, if given, receives the optimized IR as text.
LogicalResult emitObject(ModuleOp module, const TargetLevel &target,
                         unsigned optLevel, std::string &object,
                         std::string *llvmIR = nullptr);

} // namespace mlir::dq

#endif // DQMLIR_TARGET_MODELLIBRARY_MODELLIBRARY_H
