//===- LowerGelu.cpp - dq.gelu as PyTorch (oneDNN) computes it ------------===//
//
// torch.nn.functional.gelu on an f32 CPU tensor of more than one element is
// oneDNN's eltwise_gelu_erf (PyTorch 2.13 bundles oneDNN 3.12). Its AVX-512
// JIT kernel, read off ONEDNN_JIT_DUMP=1, is per element:
//
//   a   = |x|                                   (bits & 0x7fffffff)
//   i   = clamp((bits(a) - 0x3de00001) >> 21, 1, 24)   four intervals a binade
//   i   = a > 5.542594 ? 23 : i                 (erf is 1 there: p = c0 = 1)
//   p   = c5[i];  p = fma(p, a, ck[i]) for k = 4 .. 0
//   y   = (x * (1 + (p ^ sign(x)))) * 0.5
//
// The tables below are that kernel's constants, bit for bit (entries 25-31
// of its 32-entry tables are zero and left out). The coefficient lookups are
// dq.lookup, which vectorizes with the rest of the body and becomes one
// vpermi2ps per table on AVX-512.
//
// PyTorch leaves two cases to ATen's own kernel (Activation.cpp, use_mkldnn):
// tensors of at most one element, and non-contiguous ones (`aten_inner_dims`).
// There each inner loop of TensorIterator runs pairs of Vectorized<float> (32
// elements; 16 in the AVX2 build), `x * 0.5 * (1 + erf(x * M_SQRT1_2))` with
// the vector erf below, then its last n % 32 (n % 16) elements through the
// scalar lambda (glibc's erff).
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/AtenLoop.h"
#include "lib/Conversion/DQToLinalg/Builders.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Utils/Utils.h"
#include "lib/Dialect/DQ/IR/DQOps.h"
#include "lib/Utils/SleefMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include "llvm/ADT/bit.h"

using namespace mlir;
using namespace mlir::dq;

