//===- SleefMath.cpp - PyTorch's vector exp and log on f32 ----------------===//
//
// Step for step as SLEEF 3.x computes them (sleefsimdsp.c, the AVX-512F
// helper with FMA: vmla = fma, vrec = 1 / x), because bit-identical results
// matter: under per-tensor dynamic quantization one ulp in an activation's
// extreme moves the next linear's zero point and every rounding after it.
//
//===----------------------------------------------------------------------===//

#include "lib/Utils/SleefMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;

namespace {

/// Constants and arithmetic on the type of one value: f32 or a vector of
/// f32 (a scalar body that linalg's vectorizer widens later).
struct VB {
  ImplicitLocOpBuilder &b;
  Type type, intType;
  VB(ImplicitLocOpBuilder &b, Value like) : b(b), type(like.getType()) {
    auto vector = dyn_cast<VectorType>(type);
    intType = vector ? Type(vector.clone(b.getI32Type())) : b.getI32Type();
  }

  Value f(float v) {
    TypedAttr attr = b.getF32FloatAttr(v);
    if (auto vector = dyn_cast<VectorType>(type))
      attr = DenseElementsAttr::get(vector, attr);
    return arith::ConstantOp::create(b, attr);
  }
  Value i(int32_t v) {
    TypedAttr attr = b.getI32IntegerAttr(v);
    if (auto vector = dyn_cast<VectorType>(intType))
      attr = DenseElementsAttr::get(vector, attr);
    return arith::ConstantOp::create(b, attr);
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value neg(Value x) { return arith::NegFOp::create(b, x); }
  Value fma(Value x, Value y, Value z) {
    return math::FmaOp::create(b, x, y, z);
  }
  Value cmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, p, x, y);
  }
  Value lt(Value x, Value y) { return cmp(arith::CmpFPredicate::OLT, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }
  Value bitsOf(Value x) { return arith::BitcastOp::create(b, intType, x); }
  Value fromBits(Value x) { return arith::BitcastOp::create(b, type, x); }

  /// 2^q for an i32 vector q in the normal range, from the exponent field.
  Value pow2(Value q) {
    return fromBits(arith::ShLIOp::create(
        b, arith::AddIOp::create(b, q, i(0x7f)), i(23)));
  }
};

/// A double-float (SLEEF's vfloat2): value x + y, |y| <= ulp(x) / 2.
struct DF {
  Value x, y;
};

} // namespace

Value dq::buildSleefExp(ImplicitLocOpBuilder &b, Value x) {
  VB v(b, x);
  // q = rint(x / ln 2), s = x - q ln 2 (ln 2 in two parts), a degree-6
  // polynomial, then 2^q applied in two halves (vldexp2) so that subnormal
  // results come out right. x is clamped before the float-to-int conversion
  // (NaN and out-of-range values are poison in LLVM); their results are
  // selected at the end.
  Value xc = v.select(v.lt(x, v.f(-105.0f)), v.f(-105.0f), x);
  xc = v.select(v.lt(v.f(101.0f), xc), v.f(101.0f), xc);
  Value isNan = v.cmp(arith::CmpFPredicate::UNO, x, x);
  xc = v.select(isNan, v.f(0.0f), xc);
  Value qf = math::RoundEvenOp::create(
      b, v.mul(xc, v.f(1.442695040888963407359924681f)));
  Value s = v.fma(qf, v.f(-0.693145751953125f), xc);
  s = v.fma(qf, v.f(-1.428606765330187045e-06f), s);
  Value u = v.f(0.000198527617612853646278381f);
  for (float c : {0.00139304355252534151077271f, 0.00833336077630519866943359f,
                  0.0416664853692054748535156f, 0.166666671633720397949219f,
                  0.5f})
    u = v.fma(u, s, v.f(c));
  u = v.add(v.f(1.0f), v.fma(v.mul(s, s), u, s));
  Value q = arith::FPToSIOp::create(b, v.intType, qf);
  Value half = arith::ShRSIOp::create(b, q, v.i(1));
  u = v.mul(v.mul(u, v.pow2(half)),
            v.pow2(arith::SubIOp::create(b, q, half)));
  u = v.select(v.lt(x, v.f(-104.0f)), v.f(0.0f), u);
  u = v.select(v.lt(v.f(100.0f), x),
               v.f(std::numeric_limits<float>::infinity()), u);
  return v.select(isNan, x, u);
}

/// _mm512_getexp_ps: floor(log2 |x|) as a float; subnormals are
/// normalized. Zero, infinities and NaN are handled by the caller.
static Value getExp(VB &v, Value x) {
  Value bits = v.bitsOf(x);
  Value field = arith::AndIOp::create(
      v.b, arith::ShRUIOp::create(v.b, bits, v.i(23)), v.i(0xff));
  Value normal = arith::SubIOp::create(v.b, field, v.i(127));
  // A subnormal's leading one at bit p of the fraction: 2^(p - 149).
  Value fraction = arith::AndIOp::create(v.b, bits, v.i(0x7fffff));
  Value subnormal = arith::SubIOp::create(
      v.b, v.i(-118), math::CountLeadingZerosOp::create(v.b, fraction));
  Value isSub = arith::CmpIOp::create(v.b, arith::CmpIPredicate::eq, field,
                                      v.i(0));
  return arith::SIToFPOp::create(
      v.b, v.type, arith::SelectOp::create(v.b, isSub, subnormal, normal));
}

