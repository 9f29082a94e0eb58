//===- LowerFlashFixups.cpp - MKL's other kernels inside flash attention --===//
//
// cpu_flash_attention computes q @ k^T and e @ v with MKL's sgemm per block
// of queries. For most shapes every output is an fma chain along the
// reduction (what the linalg contractions compute); two shapes take other
// MKL kernels, whose summation trees were reconstructed from sgemm_ results
// (rooted triplets: 2^24 at one position, 1 at two others) and whose fused
// multiply-adds were then told apart on random data (MKL 2024.2 in PyTorch
// 2.13, AVX-512, head dim 32):
//
//   one query in the last block (L % qSplit == 1): gemv. q @ k^T per key:
//     lane 0 = q0 k0; lanes += fma of elements 1..16; add l^8, l^4, l^2,
//     l^1; that sum is lane 0 of elements 17..31 (fma, lane 15 zero); add
//     again; but the last key when Lk % 8 == 1 (the remainder column):
//     lane l = fma(q_{17+l} k_{17+l}, onto q_{1+l} k_{1+l}), added, then
//     q0 k0 + that. e @ v for the row: blocks of 8 (see DQOps.td).
//   L = Lk = 2 or 3: q @ k^T per output, lane l = q_l k_l with
//     q_{l+16} k_{l+16} added (fused in odd query rows), then l^8 .. l^1.
//
// These ops recompute just those rows, in loops that run only for those sizes.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
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

static constexpr int64_t kLanes = 16;
static constexpr int64_t kHeadDim = 32;

namespace {

/// Lanes l and l ^ s added for s = 8, 4, 2, 1; lane 0.
Value reduceAdd(ImplicitLocOpBuilder &b, Value v) {
  for (int64_t s : {8, 4, 2, 1}) {
    SmallVector<int64_t> perm;
    for (int64_t l = 0; l < kLanes; ++l)
      perm.push_back(l ^ s);
    v = arith::AddFOp::create(b, v, vector::ShuffleOp::create(b, v, v, perm));
  }
  return vector::ExtractOp::create(b, v, int64_t{0});
}

/// Whether the last block of queries has one row: L > 1 and L % qSplit == 1
/// with flash attention's qSplit for L.
Value singleQueryBlock(ImplicitLocOpBuilder &b, Value l) {
  auto lt = [&](Value x, int64_t v) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, constIndex(b, v));
  };
  Value qSplit = arith::SelectOp::create(
      b, lt(l, 192), constIndex(b, 32),
      arith::SelectOp::create(b, lt(l, 768), constIndex(b, 64), constIndex(b, 256)));
  Value one = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                    arith::RemUIOp::create(b, l, qSplit),
                                    constIndex(b, 1));
  Value big = arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, l, constIndex(b, 1));
  return arith::AndIOp::create(b, one, big);
}

/// Loop over the batch rows (all dims but the last two) of `like` if `cond`
/// holds (else no iteration), threading `init`; `body` gets the row indices
/// and the current tensor. A loop bound rather than an scf.if: bufferization
/// keeps the loop in place, but copies the tensor an scf.if yields.
Value forEachBatch(
    ImplicitLocOpBuilder &b, Value cond, Value like, Value init,
    function_ref<Value(ImplicitLocOpBuilder &, ArrayRef<Value>, Value)> body) {
  int64_t rank = cast<RankedTensorType>(like.getType()).getRank();
  SmallVector<Value> dims;
  Value n = constIndex(b, 1);
  for (int64_t d = 0; d + 2 < rank; ++d) {
    dims.push_back(tensor::DimOp::create(b, like, d));
    n = arith::MulIOp::create(b, n, dims.back());
  }
  n = arith::SelectOp::create(b, cond, n, constIndex(b, 0));
  auto loop = scf::ForOp::create(
      b, constIndex(b, 0), n, constIndex(b, 1), ValueRange{init},
      [&](OpBuilder &nb, Location loc, Value r, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        SmallVector<Value> row = delinearizeRow(ib, r, dims);
        if (dims.empty())
          row.clear();
        scf::YieldOp::create(ib, body(ib, row, iter[0]));
      });
  return loop.getResult(0);
}

