//===- ApproximateMath.cpp - exp and erf on f32 vectors -------------------===//
//
// LLVM has no vector exp/erf for the JIT (no vector math library is set up),
// so `math.exp` on vector<16xf32> would become 16 calls to expf. Upstream's
// polynomial approximations are not in the prebuilt Python CAPI library we
// link against; these two follow the algorithms PyTorch's AVX-512 kernels use
// (Vectorized<float>::erf is Abramowitz & Stegun 7.1.26 in fma form; exp is
// the classic Cephes range reduction and polynomial), so that our GELU and
// softmax stay close to PyTorch's.
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/ApproximateMath.h"

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
  Value lt(Value a, Value b) {
    return arith::CmpFOp::create(*this, arith::CmpFPredicate::OLT, a, b);
  }
  Value select(Value c, Value a, Value b) {
    return arith::SelectOp::create(*this, c, a, b);
  }

  /// exp(x) = 2^n * exp(r), n = floor(x log2(e) + 1/2), r = x - n ln(2)
  /// (ln 2 in two parts), exp(r) by Cephes' degree-7 polynomial. 2^n is
  /// built as 2^(n-1) * 2 so that n = 128 still has an exponent field.
  Value exp(Value x) {
    Value lo = f(-87.3365447f), hi = f(88.7228391f);
    Value xc = select(lt(hi, x), hi, x);
    xc = select(lt(xc, lo), lo, xc);
    Value n = math::FloorOp::create(*this, fma(xc, f(1.44269504f), f(0.5f)));
    Value r = fma(n, f(-0.693359375f), xc);
    r = fma(n, f(2.12194440e-4f), r);
    Value y = f(1.9875691500e-4f);
    for (float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
                    1.6666665459e-1f, 5.0000001201e-1f})
      y = fma(y, r, f(c));
    y = arith::AddFOp::create(*this, fma(y, mul(r, r), r), f(1.0f));
    Value ni = arith::FPToSIOp::create(*this, intType, n);
    Value bits = arith::ShLIOp::create(
        *this, arith::AddIOp::create(*this, ni, i(126)), i(23));
    Value pow2 = arith::BitcastOp::create(*this, type, bits);
    Value result = mul(mul(y, pow2), f(2.0f));
    // Below the smallest normal result: 0. NaN stays NaN.
    result = select(lt(x, lo), f(0.0f), result);
    Value isNan =
        arith::CmpFOp::create(*this, arith::CmpFPredicate::UNO, x, x);
    return select(isNan, x, result);
  }

  /// erf(x) = sign(x) (1 - t r(t) exp(-x^2)), t = 1 / (1 + p |x|).
  Value erf(Value x) {
    Value a = math::AbsFOp::create(*this, x);
    Value one = f(1.0f);
    Value t = arith::DivFOp::create(*this, one, fma(f(0.3275911f), a, one));
    Value r = fma(f(1.061405429f), t, f(-1.453152027f));
    r = fma(r, t, f(1.421413741f));
    r = fma(r, t, f(-0.284496736f));
    r = fma(r, t, f(0.254829592f));
    Value e = exp(arith::NegFOp::create(*this, mul(x, x)));
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
    rewriter.replaceOp(op, std::is_same_v<Op, math::ExpOp> ? b.exp(x)
                                                            : b.erf(x));
    return success();
  }
};

} // namespace

void mlir::dq::populateApproximateMathPatterns(RewritePatternSet &patterns) {
  patterns.add<Approximate<math::ExpOp>, Approximate<math::ErfOp>>(
      patterns.getContext());
}