/// _mm512_getmant_ps(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan) of a
/// finite x != 0: its significand scaled into [0.75, 1.5).
static Value getMant(VB &v, Value x) {
  Value bits = v.bitsOf(x);
  Value fraction = arith::AndIOp::create(v.b, bits, v.i(0x7fffff));
  Value field = arith::AndIOp::create(v.b, bits, v.i(0x7f800000));
  // A subnormal's fraction shifted up until its leading one is the
  // implicit bit (then dropped).
  Value shift = arith::SubIOp::create(
      v.b, math::CountLeadingZerosOp::create(v.b, fraction), v.i(8));
  Value normalized = arith::AndIOp::create(
      v.b, arith::ShLIOp::create(v.b, fraction, shift), v.i(0x7fffff));
  Value isSub = arith::CmpIOp::create(v.b, arith::CmpIPredicate::eq, field,
                                      v.i(0));
  fraction = arith::SelectOp::create(v.b, isSub, normalized, fraction);
  // Significands from 1.5 on are halved: exponent field 126, else 127.
  Value high = arith::CmpIOp::create(
      v.b, arith::CmpIPredicate::ne,
      arith::AndIOp::create(v.b, fraction, v.i(0x400000)), v.i(0));
  Value exponent = arith::SelectOp::create(v.b, high, v.i(126 << 23),
                                           v.i(127 << 23));
  return v.fromBits(arith::OrIOp::create(v.b, exponent, fraction));
}

Value dq::buildSleefLog(ImplicitLocOpBuilder &b, Value d) {
  VB v(b, d);
  const float inf = std::numeric_limits<float>::infinity();
  // d = m 2^e with m in [0.75, 1.5).
  Value e = getExp(v, v.mul(d, v.f(1.0f / 0.75f)));
  e = v.select(v.cmp(arith::CmpFPredicate::OEQ, e, v.f(inf)), v.f(128.0f), e);
  Value m = getMant(v, d);
  // s = e ln 2 as a double-float (dfmul_vf2_vf2_vf).
  auto dfMul = [&](DF x, Value y) -> DF {
    Value s = v.mul(x.x, y);
    return {s, v.fma(x.y, y, v.fma(x.x, y, v.neg(s)))};
  };
  DF s = dfMul({v.f(0.69314718246459960938f), v.f(-1.904654323148236017e-09f)},
               e);
  // x = (m - 1) / (m + 1) (dfadd2_vf2_vf_vf, dfdiv_vf2_vf2_vf2).
  auto dfAdd2 = [&](Value x, Value y) -> DF {
    Value sum = v.add(x, y);
    Value w = v.sub(sum, x);
    return {sum, v.add(v.sub(x, v.sub(sum, w)), v.sub(y, w))};
  };
  DF num = dfAdd2(v.f(-1.0f), m), den = dfAdd2(v.f(1.0f), m);
  Value t = arith::DivFOp::create(b, v.f(1.0f), den.x);
  Value q = v.mul(num.x, t);
  Value u = v.fma(t, num.x, v.neg(q));
  Value w = v.fma(v.neg(den.y), t, v.fma(v.neg(den.x), t, v.f(1.0f)));
  DF x = {q, v.fma(q, w, v.fma(num.y, t, u))};
  Value x2 = v.mul(x.x, x.x);
  Value p = v.fma(v.f(0.3027294874f), x2, v.f(0.3996108174f));
  p = v.fma(p, x2, v.f(0.6666694880f));
  // s + 2x (dfadd_vf2_vf2_vf2), + x^3 p (dfadd_vf2_vf2_vf), rounded.
  Value x2x = v.mul(x.x, v.f(2.0f)), x2y = v.mul(x.y, v.f(2.0f));
  Value hi = v.add(s.x, x2x);
  Value lo = v.add(v.add(v.add(v.sub(s.x, hi), x2x), s.y), x2y);
  Value cube = v.mul(v.mul(x2, x.x), p);
  Value hi2 = v.add(hi, cube);
  Value lo2 = v.add(v.add(v.sub(hi, hi2), cube), lo);
  Value r = v.add(hi2, lo2);
  // vfixupimm: 0 -> -inf, +inf -> +inf, -inf or negative -> NaN; NaN in,
  // NaN out.
  Value nan = v.f(std::numeric_limits<float>::quiet_NaN());
  r = v.select(v.cmp(arith::CmpFPredicate::OEQ, d, v.f(0.0f)), v.f(-inf), r);
  r = v.select(v.cmp(arith::CmpFPredicate::OEQ, d, v.f(inf)), v.f(inf), r);
  r = v.select(v.lt(d, v.f(0.0f)), nan, r);
  return v.select(v.cmp(arith::CmpFPredicate::UNO, d, d), d, r);
}