SmallVector<Value> at(ArrayRef<Value> prefix, ArrayRef<Value> tail) {
  SmallVector<Value> idx(prefix);
  idx.append(tail.begin(), tail.end());
  return idx;
}

Value read16(ImplicitLocOpBuilder &b, Value src, ArrayRef<Value> idx,
             bool inBounds) {
  bool bounds[] = {inBounds};
  return vector::TransferReadOp::create(
      b, VectorType::get({kLanes}, b.getF32Type()), src, idx,
      constF32(b, 0.0f), bounds);
}

/// dq.flash_scores_fixup's result (`rank`: its operands').
Value fixupScores(ImplicitLocOpBuilder &b, FlashScoresFixupOp op,
                  int64_t rank) {
  Value scores = op.getScores(), q = op.getQuery(), k = op.getKey();
  Value l = tensor::DimOp::create(b, q, rank - 2);
  Value lk = tensor::DimOp::create(b, k, rank - 2);
  VectorType vType = VectorType::get({kLanes}, b.getF32Type());
  Value zeros = arith::ConstantOp::create(
      b, DenseElementsAttr::get(vType, b.getF32FloatAttr(0.0f)));

  // One query in the last block: gemv's order for its row.
  Value result = forEachBatch(b, singleQueryBlock(b, l), q, scores,
                              [&](ImplicitLocOpBuilder &rb,
                                  ArrayRef<Value> row, Value s) {
      Value i = arith::SubIOp::create(rb, l, constIndex(rb, 1));
      Value q0 = tensor::ExtractOp::create(rb, q, at(row, {i, constIndex(rb, 0)}));
      Value qa = read16(rb, q, at(row, {i, constIndex(rb, 1)}), true);
      Value qb = read16(rb, q, at(row, {i, constIndex(rb, 17)}), false);
      auto keys = scf::ForOp::create(
          rb, constIndex(rb, 0), lk, constIndex(rb, 1), ValueRange{s},
          [&](OpBuilder &nb, Location loc, Value j, ValueRange it) {
            ImplicitLocOpBuilder kb(loc, nb);
            Value k0 =
                tensor::ExtractOp::create(kb, k, at(row, {j, constIndex(kb, 0)}));
            Value ka = read16(kb, k, at(row, {j, constIndex(kb, 1)}), true);
            Value kbv = read16(kb, k, at(row, {j, constIndex(kb, 17)}), false);
            Value p0 = arith::MulFOp::create(kb, q0, k0);
            Value init = vector::InsertOp::create(kb, p0, zeros, int64_t{0});
            Value t = reduceAdd(kb, math::FmaOp::create(kb, qa, ka, init));
            init = vector::InsertOp::create(kb, t, zeros, int64_t{0});
            t = reduceAdd(kb, math::FmaOp::create(kb, qb, kbv, init));
            // The last key when Lk % 8 == 1 (MKL's remainder column):
            // lane l = fma(q_{17+l}, k_{17+l}, q_{1+l} k_{1+l}), added
            // l^8 .. l^1, then q0 k0 + that (not fused).
            Value rest = reduceAdd(
                kb, math::FmaOp::create(kb, qb, kbv,
                                        arith::MulFOp::create(kb, qa, ka)));
            rest = arith::AddFOp::create(kb, p0, rest);
            Value isRest = arith::AndIOp::create(
                kb,
                arith::CmpIOp::create(kb, arith::CmpIPredicate::eq, j,
                                      arith::SubIOp::create(kb, lk, constIndex(kb, 1))),
                arith::CmpIOp::create(kb, arith::CmpIPredicate::eq,
                                      arith::RemUIOp::create(kb, lk, constIndex(kb, 8)),
                                      constIndex(kb, 1)));
            t = arith::SelectOp::create(kb, isRest, rest, t);
            scf::YieldOp::create(
                kb, Value(tensor::InsertOp::create(kb, t, it[0],
                                                   at(row, {i, j}))));
          });
      return keys.getResult(0);
  });

  // L = Lk = 2 or 3: the small-matrix kernel, every output.
  Value small = arith::AndIOp::create(
      b,
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, l, lk),
      arith::AndIOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::uge, l, constIndex(b, 2)),
          arith::CmpIOp::create(b, arith::CmpIPredicate::ule, l, constIndex(b, 3))));
  result = forEachBatch(b, small, q, result, [&](ImplicitLocOpBuilder &rb,
                                                 ArrayRef<Value> row, Value s) {
      auto rows = scf::ForOp::create(
          rb, constIndex(rb, 0), l, constIndex(rb, 1), ValueRange{s},
          [&](OpBuilder &nb, Location loc, Value i, ValueRange it) {
            ImplicitLocOpBuilder ib(loc, nb);
            Value odd = arith::CmpIOp::create(
                ib, arith::CmpIPredicate::eq,
                arith::RemUIOp::create(ib, i, constIndex(ib, 2)), constIndex(ib, 1));
            Value qlo = read16(ib, q, at(row, {i, constIndex(ib, 0)}), true);
            Value qhi = read16(ib, q, at(row, {i, constIndex(ib, 16)}), true);
            auto cols = scf::ForOp::create(
                ib, constIndex(ib, 0), lk, constIndex(ib, 1), ValueRange{it[0]},
                [&](OpBuilder &nb2, Location loc2, Value j, ValueRange it2) {
                  ImplicitLocOpBuilder jb(loc2, nb2);
                  Value klo = read16(jb, k, at(row, {j, constIndex(jb, 0)}), true);
                  Value khi = read16(jb, k, at(row, {j, constIndex(jb, 16)}), true);
                  Value lo = arith::MulFOp::create(jb, qlo, klo);
                  Value fused = math::FmaOp::create(jb, qhi, khi, lo);
                  Value apart = arith::AddFOp::create(
                      jb, lo, arith::MulFOp::create(jb, qhi, khi));
                  Value lanes =
                      arith::SelectOp::create(jb, odd, fused, apart);
                  Value t = reduceAdd(jb, lanes);
                  scf::YieldOp::create(
                      jb, Value(tensor::InsertOp::create(jb, t, it2[0],
                                                         at(row, {i, j}))));
                });
            scf::YieldOp::create(ib, cols.getResult(0));
          });
      return rows.getResult(0);
  });
  return result;
}

