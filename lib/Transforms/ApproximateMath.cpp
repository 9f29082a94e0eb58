//===- ApproximateMath.cpp - exp and erf on f32 vectors -------------------===//
//
// LLVM has no vector exp/erf for the JIT (no vector math library is set up),
// so `math.exp` on vector<16xf32> would become 16 calls to expf. Upstream's
// polynomial approximations are not in the prebuilt Python CAPI library we
// link against. These two are PyTorch's AVX-512 kernels, operation for
// operation: Vectorized<float>::erf is Abramowitz & Stegun 7.1.26 in fma form
// around SLEEF's expf_u10 (lib/Utils/SleefMath.cpp), which is also
// Vectorized<float>::exp. Bit-identical results matter: under per-tensor
// dynamic quantization a one-ulp change in GELU's minimum moves the next
// linear's zero point and every rounding after it (MiniLM's cosine to
// PyTorch went from 0.9999997 to 0.96 with Cephes' exp).
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/ApproximateMath.h"
#include "lib/Utils/SleefMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;

namespace {

/// The f32 vector type `op` computes on, or null.
VectorType f32Vector(Operation *op) {
  auto t = dyn_cast<VectorType>(op->getResult(0).getType());
  return t && t.getElementType().isF32() && !t.isScalable() ? t : nullptr;
}

struct Builder : ImplicitLocOpBuilder {
  VectorType type, intType;
  Builder(Location loc, OpBuilder &b, VectorType type)
      : ImplicitLocOpBuilder(loc, b), type(type),
        intType(type.clone(getI32Type())) {}

  Value f(float v) {
    return arith::ConstantOp::create(
        *this, DenseElementsAttr::get(type, getF32FloatAttr(v)));
  }
  Value i(int32_t v) {
    return arith::ConstantOp::create(
        *this, DenseElementsAttr::get(intType, getI32IntegerAttr(v)));
  }
  Value fma(Value a, Value b, Value c) {
    return math::FmaOp::create(*this, a, b, c);
  }
  Value mul(Value a, Value b) { return arith::MulFOp::create(*this, a, b); }

  /// erf(x) = sign(x) (1 - t r(t) exp(-x^2)), t = 1 / (1 + p |x|).
  Value erf(Value x) {
    Value a = math::AbsFOp::create(*this, x);
    Value one = f(1.0f);
    Value t = arith::DivFOp::create(*this, one, fma(f(0.3275911f), a, one));
    Value r = fma(f(1.061405429f), t, f(-1.453152027f));
    r = fma(r, t, f(1.421413741f));
    r = fma(r, t, f(-0.284496736f));
    r = fma(r, t, f(0.254829592f));
    Value e =
        dq::buildSleefExp(*this, arith::NegFOp::create(*this, mul(x, x)));
    Value v = fma(mul(arith::NegFOp::create(*this, e), t), r, one);
    // v's sign bit flipped by x's (PyTorch xors; copysign differs at 0).
    Value sign = arith::AndIOp::create(
        *this, arith::BitcastOp::create(*this, intType, x),
        i(static_cast<int32_t>(0x80000000u)));
    Value bits = arith::XOrIOp::create(
        *this, arith::BitcastOp::create(*this, intType, v), sign);
    return arith::BitcastOp::create(*this, type, bits);
  }
};

template <typename Op>
struct Approximate : OpRewritePattern<Op> {
  using OpRewritePattern<Op>::OpRewritePattern;
  LogicalResult matchAndRewrite(Op op,
                                PatternRewriter &rewriter) const override {
    VectorType type = f32Vector(op);
    if (!type)
      return failure();
    Builder b(op.getLoc(), rewriter, type);
    Value x = op.getOperand();
    rewriter.replaceOp(op, std::is_same_v<Op, math::ExpOp>
                              ? dq::buildSleefExp(b, x)
                              : b.erf(x));
    return success();
  }
};

} // namespace

void mlir::dq::populateApproximateMathPatterns(RewritePatternSet &patterns) {
  patterns.add<Approximate<math::ExpOp>, Approximate<math::ErfOp>>(
      patterns.getContext());
}
