//===- LowerQuantize.cpp - dq.quantize / dq.dequantize to linalg ----------===//
//
// Quantization reproduces fbgemm's QuantizeAvx2 (the kernel that
// quantized::linear_dynamic runs), lane for lane:
//   t = fma(x, 1.f / scale, float(zp));     // one rounding
//   t = t < 2147483520.f ? t : 2147483520.f; // _mm256_min_ps: NaN -> bound
//   r = cvtps_epi32(t);                      // half to even, INT_MIN if < -2^31
//   q = clamp(r, lo, hi)                     // the storage type's range
// (torchao's signed storage instead maps NaN to 0, as .to(torch.int8) does).
// With zp = 0 the fma is a plain rounded product, which is also torchao's
// symmetric `round(x * (1 / scale))`. With a static last dim the same ops run
// on vector<16xf32> in scf.for loops (LLVM does not vectorize the loops of
// the linalg form); lanes round independently, so the results are the same.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/Builders.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Utils/RowChunks.h"
#include "lib/Utils/Utils.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::dq;

/// Largest int32 below INT32_MAX that a float holds exactly (fbgemm's
/// int32_float_max_val).
static constexpr float kInt32FloatMax = 2147483520.0f;

/// A constant of `type` (a scalar or a vector of it) holding `value`.
static Value splat(ImplicitLocOpBuilder &b, Type type, TypedAttr value) {
  if (auto vType = dyn_cast<VectorType>(type))
    return arith::ConstantOp::create(b, DenseElementsAttr::get(vType, value));
  return arith::ConstantOp::create(b, value);
}

Value mlir::dq::quantizeValue(ImplicitLocOpBuilder &b, Value x, Value inv,
                              Value zpF, int32_t lo, int32_t hi) {
  Type fType = x.getType(), iType = b.getI32Type();
  if (auto vType = dyn_cast<VectorType>(fType))
    iType = vType.clone(iType);
  auto f = [&](float v) { return splat(b, fType, b.getF32FloatAttr(v)); };
  auto i = [&](int32_t v) { return splat(b, iType, b.getI32IntegerAttr(v)); };
  Value t = math::FmaOp::create(b, x, inv, zpF);
  Value nan = arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, t, t);
  Value bound = f(kInt32FloatMax);
  Value below = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, t, bound);
  t = arith::SelectOp::create(b, below, t, bound);
  Value tooNegative = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, t,
                                            f(-2147483648.0f));
  Value r = arith::FPToSIOp::create(b, iType, math::RoundEvenOp::create(b, t));
  r = arith::SelectOp::create(b, tooNegative,
                              i(std::numeric_limits<int32_t>::min()), r);
  r = arith::MaxSIOp::create(b, r, i(lo));
  r = arith::MinSIOp::create(b, r, i(hi));
  if (lo < 0) {
    // torchao (signed storage) clamps with torch.clamp, which keeps NaN, and
    // converts with .to(torch.int8): NaN becomes 0 (cvttps2dq's INT_MIN,
    // truncated to its low byte). An inf reaching the linear makes its
    // scale inf and its lanes NaN.
    r = arith::SelectOp::create(b, nan, i(0), r);
  }
  return r;
}

/// 1 / scale once per qparam instead of once per element.
static Value reciprocal(ImplicitLocOpBuilder &b, Value scale) {
  auto type = cast<RankedTensorType>(scale.getType());
  AffineMap id = AffineMap::getMultiDimIdentityMap(type.getRank(),
                                                   b.getContext());
  return linalg::GenericOp::create(
             b, TypeRange{type}, ValueRange{scale},
             ValueRange{emptyLike(b, scale, b.getF32Type())},
             ArrayRef<AffineMap>{id, id}, iterators(type.getRank()),
             [](OpBuilder &nb, Location loc, ValueRange args) {
               ImplicitLocOpBuilder ib(loc, nb);
               linalg::YieldOp::create(
                   ib, ValueRange{arith::DivFOp::create(
                           ib, constF32(ib, 1.0f), args[0])});
             })
      .getResult(0);
}

/// The quantization as loops over rows (split over `threads`: emitRowLoop)
/// and 16 lanes of vector ops on tensors: LLVM does not vectorize the loops
/// linalg's form becomes.
static Value buildVectorQuantize(ImplicitLocOpBuilder &b, Value input,
                                 Value inv, Value zeroPoint, bool perRow,
                                 int32_t lo, int32_t hi, int64_t threads) {
  constexpr int64_t lanes = 16;
  auto inType = cast<RankedTensorType>(input.getType());
  int64_t k = inType.getShape().back();
  auto fType = VectorType::get({lanes}, b.getF32Type());
  auto [leadDims, numRows] = leadingDims(b, input);
  Value out = emptyLike(b, input, b.getI8Type());
  return emitRowLoop(
      b, out, leadDims, numRows, k, threads,
      [&](ImplicitLocOpBuilder &ib, ArrayRef<Value> row, ArrayRef<Value> outRow,
          Value dest) -> Value {
        ValueRange qIdx = perRow ? ValueRange(row) : ValueRange{};
        Value invV = vector::BroadcastOp::create(
            ib, fType, tensor::ExtractOp::create(ib, inv, qIdx));
        Value zpF = arith::SIToFPOp::create(
            ib, ib.getF32Type(), tensor::ExtractOp::create(ib, zeroPoint, qIdx));
        Value zpV = vector::BroadcastOp::create(ib, fType, zpF);
        auto step = [&](ImplicitLocOpBuilder &sb, Value col, bool inBounds,
                        Value to) -> Value {
          SmallVector<Value> idx(row), outIdx(outRow);
          idx.push_back(col);
          outIdx.push_back(col);
          bool bounds[] = {inBounds};
          Value x = vector::TransferReadOp::create(sb, fType, input, idx,
                                                   constF32(sb, 0.0f), bounds);
          Value q = arith::TruncIOp::create(
              sb, VectorType::get({lanes}, sb.getI8Type()),
              quantizeValue(sb, x, invV, zpV, lo, hi));
          return vector::TransferWriteOp::create(sb, q, to, outIdx, bounds)
              .getResult();
        };
        int64_t full = k / lanes * lanes;
        if (full > 0)
          dest = scf::ForOp::create(
                     ib, constIndex(ib, 0), constIndex(ib, full),
                     constIndex(ib, lanes), ValueRange{dest},
                     [&](OpBuilder &cb, Location cloc, Value col,
                         ValueRange iter) {
                       ImplicitLocOpBuilder sb(cloc, cb);
                       scf::YieldOp::create(sb, step(sb, col, true, iter[0]));
                     })
                     .getResult(0);
        if (full < k)
          dest = step(ib, constIndex(ib, full), false, dest);
        return dest;
      });
}