namespace {

constexpr int kIntervals = 25;

/// Coefficient k of the polynomial in each interval (c0 is the constant).
constexpr uint32_t kCoefficients[6][kIntervals] = {
    // c0
    {
     0xa6f2cb94, 0x32827792, 0x3381cc0c, 0x34523d4a, 0x351ac44d,
     0x35f36d88, 0x36ee8229, 0x37b8a3bb, 0x3867a213, 0x3940033b,
     0x3a2a5a1d, 0x3ae35863, 0x3b7828f2, 0x3c08b14b, 0x3c515ed3,
     0xbb503236, 0xbd8d8e5e, 0xbe8abcd9, 0xbf0c19a2, 0xbeccb328,
     0x3e176ced, 0x3f470d99, 0x3f7abb28, 0x3f800000, 0x00000000,
    },
    // c1
    {
     0x3f4c422a, 0x3f4c421f, 0x3f4c4207, 0x3f4c41cb, 0x3f4c413b,
     0x3f4c3fad, 0x3f4c3a2f, 0x3f4c2d40, 0x3f4c146a, 0x3f4bc341,
     0x3f4ad08c, 0x3f48f8cf, 0x3f45fac7, 0x3f404e07, 0x3f3b980f,
     0x3f48dff3, 0x3f78b21b, 0x3fbb0704, 0x40019c32, 0x3fe536d6,
     0x3f81331e, 0x3e6c8684, 0x3c98f936, 0x00000000, 0x3f800000,
    },
    // c2
    {
     0xb62173f4, 0x3735e4cf, 0x37f2ff89, 0x388c23be, 0x3917535c,
     0x39ab2ab0, 0x3a60fadb, 0x3af9b960, 0x3b6e5491, 0x3c0a4ec5,
     0x3ca5aa8c, 0x3d2138d9, 0x3d8737d4, 0x3ddfb660, 0x3e0f27ab,
     0x3d94004b, 0xbe0efdeb, 0xbf1d96c3, 0xbf89db58, 0xbf6d9897,
     0xbef69fb8, 0xbdc4f8a8, 0xbbde6422, 0x00000000, 0x00000000,
    },
    // c3
    {
     0xbe081a19, 0xbe084570, 0xbe08639b, 0xbe089837, 0xbe08f409,
     0xbe09ab95, 0xbe0b66d0, 0xbe0e400a, 0xbe124df8, 0xbe1bde02,
     0xbe2f19c9, 0xbe4931bf, 0xbe685fbc, 0xbe89c95f, 0xbe96cbca,
     0xbe8044aa, 0xbe0550f2, 0x3dcfd6a1, 0x3e94c826, 0x3e79345f,
     0x3decec91, 0x3ca46568, 0x3aa1e00a, 0x00000000, 0x00000000,
    },
    // c4
    {
     0xba3d61db, 0x39f097a3, 0x3a5845dc, 0x3ab1fa35, 0x3b0cefb8,
     0x3b653ab6, 0x3bcae527, 0x3c221712, 0x3c6c5840, 0x3cc0a703,
     0x3d1dcc19, 0x3d63656d, 0x3d955907, 0x3dbf9910, 0x3dd53f69,
     0x3db7dcef, 0x3d639ebe, 0xba6ede48, 0xbd22be69, 0xbd041cf1,
     0xbc64f5ab, 0xbb097a32, 0xb8ebf380, 0x00000000, 0x00000000,
    },
    // c5
    {
     0x3cb7d80c, 0x3c9b6050, 0x3c978d11, 0x3c92e850, 0x3c8d058b,
     0x3c848454, 0x3c6cd623, 0x3c4c824b, 0x3c2a7935, 0x3be0b390,
     0x3b0651ac, 0xbb232f53, 0xbbd42fa0, 0xbc2c5366, 0xbc492c9e,
     0xbc2a7aa6, 0xbbd55d04, 0xba823a76, 0x3b102aa8, 0x3ae25a7e,
     0x3a31f792, 0x38b84375, 0x3689bb5a, 0x00000000, 0x00000000,
    },
};

/// Constants shaped like x (f32 or a vector of f32) and like its i32 bits.
struct Splats {
  ImplicitLocOpBuilder &e;
  Type fType, iType;
  Splats(ImplicitLocOpBuilder &e, Value x)
      : e(e), fType(x.getType()), iType(e.getI32Type()) {
    if (auto v = dyn_cast<VectorType>(fType))
      iType = v.clone(iType);
  }
  Value i(uint32_t v) const {
    auto attr = e.getI32IntegerAttr(llvm::bit_cast<int32_t>(v));
    if (auto vt = dyn_cast<VectorType>(iType))
      return arith::ConstantOp::create(e, DenseElementsAttr::get(vt, attr));
    return arith::ConstantOp::create(e, attr);
  }
  Value f(float v) const {
    if (auto vt = dyn_cast<VectorType>(fType))
      return arith::ConstantOp::create(
          e, DenseElementsAttr::get(vt, e.getF32FloatAttr(v)));
    return constF32(e, v);
  }
  /// The f32 with these bits.
  Value bits(uint32_t v) const { return f(llvm::bit_cast<float>(v)); }
};

} // namespace

