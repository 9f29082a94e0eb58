//===- CPUPipeline.cpp - dq on tensors to LLVM for x86 CPUs ---------------===//
//
// Upstream passes do the work after dq-lower-to-linalg. Things to keep:
// - linalg-specialize-generic-ops is never run: MLIR 22 turns the u8 x s8
//   contraction into a signed linalg.matmul (wrong results).
// - math is lowered to LLVM intrinsics, not libm (glibc has no rsqrtf).
//
//===----------------------------------------------------------------------===//

#include "lib/Pipelines/CPUPipeline.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

static constexpr const char *kPipeline =
    "dq-lower-to-linalg,"
    "canonicalize,cse,"
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "drop-equivalent-buffer-results,"
    "buffer-deallocation-pipeline,"
    "canonicalize,"
    "func.func(convert-linalg-to-loops),"
    "lower-affine,"
    "convert-scf-to-cf,"
    "expand-strided-metadata,"
    "lower-affine,"
    "finalize-memref-to-llvm,"
    "convert-math-to-llvm,"
    "convert-arith-to-llvm,"
    "convert-index-to-llvm,"
    "convert-func-to-llvm,"
    "convert-cf-to-llvm,"
    "reconcile-unrealized-casts";

void dq::buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &) {
  std::string errors;
  llvm::raw_string_ostream os(errors);
  if (failed(parsePassPipeline(kPipeline, pm, os)))
    llvm::report_fatal_error(llvm::Twine("dq-cpu-pipeline: ") + errors);
}

void dq::registerCPUPipeline() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "dq-cpu-pipeline",
      "Lower dq and linalg on tensors to the LLVM dialect for x86 CPUs",
      buildCPUPipeline);
}
