//===- LinearToVNNI.cpp - dq.linear_dynamic to a VNNI kernel --------------===//
//
//   s, zp = dq.choose_qparams x;  q = dq.quantize x, s, zp    (as before)
//   out   = tensor.empty
//   for each weight panel of `cols` columns (packed at compile time;
//   with threads > 1 an scf.forall over chunks of panels, ParallelPanels.h):
//     for each block of `rows` rows (then the remaining rows one by one):
//       acc  = K loop of vpdpbusd on rows x cols/16 vector<16xi32>  (MicroKernel)
//       out  = transfer_write(dequantize(acc))                      (Epilogue)
// The panel loop is outermost so that a panel (cols x K bytes, 36-144 KiB
// for 48 columns and K = 768-3072) stays in L2 while all rows stream past it.
//
// Rows are all leading dims of the input. They are walked with one linear
// index and delinearized per row (delinearizeRow), so nothing is reshaped:
// expanding a 2-D result back ([?*?] -> [?, ?]) is not supported by
// expand-strided-metadata.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Utils/Utils.h"
#include "lib/Conversion/DQToVNNI/DQToVNNI.h"
#include "lib/Conversion/DQToVNNI/Epilogue.h"
#include "lib/Conversion/DQToVNNI/FuseEpilogue.h"
#include "lib/Conversion/DQToVNNI/MicroKernel.h"
#include "lib/Conversion/DQToVNNI/PackWeights.h"
#include "lib/Conversion/DQToVNNI/ParallelPanels.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::dq;

/// Largest packed weight (bytes) made at compile time: 1 GiB, far above
/// any Linear layer of the models dqmlir compiles.
static constexpr int64_t kMaxPackedBytes = int64_t(1) << 30;

KernelContext mlir::dq::makeKernelContext(ImplicitLocOpBuilder &b,
                                          LinearDynamicOp op,
                                          Attribute packedData,
                                          Attribute colsums, int64_t k4,
                                          bool quantize) {
  QuantizedActivations act =
      quantize ? quantizeActivations(b, op) : activationQParams(b, op);
  auto wType = op.getWeight().getType();
  KernelContext kc;
  kc.n = wType.getDimSize(0);
  kc.k = wType.getDimSize(1);
  kc.k4 = k4;
  kc.symmetric = op.getActMode() == QuantMode::Symmetric;
  kc.perRow = op.getActGranularity() == Granularity::PerRow;
  kc.perChannel = op.getWeightScale().getType().getRank() != 0;
  kc.input = op.getInput();
  kc.q = act.q;
  kc.packed = arith::ConstantOp::create(b, cast<TypedAttr>(packedData));
  kc.colsums = arith::ConstantOp::create(b, cast<TypedAttr>(colsums));
  kc.scale = act.scale;
  kc.zeroPoint = act.zeroPoint;
  kc.weightScale = op.getWeightScale();
  kc.bias = op.getBias();
  return kc;
}

namespace {
/// Emits the loops of one dq.linear_dynamic's kernel.
struct KernelBuilder {
  const KernelContext &kc;
  int64_t rows;
  SmallVector<Value> leadDims;
  Value numRows;
  /// The first column `out` holds (null: 0), see emitEpilogue.
  Value outN0 = nullptr;

  /// A loop over linear rows [lb, ub) by `step`, each iteration one tile of
  /// `step` rows, threading `out`.
  Value rowLoop(ImplicitLocOpBuilder &b, Value lb, Value ub, int64_t step,
                Value panelBase, Value n0, int64_t nv, bool masked,
                const ColumnOperands &cols, Value out) {
    auto loop = scf::ForOp::create(
        b, lb, ub, constIndex(b, step), ValueRange{out},
        [&](OpBuilder &nb, Location loc, Value m, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          SmallVector<RowIndex> tileRows;
          for (int64_t i = 0; i < step; ++i)
            tileRows.push_back(delinearizeRow(
                ib, i ? arith::AddIOp::create(ib, m, constIndex(ib, i)) : m,
                leadDims));
          SmallVector<Value> accs =
              emitDotTile(ib, kc, tileRows, panelBase, nv);
          scf::YieldOp::create(ib, emitEpilogue(ib, kc, cols, tileRows, accs,
                                                n0, nv, masked, iter[0],
                                                outN0));
        });
    return loop.getResult(0);
  }

  /// All rows times the `nv` column vectors of the panel at column n0.
  Value panel(ImplicitLocOpBuilder &b, Value n0, int64_t nv, bool masked,
              Value out) {
    ColumnOperands cols = loadColumnOperands(b, kc, n0, nv, masked);
    Value panelBase = arith::MulIOp::create(b, n0, constIndex(b, 4 * kc.k4));
    Value zero = constIndex(b, 0);
    if (rows == 1)
      return rowLoop(b, zero, numRows, 1, panelBase, n0, nv, masked, cols,
                     out);
    Value fullRows = arith::SubIOp::create(
        b, numRows, arith::RemUIOp::create(b, numRows, constIndex(b, rows)));
    out = rowLoop(b, zero, fullRows, rows, panelBase, n0, nv, masked, cols,
                  out);
    return rowLoop(b, fullRows, numRows, 1, panelBase, n0, nv, masked, cols,
                   out);
  }
};

struct LinearToVNNI : OpRewritePattern<LinearDynamicOp> {
  LinearToVNNI(MLIRContext *ctx, int64_t rows, int64_t cols, int64_t threads)
      : OpRewritePattern(ctx), rows(rows), cols(cols), threads(threads) {}

