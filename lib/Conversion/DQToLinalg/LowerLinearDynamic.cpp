//===- LowerLinearDynamic.cpp - dq.linear_dynamic to linalg ---------------===//
//
//   s, zp = dq.choose_qparams x                       [rows] or []
//   q     = dq.quantize x, s, zp                      uint8 (int8 if symmetric)
//   acc   = linalg.generic q[rows, k] * W[n, k]       u8 x s8 -> exact i32
//   y     = linalg.generic epilogue(acc, colsum(W), s, zp, w_scale, bias)
// where "rows" are all leading dims of the input.
//
// The epilogue follows the reference of each mode to the rounding:
//   asymmetric (fbgemm requantizeForFloatAvx2, as the x86 wheel runs it):
//     fma(float(acc - zp * colsum[n]), float(s * w_scale[n]), bias[n])
//   symmetric (torchao int_scaled_matmul):
//     float(acc) * s * w_scale[n] + bias[n]   (left to right)
// colsum(W) is folded to a constant when W is one.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/Builders.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Utils/Utils.h"
#include "lib/Utils/Weights.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::dq;

/// Sums over K of a constant int8 [N, K] weight, if it is one. They wrap
/// around in 32 bits like the i32 reduction of a non-constant weight.
static std::optional<SmallVector<int32_t>> constantWeightSums(Value weight) {
  auto type = cast<RankedTensorType>(weight.getType());
  if (!type.hasStaticShape())
    return std::nullopt;
  int64_t n = type.getDimSize(0), k = type.getDimSize(1);
  // A splat is k times its value: no walk over (possibly billions of)
  // elements.
  DenseIntElementsAttr splat;
  if (matchPattern(weight, m_Constant(&splat)) && splat.isSplat()) {
    uint64_t v = splat.getSplatValue<APInt>().getSExtValue();
    return SmallVector<int32_t>(
        n, static_cast<int32_t>(static_cast<uint32_t>(v * uint64_t(k))));
  }
  std::optional<SmallVector<int8_t>> values = readConstantWeight(weight);
  if (!values)
    return std::nullopt;
  return columnSums(*values, n, k, n);
}

/// colsum[n] = sum_k W[n, k], as a constant or a linalg reduction.
static Value weightSums(ImplicitLocOpBuilder &b, Value weight) {
  auto type = cast<RankedTensorType>(weight.getType());
  Type i32 = b.getI32Type();
  if (auto sums = constantWeightSums(weight)) {
    auto sumType = RankedTensorType::get({type.getDimSize(0)}, i32);
    return arith::ConstantOp::create(
        b, DenseIntElementsAttr::get(sumType, ArrayRef<int32_t>(*sums)));
  }
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> size = {
      tensor::getMixedSizes(b, b.getLoc(), weight)[0]};
  Value init =
      linalg::FillOp::create(b, constI32(b, 0), emptyWithShapeOf(b, size, i32))
          .getResult(0);
  AffineMap wMap = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap sMap = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  return linalg::GenericOp::create(
             b, TypeRange{init.getType()}, ValueRange{weight},
             ValueRange{init}, ArrayRef<AffineMap>{wMap, sMap},
             iterators(2, {1}),
             [](OpBuilder &nb, Location loc, ValueRange args) {
               Value w = arith::ExtSIOp::create(nb, loc, nb.getI32Type(),
                                                args[0]);
               linalg::YieldOp::create(
                   nb, loc, ValueRange{arith::AddIOp::create(nb, loc, args[1], w)});
             })
      .getResult(0);
}

QuantizedActivations mlir::dq::activationQParams(ImplicitLocOpBuilder &b,
                                                 LinearDynamicOp op) {
  auto xType = op.getInput().getType();
  SmallVector<int64_t> qShape;
  if (op.getActGranularity() == Granularity::PerRow)
    qShape.assign(xType.getShape().begin(), xType.getShape().end() - 1);
  auto qp = ChooseQParamsOp::create(
      b, RankedTensorType::get(qShape, b.getF32Type()),
      RankedTensorType::get(qShape, b.getI32Type()), op.getInput(),
      op.getActModeAttr(), op.getActGranularityAttr(),
      op.getReduceRangeAttr());
  return {nullptr, qp.getScale(), qp.getZeroPoint()};
}

Value mlir::dq::quantizeInput(ImplicitLocOpBuilder &b, LinearDynamicOp op,
                              Value scale, Value zeroPoint) {
  MLIRContext *ctx = op.getContext();
  auto xType = op.getInput().getType();
  Type storage = op.getActMode() == QuantMode::Symmetric
                     ? IntegerType::get(ctx, 8, IntegerType::Signed)
                     : IntegerType::get(ctx, 8, IntegerType::Unsigned);
  Value q = QuantizeOp::create(b, xType.clone(storage), op.getInput(), scale,
                               zeroPoint);
  return tensor::BitcastOp::create(b, xType.clone(b.getI8Type()), q);
}

QuantizedActivations mlir::dq::quantizeActivations(ImplicitLocOpBuilder &b,
                                                   LinearDynamicOp op) {
  QuantizedActivations act = activationQParams(b, op);
  act.q = quantizeInput(b, op, act.scale, act.zeroPoint);
  return act;
}

namespace {
struct LowerLinearDynamic : OpRewritePattern<LinearDynamicOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearDynamicOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    auto xType = op.getInput().getType();
    unsigned rank = xType.getRank();
    bool perRow = op.getActGranularity() == Granularity::PerRow;
    bool symmetric = op.getActMode() == QuantMode::Symmetric;
    Type f32 = b.getF32Type(), i32 = b.getI32Type(), i8 = b.getI8Type();

