//===- LowerFlashSoftmax.cpp - dq.flash_softmax as PyTorch computes it ----===//
//
// torch.nn.functional.scaled_dot_product_attention on f32 CPU tensors runs
// ATen's cpu_flash_attention (aten/src/ATen/native/cpu/FlashAttentionKernel
// .cpp), AVX-512 build (Vectorized<float> has 16 lanes; its AVX2 build, on
// CPUs without AVX-512, takes the same steps on 8: isa=avx2, atenLanes
// below; the numbers are the AVX-512 ones). With at most 512
// keys there is one kv block, so per query row (read off libtorch_cpu.so of
// torch 2.13, the lambda of cpu_flash_attention<float, float, 32, 512>):
//
//   qk  = q @ k^T                      MKL sgemm: fma chain along the head dim
//   t   = fma(qk, scale, mask)         _scale_attn_mask_fusion_kernel (GCC
//                                      contracted a * scale + mask)
//         qk * scale                   without a mask (_mul_reduce_max_...)
//   m   = max(t)
//   e   = exp_u20(t - m), lane sums    _exp_reduce_sum_fusion_kernel, 16
//                                      columns at a time while 16 remain
//   sum = lanes added l^8, l^4, l^2, l^1 (vec_reduce_all's shuffles), then
//         for each of the N % 16 last columns:
//         e = float(exp(double(t - m))); sum += e   (libm exp, in double)
//   out = (e @ v) * (1 / sum)          second sgemm, then vec::map
//
// exp_u20 (Vectorized<float>::exp_u20, vfmadd/vcvtps2dq{rd-sae} in the
// binary): clamp to [ln FLT_MIN, ln FLT_MAX]; fx = floor(fma(x, log2 e,
// 0.5)); r = fma(-fx, ln 2, x); p = degree-5 polynomial in r by fma;
// result = p * 2^(fx - 1) * 2, 0 below ln FLT_MIN.
//
// This op is the middle part (t .. sum); the matmuls stay linalg
// contractions, whose vectorized form is the same fma chain from zero.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/AtenLoop.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Utils/Utils.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#include "llvm/ADT/bit.h"

#include <limits>

using namespace mlir;
using namespace mlir::dq;


namespace {

struct VecBuilder {
  ImplicitLocOpBuilder &b;
  int64_t numLanes;
  VectorType vType, iType;
  VecBuilder(ImplicitLocOpBuilder &b, int64_t numLanes)
      : b(b), numLanes(numLanes),
        vType(VectorType::get({numLanes}, b.getF32Type())),
        iType(VectorType::get({numLanes}, b.getI32Type())) {}

  Value f(float v) {
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(vType, b.getF32FloatAttr(v)));
  }
  Value bits(uint32_t v) { return f(llvm::bit_cast<float>(v)); }
  Value i(int32_t v) {
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(iType, b.getI32IntegerAttr(v)));
  }
  Value fma(Value x, Value y, Value z) {
    return math::FmaOp::create(b, x, y, z);
  }
  Value cmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }

  /// Vectorized<float>::exp_u20 of the AVX-512 build, instruction for
  /// instruction.
  Value expU20(Value x) {
    Value lnMin = bits(0xc2aeac50), lnMax = bits(0x42b17218);
    Value less = cmp(arith::CmpFPredicate::OLT, x, lnMin);
    // _mm512_min_ps(x, max) / _mm512_max_ps(src, min): a NaN takes the bound.
    Value src = select(cmp(arith::CmpFPredicate::OLT, x, lnMax), x, lnMax);
    src = select(cmp(arith::CmpFPredicate::OGT, src, lnMin), src, lnMin);
    Value fx = fma(src, bits(0x3fb8aa3b), f(0.5f));
    fx = math::FloorOp::create(b, fx);
    Value r = fma(arith::NegFOp::create(b, fx), bits(0x3f317218), src);
    Value p = fma(r, bits(0x3c07cfce), bits(0x3d2b9d0d));
    p = fma(r, p, bits(0x3e2aad40));
    p = fma(r, p, bits(0x3efffee3));
    p = fma(r, p, bits(0x3f7ffffb));
    p = fma(r, p, f(1.0f));
    Value n = arith::FPToSIOp::create(b, iType,
                                      arith::AddFOp::create(b, fx, f(-1.0f)));
    Value pow2 = arith::BitcastOp::create(
        b, vType,
        arith::ShLIOp::create(b, arith::AddIOp::create(b, n, i(127)), i(23)));
    pow2 = select(less, f(0.0f), pow2);
    Value y = arith::MulFOp::create(b, p, pow2);
    return arith::AddFOp::create(b, y, y);
  }

  /// vec_reduce_all(+) of the AVX-512 build: lanes l and l ^ s added for
  /// s = 8, 4, 2, 1; lane 0.
  Value reduceAdd(Value v) {
    for (int64_t s = numLanes / 2; s >= 1; s /= 2) {
      SmallVector<int64_t> perm;
      for (int64_t l = 0; l < numLanes; ++l)
        perm.push_back(l ^ s);
      Value shuffled = vector::ShuffleOp::create(b, v, v, perm);
      v = arith::AddFOp::create(b, v, shuffled);
    }
    return vector::ExtractOp::create(b, v, int64_t{0});
  }
};

struct LowerFlashSoftmax : OpRewritePattern<FlashSoftmaxOp> {
  LowerFlashSoftmax(MLIRContext *ctx, VendorISA isa)
      : OpRewritePattern(ctx), isa(isa) {}
  VendorISA isa;

  LogicalResult matchAndRewrite(FlashSoftmaxOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    int64_t numLanes = atenLanes(isa);
    Value scores = op.getScores(), mask = op.getMask();
    int64_t rank = op.getScores().getType().getRank();
    bool hasMask = op.getMask().getType().getRank() != 0;
    float scale = op.getScale().convertToFloat();
    const float negInf = -std::numeric_limits<float>::infinity();

    auto [leadDims, numRows] = leadingDims(b, scores);
    Value c0 = constIndex(b, 0);
    Value c1 = constIndex(b, 1);
    Value cLanes = constIndex(b, numLanes);
    Value n = tensor::DimOp::create(b, scores, rank - 1);
    Value nVec = arith::SubIOp::create(b, n, arith::RemUIOp::create(b, n, cLanes));
    // Leading mask dims of size 1 broadcast.
    SmallVector<Value> maskBroadcast;
    if (hasMask)
      for (int64_t d = 0; d + 1 < rank; ++d)
        maskBroadcast.push_back(arith::CmpIOp::create(
            b, arith::CmpIPredicate::eq, tensor::DimOp::create(b, mask, d), c1));

    Value expInit = emptyLike(b, scores, b.getF32Type());
    SmallVector<OpFoldResult> sumSizes =
        tensor::getMixedSizes(b, b.getLoc(), scores);
    sumSizes.back() = b.getIndexAttr(1);
    Value sumInit = emptyWithShapeOf(b, sumSizes, b.getF32Type());

    auto rowLoop = scf::ForOp::create(
        b, c0, numRows, c1, ValueRange{expInit, sumInit},
        [&](OpBuilder &nb, Location loc, Value r, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          VecBuilder v(ib, numLanes);
          SmallVector<Value> row = delinearizeRow(ib, r, leadDims);
          SmallVector<Value> maskRow;
          for (auto [d, bc] : llvm::enumerate(maskBroadcast))
            maskRow.push_back(arith::SelectOp::create(ib, bc, c0, row[d]));
          auto at = [](ArrayRef<Value> prefix, Value col) {
            SmallVector<Value> idx(prefix);
            idx.push_back(col);
            return idx;
          };
          Value scaleV = v.f(scale);

          // t = fma(s, scale, mask) into the result, and its maximum.
          auto scaleStep = [&](ImplicitLocOpBuilder &sb, Value col,
                               bool inBounds, Value dest,
                               Value vmax) -> std::pair<Value, Value> {
            bool bounds[] = {inBounds};
            Value s = vector::TransferReadOp::create(
                sb, v.vType, scores, at(row, col), constF32(sb, negInf), bounds);
            Value t;
            if (hasMask) {
              Value m = vector::TransferReadOp::create(
                  sb, v.vType, mask, at(maskRow, col), constF32(sb, 0.0f),
                  bounds);
              t = math::FmaOp::create(sb, s, scaleV, m);
            } else {
              t = arith::MulFOp::create(sb, s, scaleV);
            }
            dest = vector::TransferWriteOp::create(sb, t, dest, at(row, col),
                                                   bounds)
                       .getResult();
            return {dest, arith::MaximumFOp::create(sb, vmax, t)};
          };
          auto pass1 = scf::ForOp::create(
              ib, c0, nVec, cLanes, ValueRange{iter[0], v.f(negInf)},
              [&](OpBuilder &cb, Location cloc, Value col, ValueRange it) {
                ImplicitLocOpBuilder sb(cloc, cb);
                auto [dest, vmax] = scaleStep(sb, col, true, it[0], it[1]);
                scf::YieldOp::create(sb, ValueRange{dest, vmax});
              });
          // The N % 16 last columns: one masked vector (none if N % 16 == 0).
          auto [dest, vmax] = scaleStep(ib, nVec, false, pass1.getResult(0),
                                        pass1.getResult(1));
          Value mx = vector::ReductionOp::create(
              ib, vector::CombiningKind::MAXIMUMF, vmax);
          // A row without any key left: e = 0 (PyTorch fills zeros).
          Value dead = arith::CmpFOp::create(ib, arith::CmpFPredicate::OEQ, mx,
                                             constF32(ib, negInf));
          Value deadV = vector::BroadcastOp::create(
              ib, VectorType::get({numLanes}, ib.getI1Type()), dead);
          Value mxV = vector::BroadcastOp::create(ib, v.vType, mx);

          // e = exp_u20(t - m) on whole vectors, summed lane by lane.
          auto pass2 = scf::ForOp::create(
              ib, c0, nVec, cLanes, ValueRange{dest, v.f(0.0f)},
              [&](OpBuilder &cb, Location cloc, Value col, ValueRange it) {
                ImplicitLocOpBuilder sb(cloc, cb);
                VecBuilder sv(sb, numLanes);
                bool bounds[] = {true};
                Value t = vector::TransferReadOp::create(
                    sb, sv.vType, it[0], at(row, col), constF32(sb, 0.0f),
                    bounds);
                Value e = sv.expU20(arith::SubFOp::create(sb, t, mxV));
                e = sv.select(deadV, sv.f(0.0f), e);
                Value d = vector::TransferWriteOp::create(sb, e, it[0],
                                                          at(row, col), bounds)
                              .getResult();
                scf::YieldOp::create(
                    sb, ValueRange{d, arith::AddFOp::create(sb, it[1], e)});
              });
          Value sum = v.reduceAdd(pass2.getResult(1));
          // The tail, one column at a time, with libm's exp in double.
          auto tail = scf::ForOp::create(
              ib, nVec, n, c1, ValueRange{pass2.getResult(0), sum},
              [&](OpBuilder &cb, Location cloc, Value col, ValueRange it) {
                ImplicitLocOpBuilder sb(cloc, cb);
                Value t = tensor::ExtractOp::create(sb, it[0], at(row, col));
                Value x = arith::ExtFOp::create(
                    sb, sb.getF64Type(),
                    Value(arith::SubFOp::create(sb, t, mx)));
                Value e = arith::TruncFOp::create(sb, sb.getF32Type(),
                                                  math::ExpOp::create(sb, x));
                e = arith::SelectOp::create(sb, dead, constF32(sb, 0.0f), e);
                Value d = tensor::InsertOp::create(sb, e, it[0], at(row, col));
                scf::YieldOp::create(
                    sb, ValueRange{d, arith::AddFOp::create(sb, it[1], e)});
              });
          sum = tail.getResult(1);
          // 1 / sum; a sum of 0 (no key) counts as 1.
          Value zeroSum = arith::CmpFOp::create(ib, arith::CmpFPredicate::OEQ,
                                                sum, constF32(ib, 0.0f));
          sum = arith::SelectOp::create(ib, zeroSum, constF32(ib, 1.0f), sum);
          Value inv = arith::DivFOp::create(ib, constF32(ib, 1.0f), sum);
          Value sums = tensor::InsertOp::create(ib, inv, iter[1], at(row, c0));
          scf::YieldOp::create(ib, ValueRange{tail.getResult(0), sums});
        });
    SmallVector<Value> results;
    for (auto [res, type] : llvm::zip(rowLoop.getResults(), op.getResultTypes()))
      results.push_back(res.getType() == type
                            ? Value(res)
                            : Value(tensor::CastOp::create(b, type, res)));
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void mlir::dq::populateLowerFlashSoftmaxPatterns(RewritePatternSet &patterns,
                                   VendorISA isa) {
  patterns.add<LowerFlashSoftmax>(patterns.getContext(), isa);
}