  LogicalResult matchAndRewrite(LinearDynamicOp op,
                                PatternRewriter &rewriter) const override {
    if (fusableUser(op))
      return rewriter.notifyMatchFailure(op, "fused with its user");
    return rewrite(op, rewriter, FusedUser());
  }

  /// The kernel of `op` at the rewriter's insertion point; with `fused`, the
  /// epilogue applies that user and the kernel replaces it (and `op`).
  LogicalResult rewrite(LinearDynamicOp op, PatternRewriter &rewriter,
                        FusedUser fused) const {
    auto xType = op.getInput().getType();
    auto wType = op.getWeight().getType();
    if (!wType.hasStaticShape() || xType.isDynamicDim(xType.getRank() - 1))
      return rewriter.notifyMatchFailure(op, "needs static N and K");
    int64_t n = wType.getDimSize(0), k = wType.getDimSize(1);
    // Packing copies the weight (padded) into a new constant at compile
    // time; a splat of a huge type would take gigabytes. Such weights stay
    // for convert-dq-to-linalg, which reads them where they are.
    int64_t n16 = llvm::alignTo(n, 16), k4 = llvm::divideCeil(k, 4);
    if (k4 > 0 && n16 > kMaxPackedBytes / (4 * k4))
      return rewriter.notifyMatchFailure(op, "weight too large to pack");
    std::optional<SmallVector<int8_t>> weight =
        readConstantWeight(op.getWeight());
    if (!weight)
      return rewriter.notifyMatchFailure(op, "weight is not a constant");
    // Matched: from here on the IR changes.
    if (fused)
      replaceDimUsers(op, rewriter);
    PackedWeights packed = packWeights(op.getContext(), *weight, n, k, cols);

    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    bool perRow = op.getActGranularity() == Granularity::PerRow;
    bool symmetric = op.getActMode() == QuantMode::Symmetric;
    Type f32 = b.getF32Type(), i32 = b.getI32Type();

    // Runtime qparams and quantization, as convert-dq-to-linalg makes them.
    KernelContext kc =
        makeKernelContext(b, op, packed.data, packed.colsums, packed.k4);
    kc.fused = fused;

    auto [leadDims, numRows] = leadingDims(b, x);
    KernelBuilder kb{kc, rows, leadDims, numRows};
    SmallVector<OpFoldResult> outSizes = tensor::getMixedSizes(b, b.getLoc(), x);
    outSizes.back() = b.getIndexAttr(n);
    Value out = tensor::EmptyOp::create(b, outSizes, f32);

    // Full panels inside [0, N), then at most one narrower last panel, which
    // stores masked if it reaches into the padding of N to 16.
    int64_t innerPanels = n / cols;
    auto panels = [&](ImplicitLocOpBuilder &pb, Value lb, Value ub,
                      Value outN0, Value slice) -> Value {
      kb.outN0 = outN0;
      return scf::ForOp::create(
                 pb, lb, ub, constIndex(pb, cols), ValueRange{slice},
                 [&](OpBuilder &nb, Location loc, Value n0, ValueRange iter) {
                   ImplicitLocOpBuilder ib(loc, nb);
                   scf::YieldOp::create(
                       ib, kb.panel(ib, n0, cols / 16, false, iter[0]));
                 })
          .getResult(0);
    };
    Value parallel =
        threads > 1 ? worthThreads(b, numRows, k, n, threads) : Value();
    out = emitPanels(b, out, innerPanels, cols, threads, parallel, panels);
    kb.outN0 = nullptr;
    if (int64_t n0 = innerPanels * cols; n0 < n)
      out = kb.panel(b, constIndex(b, n0), std::min(cols, packed.n16 - n0) / 16,
                     /*masked=*/n % 16 != 0, out);

    if (out.getType() != op.getType())
      out = tensor::CastOp::create(b, op.getType(), out);
    replaceWithKernel(op, fused, out, rewriter);
    return success();
  }

  int64_t rows, cols, threads;
};
} // namespace

void mlir::dq::populateLinearToVNNIPatterns(RewritePatternSet &patterns,
                                            int64_t rows, int64_t cols,
                                            int64_t threads) {
  patterns.add<LinearToVNNI, FusedEpilogue<LinearToVNNI, GeluOp>,
               FusedEpilogue<LinearToVNNI, linalg::GenericOp>>(
      patterns.getContext(), rows, cols, threads);
}
