//===- CPUFeatures.cpp - what this CPU and OS can run ---------------------===//

#include "lib/Runtime/CPUFeatures.h"
#include "lib/Runtime/CPUFeatureTable.h"

#include <cpuid.h>
#include <cstdint>
#include <mutex>
#include <sys/syscall.h>
#include <unistd.h>

namespace {
using dqmlir::runtime::Bit;
using dqmlir::runtime::kFeatureBits;

bool cpuBit(const Bit &b) {
  unsigned maxLeaf = __get_cpuid_max(b.leaf & 0x80000000u, nullptr);
  if (maxLeaf < b.leaf)
    return false;
  unsigned r[4] = {0, 0, 0, 0};
  __cpuid_count(b.leaf, b.subleaf, r[0], r[1], r[2], r[3]);
  unsigned reg = r[b.reg - 'a'];
  return (reg >> b.bit) & 1u;
}

/// XCR0: the register state the OS saves on context switches.
uint64_t xcr0() {
  unsigned a, b, c, d;
  __cpuid(1, a, b, c, d);
  if (!((c >> 27) & 1u)) // OSXSAVE
    return 0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

bool starts(const std::string &s, const char *prefix) {
  return s.rfind(prefix, 0) == 0;
}

/// Whether the OS saves the state `feature` uses.
bool osSaves(const std::string &feature) {
  uint64_t x = xcr0();
  bool avx = (x & 0x6) == 0x6;
  if (starts(feature, "avx512"))
    return avx && (x & 0xe0) == 0xe0;
  if (starts(feature, "amx"))
    return (x & 0x60000) == 0x60000;
  if (feature == "avx" || feature == "avx2" || feature == "fma" ||
      feature == "f16c" || feature == "avxvnni" || feature == "vaes" ||
      feature == "vpclmulqdq")
    return avx;
  return true;
}
} // namespace

bool dqmlir::runtime::hasFeature(const std::string &feature, bool &known) {
  for (const Bit &b : kFeatureBits) {
    if (feature == b.name) {
      known = true;
      if (!cpuBit(b) || !osSaves(feature))
        return false;
      return !starts(feature, "amx") || requestAMXPermission();
    }
  }
  known = false;
  return false;
}

bool dqmlir::runtime::requestAMXPermission() {
  static bool granted = [] {
#if defined(__linux__) && defined(SYS_arch_prctl)
    constexpr long kGetPerm = 0x1022, kRequestPerm = 0x1023, kTileData = 18;
    if (syscall(SYS_arch_prctl, kRequestPerm, kTileData) != 0)
      return false;
    unsigned long mask = 0;
    if (syscall(SYS_arch_prctl, kGetPerm, &mask) != 0)
      return false;
    return bool(mask & (1ul << kTileData));
#else
    return false;
#endif
  }();
  return granted;
}

std::vector<std::string>
dqmlir::runtime::missingFeatures(const std::vector<std::string> &required) {
  std::vector<std::string> missing;
  for (const std::string &f : required) {
    bool known = false;
    if (hasFeature(f, known))
      continue;
    if (!known)
      missing.push_back(f + " (unknown to this runtime)");
    else if (starts(f, "amx") && [&] {
               Bit b{};
               for (const Bit &k : kFeatureBits)
                 if (f == k.name)
                   b = k;
               return cpuBit(b) && osSaves(f);
             }())
      missing.push_back(f + " (Linux denied the AMX tile state)");
    else
      missing.push_back(f);
  }
  return missing;
}
