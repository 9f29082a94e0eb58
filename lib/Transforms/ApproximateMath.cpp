//===- ApproximateMath.cpp - exp and erf on f32 vectors -------------------===//
//
// LLVM has no vector exp/erf for the JIT (no vector math library is set up),
// so `math.exp` on vector<16xf32> would become 16 calls to expf. Upstream's
// polynomial approximations are not in the prebuilt Python CAPI library we
// link against. These two are PyTorch's AVX-512 kernels, operation for
// operation: Vectorized<float>::erf is Abramowitz & Stegun 7.1.26 in fma form
// around SLEEF's expf_u10, which is also Vectorized<float>::exp. Bit-identical
// results matter: under per-tensor dynamic quantization a one-ulp change in
// GELU's minimum moves the next linear's zero point and every rounding after
// it (MiniLM's cosine to PyTorch went from 0.9999997 to 0.96 with Cephes' exp).
//
//===----------------------------------------------------------------------===//

#include "lib/Transforms/ApproximateMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

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

  /// SLEEF's expf_u10 (what PyTorch's Vectorized<float>::exp calls), step by
  /// step so that results are bit-identical: q = rint(x / ln 2), r = x - q ln 2
  /// (ln 2 in two parts), a degree-6 polynomial, then 2^q applied in two
  /// halves so that subnormal results come out right.
  Value exp(Value x) {
    // x is clamped before the float-to-int conversion (NaN and out-of-range
    // values are poison in LLVM); their results are selected at the end.
    Value xc = select(lt(x, f(-105.0f)), f(-105.0f), x);
    xc = select(lt(f(101.0f), xc), f(101.0f), xc);
    Value isNan =
        arith::CmpFOp::create(*this, arith::CmpFPredicate::UNO, x, x);
    xc = select(isNan, f(0.0f), xc);
    Value qf = math::RoundEvenOp::create(*this, mul(xc, f(1.442695040888963407359924681f)));
    Value s = fma(qf, f(-0.693145751953125f), xc);
    s = fma(qf, f(-1.428606765330187045e-06f), s);
    Value u = f(0.000198527617612853646278381f);
    for (float c : {0.00139304355252534151077271f, 0.00833336077630519866943359f,
                    0.0416664853692054748535156f, 0.166666671633720397949219f,
                    0.5f})
      u = fma(u, s, f(c));
    u = arith::AddFOp::create(*this, f(1.0f), fma(mul(s, s), u, s));
    Value q = arith::FPToSIOp::create(*this, intType, qf);
    Value half = arith::ShRSIOp::create(*this, q, i(1));
    u = mul(mul(u, pow2(half)), pow2(arith::SubIOp::create(*this, q, half)));
    u = select(lt(x, f(-104.0f)), f(0.0f), u);
    u = select(lt(f(100.0f), x), f(std::numeric_limits<float>::infinity()), u);
    return select(isNan, x, u);
  }

  /// 2^q for an i32 vector q in the normal range, from the exponent field.
  Value pow2(Value q) {
    Value bits = arith::ShLIOp::create(
        *this, arith::AddIOp::create(*this, q, i(0x7f)), i(23));
    return arith::BitcastOp::create(*this, type, bits);
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