/// oneDNN's AVX2 kernel (jit_uni_eltwise_injector_f32<avx2>::
/// gelu_erf_compute_vector_fwd with exp_compute_vector_fwd; the minimax
/// form is AVX-512 only), read off its JIT dump, per element:
///
///   s = x * (1/sqrt 2);  t = 1 / fma(p, |s|, 1)
///   z = -(s * s)
///   exp(z): m = z < lo;  zc = max(min(z, hi), lo)    (x86 min/max: NaN -> hi)
///           n = floor(zc * log2e + 0.5);  r = fma(-n, ln2, zc)
///           sc = m ? 0 : bits((int(n - 1) + 127) << 23)       2^(n-1)
///           e  = (poly5(r) * sc) * 2
///   E = fma(-e * t, a5..a1 Horner in t, 1) ^ sign(x)   erf(s), A&S 7.1.26
///   y = fma(E, 0.5x, 0.5x)
///
/// Its tail runs the same lanes one element at a time: every element is
/// computed alike whatever its position.
static Value buildGeluAVX2(ImplicitLocOpBuilder &e, Value x) {
  Splats c(e, x);
  Type i32 = c.iType, fType = c.fType;
  auto cI = [&](uint32_t v) { return c.i(v); };
  auto cF = [&](uint32_t v) { return c.bits(v); };
  auto fma = [&](Value a, Value b, Value c) -> Value {
    return math::FmaOp::create(e, a, b, c);
  };
  auto asInt = [&](Value v) { return arith::BitcastOp::create(e, i32, v); };
  auto asFloat = [&](Value v) {
    return arith::BitcastOp::create(e, fType, v);
  };
  auto select = [&](arith::CmpFPredicate pred, Value a, Value b, Value then,
                    Value otherwise) -> Value {
    return arith::SelectOp::create(e, arith::CmpFOp::create(e, pred, a, b),
                                   then, otherwise);
  };
  const uint32_t one = 0x3f800000;
  Value s = arith::MulFOp::create(e, x, cF(0x3f3504f3));
  Value a = asFloat(arith::AndIOp::create(e, asInt(s), cI(0x7fffffff)));
  Value t = arith::DivFOp::create(e, cF(one), fma(cF(0x3ea7ba05), a, cF(one)));
  Value z = arith::NegFOp::create(e, arith::MulFOp::create(e, s, s));
  // exp(z), clamped to [ln FLT_MIN, ln FLT_MAX] as minps/maxps do.
  Value lo = cF(0xc2aeac50), hi = cF(0x42b17218);
  Value tiny = arith::CmpFOp::create(e, arith::CmpFPredicate::OLT, z, lo);
  Value zc = select(arith::CmpFPredicate::OLT, z, hi, z, hi);
  zc = select(arith::CmpFPredicate::OGT, zc, lo, zc, lo);
  Value f = arith::AddFOp::create(
      e, arith::MulFOp::create(e, zc, cF(0x3fb8aa3b)), cF(0x3f000000));
  Value n = math::FloorOp::create(e, f);
  Value r = fma(arith::NegFOp::create(e, n), cF(0x3f317218), zc);
  Value k = arith::FPToSIOp::create(e, i32, arith::SubFOp::create(e, n, cF(one)));
  Value scale = asFloat(arith::ShLIOp::create(
      e, arith::AddIOp::create(e, k, cI(0x7f)), cI(23)));
  scale = arith::SelectOp::create(e, tiny, cF(0), scale);
  Value q = cF(0x3c07cfce);
  for (uint32_t c : {0x3d2b9d0du, 0x3e2aad40u, 0x3efffee3u, 0x3f7ffffbu, one})
    q = fma(q, r, cF(c));
  Value ez = arith::MulFOp::create(
      e, arith::MulFOp::create(e, q, scale), cF(0x40000000));
  // erf(|s|) = 1 - t * P(t) * exp(-s^2), with x's sign.
  Value u = arith::MulFOp::create(e, arith::NegFOp::create(e, ez), t);
  Value p = cF(0x3f87dc22);
  for (uint32_t c : {0xbfba00e3u, 0x3fb5f0e3u, 0xbe91a98eu, 0x3e827906u})
    p = fma(p, t, cF(c));
  Value sign = arith::AndIOp::create(e, asInt(x), cI(0x80000000u));
  Value erf = asFloat(
      arith::XOrIOp::create(e, asInt(fma(u, p, cF(one))), sign));
  Value half = arith::MulFOp::create(e, x, cF(0x3f000000));
  return fma(erf, half, half);
}

