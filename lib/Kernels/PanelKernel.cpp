//===- PanelKernel.cpp - dq.linear_dynamic to a panel-blocked kernel -----===//
//
// The kernel of convert-dq-to-vnni (DotKind::VNNI) and convert-dq-to-avx2
// (DotKind::AVX2); they differ only in the instructions of the K loop
// (MicroKernel.cpp):
//   s, zp = dq.choose_qparams x;  q = dq.quantize x, s, zp    (as before)
//   out   = tensor.empty
//   for each weight panel of `cols` columns (packed at compile time;
//   with threads > 1 an scf.forall over chunks of panels, ParallelPanels.h):
//     for each block of `rows` rows (then the remaining rows one by one):
//       acc  = K loop of dots on rows x cols/16 vector<16xi32>      (MicroKernel)
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

#include "lib/Kernels/PanelKernel.h"
#include "lib/Kernels/Epilogue.h"
#include "lib/Kernels/LinearKernel.h"
#include "lib/Kernels/MicroKernel.h"
#include "lib/Kernels/PackWeights.h"
#include "lib/Kernels/ParallelPanels.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::dq;

namespace {
/// Emits the loops of one dq.linear_dynamic's kernel.
struct KernelBuilder {
  const KernelContext &kc;
  int64_t rows;
  SmallVector<Value> leadDims;
  Value numRows;
  /// The first column `out` holds (null: 0), see emitEpilogue.
  Value outN0 = nullptr;

  /// All rows times the `nv` column vectors of the panel at column n0:
  /// blocks of `rows` rows, then the remaining rows one by one.
  Value panel(ImplicitLocOpBuilder &b, Value n0, int64_t nv, bool masked,
              Value out) {
    ColumnOperands cols = loadColumnOperands(b, kc, n0, nv, masked);
    Value panelBase = arith::MulIOp::create(b, n0, constIndex(b, 4 * kc.k4));
    auto rowTiles = [&](Value lb, Value ub, int64_t step, Value dest) {
      return emitRowTiles(b, kc, leadDims, lb, ub, step, panelBase,
                          /*kGroup=*/1, n0, nv, masked, cols, dest, outN0);
    };
    Value zero = constIndex(b, 0);
    if (rows == 1)
      return rowTiles(zero, numRows, 1, out);
    Value fullRows = arith::SubIOp::create(
        b, numRows, arith::RemUIOp::create(b, numRows, constIndex(b, rows)));
    out = rowTiles(zero, fullRows, rows, out);
    return rowTiles(fullRows, numRows, 1, out);
  }
};

struct PanelKernel : LinearKernelPattern<PanelKernel> {
  PanelKernel(MLIRContext *ctx, DotKind dot, int64_t rows, int64_t cols,
              int64_t threads)
      : LinearKernelPattern(ctx), dot(dot), rows(rows), cols(cols),
        threads(threads) {}

  /// K padded to 4 (k4 steps of 4 bytes).
  int64_t packedColumnBytes(int64_t k) const {
    return 4 * llvm::divideCeil(k, 4);
  }

  Value emitKernel(ImplicitLocOpBuilder &b, LinearDynamicOp op,
                   ArrayRef<int8_t> weight, const FusedUser &fused) const {
    int64_t n = op.getWeight().getType().getDimSize(0);
    int64_t k = op.getWeight().getType().getDimSize(1);
    PackedWeights packed = packWeights(op.getContext(), weight, n, k, cols);
    Value x = op.getInput();

    // Runtime qparams and quantization, as convert-dq-to-linalg makes them.
    KernelContext kc =
        makeKernelContext(b, op, packed.data, packed.colsums, packed.k4);
    kc.fused = fused;
    kc.dot = dot;

    auto [leadDims, numRows] = leadingDims(b, x);
    KernelBuilder kb{kc, rows, leadDims, numRows};
    SmallVector<OpFoldResult> outSizes =
        tensor::getMixedSizes(b, b.getLoc(), x);
    outSizes.back() = b.getIndexAttr(n);
    Value out = tensor::EmptyOp::create(b, outSizes, b.getF32Type());

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
    Value parallel = threads > 1 ? worthThreads(b, numRows, k, n, threads,
                                                kMinMacsLog2Vector)
                                 : Value();
    out = emitPanels(b, out, innerPanels, cols, threads, parallel, panels);
    kb.outN0 = nullptr;
    if (int64_t n0 = innerPanels * cols; n0 < n)
      out = kb.panel(b, constIndex(b, n0), std::min(cols, packed.n16 - n0) / 16,
                     /*masked=*/n % 16 != 0, out);
    return out;
  }

  DotKind dot;
  int64_t rows, cols, threads;
};
} // namespace

void mlir::dq::populatePanelKernelPatterns(RewritePatternSet &patterns,
                                           DotKind dot, int64_t rows,
                                           int64_t cols, int64_t threads) {
  addLinearKernelPatterns<PanelKernel>(patterns, dot, rows, cols, threads);
}
