//===- VectorRange.cpp - min(x, 0), max(x, 0) with vector ops -------------===//
//
// The linalg form of this reduction becomes loops that load and store the
// accumulator in memory on every element, which LLVM neither promotes nor
// vectorizes: 3.4 ns per element, as much as the int8 GEMM itself for
// N = 768. Here each row is read 16 floats at a time into vector
// accumulators kept in registers, four chains of them.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/VectorRange.h"
#include "lib/Utils/RowChunks.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::dq;
using arith::CmpFPredicate;

static constexpr int64_t kLanes = 16;
/// Independent accumulator pairs: one chain of vminps waits 4 cycles per
/// vector, four chains keep up with two loads per cycle.
static constexpr int64_t kChains = 4;

namespace {
/// kChains vector accumulators for the minimum and as many for the maximum.
struct Accumulators {
  SmallVector<Value> mins, maxs;

  ValueRange flat(SmallVector<Value> &storage) const {
    storage.assign(mins.begin(), mins.end());
    storage.append(maxs.begin(), maxs.end());
    return storage;
  }
  static Accumulators fromFlat(ValueRange v) {
    return {SmallVector<Value>(v.take_front(kChains)),
            SmallVector<Value>(v.drop_front(kChains))};
  }
};
} // namespace

/// minnum/maxnum (NaN elements ignored), as compare + select: the
/// accumulators start at 0 and never hold a NaN, so `v < mn ? v : mn` is the
/// same and is one vminps; minnumf costs a NaN test and blend more. Min and
/// max are exact, so the order chains combine in does not change the result.
static Value pick(ImplicitLocOpBuilder &b, CmpFPredicate p, Value v,
                  Value acc) {
  return arith::SelectOp::create(b, arith::CmpFOp::create(b, p, v, acc), v,
                                 acc);
}

/// Folds row `row` of `input` into the accumulators. Reads past the end give
/// 0, which the accumulators already hold.
static Accumulators reduceRow(ImplicitLocOpBuilder &b, Value input,
                              ArrayRef<Value> row, Accumulators acc) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t k = type.getShape().back();
  auto vType = VectorType::get({kLanes}, b.getF32Type());
  Value pad = constF32(b, 0.0f);
  auto step = [&](ImplicitLocOpBuilder &sb, Value col, bool inBounds,
                  Accumulators &a, int64_t chain) {
    SmallVector<Value> idx(row);
    idx.push_back(col);
    bool bounds[] = {inBounds};
    Value v = vector::TransferReadOp::create(sb, vType, input, idx, pad, bounds);
    a.mins[chain] = pick(sb, CmpFPredicate::OLT, v, a.mins[chain]);
    a.maxs[chain] = pick(sb, CmpFPredicate::OGT, v, a.maxs[chain]);
  };
  // Blocks of kChains vectors, one per chain; then the whole vectors left,
  // then the masked tail.
  int64_t block = kChains * kLanes, blocked = k / block * block;
  if (blocked > 0) {
    SmallVector<Value> init;
    auto loop = scf::ForOp::create(
        b, constIndex(b, 0),
        constIndex(b, blocked),
        constIndex(b, block), acc.flat(init),
        [&](OpBuilder &nb, Location loc, Value col, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          Accumulators a = Accumulators::fromFlat(iter);
          for (int64_t c = 0; c < kChains; ++c)
            step(ib,
                 c ? arith::AddIOp::create(
                         ib, col, constIndex(ib, c * kLanes))
                   : col,
                 true, a, c);
          SmallVector<Value> next;
          scf::YieldOp::create(ib, a.flat(next));
        });
    acc = Accumulators::fromFlat(loop.getResults());
  }
  int64_t chain = 0;
  for (int64_t col = blocked; col < k; col += kLanes, ++chain)
    step(b, constIndex(b, col), col + kLanes <= k, acc,
         chain);
  return acc;
}

/// One vector of each: the chains folded together.
static std::pair<Value, Value> foldChains(ImplicitLocOpBuilder &b,
                                          const Accumulators &acc) {
  Value mn = acc.mins[0], mx = acc.maxs[0];
  for (int64_t c = 1; c < kChains; ++c) {
    mn = pick(b, CmpFPredicate::OLT, acc.mins[c], mn);
    mx = pick(b, CmpFPredicate::OGT, acc.maxs[c], mx);
  }
  return {mn, mx};
}

static Value reduceLanes(ImplicitLocOpBuilder &b, vector::CombiningKind kind,
                         Value v) {
  return vector::ReductionOp::create(b, kind, v);
}

/// Rows [lo, hi) of `input` folded into one min and one max vector.
static std::pair<Value, Value> foldRows(ImplicitLocOpBuilder &b, Value input,
                                        ArrayRef<Value> leadDims, Value lo,
                                        Value hi, const Accumulators &init) {
  SmallVector<Value> initFlat;
  auto loop = scf::ForOp::create(
      b, lo, hi, constIndex(b, 1), init.flat(initFlat),
      [&](OpBuilder &nb, Location loc, Value m, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        Accumulators a =
            reduceRow(ib, input, delinearizeRow(ib, m, leadDims),
                      Accumulators::fromFlat(iter));
        SmallVector<Value> next;
        scf::YieldOp::create(ib, a.flat(next));
      });
  return foldChains(b, Accumulators::fromFlat(loop.getResults()));
}

