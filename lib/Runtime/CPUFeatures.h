//===- CPUFeatures.h - what this CPU and OS can run -------------*- C++ -*-===//
//
// The runtime checks, before it loads any code, that the CPU has every
// feature the code was compiled for (an instruction it lacks is SIGILL) and
// that the OS saves the registers they use; AMX needs Linux's permission as
// well, asked for here. cpuid and xgetbv only: the runtime does not link
// LLVM (the compiler's host detection is lib/Target/X86/HostCPU).
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_RUNTIME_CPUFEATURES_H
#define DQMLIR_RUNTIME_CPUFEATURES_H

#include <string>
#include <vector>

namespace dqmlir::runtime {

/// Whether this CPU and OS support `feature`, an LLVM feature name
/// ("avx512f", "avx512vnni", "amx-int8", ...); `known` is set to false for
/// names this runtime cannot check.
bool hasFeature(const std::string &feature, bool &known);

/// Asks Linux for the AMX tile state (once per process); false if denied.
bool requestAMXPermission();

/// The features of `required` this machine lacks (or cannot be checked),
/// each with why.
std::vector<std::string> missingFeatures(const std::vector<std::string> &required);

} // namespace dqmlir::runtime

#endif // DQMLIR_RUNTIME_CPUFEATURES_H
