//===- DQToAVX2.cpp - the convert-dq-to-avx2 pass -------------------------===//

#include "lib/Conversion/DQToAVX2/DQToAVX2.h"
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
#define GEN_PASS_DEF_CONVERTDQTOAVX2
#include "lib/Conversion/DQToAVX2/DQToAVX2.h.inc"
} // namespace mlir::dq

using namespace mlir;

namespace {
struct ConvertDQToAVX2 : dq::impl::ConvertDQToAVX2Base<ConvertDQToAVX2> {
  using Base::Base;

  void runOnOperation() override {
    if (rows < 1 || cols < 16 || cols % 16 != 0 || threads < 1) {
      emitError(getOperation()->getLoc(),
                "convert-dq-to-avx2: rows and threads must be >= 1 and cols a "
                "positive multiple of 16");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    dq::populatePanelKernelPatterns(patterns, dq::DotKind::AVX2, rows, cols,
                                    threads);
    // As convert-dq-to-vnni: one walk, non-constant weights left alone.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace
