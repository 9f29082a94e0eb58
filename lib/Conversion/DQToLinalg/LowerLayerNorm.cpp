//===- LowerLayerNorm.cpp - dq.layer_norm as ATen computes it -------------===//
//
// Reproduces torch.nn.functional.layer_norm on x86 CPUs bit for bit. PyTorch
// registers its layer norm kernel with REGISTER_DISPATCH, which leaves the
// AVX512 slot empty, so even AVX512 hosts run the AVX2 build: Vectorized<float>
// has 8 lanes. The operation order is ATen's RowwiseMoments
// (aten/src/ATen/native/cpu/moments_utils.h) and the fused multiply-adds are
// those GCC formed in libtorch_cpu.so (torch 2.13, read off its disassembly):
//
//   Welford step (per vector of 8, c_j = 1/(j+1) within a chunk of 16):
//     d = x - m1;  m1 = fma(d, c_j, m1);  m2 = fma(d, x - m1, m2)
//   AddMomentsVec(add -> acc), c = float(n_add) / float(n_acc + n_add):
//     d = m1_add - m1;  cd = c * d;  m1 = m1 + cd;
//     m2 = fma(float(n_acc) * d, cd, m2 + m2_add)
//   scalar tail (the N % 8 last elements), no fma:
//     d = x - m1;  m1 = m1 + d / k;  m2 = m2 + d * (x - m1)
//   AddMoments (scalar, each lane into the tail's moments):
//     d = m1_add - m1;  m1 = fma(d, c, m1);  m2 = m2 + fma(d * d * c, n, m2_add)
//   var = m2 / N;  rstd = 1 / sqrt(var + eps);  y = fma((x - m1) * rstd, g, b)
//
// N is static, so the chunk cascade (a stack merged like a binary counter)
// is unrolled here and every merge weight is a compile-time constant.
// Vector arith ops lower to separate fmul/fadd without `contract`, so LLVM
// fuses nothing beyond the math.fma ops written here.
//
//===----------------------------------------------------------------------===//

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

static constexpr int64_t kLanes = 8;      // Vectorized<float> of the AVX2 build
static constexpr int64_t kChunkSize = 16; // vectors per Welford chunk

namespace {
/// Moments of a group of values: count (static), mean and M2.
struct Moments {
  int64_t n = 0;
  Value m1, m2;
};

/// Emits the row computation; `row` indexes the leading dims.
class RowEmitter {
public:
  RowEmitter(ImplicitLocOpBuilder &b, Value input, ArrayRef<Value> row)
      : b(b), input(input), row(row),
        vType(VectorType::get({kLanes}, b.getF32Type())) {}

  Value splat(float v) {
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(vType, b.getF32FloatAttr(v)));
  }
  Value f32(float v) { return constF32(b, v); }

  Value load(Value source, ArrayRef<Value> prefix, int64_t col, bool inBounds) {
    SmallVector<Value> idx(prefix);
    idx.push_back(constIndex(b, col));
    bool bounds[] = {inBounds};
    return vector::TransferReadOp::create(b, vType, source, idx, f32(0.0f),
                                          bounds);
  }
  Value loadX(int64_t col) { return load(input, row, col, true); }

  /// AddMomentsVec: folds `add` into `acc`.
  void addMomentsVec(const Moments &add, Moments &acc) {
    int64_t n = acc.n + add.n;
    float c = n == 0 ? 0.0f : static_cast<float>(add.n) / static_cast<float>(n);
    Value d = arith::SubFOp::create(b, add.m1, acc.m1);
    Value cd = arith::MulFOp::create(b, splat(c), d);
    Value m0d = arith::MulFOp::create(b, splat(static_cast<float>(acc.n)), d);
    Value m2 = arith::AddFOp::create(b, acc.m2, add.m2);
    acc.m1 = arith::AddFOp::create(b, acc.m1, cd);
    acc.m2 = math::FmaOp::create(b, m0d, cd, m2);
    acc.n = n;
  }

  /// Welford over the `count` vectors starting at column `col`.
  Moments chunk(int64_t col, int64_t count) {
    Moments m{count, splat(0.0f), splat(0.0f)};
    for (int64_t j = 0; j < count; ++j) {
      Value x = loadX(col + j * kLanes);
      Value d = arith::SubFOp::create(b, x, m.m1);
      m.m1 = math::FmaOp::create(b, d, splat(1.0f / static_cast<float>(j + 1)),
                                 m.m1);
      m.m2 = math::FmaOp::create(b, d, arith::SubFOp::create(b, x, m.m1), m.m2);
    }
    return m;
  }

