//===- LowerQParams.cpp - dq.choose_qparams to linalg ---------------------===//
//
// The range is one reduction producing min(x, 0) and max(x, 0) per tensor
// or per row (vector loops when the last dim is static, see VectorRange.cpp;
// a linalg reduction otherwise); the qparams are then computed elementwise from it with
// the scalar arithmetic of PyTorch's ChooseQuantizationParams (QuantUtils.h),
// f64 where PyTorch uses double, so that scale and zero point are identical.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Utils/Utils.h"
#include "lib/Conversion/DQToLinalg/VectorRange.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;
using namespace mlir::dq;

namespace {
// PyTorch's SMALL_SCALE_THRESHOLD (a float constant).
constexpr float kSmallScale = 6.1e-5f;

using arith::CmpFPredicate;

/// fbgemm/PyTorch asymmetric qparams from a range that already contains 0.
std::pair<Value, Value> buildAsymmetric(ImplicitLocOpBuilder &b, Value min,
                                        Value max, int32_t qmin,
                                        int32_t qmax) {
  Type f32 = b.getF32Type(), f64 = b.getF64Type();
  auto ext = [&](Value v) { return arith::ExtFOp::create(b, f64, v); };
  auto trunc = [&](Value v) { return arith::TruncFOp::create(b, f32, v); };
  auto cmp = [&](CmpFPredicate p, Value l, Value r) {
    return arith::CmpFOp::create(b, p, l, r);
  };
  auto select = [&](Value c, Value t, Value f) {
    return arith::SelectOp::create(b, c, t, f);
  };
  float span = static_cast<float>(qmax - qmin);

  // double scale = (double(max) - min) / (qmax - qmin);
  Value scale = arith::DivFOp::create(
      b, arith::SubFOp::create(b, ext(max), ext(min)), constF64(b, qmax - qmin));
  // if (float(scale) == 0.0f || isinf(1.0f / float(scale))) scale = 0.1;
  Value scaleF = trunc(scale);
  Value inv = arith::DivFOp::create(b, constF32(b, 1.0f), scaleF);
  Value isInf = cmp(CmpFPredicate::OEQ, math::AbsFOp::create(b, inv),
                    constF32(b, std::numeric_limits<float>::infinity()));
  Value bad = arith::OrIOp::create(
      b, cmp(CmpFPredicate::OEQ, scaleF, constF32(b, 0.0f)), isInf);
  scale = select(bad, constF64(b, 0.1), scale);

  // if (scale < SMALL_SCALE_THRESHOLD) { float org_scale = scale; ... }
  Value small = cmp(CmpFPredicate::OLT, scale, constF64(b, kSmallScale));
  Value amplifier =
      arith::DivFOp::create(b, constF32(b, kSmallScale), trunc(scale));
  Value minIsZero = cmp(CmpFPredicate::OEQ, min, constF32(b, 0.0f));
  Value maxIsZero = cmp(CmpFPredicate::OEQ, max, constF32(b, 0.0f));
  Value smallMax = select(
      minIsZero, constF32(b, kSmallScale * span),
      select(maxIsZero, max, arith::MulFOp::create(b, max, amplifier)));
  Value smallMin = select(
      minIsZero, min,
      select(maxIsZero, constF32(b, -kSmallScale * span),
             arith::MulFOp::create(b, min, amplifier)));
  min = select(small, smallMin, min);
  max = select(small, smallMax, max);
  scale = select(small, constF64(b, kSmallScale), scale);

  // Zero point from the end of the range that gives the smaller error.
  Value minOverScale = arith::DivFOp::create(b, ext(min), scale);
  Value maxOverScale = arith::DivFOp::create(b, ext(max), scale);
  Value zpFromMin = arith::SubFOp::create(b, constF64(b, qmin), minOverScale);
  Value zpFromMax = arith::SubFOp::create(b, constF64(b, qmax), maxOverScale);
  Value errMin = arith::SubFOp::create(b, constF64(b, std::abs(qmin)),
                                       math::AbsFOp::create(b, minOverScale));
  Value errMax = arith::SubFOp::create(b, constF64(b, std::abs(qmax)),
                                       math::AbsFOp::create(b, maxOverScale));
  Value initial =
      select(cmp(CmpFPredicate::OLT, errMin, errMax), zpFromMin, zpFromMax);
  // Nudge: clamp to [qmin, qmax], else nearbyint (half to even).
  Value rounded = arith::FPToSIOp::create(
      b, b.getI32Type(), math::RoundEvenOp::create(b, initial));
  Value zp = select(cmp(CmpFPredicate::OLT, initial, constF64(b, qmin)),
                    constI32(b, qmin),
                    select(cmp(CmpFPredicate::OGT, initial, constF64(b, qmax)),
                           constI32(b, qmax), rounded));
  return {trunc(scale), zp};
}

/// torchao 0.18 symmetric int8 qparams (choose_qparams_affine, SYMMETRIC,
/// [-128, 127], eps = float32 eps): scale = max(amax / 127.5, eps), zp = 0.
std::pair<Value, Value> buildSymmetric(ImplicitLocOpBuilder &b, Value min,
                                       Value max, int32_t qmin, int32_t qmax) {
  Value amax = arith::MaximumFOp::create(b, arith::NegFOp::create(b, min), max);
  Value scale = arith::DivFOp::create(
      b, amax, constF32(b, static_cast<float>(qmax - qmin) / 2));
  scale = arith::MaximumFOp::create(
      b, scale, constF32(b, std::numeric_limits<float>::epsilon()));
  return {scale, constI32(b, 0)};
}

struct LowerChooseQParams : OpRewritePattern<ChooseQParamsOp> {
  LowerChooseQParams(MLIRContext *ctx, int64_t threads)
      : OpRewritePattern(ctx), threads(threads) {}
  int64_t threads;