/// foldRows over row chunks of an scf.forall (`chunks` of them, at most
/// `threads`): chunk c writes its two vectors to partials[c], which are
/// folded after.
static std::pair<Value, Value>
foldRowsInParallel(ImplicitLocOpBuilder &b, Value input,
                   ArrayRef<Value> leadDims, Value numRows, Value chunks,
                   int64_t threads, const Accumulators &init) {
  Type f32 = b.getF32Type();
  auto vType = VectorType::get({kLanes}, f32);
  Value c0 = constIndex(b, 0);
  Value c1 = constIndex(b, 1);
  Value partials = tensor::EmptyOp::create(
      b, ArrayRef<int64_t>{threads, 2, kLanes}, f32);
  auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{chunks},
                                      ValueRange{partials}, std::nullopt);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    Value c = forall.getBody()->getArgument(0);
    auto [first, end] = chunkBounds(b, c, chunks, numRows);
    auto [mn, mx] = foldRows(b, input, leadDims, first, end, init);
    Value part = tensor::EmptyOp::create(
        b, ArrayRef<int64_t>{1, 2, kLanes}, f32);
    bool inBounds[] = {true};
    AffineMap lanes = AffineMap::getMinorIdentityMap(3, 1, b.getContext());
    part = vector::TransferWriteOp::create(b, mn, part, ValueRange{c0, c0, c0},
                                           lanes, inBounds)
               .getResult();
    part = vector::TransferWriteOp::create(b, mx, part, ValueRange{c0, c1, c0},
                                           lanes, inBounds)
               .getResult();
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    SmallVector<OpFoldResult> offsets{c, b.getIndexAttr(0), b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(2),
                                    b.getIndexAttr(kLanes)};
    SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
    tensor::ParallelInsertSliceOp::create(b, part, forall.getBody()->getArgument(1),
                                          offsets, sizes, strides);
  }
  Value all = forall.getResult(0);
  Value pad = constF32(b, 0.0f);
  auto combine = scf::ForOp::create(
      b, c0, chunks, c1, ValueRange{init.mins[0], init.maxs[0]},
      [&](OpBuilder &nb, Location loc, Value c, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        bool inBounds[] = {true};
        Value mn = vector::TransferReadOp::create(ib, vType, all,
                                                  ValueRange{c, c0, c0}, pad,
                                                  inBounds);
        Value mx = vector::TransferReadOp::create(ib, vType, all,
                                                  ValueRange{c, c1, c0}, pad,
                                                  inBounds);
        scf::YieldOp::create(
            ib, ValueRange{pick(ib, CmpFPredicate::OLT, mn, iter[0]),
                           pick(ib, CmpFPredicate::OGT, mx, iter[1])});
      });
  return {combine.getResult(0), combine.getResult(1)};
}

std::pair<Value, Value> dq::buildVectorRange(ImplicitLocOpBuilder &b,
                                             Value input, bool perRow,
                                             int64_t threads) {
  auto [leadDims, numRows] = leadingDims(b, input);
  Type f32 = b.getF32Type();
  Value zeros = arith::ConstantOp::create(
      b, DenseElementsAttr::get(VectorType::get({kLanes}, f32),
                                b.getF32FloatAttr(0.0f)));
  Value c0 = constIndex(b, 0);
  Value c1 = constIndex(b, 1);

  Accumulators zero{SmallVector<Value>(kChains, zeros),
                    SmallVector<Value>(kChains, zeros)};
  if (!perRow) {
    Value vmin, vmax;
    if (threads > 1) {
      int64_t k = cast<RankedTensorType>(input.getType()).getShape().back();
      Value chunks = rowChunkCount(b, numRows, k, threads);
      std::tie(vmin, vmax) = foldRowsInParallel(b, input, leadDims, numRows,
                                                chunks, threads, zero);
    } else {
      std::tie(vmin, vmax) = foldRows(b, input, leadDims, c0, numRows, zero);
    }
    auto scalar = RankedTensorType::get({}, f32);
    Value mn = reduceLanes(b, vector::CombiningKind::MINNUMF, vmin);
    Value mx = reduceLanes(b, vector::CombiningKind::MAXNUMF, vmax);
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
        auto [vmin, vmax] = foldChains(ib, reduceRow(ib, input, row, zero));
        Value mn = reduceLanes(ib, vector::CombiningKind::MINNUMF, vmin);
        Value mx = reduceLanes(ib, vector::CombiningKind::MAXNUMF, vmax);
        scf::YieldOp::create(
            ib, ValueRange{tensor::InsertOp::create(ib, mn, iter[0], row),
                           tensor::InsertOp::create(ib, mx, iter[1], row)});
      });
  return {loop.getResult(0), loop.getResult(1)};
}
