//===- HostCPU.cpp - what the host x86 CPU and OS let us run --------------===//

#include "lib/Target/X86/HostCPU.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

bool mlir::dq::hostHasVNNI() {
  auto features = llvm::sys::getHostCPUFeatures();
  return features.lookup("avx512f") && features.lookup("avx512bw") &&
         features.lookup("avx512vnni");
}

bool mlir::dq::hostHasAVX2() {
  return llvm::sys::getHostCPUFeatures().lookup("avx2");
}

bool mlir::dq::hostHasAMX() {
  auto features = llvm::sys::getHostCPUFeatures();
  // The epilogue and copies use 512-bit vectors; AMX CPUs all have them.
  return features.lookup("amx-tile") && features.lookup("amx-int8") &&
         features.lookup("avx512f") && features.lookup("avx512bw");
}

bool mlir::dq::processMayUseAMX() {
#if defined(__linux__) && defined(__x86_64__)
  // ARCH_GET_XCOMP_PERM: the extended features this process may use; the
  // tile data (XFEATURE_XTILEDATA = 18) only after ARCH_REQ_XCOMP_PERM.
  unsigned long long permitted = 0;
  if (syscall(SYS_arch_prctl, 0x1022, &permitted) != 0)
    return false;
  return permitted & (1ull << 18);
#else
  return false;
#endif
}
