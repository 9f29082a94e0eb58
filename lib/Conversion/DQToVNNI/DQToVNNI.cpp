//===- DQToVNNI.cpp - the convert-dq-to-vnni pass -------------------------===//

#include "lib/Conversion/DQToVNNI/DQToVNNI.h"
#include "lib/Dialect/DQ/IR/DQOps.h"
#include "lib/Dialect/X86/IR/X86Dialect.h"
#include "lib/Kernels/PanelKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::dq {
#define GEN_PASS_DEF_CONVERTDQTOVNNI
#include "lib/Conversion/DQToVNNI/DQToVNNI.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {
struct ConvertDQToVNNI : dq::impl::ConvertDQToVNNIBase<ConvertDQToVNNI> {
  using Base::Base;

  void runOnOperation() override {
    if (rows < 1 || cols < 16 || cols % 16 != 0 || threads < 1) {
      emitError(getOperation()->getLoc(),
                "convert-dq-to-vnni: rows and threads must be >= 1 and cols a "
                "positive multiple of 16");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    dq::populatePanelKernelPatterns(patterns, dq::DotKind::VNNI, rows, cols,
                                    threads);
    // Ops it does not match (non-constant weights) stay for
    // convert-dq-to-linalg. The rewrite creates no new linear_dynamic, so one
    // walk is enough; folding is left to the pipeline's canonicalize.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
