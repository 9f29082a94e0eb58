//===- VectorRange.cpp - min(x, 0), max(x, 0) with vector ops -------------===//
//
// The linalg form of this reduction becomes loops that load and store the
// accumulator in memory on every element, which LLVM neither promotes nor
// vectorizes: 3.4 ns per element, as much as the int8 GEMM itself for
// N = 768. Here each row is read 16 floats at a time into vector
// accumulators kept in registers (~0.1 ns per element).
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/VectorRange.h"
#include "lib/Conversion/DQToLinalg/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::dq;
using arith::CmpFPredicate;

static constexpr int64_t kLanes = 16;

/// Folds row `row` of `input` into the accumulators (vmin, vmax). Reads past
/// the end give 0, which the accumulators already hold.
static std::pair<Value, Value> reduceRow(ImplicitLocOpBuilder &b, Value input,
                                         ArrayRef<Value> row, Value vmin,
                                         Value vmax) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t k = type.getShape().back();
  auto vType = VectorType::get({kLanes}, b.getF32Type());
  Value pad = constF32(b, 0.0f);
  auto step = [&](ImplicitLocOpBuilder &sb, Value col, bool inBounds,
                  Value mn, Value mx) -> std::pair<Value, Value> {
    SmallVector<Value> idx(row);
    idx.push_back(col);
    bool bounds[] = {inBounds};
    Value v = vector::TransferReadOp::create(sb, vType, input, idx, pad, bounds);
    // minnum/maxnum (NaN elements ignored), as compare + select: the
    // accumulators start at 0 and never hold a NaN, so `v < mn ? v : mn` is
    // the same and is one vminps; minnumf costs a NaN test and blend more.
    auto pick = [&](CmpFPredicate p, Value acc) -> Value {
      return arith::SelectOp::create(
          sb, arith::CmpFOp::create(sb, p, v, acc), v, acc);
    };
    return {pick(CmpFPredicate::OLT, mn), pick(CmpFPredicate::OGT, mx)};
  };
  int64_t full = k / kLanes * kLanes;
  if (full > 0) {
    auto loop = scf::ForOp::create(
        b, arith::ConstantIndexOp::create(b, 0),
        arith::ConstantIndexOp::create(b, full),
        arith::ConstantIndexOp::create(b, kLanes), ValueRange{vmin, vmax},
        [&](OpBuilder &nb, Location loc, Value col, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          auto [mn, mx] = step(ib, col, true, iter[0], iter[1]);
          scf::YieldOp::create(ib, ValueRange{mn, mx});
        });
    vmin = loop.getResult(0);
    vmax = loop.getResult(1);
  }
  if (full < k)
    std::tie(vmin, vmax) =
        step(b, arith::ConstantIndexOp::create(b, full), false, vmin, vmax);
  return {vmin, vmax};
}

static Value reduceLanes(ImplicitLocOpBuilder &b, vector::CombiningKind kind,
                         Value v) {
  return vector::ReductionOp::create(b, kind, v);
}

std::pair<Value, Value> dq::buildVectorRange(ImplicitLocOpBuilder &b,
                                             Value input, bool perRow) {
  auto [leadDims, numRows] = leadingDims(b, input);
  Type f32 = b.getF32Type();
  Value zeros = arith::ConstantOp::create(
      b, DenseElementsAttr::get(VectorType::get({kLanes}, f32),
                                b.getF32FloatAttr(0.0f)));
  Value c0 = arith::ConstantIndexOp::create(b, 0);
  Value c1 = arith::ConstantIndexOp::create(b, 1);

  if (!perRow) {
    auto loop = scf::ForOp::create(
        b, c0, numRows, c1, ValueRange{zeros, zeros},
        [&](OpBuilder &nb, Location loc, Value m, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          auto [mn, mx] = reduceRow(ib, input, delinearizeRow(ib, m, leadDims),
                                    iter[0], iter[1]);
          scf::YieldOp::create(ib, ValueRange{mn, mx});
        });
    auto scalar = RankedTensorType::get({}, f32);
    Value mn = reduceLanes(b, vector::CombiningKind::MINNUMF, loop.getResult(0));
    Value mx = reduceLanes(b, vector::CombiningKind::MAXNUMF, loop.getResult(1));
    return {tensor::FromElementsOp::create(b, scalar, mn),
            tensor::FromElementsOp::create(b, scalar, mx)};
  }

  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, b.getLoc(), input);
  sizes.pop_back();
  Value init = tensor::EmptyOp::create(b, sizes, f32);
  auto loop = scf::ForOp::create(
      b, c0, numRows, c1, ValueRange{init, init},
      [&](OpBuilder &nb, Location loc, Value m, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        SmallVector<Value> row = delinearizeRow(ib, m, leadDims);
        auto [vmin, vmax] = reduceRow(ib, input, row, zeros, zeros);
        Value mn = reduceLanes(ib, vector::CombiningKind::MINNUMF, vmin);
        Value mx = reduceLanes(ib, vector::CombiningKind::MAXNUMF, vmax);
        scf::YieldOp::create(
            ib, ValueRange{tensor::InsertOp::create(ib, mn, iter[0], row),
                           tensor::InsertOp::create(ib, mx, iter[1], row)});
      });
  return {loop.getResult(0), loop.getResult(1)};
}
