//===- LowerSigmoid.cpp - dq.sigmoid as ATen's CPU kernel rounds it -------===//
//
// aten/src/ATen/native/cpu/UnaryOpsKernel.cpp, sigmoid_kernel (f32): the
// vector lambda computes (0 - a).exp() + 1 and its reciprocal (a division),
// with Vectorized<float>::exp = SLEEF's expf_u10; the scalar lambda, which
// runs the last n % 32 elements of each inner loop, 1 / (1 + std::exp(-a))
// with glibc's expf. The vector form is built from SleefMath in place (so it
// rounds alike whether or not the vectorizer takes the generic); the scalar
// form calls libm's expf, so that no vectorization turns it into SLEEF's.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/AtenLoop.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Dialect/DQ/IR/DQOps.h"
#include "lib/Utils/SleefMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::dq;

namespace {

Value f32Constant(ImplicitLocOpBuilder &e, float v) {
  return arith::ConstantOp::create(e, e.getF32FloatAttr(v));
}

Value vectorSigmoid(ImplicitLocOpBuilder &e, Value x) {
  Value a = arith::SubFOp::create(e, f32Constant(e, 0.0f), x);
  a = arith::AddFOp::create(e, buildSleefExp(e, a), f32Constant(e, 1.0f));
  return arith::DivFOp::create(e, f32Constant(e, 1.0f), a);
}

Value scalarSigmoid(ImplicitLocOpBuilder &e, Value x) {
  Value ex = callF32(e, "expf", arith::NegFOp::create(e, x));
  return arith::DivFOp::create(
      e, f32Constant(e, 1.0f), arith::AddFOp::create(e, f32Constant(e, 1.0f), ex));
}

struct LowerSigmoid : OpRewritePattern<SigmoidOp> {
  LowerSigmoid(MLIRContext *ctx, VendorISA isa)
      : OpRewritePattern(ctx), isa(isa) {}
  VendorISA isa;

  LogicalResult matchAndRewrite(SigmoidOp op,
                                PatternRewriter &rewriter) const override {
    auto module = op->getParentOfType<ModuleOp>();
    if (!module)
      return rewriter.notifyMatchFailure(op, "needs a module for libm's expf");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    declareF32Function(b, module, "expf");
    rewriter.replaceOp(
        op, lowerAtenRows(b, op.getInput(), atenLanes(isa), vectorSigmoid,
                              scalarSigmoid));
    return success();
  }
};

} // namespace

void mlir::dq::populateLowerSigmoidPatterns(RewritePatternSet &patterns,
                                            VendorISA isa) {
  patterns.add<LowerSigmoid>(patterns.getContext(), isa);
}