    // Runtime activation qparams and quantized activations.
    QuantizedActivations act = quantizeActivations(b, op);
    Value q = act.q;

    Value scale = act.scale, zp = act.zeroPoint;
    Value w = op.getWeight();
    auto wType = op.getWeight().getType();
    if (!wType.getElementType().isSignlessInteger())
      w = tensor::BitcastOp::create(b, wType.clone(i8), w);

    // Loops: the input's leading dims (rows), then n, then k. Staying N-d
    // avoids reshapes with several dynamic dims (memref.expand_shape of
    // [?*?] -> [?, ?] is not supported by expand-strided-metadata).
    unsigned lead = rank - 1, nDim = lead, kDim = lead + 1;
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    auto map = [&](unsigned numDims, ArrayRef<unsigned> dims) {
      SmallVector<AffineExpr> exprs;
      for (unsigned i : dims)
        exprs.push_back(d(i));
      return AffineMap::get(numDims, 0, exprs, ctx);
    };
    SmallVector<unsigned> rows;
    for (unsigned i = 0; i < lead; ++i)
      rows.push_back(i);
    auto with = [&](ArrayRef<unsigned> dims, ArrayRef<unsigned> more) {
      SmallVector<unsigned> all(dims);
      all.append(more.begin(), more.end());
      return all;
    };

    // acc[rows, n] = sum_k q[rows, k] * W[n, k], exact in i32.
    SmallVector<OpFoldResult> outSizes = tensor::getMixedSizes(b, b.getLoc(), x);
    OpFoldResult n = tensor::getMixedSizes(b, b.getLoc(), w)[0];
    outSizes.back() = n;
    Value accInit = linalg::FillOp::create(
                        b, constI32(b, 0), emptyWithShapeOf(b, outSizes, i32))
                        .getResult(0);
    Value acc =
        linalg::GenericOp::create(
            b, TypeRange{accInit.getType()}, ValueRange{q, w},
            ValueRange{accInit},
            ArrayRef<AffineMap>{map(rank + 1, with(rows, {kDim})),
                                map(rank + 1, {nDim, kDim}),
                                map(rank + 1, with(rows, {nDim}))},
            iterators(rank + 1, {kDim}),
            [&](OpBuilder &nb, Location loc, ValueRange args) {
              ImplicitLocOpBuilder ib(loc, nb);
              Value a = symmetric
                            ? arith::ExtSIOp::create(ib, i32, args[0]).getResult()
                            : arith::ExtUIOp::create(ib, i32, args[0]).getResult();
              Value wv = arith::ExtSIOp::create(ib, i32, args[1]);
              Value p = arith::MulIOp::create(ib, a, wv);
              linalg::YieldOp::create(
                  ib, ValueRange{arith::AddIOp::create(ib, args[2], p)});
            })
            .getResult(0);

    // Dequantize epilogue over (rows, n).
    Value sums = weightSums(b, w);
    bool perChannel = op.getWeightScale().getType().getRank() != 0;
    AffineMap outMap = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap rowMap = perRow ? map(rank, rows) : map(rank, {});
    AffineMap colMap = map(rank, {nDim});
    AffineMap wsMap = perChannel ? colMap : map(rank, {});
    SmallVector<Value> ins = {acc, sums, scale, zp, op.getWeightScale()};
    SmallVector<AffineMap> maps = {outMap, colMap, rowMap, rowMap, wsMap};
    bool hasBias = static_cast<bool>(op.getBias());
    if (hasBias) {
      ins.push_back(op.getBias());
      maps.push_back(colMap);
    }
    maps.push_back(outMap);
    Value outInit = emptyWithShapeOf(b, outSizes, f32);
    Value y =
        linalg::GenericOp::create(
            b, TypeRange{outInit.getType()}, ins, ValueRange{outInit}, maps,
            iterators(rank),
            [&](OpBuilder &nb, Location loc, ValueRange args) {
              ImplicitLocOpBuilder ib(loc, nb);
              Value accV = args[0], sum = args[1], s = args[2], z = args[3],
                    ws = args[4];
              Value r;
              if (symmetric) {
                r = arith::SIToFPOp::create(ib, f32, accV);
                r = arith::MulFOp::create(ib, r, s);
                r = arith::MulFOp::create(ib, r, ws);
                if (hasBias)
                  r = arith::AddFOp::create(ib, r, args[5]);
              } else {
                Value v = arith::SubIOp::create(
                    ib, accV, arith::MulIOp::create(ib, z, sum));
                r = arith::SIToFPOp::create(ib, f32, v);
                Value mult = arith::MulFOp::create(ib, s, ws);
                // The wheel's compiler contracts fbgemm's mul + add into one
                // fma (measured: bit-exact only this way).
                r = hasBias ? math::FmaOp::create(ib, r, mult, args[5]).getResult()
                            : arith::MulFOp::create(ib, r, mult).getResult();
              }
              linalg::YieldOp::create(ib, ValueRange{r});
            })
            .getResult(0);

    if (y.getType() != op.getType())
      y = tensor::CastOp::create(b, op.getType(), y);
    rewriter.replaceOp(op, y);
    return success();
  }
};
} // namespace

void mlir::dq::populateLowerLinearDynamicPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerLinearDynamic>(patterns.getContext());
}
