//===- ApproximateMath.cpp - exp on f32 vectors ---------------------------===//
//
// LLVM has no vector exp here (no vector math library is linked), so
// `math.exp` on vector<16xf32> would become 16 calls to expf. Upstream's
// polynomial approximations are not in the prebuilt Python CAPI library we
// link against. This one is SLEEF's expf_u10 (lib/Utils/SleefMath.cpp), what
// PyTorch's Vectorized<float>::exp computes, operation for operation: the
// kernels that use it (sigmoid, softmax's exp) round alike.
//
// math.erf is left to libm's erff (scalar calls): torch.erf is MKL's vsErf,
// within 1 ulp of erff, while Vectorized<float>::erf (Abramowitz & Stegun
// 7.1.26, absolute error 1e-7) is off by 100% near 0. GELU, where erf
// mattered most, is dq.gelu.
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/ApproximateMath.h"
#include "lib/Utils/SleefMath.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;

namespace {

struct ApproximateExp : OpRewritePattern<math::ExpOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::ExpOp op,
                                PatternRewriter &rewriter) const override {
    auto type = dyn_cast<VectorType>(op.getType());
    if (!type || !type.getElementType().isF32() || type.isScalable())
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    rewriter.replaceOp(op, dq::buildSleefExp(b, op.getOperand()));
    return success();
  }
};

} // namespace

void mlir::dq::populateApproximateMathPatterns(RewritePatternSet &patterns) {
  patterns.add<ApproximateExp>(patterns.getContext());
}