  /// RowwiseMoments: (mean, biased variance) of the row of length `N`.
  std::pair<Value, Value> moments(int64_t N) {
    int64_t n = N / kLanes, m = (n + kChunkSize - 1) / kChunkSize;
    int64_t depth = m <= 2 ? 1 : llvm::Log2_64_Ceil(m); // ATen's CeilLog2
    SmallVector<Moments> stack(depth, Moments{0, splat(0.0f), splat(0.0f)});
    for (int64_t i = 0; i < m; ++i) {
      Moments c = chunk(i * kChunkSize * kLanes,
                        std::min(kChunkSize, n - i * kChunkSize));
      addMomentsVec(c, stack[0]);
      int64_t mask = i + 1;
      for (int64_t j = 1; j < depth && (mask & 1) == 0; ++j) {
        addMomentsVec(stack[j - 1], stack[j]);
        stack[j - 1] = Moments{0, splat(0.0f), splat(0.0f)};
        mask >>= 1;
      }
    }
    for (int64_t i = 1; i < depth; ++i)
      addMomentsVec(stack[i], stack[0]);

    // The scalar tail, then each lane folded in.
    int64_t count = 0;
    Value m1 = f32(0.0f), m2 = f32(0.0f);
    if (n * kLanes < N) {
      Value tail = load(input, row, n * kLanes, false);
      for (int64_t i = n * kLanes; i < N; ++i) {
        Value x = vector::ExtractOp::create(b, tail, i - n * kLanes);
        Value d = arith::SubFOp::create(b, x, m1);
        ++count;
        m1 = arith::AddFOp::create(
            b, m1, arith::DivFOp::create(b, d, f32(static_cast<float>(count))));
        m2 = arith::AddFOp::create(
            b, m2, arith::MulFOp::create(b, d, arith::SubFOp::create(b, x, m1)));
      }
    }
    for (int64_t lane = 0; lane < kLanes; ++lane) {
      Value laneM1 = vector::ExtractOp::create(b, stack[0].m1, lane);
      Value laneM2 = vector::ExtractOp::create(b, stack[0].m2, lane);
      int64_t total = count + n;
      float c = total == 0 ? 0.0f
                           : static_cast<float>(n) / static_cast<float>(total);
      Value d = arith::SubFOp::create(b, laneM1, m1);
      m1 = math::FmaOp::create(b, d, f32(c), m1);
      Value ddc = arith::MulFOp::create(b, arith::MulFOp::create(b, d, d), f32(c));
      m2 = arith::AddFOp::create(
          b, m2,
          math::FmaOp::create(b, ddc, f32(static_cast<float>(count)), laneM2));
      count = total;
    }
    Value var = arith::DivFOp::create(b, m2, f32(static_cast<float>(N)));
    return {m1, var};
  }

  ImplicitLocOpBuilder &b;
  Value input;
  ArrayRef<Value> row;
  VectorType vType;
};

struct LowerLayerNorm : OpRewritePattern<LayerNormOp> {
  LowerLayerNorm(MLIRContext *ctx, int64_t threads)
      : OpRewritePattern(ctx), threads(threads) {}
  int64_t threads;

  LogicalResult matchAndRewrite(LayerNormOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value input = op.getInput(), gamma = op.getGamma(), beta = op.getBeta();
    int64_t N = op.getInput().getType().getShape().back();
    float eps = op.getEps().convertToFloat();
    auto [leadDims, numRows] = leadingDims(b, input);
    Value out = emptyLike(b, input, b.getF32Type());
    Value result = emitRowLoop(
        b, out, leadDims, numRows, N, threads,
        [&](ImplicitLocOpBuilder &ib, ArrayRef<Value> row,
            ArrayRef<Value> outRow, Value dest) -> Value {
          RowEmitter e(ib, input, row);
          auto [mean, var] = e.moments(N);
          Value rstd = arith::DivFOp::create(
              ib, e.f32(1.0f),
              math::SqrtOp::create(ib, arith::AddFOp::create(ib, var, e.f32(eps))));
          Value meanV = vector::BroadcastOp::create(ib, e.vType, mean);
          Value rstdV = vector::BroadcastOp::create(ib, e.vType, rstd);
          // vec::map3: full vectors, then one masked vector for the tail.
          auto step = [&](ImplicitLocOpBuilder &sb, Value col, bool inBounds,
                          Value to) -> Value {
            SmallVector<Value> idx(row), outIdx(outRow);
            idx.push_back(col);
            outIdx.push_back(col);
            bool bounds[] = {inBounds};
            Value zero = constF32(sb, 0.0f);
            auto read = [&](Value src, ValueRange at) -> Value {
              return vector::TransferReadOp::create(sb, e.vType, src, at, zero,
                                                    bounds);
            };
            Value x = read(input, idx);
            Value t = arith::MulFOp::create(
                sb, arith::SubFOp::create(sb, x, meanV), rstdV);
            Value y = math::FmaOp::create(sb, t, read(gamma, col),
                                          read(beta, col));
            return vector::TransferWriteOp::create(sb, y, to, outIdx, bounds)
                .getResult();
          };
          int64_t full = N / kLanes * kLanes;
          if (full > 0)
            dest = scf::ForOp::create(
                       ib, constIndex(ib, 0), constIndex(ib, full),
                       constIndex(ib, kLanes), ValueRange{dest},
                       [&](OpBuilder &cb, Location cloc, Value col,
                           ValueRange it) {
                         ImplicitLocOpBuilder sb(cloc, cb);
                         scf::YieldOp::create(sb, step(sb, col, true, it[0]));
                       })
                       .getResult(0);
          if (full < N)
            dest = step(ib, constIndex(ib, full), false, dest);
          return dest;
        });
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(b, op.getType(), result);
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void mlir::dq::populateLowerLayerNormPatterns(RewritePatternSet &patterns,
                                              int64_t threads) {
  patterns.add<LowerLayerNorm>(patterns.getContext(), threads);
}