Value mlir::dq::buildQuantize(ImplicitLocOpBuilder &b, Value input, Value scale,
                              Value zeroPoint, bool isSigned, int64_t threads) {
  auto inType = cast<RankedTensorType>(input.getType());
  unsigned rank = inType.getRank();
  bool perRow = cast<RankedTensorType>(scale.getType()).getRank() != 0;
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap q = qparamMap(ctx, rank, perRow);
  int32_t lo = isSigned ? -128 : 0, hi = isSigned ? 127 : 255;
  Value inv = reciprocal(b, scale);
  // Vector loops need a static last dim; a rank-0 input has none and takes
  // the (rank-0) linalg form.
  if (rank > 0 && !inType.isDynamicDim(rank - 1))
    return buildVectorQuantize(b, input, inv, zeroPoint, perRow, lo, hi,
                               threads);
  return linalg::GenericOp::create(
             b, TypeRange{inType.clone(b.getI8Type())},
             ValueRange{input, inv, zeroPoint},
             ValueRange{emptyLike(b, input, b.getI8Type())},
             ArrayRef<AffineMap>{id, q, q, id}, iterators(rank),
             [&](OpBuilder &nb, Location loc, ValueRange args) {
               ImplicitLocOpBuilder ib(loc, nb);
               Value zpF = arith::SIToFPOp::create(ib, ib.getF32Type(), args[2]);
               Value r = quantizeValue(ib, args[0], args[1], zpF, lo, hi);
               linalg::YieldOp::create(
                   ib, ValueRange{arith::TruncIOp::create(
                           ib, ib.getI8Type(), r)});
             })
      .getResult(0);
}

namespace {
struct LowerQuantize : OpRewritePattern<QuantizeOp> {
  LowerQuantize(MLIRContext *ctx, int64_t threads)
      : OpRewritePattern(ctx), threads(threads) {}
  int64_t threads;

  LogicalResult matchAndRewrite(QuantizeOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    bool isSigned = op.getOutput().getType().getElementType().isSignedInteger();
    Value q = buildQuantize(b, op.getInput(), op.getScale(), op.getZeroPoint(),
                            isSigned, threads);
    // Signless i8 for linalg; the bitcast gives back the op's ui8/si8 type.
    rewriter.replaceOpWithNewOp<tensor::BitcastOp>(op, op.getType(), q);
    return success();
  }
};

struct LowerDequantize : OpRewritePattern<DequantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DequantizeOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto inType = op.getInput().getType();
    bool isSigned = inType.getElementType().isSignedInteger();
    Value q = tensor::BitcastOp::create(b, inType.clone(b.getI8Type()),
                                        op.getInput());
    unsigned rank = inType.getRank();
    bool perRow = op.getScale().getType().getRank() != 0;
    MLIRContext *ctx = op.getContext();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap qm = qparamMap(ctx, rank, perRow);
    // Sizes from the signless bitcast, not from the ui8/si8 input: a
    // tensor.dim of the input would keep alive the bitcast that the
    // quantize lowering ends with, and one-shot-bufferize cannot bufferize
    // tensor.bitcast ("op was not bufferized" for quantize -> dequantize
    // with dynamic dims).
    Value init = emptyLike(b, q, b.getF32Type());
    auto generic = linalg::GenericOp::create(
        b, TypeRange{init.getType()},
        ValueRange{q, op.getScale(), op.getZeroPoint()}, ValueRange{init},
        ArrayRef<AffineMap>{id, qm, qm, id}, iterators(rank),
        [&](OpBuilder &nb, Location loc, ValueRange args) {
          ImplicitLocOpBuilder ib(loc, nb);
          Type i32 = ib.getI32Type();
          Value v = isSigned ? arith::ExtSIOp::create(ib, i32, args[0])
                                   .getResult()
                             : arith::ExtUIOp::create(ib, i32, args[0])
                                   .getResult();
          v = arith::SubIOp::create(ib, v, args[2]);
          v = arith::SIToFPOp::create(ib, ib.getF32Type(), v);
          linalg::YieldOp::create(
              ib, ValueRange{arith::MulFOp::create(ib, v, args[1])});
        });
    Value result = generic.getResult(0);
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(b, op.getType(), result);
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void mlir::dq::populateLowerQuantizePatterns(RewritePatternSet &patterns,
                                             int64_t threads) {
  patterns.add<LowerQuantize>(patterns.getContext(), threads);
  patterns.add<LowerDequantize>(patterns.getContext());
}