Value mlir::dq::buildGelu(ImplicitLocOpBuilder &e, Value x, VendorISA isa) {
  if (isa == VendorISA::AVX2)
    return buildGeluAVX2(e, x);
  Splats c(e, x);
  Type i32 = c.iType, fType = c.fType;
  auto cI = [&](uint32_t v) { return c.i(v); };
  auto cF = [&](float v) { return c.f(v); };
  Value bits = arith::BitcastOp::create(e, i32, x);
  Value absBits = arith::AndIOp::create(e, bits, cI(0x7fffffff));
  Value a = arith::BitcastOp::create(e, fType, absBits);
  Value idx = arith::ShRSIOp::create(
      e, arith::AddIOp::create(e, absBits, cI(0xc21fffff)), cI(21));
  idx = arith::MaxSIOp::create(e, idx, cI(1));
  idx = arith::MinSIOp::create(e, idx, cI(24));
  Value saturated = arith::CmpFOp::create(
      e, arith::CmpFPredicate::OLT, cF(llvm::bit_cast<float>(0x40b15ceeu)), a);
  idx = arith::SelectOp::create(e, saturated, cI(23), idx);
  auto coefficient = [&](int k) -> Value {
    SmallVector<float> table;
    for (uint32_t v : kCoefficients[k])
      table.push_back(llvm::bit_cast<float>(v));
    return LookupOp::create(e, fType, idx, e.getDenseF32ArrayAttr(table));
  };
  Value p = coefficient(5);
  for (int k = 4; k >= 0; --k)
    p = math::FmaOp::create(e, p, a, coefficient(k));
  Value sign = arith::AndIOp::create(e, bits, cI(0x80000000u));
  Value erf = arith::BitcastOp::create(
      e, fType,
      arith::XOrIOp::create(e, arith::BitcastOp::create(e, i32, p), sign));
  Value y = arith::MulFOp::create(e, x, arith::AddFOp::create(e, erf, cF(1.0f)));
  return arith::MulFOp::create(e, y, cF(0.5f));
}

/// ATen's scalar GELU lambda on one f32: (x * 0.5) * (1 + erff(x * a)),
/// a = float(M_SQRT1_2); math.erf becomes libm's erff.
static Value buildAtenScalarGelu(ImplicitLocOpBuilder &e, Value x) {
  Value erf = math::ErfOp::create(
      e, arith::MulFOp::create(e, x, constF32(e, 0.70710678118654752f)));
  return arith::MulFOp::create(
      e, arith::MulFOp::create(e, x, constF32(e, 0.5f)),
      arith::AddFOp::create(e, constF32(e, 1.0f), erf));
}

/// ATen's vector GELU lambda on one f32 lane: Vectorized<float>::erf
/// (vec512_float.h), instruction for instruction, with SLEEF's expf_u10.
static Value buildAtenVectorGelu(ImplicitLocOpBuilder &e, Value x) {
  auto c = [&](float v) { return constF32(e, v); };
  auto ci = [&](uint32_t v) -> Value {
    return arith::ConstantOp::create(
        e, e.getI32IntegerAttr(llvm::bit_cast<int32_t>(v)));
  };
  auto fma = [&](Value a, Value b, Value d) -> Value {
    return math::FmaOp::create(e, a, b, d);
  };
  Type i32 = e.getI32Type(), f32 = e.getF32Type();
  Value ax = arith::MulFOp::create(e, x, c(0.70710678118654752f));
  Value bits = arith::BitcastOp::create(e, i32, ax);
  Value sign = arith::AndIOp::create(e, bits, ci(0x80000000u));
  Value abs = arith::BitcastOp::create(
      e, f32, arith::AndIOp::create(e, bits, ci(0x7fffffffu)));
  Value t = arith::DivFOp::create(e, c(1.0f), fma(c(0.3275911f), abs, c(1.0f)));
  Value r = fma(c(1.061405429f), t, c(-1.453152027f));
  r = fma(r, t, c(1.421413741f));
  r = fma(r, t, c(-0.284496736f));
  r = fma(r, t, c(0.254829592f));
  Value negSquare = arith::NegFOp::create(e, arith::MulFOp::create(e, ax, ax));
  Value negExp = arith::NegFOp::create(e, buildSleefExp(e, negSquare));
  Value erfAbs = fma(arith::MulFOp::create(e, negExp, t), r, c(1.0f));
  Value erf = arith::BitcastOp::create(
      e, f32,
      arith::XOrIOp::create(e, arith::BitcastOp::create(e, i32, erfAbs), sign));
  return arith::MulFOp::create(
      e, arith::MulFOp::create(e, x, c(0.5f)),
      arith::AddFOp::create(e, c(1.0f), erf));
}

