//===- FuseEpilogue.h - a linear's user fused into its epilogue -*- C++ -*-===//
//
// The VNNI and AMX kernels can take over the op that consumes a
// dq.linear_dynamic's output, applying it to the same f32 values with the
// same arithmetic, so the bits do not change; the output is then written
// once instead of written, read and written again:
// - dq.gelu (a transformer's FFN1), its only user;
// - an elementwise add of another tensor of the output's type (the residual
//   add after the attention output projection and FFN2), its only user
//   besides tensor.dim.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_KERNELS_FUSEEPILOGUE_H
#define DQMLIR_KERNELS_FUSEEPILOGUE_H

#include "lib/Kernels/Kernel.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::dq {

/// The user of `op` that its kernel's epilogue can apply, if any.
FusedUser fusableUser(LinearDynamicOp op);

/// Rewrites `op`'s tensor.dim users into dims of its input (its leading
/// dims) or the constant N, so that `op` can be erased where its user is.
/// For `Linear::rewrite` once it has matched; keeps the insertion point.
void replaceDimUsers(LinearDynamicOp op, PatternRewriter &rewriter);

/// The kernel's result `out` replaces the fused user (and `op` goes), or
/// `op` itself when nothing was fused.
void replaceWithKernel(LinearDynamicOp op, const FusedUser &fused, Value out,
                       PatternRewriter &rewriter);

/// `UserOp(dq.linear_dynamic)` through the kernel pattern `Linear`
/// (`Linear::rewrite(op, rewriter, fused)`, which calls replaceDimUsers once
/// it has matched), the user in the epilogue.
/// Rooted at the user: walkAndApplyPatterns visits the linear first, and a
/// rewrite must not erase an op the walk has yet to visit. The kernel goes
/// where the user is, which the residual dominates. `Linear` itself leaves
/// linears with a fusable user to this pattern.
template <typename Linear, typename UserOp>
struct FusedEpilogue : OpRewritePattern<UserOp> {
  template <typename... Args>
  FusedEpilogue(MLIRContext *ctx, Args... args)
      : OpRewritePattern<UserOp>(ctx), linear(ctx, args...) {}

  LogicalResult matchAndRewrite(UserOp user,
                                PatternRewriter &rewriter) const override {
    for (Value in : user->getOperands()) {
      auto op = in.getDefiningOp<LinearDynamicOp>();
      if (!op)
        continue;
      FusedUser fused = fusableUser(op);
      if (fused.op != user.getOperation())
        continue;
      rewriter.setInsertionPoint(user);
      return linear.rewrite(op, rewriter, fused);
    }
    return rewriter.notifyMatchFailure(user, "not a fusable user of a linear");
  }

  Linear linear;
};

} // namespace mlir::dq

#endif // DQMLIR_KERNELS_FUSEEPILOGUE_H