/// dq.flash_output_fixup's result (`rank`: its operands').
Value fixupOutput(ImplicitLocOpBuilder &b, FlashOutputFixupOp op,
                  int64_t rank) {
  Value out = op.getOutput(), e = op.getExp(), v = op.getValue();
  Value l = tensor::DimOp::create(b, e, rank - 2);
  Value lk = tensor::DimOp::create(b, e, rank - 1);
  VectorType vType = VectorType::get({kHeadDim}, b.getF32Type());
  // Every L here is 1 mod 32, so Lk (= L in self-attention) is >= 33; a
  // shorter Lk keeps the chain.
  Value cond = arith::AndIOp::create(
      b, singleQueryBlock(b, l),
      arith::CmpIOp::create(b, arith::CmpIPredicate::uge, lk, constIndex(b, 8)));
  Value result = forEachBatch(b, cond, e, out, [&](ImplicitLocOpBuilder &rb,
                                                  ArrayRef<Value> row, Value o) {
      Value i = arith::SubIOp::create(rb, l, constIndex(rb, 1));
      auto ev = [&](ImplicitLocOpBuilder &xb, Value j) -> Value {
        return vector::BroadcastOp::create(
            xb, vType, tensor::ExtractOp::create(xb, e, at(row, {i, j})));
      };
      auto vv = [&](ImplicitLocOpBuilder &xb, Value j) -> Value {
        bool bounds[] = {true};
        return vector::TransferReadOp::create(
            xb, vType, v, at(row, {j, constIndex(xb, 0)}), constF32(xb, 0.0f),
            bounds);
      };
      auto off = [&](ImplicitLocOpBuilder &xb, Value base, int64_t d) {
        return arith::AddIOp::create(xb, base, constIndex(xb, d)).getResult();
      };
      // (x_i + x_j) = fma(e_i, v_i, e_j v_j)
      auto pair = [&](ImplicitLocOpBuilder &xb, Value base, int64_t a,
                      int64_t c) -> Value {
        Value ja = off(xb, base, a), jc = off(xb, base, c);
        return math::FmaOp::create(
            xb, ev(xb, ja), vv(xb, ja),
            arith::MulFOp::create(xb, ev(xb, jc), vv(xb, jc)));
      };
      auto add = [&](ImplicitLocOpBuilder &xb, Value x, Value y) -> Value {
        return arith::AddFOp::create(xb, x, y);
      };
      auto quad = [&](ImplicitLocOpBuilder &xb, Value base, int64_t s) {
        return add(xb, pair(xb, base, s, s + 2), pair(xb, base, s + 1, s + 3));
      };
      Value c0 = constIndex(rb, 0);
      Value acc = add(rb, quad(rb, c0, 0), quad(rb, c0, 4));
      Value blocks = arith::DivUIOp::create(rb, lk, constIndex(rb, 8));
      auto loop = scf::ForOp::create(
          rb, constIndex(rb, 1), blocks, constIndex(rb, 1), ValueRange{acc},
          [&](OpBuilder &nb, Location loc, Value blk, ValueRange it) {
            ImplicitLocOpBuilder xb(loc, nb);
            Value base = arith::MulIOp::create(xb, blk, constIndex(xb, 8));
            Value a = it[0];
            for (int64_t d : {6, 4}) {
              Value j = off(xb, base, d);
              a = math::FmaOp::create(xb, ev(xb, j), vv(xb, j), a);
            }
            a = add(xb, a, pair(xb, base, 5, 7));
            a = add(xb, a, quad(xb, base, 0));
            scf::YieldOp::create(xb, a);
          });
      auto tail = scf::ForOp::create(
          rb, arith::MulIOp::create(rb, blocks, constIndex(rb, 8)), lk, constIndex(rb, 1),
          ValueRange{loop.getResult(0)},
          [&](OpBuilder &nb, Location loc, Value j, ValueRange it) {
            ImplicitLocOpBuilder xb(loc, nb);
            scf::YieldOp::create(
                xb, Value(math::FmaOp::create(xb, ev(xb, j), vv(xb, j),
                                              it[0])));
          });
      bool bounds[] = {true};
      return vector::TransferWriteOp::create(rb, tail.getResult(0), o,
                                             at(row, {i, constIndex(rb, 0)}),
                                             bounds)
          .getResult();
  });
  return result;
}

/// Both fixups: the result is the first operand but for the rows MKL
/// computes in another order, which only a head dim of 32 (the last dim of
/// operand `headOperand`) has; `fixup` builds it with those rows recomputed.
template <typename Op, unsigned headOperand,
          Value (*fixup)(ImplicitLocOpBuilder &, Op, int64_t)>
struct FlashFixupPattern : OpRewritePattern<Op> {
  using OpRewritePattern<Op>::OpRewritePattern;

  LogicalResult matchAndRewrite(Op op,
                                PatternRewriter &rewriter) const override {
    auto head = cast<RankedTensorType>(op->getOperand(headOperand).getType());
    if (head.getShape().back() != kHeadDim) {
      rewriter.replaceOp(op, op->getOperand(0));
      return success();
    }
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    rewriter.replaceOp(op, fixup(b, op, head.getRank()));
    return success();
  }
};

} // namespace

void mlir::dq::populateLowerFlashFixupPatterns(RewritePatternSet &patterns) {
  // The head dim: the query's (operand 1), the output's (operand 0).
  patterns.add<FlashFixupPattern<FlashScoresFixupOp, 1, fixupScores>,
               FlashFixupPattern<FlashOutputFixupOp, 0, fixupOutput>>(
      patterns.getContext());
}
