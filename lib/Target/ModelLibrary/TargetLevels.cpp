//===- TargetLevels.cpp - the named CPU levels a model is compiled for ----===//
//
// A saved model must not use an instruction the CPU it is loaded on lacks,
// and the runtime must be able to tell. So code is compiled for a few named
// levels, each an x86-64 microarchitecture level (a fixed instruction set)
// plus the extensions our kernels use, not for "whatever this CPU has":
// the host's extras (AVX512-FP16, ...) would otherwise leak into the code.
// "host" picks the best level this machine runs and tunes for its CPU
// (tuning changes scheduling, not the instructions).
//
//===----------------------------------------------------------------------===//

#include "lib/Target/ModelLibrary/ModelLibrary.h"
#include "lib/Runtime/CPUFeatureTable.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/X86TargetParser.h"

using namespace mlir;

namespace {
struct Level {
  const char *name, *cpu;
  std::vector<const char *> extra;
  const char *kernel;
};

/// Best first: "host" takes the first one the machine has.
const std::vector<Level> &levels() {
  static const std::vector<Level> l = {
      {"amx", "x86-64-v4", {"avx512vnni", "amx-tile", "amx-int8"}, "amx"},
      {"avx512-vnni", "x86-64-v4", {"avx512vnni"}, "vnni"},
      {"x86-64-v3", "x86-64-v3", {}, "avx2"},
  };
  return l;
}

/// The level's features the runtime can check (CPUFeatureTable.h); LLVM's
/// others are architectural (64bit, x87) or implied by these (crc32 by
/// sse4.2, evex512 by avx512f).
std::vector<std::string> featuresOf(const Level &level) {
  SmallVector<StringRef> listed;
  llvm::X86::getFeaturesForCPU(level.cpu, listed);
  for (const char *f : level.extra)
    listed.push_back(f);
  // With everything they imply (avx512bw implies avx512f, avx2, ...).
  llvm::StringMap<bool> all;
  for (StringRef f : listed) {
    all[f] = true;
    llvm::X86::updateImpliedFeatures(f, /*Enabled=*/true, all);
  }
  std::vector<std::string> out;
  for (const dqmlir::runtime::Bit &b : dqmlir::runtime::kFeatureBits)
    if (all.lookup(b.name))
      out.push_back(b.name);
  return out;
}
} // namespace

std::vector<std::string> dq::targetLevelNames() {
  std::vector<std::string> names{"host"};
  for (const Level &l : levels())
    names.push_back(l.name);
  return names;
}

FailureOr<dq::TargetLevel> dq::resolveTargetLevel(StringRef name) {
  const Level *chosen = nullptr;
  std::string tune = "generic";
  if (name == "host") {
    llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
    for (const Level &l : levels()) {
      std::vector<std::string> features = featuresOf(l);
      if (llvm::all_of(features,
                       [&](const std::string &f) { return host.lookup(f); })) {
        chosen = &l;
        break;
      }
    }
    tune = llvm::sys::getHostCPUName().str();
  } else {
    for (const Level &l : levels())
      if (name == l.name)
        chosen = &l;
  }
  if (!chosen)
    return failure();
  return TargetLevel{chosen->name, chosen->cpu, tune, featuresOf(*chosen),
                     chosen->kernel};
}
