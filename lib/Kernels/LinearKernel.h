//===- LinearKernel.h - the pattern of the int8 kernels ---------*- C++ -*-===//
//
// convert-dq-to-vnni and convert-dq-to-amx rewrite the same ops under the
// same conditions and differ only in how they pack the weight and which
// loops they emit. LinearKernelPattern is what they share; each kernel is
// a subclass that provides
//
//   /// Bytes one column of the weight takes once packed (K padded).
//   int64_t packedColumnBytes(int64_t k) const;
//   /// Packs `weight` ([N, K], row-major) and emits the kernel of `op` at
//   /// `b`, the epilogue applying `fused` if it is set; returns the result
//   /// (the op's type, or one that tensor.cast makes it).
//   Value emitKernel(ImplicitLocOpBuilder &b, LinearDynamicOp op,
//                    ArrayRef<int8_t> weight, const FusedUser &fused) const;
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_KERNELS_LINEARKERNEL_H
#define DQMLIR_KERNELS_LINEARKERNEL_H

#include "lib/Dialect/DQ/IR/DQOps.h"
#include "lib/Kernels/FuseEpilogue.h"
#include "lib/Kernels/Kernel.h"
#include "lib/Utils/Weights.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::dq {

/// Largest packed weight (bytes) made at compile time: 1 GiB, far above any
/// Linear layer of the models dqmlir compiles. Packing copies the (padded)
/// weight into a new constant, and a splat of a huge type would take
/// gigabytes; such weights stay for convert-dq-to-linalg, which reads them
/// where they are.
inline constexpr int64_t kMaxPackedBytes = int64_t(1) << 30;

/// dq.linear_dynamic with a constant weight -> `Derived`'s kernel.
template <typename Derived>
struct LinearKernelPattern : OpRewritePattern<LinearDynamicOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearDynamicOp op,
                                PatternRewriter &rewriter) const override {
    if (fusableUser(op))
      return rewriter.notifyMatchFailure(op, "fused with its user");
    return rewrite(op, rewriter, FusedUser());
  }

  /// The kernel of `op` at the rewriter's insertion point; with `fused`, the
  /// epilogue applies that user and the kernel replaces it (and `op`).
  LogicalResult rewrite(LinearDynamicOp op, PatternRewriter &rewriter,
                        FusedUser fused) const {
    auto xType = op.getInput().getType();
    auto wType = op.getWeight().getType();
    if (!wType.hasStaticShape() || xType.isDynamicDim(xType.getRank() - 1))
      return rewriter.notifyMatchFailure(op, "needs static N and K");
    int64_t n = wType.getDimSize(0), k = wType.getDimSize(1);
    int64_t n16 = llvm::alignTo(n, 16);
    int64_t columnBytes = derived().packedColumnBytes(k);
    if (columnBytes > 0 && n16 > kMaxPackedBytes / columnBytes)
      return rewriter.notifyMatchFailure(op, "weight too large to pack");
    std::optional<SmallVector<int8_t>> weight =
        readConstantWeight(op.getWeight());
    if (!weight)
      return rewriter.notifyMatchFailure(op, "weight is not a constant");
    // Matched: from here on the IR changes.
    if (fused)
      replaceDimUsers(op, rewriter);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value out = derived().emitKernel(b, op, *weight, fused);
    if (out.getType() != op.getType())
      out = tensor::CastOp::create(b, op.getType(), out);
    replaceWithKernel(op, fused, out, rewriter);
    return success();
  }

private:
  const Derived &derived() const { return static_cast<const Derived &>(*this); }
};

/// Adds the kernel pattern `Pattern` (constructed from `args`) and its
/// variants rooted at a user they fuse: dq.gelu and the residual add.
template <typename Pattern, typename... Args>
void addLinearKernelPatterns(RewritePatternSet &patterns, Args... args) {
  patterns.add<Pattern, FusedEpilogue<Pattern, GeluOp>,
               FusedEpilogue<Pattern, linalg::GenericOp>>(
      patterns.getContext(), args...);
}

} // namespace mlir::dq

#endif // DQMLIR_KERNELS_LINEARKERNEL_H
