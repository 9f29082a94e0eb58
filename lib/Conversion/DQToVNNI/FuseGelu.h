//===- FuseGelu.h - dq.gelu fused into a linear kernel's epilogue -*- C++ -*-===//
//
// A transformer's FFN1 is dq.linear_dynamic followed by dq.gelu. The VNNI
// and AMX kernels apply the GELU in their epilogue, to the same f32 values
// with the same arithmetic (buildGelu), so the bits do not change; the
// output is then written once instead of written, read and written again.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_CONVERSION_DQTOVNNI_FUSEGELU_H
#define DQMLIR_CONVERSION_DQTOVNNI_FUSEGELU_H

#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::dq {

/// The dq.gelu that is `op`'s only user, if any.
GeluOp fusableGelu(LinearDynamicOp op);

/// `dq.gelu(dq.linear_dynamic)` through the kernel pattern `Linear`
/// (`Linear::rewrite(op, rewriter, gelu)`), GELU in the epilogue. Rooted at
/// the gelu: walkAndApplyPatterns visits the linear first, and a rewrite
/// must not erase an op the walk has yet to visit. `Linear` itself leaves
/// linears with a fusable gelu to this pattern.
template <typename Linear>
struct FusedGelu : OpRewritePattern<GeluOp> {
  template <typename... Args>
  FusedGelu(MLIRContext *ctx, Args... args)
      : OpRewritePattern<GeluOp>(ctx), linear(ctx, args...) {}

  LogicalResult matchAndRewrite(GeluOp gelu,
                                PatternRewriter &rewriter) const override {
    auto op = gelu.getInput().getDefiningOp<LinearDynamicOp>();
    if (!op || fusableGelu(op) != gelu)
      return rewriter.notifyMatchFailure(gelu, "not the only user of a linear");
    rewriter.setInsertionPoint(op);
    return linear.rewrite(op, rewriter, gelu);
  }

  Linear linear;
};

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOVNNI_FUSEGELU_H