  LogicalResult matchAndRewrite(ChooseQParamsOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value input = op.getInput();
    unsigned rank = op.getInput().getType().getRank();
    bool perRow = op.getGranularity() == Granularity::PerRow;
    MLIRContext *ctx = op.getContext();
    Type f32 = b.getF32Type();

    // min(x, 0) and max(x, 0) in one pass: both start at 0. NaNs are skipped
    // (minnum/maxnum); see docs/semantics.md for how fbgemm differs.
    SmallVector<OpFoldResult> qSizes = tensor::getMixedSizes(b, b.getLoc(), input);
    qSizes.pop_back();
    if (!perRow)
      qSizes.clear();
    SmallVector<Value> range;
    if (!op.getInput().getType().isDynamicDim(rank - 1)) {
      auto [mn, mx] = buildVectorRange(b, input, perRow, threads);
      range = {mn, mx};
    } else {
      Value zero = constF32(b, 0.0f);
      Value init =
          linalg::FillOp::create(b, zero, emptyWithShapeOf(b, qSizes, f32))
              .getResult(0);
      SmallVector<unsigned> reduced;
      for (unsigned i = perRow ? rank - 1 : 0; i < rank; ++i)
        reduced.push_back(i);
      AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
      AffineMap q = qparamMap(ctx, rank, perRow);
      auto generic = linalg::GenericOp::create(
          b, TypeRange{init.getType(), init.getType()}, ValueRange{input},
          ValueRange{init, init}, ArrayRef<AffineMap>{id, q, q},
          iterators(rank, reduced),
          [](OpBuilder &nb, Location loc, ValueRange args) {
            Value mn = arith::MinNumFOp::create(nb, loc, args[1], args[0]);
            Value mx = arith::MaxNumFOp::create(nb, loc, args[2], args[0]);
            linalg::YieldOp::create(nb, loc, ValueRange{mn, mx});
          });
      range.assign(generic.getResults().begin(), generic.getResults().end());
    }

    // Elementwise over the qparam shape: (min, max) -> (scale, zp).
    auto [qmin, qmax] = getQuantRange(op.getMode(), op.getReduceRange());
    QuantMode mode = op.getMode();
    unsigned qRank = qSizes.size();
    AffineMap qId = AffineMap::getMultiDimIdentityMap(qRank, ctx);
    Value scaleInit = emptyWithShapeOf(b, qSizes, f32);
    Value zpInit = emptyWithShapeOf(b, qSizes, b.getI32Type());
    auto qparams = linalg::GenericOp::create(
        b, TypeRange{scaleInit.getType(), zpInit.getType()},
        range, ValueRange{scaleInit, zpInit},
        SmallVector<AffineMap>(4, qId), iterators(qRank),
        [&](OpBuilder &nb, Location loc, ValueRange args) {
          ImplicitLocOpBuilder ib(loc, nb);
          auto [scale, zp] =
              mode == QuantMode::Asymmetric
                  ? buildAsymmetric(ib, args[0], args[1], qmin, qmax)
                  : buildSymmetric(ib, args[0], args[1], qmin, qmax);
          linalg::YieldOp::create(ib, ValueRange{scale, zp});
        });
    // The op's result types may be more static than what was built.
    SmallVector<Value> results;
    for (auto [v, t] : llvm::zip(qparams.getResults(), op.getResultTypes()))
      results.push_back(v.getType() == t
                            ? Value(v)
                            : Value(tensor::CastOp::create(b, t, v)));
    rewriter.replaceOp(op, results);
    return success();
  }
};
} // namespace

void mlir::dq::populateLowerChooseQParamsPatterns(RewritePatternSet &patterns,
                                                  int64_t threads) {
  patterns.add<LowerChooseQParams>(patterns.getContext(), threads);
}