namespace {

/// ATen's kernel with the last `k` dims as its inner loop: each element's
/// place in that loop, linearized, picks the vector or the scalar form.
Value lowerAten(ImplicitLocOpBuilder &b, Value input, int64_t k,
                int64_t numLanes) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  if (rank == 0)
    return elementwise(b, input, buildAtenScalarGelu);
  if (k == 1)
    return lowerAtenRows(b, input, numLanes, buildAtenVectorGelu, buildAtenScalarGelu);
  SmallVector<Value> sizes;
  Value n = arith::ConstantIndexOp::create(b, 1);
  for (int64_t d = rank - k; d < rank; ++d) {
    sizes.push_back(tensor::DimOp::create(b, input, d));
    n = arith::MulIOp::create(b, n, sizes.back());
  }
  Value split = arith::SubIOp::create(
      b, n,
      arith::RemUIOp::create(
          b, n, arith::ConstantIndexOp::create(b, 2 * numLanes)));
  return elementwise(b, input, [&](ImplicitLocOpBuilder &e, Value x) -> Value {
    Value place = arith::ConstantIndexOp::create(e, 0);
    for (int64_t d = rank - k; d < rank; ++d)
      place = arith::AddIOp::create(
          e, arith::MulIOp::create(e, place, sizes[d - (rank - k)]),
          linalg::IndexOp::create(e, d));
    Value scalar =
        arith::CmpIOp::create(e, arith::CmpIPredicate::uge, place, split);
    Value scalarForm = buildAtenScalarGelu(e, x);
    Value vectorForm = buildAtenVectorGelu(e, x);
    return arith::SelectOp::create(e, scalar, scalarForm, vectorForm);
  });
}

/// oneDNN's kernel; where no static dim exceeds one element, ATen's scalar
/// form for the calls with at most one element.
Value lowerOneDNN(ImplicitLocOpBuilder &b, GeluOp op, VendorISA isa) {
  Value input = op.getInput();
  auto oneDNN = [isa](ImplicitLocOpBuilder &e, Value x) {
    return buildGelu(e, x, isa);
  };
  if (op.alwaysOneDNN())
    return elementwise(b, input, oneDNN);
  auto type = cast<RankedTensorType>(input.getType());
  if (type.hasStaticShape())
    return elementwise(b, input, buildAtenScalarGelu);
  Value numel = arith::ConstantIndexOp::create(b, 1);
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      numel = arith::MulIOp::create(b, numel,
                                    tensor::DimOp::create(b, input, d));
  Value scalar = arith::CmpIOp::create(b, arith::CmpIPredicate::ule, numel,
                                       arith::ConstantIndexOp::create(b, 1));
  return elementwise(b, input, [&](ImplicitLocOpBuilder &e, Value x) -> Value {
    Value scalarForm = buildAtenScalarGelu(e, x);
    return arith::SelectOp::create(e, scalar, scalarForm, oneDNN(e, x));
  });
}

struct LowerGelu : OpRewritePattern<GeluOp> {
  LowerGelu(MLIRContext *ctx, VendorISA isa)
      : OpRewritePattern(ctx), isa(isa) {}

  LogicalResult matchAndRewrite(GeluOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    std::optional<int64_t> k = op.getAtenInnerDims();
    rewriter.replaceOp(op, k ? lowerAten(b, op.getInput(), *k, atenLanes(isa))
                             : lowerOneDNN(b, op, isa));
    return success();
  }

  VendorISA isa;
};

} // namespace

void mlir::dq::populateLowerGeluPatterns(RewritePatternSet &patterns,
                                         VendorISA isa) {
  patterns.add<LowerGelu>(patterns.getContext(), isa);
}
