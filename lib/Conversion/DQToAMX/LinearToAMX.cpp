//===- LinearToAMX.cpp - dq.linear_dynamic to an AMX tile kernel ----------===//
//
//   s, zp = dq.choose_qparams x
//   A     = memref.alloc of M padded to 16 x K padded to 64 bytes, in tiles:
//           [M/16][K/64][16][64], so that each A tile is 1 KB in one piece
//           (a row-major A put every tile row K bytes apart: 16 pages per
//           tile load, no prefetch); A[m] = quantize(x[m], s, zp) computed
//           as it is packed, 16 floats at a time (dq.quantize's arithmetic;
//           masked reads of the K tail; symmetric: ^ 0x80)
//   out   = tensor.empty
//   for each weight panel of 16 * colTiles columns (packed at compile time):
//     for each block of 16 * rowTiles rows (then the rest by 16 rows):
//       C[i][j] = tile_zero;  for kb < K/64: C[i][j] += A tile x B tile
//       tile_store C to scratch; for each valid row: out = epilogue(scratch)
// The panel loop is outermost so a panel (16 colTiles x K bytes) stays in
// cache while all rows stream past it. Tiles are 16 x 64 i8 (A, B) and
// 16 x 16 i32 (C): one tile configuration for the whole function.
//
// With threads > 1, many rows (or any number, with small weights) are split
// over the threads: each chunk packs and multiplies its own rows
// (ParallelRows.h). Fewer rows split the panels
// (lib/Conversion/DQToVNNI/ParallelPanels.h), each chunk with its own
// scratch, after a first scf.forall has packed the rows in chunks.
//
// The kernel is emitted before bufferization like the VNNI one: q, the
// output and the column operands stay tensors (the epilogue is shared with
// convert-dq-to-vnni); only what amx ops touch is a memref: the padded
// activations (memref.alloc, freed by the deallocation pipeline), the
// packed weights (bufferization.to_buffer of their constant) and the
// accumulator scratch (memref.alloca).
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/DQToAMX/DQToAMX.h"
#include "lib/Conversion/DQToAMX/PackAMXWeights.h"
#include "lib/Conversion/DQToAMX/ParallelRows.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Utils/Utils.h"
#include "lib/Conversion/DQToVNNI/Epilogue.h"
#include "lib/Conversion/DQToVNNI/FuseEpilogue.h"
#include "lib/Conversion/DQToVNNI/MicroKernel.h"
#include "lib/Conversion/DQToVNNI/PackWeights.h"
#include "lib/Conversion/DQToVNNI/ParallelPanels.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::dq;

namespace {
/// Emits the loops of one dq.linear_dynamic's AMX kernel.
struct AMXKernel {
  /// Its `q` is set only while the VNNI rows are emitted.
  KernelContext kc;
  int64_t rowTiles, colTiles, kBlocks;
  SmallVector<Value> leadDims;
  Value numRows;
  /// memref<?xi8> (tiles, see above), memref<bytes x i8>,
  /// memref<16 rowTiles x 16 colTiles xi32>.
  Value acts, weights, scratch;
  /// The first column `out` holds (null: 0), see emitEpilogue.
  Value outN0 = nullptr;
  /// In a chunk of rows (ParallelRows.h): the input row of the chunk's row
  /// 0 (`numRows` is the chunk's), and `out`'s leading sizes.
  Value firstRow = nullptr;
  SmallVector<Value> outDims;
  /// The input's index of (the chunk's) row m.
  RowIndex inputRow(ImplicitLocOpBuilder &b, Value m) {
    if (firstRow)
      m = arith::AddIOp::create(b, firstRow, m);
    return delinearizeRow(b, m, leadDims);
  }
  /// `out`'s index of it, where not the input's.
  SmallVector<RowIndex> outRow(ImplicitLocOpBuilder &b, Value m) {
    if (!firstRow)
      return {};
    return {delinearizeRow(b, m, outDims)};
  }
  /// Byte offset of row m, column k (a multiple of 64) in `acts`:
  /// ((m / 16) * kBlocks + k / 64) * 1024 + (m % 16) * 64.
  Value actsOffset(ImplicitLocOpBuilder &b, Value m, Value k) {
    Value tile = arith::AddIOp::create(
        b,
        arith::MulIOp::create(b,
                              arith::DivUIOp::create(b, m, constIndex(b, 16)),
                              constIndex(b, kBlocks)),
        arith::DivUIOp::create(b, k, constIndex(b, 64)));
    return arith::AddIOp::create(
        b, arith::MulIOp::create(b, tile, constIndex(b, 1024)),
        arith::MulIOp::create(b,
                              arith::RemUIOp::create(b, m, constIndex(b, 16)),
                              constIndex(b, 64)));
  }

  /// Rows [0, numRows) split into `chunks` ranges, packed in parallel (an
  /// scf.forall like the panels'): at 2 threads the packing was a sequential
  /// quarter of the call. Null `chunks`: all rows, sequentially.
  void packActivations(ImplicitLocOpBuilder &b, Value chunks) {
    if (!chunks)
      return packActivations(b, constIndex(b, 0), numRows);
    auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{chunks},
                                        ValueRange{}, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    auto [first, end] =
        chunkBounds(b, forall.getBody()->getArgument(0), chunks, numRows);
    packActivations(b, first, end);
  }

  /// Quantizes rows [rowLo, rowHi) (of the chunk) into `acts` as it packs
  /// them, 64 bytes (one tile row) at a time, with dq.quantize's arithmetic
  /// (quantizeValue): the quantized activations are written once, into their
  /// tiles. Symmetric (si8) values get their sign bit flipped: u8 for
  /// tdpbusd. K padding bytes (quantized zeros in a partial vector, else 0)
  /// meet zero weights.
  void packActivations(ImplicitLocOpBuilder &b, Value rowLo, Value rowHi) {
    Type f32 = b.getF32Type(), i8 = b.getI8Type();
    auto fType = VectorType::get({16}, f32);
    auto bType = VectorType::get({16}, i8);
    int32_t lo = kc.symmetric ? -128 : 0, hi = kc.symmetric ? 127 : 255;
    Value flip;
    if (kc.symmetric)
      flip = arith::ConstantOp::create(
          b, DenseElementsAttr::get(bType, b.getI8IntegerAttr(-128)));
    // 1 / scale and float(zp) as splats, as dq.quantize's lowering has them.
    auto qparams = [&](ImplicitLocOpBuilder &ib,
                       ValueRange idx) -> std::pair<Value, Value> {
      Value inv = arith::DivFOp::create(
          ib, arith::ConstantOp::create(ib, ib.getF32FloatAttr(1.0f)),
          tensor::ExtractOp::create(ib, kc.scale, idx));
      Value zp = arith::SIToFPOp::create(
          ib, f32, tensor::ExtractOp::create(ib, kc.zeroPoint, idx));
      return {vector::BroadcastOp::create(ib, fType, inv),
              vector::BroadcastOp::create(ib, fType, zp)};
    };
    std::pair<Value, Value> tensorQParams;
    if (!kc.perRow)
      tensorQParams = qparams(b, {});
    // Row m's 64 columns from k; `tail`: k is the last, partial block.
    auto pack = [&](ImplicitLocOpBuilder &ib, const RowIndex &row, Value m,
                    Value k, bool tail, std::pair<Value, Value> qp) {
      Value base = actsOffset(ib, m, k);
      Value pad = arith::ConstantOp::create(ib, ib.getF32FloatAttr(0.0f));
      int64_t k0 = tail ? kc.k / 64 * 64 : 0;
      for (int64_t j = 0; j < 4; ++j) {
        Value at =
            j ? arith::AddIOp::create(ib, base, constIndex(ib, 16 * j)) : base;
        if (tail && k0 + 16 * j >= kc.k) { // all padding
          vector::StoreOp::create(
              ib,
              arith::ConstantOp::create(
                  ib, DenseElementsAttr::get(bType, ib.getI8IntegerAttr(0))),
              acts, ValueRange{at});
          continue;
        }
        SmallVector<Value> idx(row);
        idx.push_back(j ? arith::AddIOp::create(ib, k, constIndex(ib, 16 * j))
                        : k);
        bool bounds[] = {!tail || k0 + 16 * (j + 1) <= kc.k};
        Value x = vector::TransferReadOp::create(ib, fType, kc.input, idx, pad,
                                                 bounds);
        Value q = arith::TruncIOp::create(
            ib, bType, quantizeValue(ib, x, qp.first, qp.second, lo, hi));
        if (flip)
          q = arith::XOrIOp::create(ib, q, flip);
        vector::StoreOp::create(ib, q, acts, ValueRange{at});
      }
    };
    int64_t fullBlocks = kc.k / 64;
    scf::ForOp::create(
        b, rowLo, rowHi, constIndex(b, 1), ValueRange{},
        [&](OpBuilder &nb, Location loc, Value m, ValueRange) {
          ImplicitLocOpBuilder ib(loc, nb);
          RowIndex row = inputRow(ib, m);
          std::pair<Value, Value> qp =
              kc.perRow ? qparams(ib, row) : tensorQParams;
          if (fullBlocks > 0)
            scf::ForOp::create(
                ib, constIndex(ib, 0), constIndex(ib, fullBlocks * 64),
                constIndex(ib, 64), ValueRange{},
                [&](OpBuilder &nb2, Location loc2, Value k, ValueRange) {
                  ImplicitLocOpBuilder ib2(loc2, nb2);
                  pack(ib2, row, m, k, false, qp);
                  scf::YieldOp::create(ib2);
                });
          if (kc.k % 64 != 0)
            pack(ib, row, m, constIndex(ib, fullBlocks * 64), true, qp);
          scf::YieldOp::create(ib);
        });
  }

  /// One register block: rows m0 .. m0 + 16 mt, the `nt` column tiles of the
  /// panel at column n0. Returns the new `out`.
  Value block(ImplicitLocOpBuilder &b, Value m0, int64_t mt, Value n0,
              int64_t nt, bool masked, const ColumnOperands &cols, Value out) {
    Type i8 = b.getI8Type(), i32 = b.getI32Type();
    auto abType = amx::TileType::get({16, 64}, i8);
    auto cType = amx::TileType::get({16, 16}, i32);
    SmallVector<Value> acc;
    for (int64_t t = 0; t < mt * nt; ++t)
      acc.push_back(amx::TileZeroOp::create(b, cType));
    Value panelBase = arith::MulIOp::create(b, n0, constIndex(b, 64 * kBlocks));
    auto kLoop = scf::ForOp::create(
        b, constIndex(b, 0), constIndex(b, kBlocks), constIndex(b, 1), acc,
        [&](OpBuilder &nb, Location loc, Value kb, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          Value k = arith::MulIOp::create(ib, kb, constIndex(ib, 64));
          Value bBase = arith::AddIOp::create(
              ib, panelBase,
              arith::MulIOp::create(ib, kb, constIndex(ib, nt * 1024)));
          Value stride = constIndex(ib, 64);
          auto loadA = [&](int64_t i) -> Value {
            Value m = arith::AddIOp::create(ib, m0, constIndex(ib, 16 * i));
            return amx::TileLoadOp::create(ib, abType, acts,
                                           ValueRange{actsOffset(ib, m, k)},
                                           stride);
          };
          auto loadB = [&](int64_t j) -> Value {
            Value off =
                arith::AddIOp::create(ib, bBase, constIndex(ib, j * 1024));
            return amx::TileLoadOp::create(ib, abType, weights, ValueRange{off},
                                           stride);
          };
          SmallVector<Value> next(iter.begin(), iter.end());
          auto mul = [&](int64_t i, int64_t j, Value a, Value w) {
            // tdpbusd: u8 activations (zext) x s8 weights.
            next[i * nt + j] = amx::TileMulIOp::create(
                ib, cType, a, w, next[i * nt + j], /*isZextLhs=*/true,
                /*isZextRhs=*/false);
          };
          // Keep the fewest tiles live: mt * nt accumulators plus all tiles
          // of the smaller side and one of the other (<= 8 registers).
          if (nt <= mt) {
            SmallVector<Value> w;
            for (int64_t j = 0; j < nt; ++j)
              w.push_back(loadB(j));
            for (int64_t i = 0; i < mt; ++i) {
              Value a = loadA(i);
              for (int64_t j = 0; j < nt; ++j)
                mul(i, j, a, w[j]);
            }
          } else {
            SmallVector<Value> a;
            for (int64_t i = 0; i < mt; ++i)
              a.push_back(loadA(i));
            for (int64_t j = 0; j < nt; ++j) {
              Value w = loadB(j);
              for (int64_t i = 0; i < mt; ++i)
                mul(i, j, a[i], w);
            }
          }
          scf::YieldOp::create(ib, next);
        });
    for (int64_t i = 0; i < mt; ++i)
      for (int64_t j = 0; j < nt; ++j)
        amx::TileStoreOp::create(
            b, scratch,
            ValueRange{constIndex(b, 16 * i), constIndex(b, 16 * j)},
            kLoop.getResult(i * nt + j));

    // The block's valid rows, dequantized one by one from the scratch.
    Value valid = arith::MinUIOp::create(
        b, arith::SubIOp::create(b, numRows, m0), constIndex(b, 16 * mt));
    auto rowLoop = scf::ForOp::create(
        b, constIndex(b, 0), valid, constIndex(b, 1), ValueRange{out},
        [&](OpBuilder &nb, Location loc, Value r, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          Value m = arith::AddIOp::create(ib, m0, r);
          RowIndex row = inputRow(ib, m);
          SmallVector<Value> accs;
          for (int64_t v = 0; v < nt; ++v)
            accs.push_back(
                vector::LoadOp::create(ib, VectorType::get({16}, i32), scratch,
                                       ValueRange{r, constIndex(ib, 16 * v)}));
          scf::YieldOp::create(ib, emitEpilogue(ib, kc, cols, {row}, accs, n0,
                                                nt, masked, iter[0], outN0,
                                                outRow(ib, m)));
        });
    return rowLoop.getResult(0);
  }

  /// A loop of blocks of `mt` row tiles over rows [lb, ub).
  Value rowLoop(ImplicitLocOpBuilder &b, Value lb, Value ub, int64_t mt,
                Value n0, int64_t nt, bool masked, const ColumnOperands &cols,
                Value out) {
    return scf::ForOp::create(
               b, lb, ub, constIndex(b, 16 * mt), ValueRange{out},
               [&](OpBuilder &nb, Location loc, Value m0, ValueRange iter) {
                 ImplicitLocOpBuilder ib(loc, nb);
                 scf::YieldOp::create(
                     ib, block(ib, m0, mt, n0, nt, masked, cols, iter[0]));
               })
        .getResult(0);
  }

  /// Few rows: the VNNI micro-kernel (blocks of 4 rows, then single rows)
  /// on the same packed weights, read as K/4 steps in groups of 16.
  Value vnniRows(ImplicitLocOpBuilder &b, Value lb, Value ub, int64_t step,
                 Value n0, int64_t nt, bool masked, const ColumnOperands &cols,
                 Value out) {
    Value panelBase = arith::MulIOp::create(b, n0, constIndex(b, 64 * kBlocks));
    return scf::ForOp::create(
               b, lb, ub, constIndex(b, step), ValueRange{out},
               [&](OpBuilder &nb, Location loc, Value m, ValueRange iter) {
                 ImplicitLocOpBuilder ib(loc, nb);
                 SmallVector<RowIndex> tileRows;
                 for (int64_t i = 0; i < step; ++i)
                   tileRows.push_back(delinearizeRow(
                       ib,
                       i ? arith::AddIOp::create(ib, m, constIndex(ib, i)) : m,
                       leadDims));
                 SmallVector<Value> accs = emitDotTile(ib, kc, tileRows,
                                                       panelBase, nt, 16);
                 scf::YieldOp::create(ib, emitEpilogue(ib, kc, cols, tileRows,
                                                       accs, n0, nt, masked,
                                                       iter[0], outN0));
               })
        .getResult(0);
  }

  /// All rows times the panel of `nt` column tiles at column n0.
  Value panel(ImplicitLocOpBuilder &b, Value n0, int64_t nt, bool masked,
              bool vnni, Value out) {
    ColumnOperands cols = loadColumnOperands(b, kc, n0, nt, masked);
    if (vnni) {
      Value full = arith::SubIOp::create(
          b, numRows, arith::RemUIOp::create(b, numRows, constIndex(b, 4)));
      out = vnniRows(b, constIndex(b, 0), full, 4, n0, nt, masked, cols, out);
      return vnniRows(b, full, numRows, 1, n0, nt, masked, cols, out);
    }
    Value zero = constIndex(b, 0);
    if (rowTiles == 1)
      return rowLoop(b, zero, numRows, 1, n0, nt, masked, cols, out);
    Value fullRows = arith::SubIOp::create(
        b, numRows,
        arith::RemUIOp::create(b, numRows, constIndex(b, 16 * rowTiles)));
    out = rowLoop(b, zero, fullRows, rowTiles, n0, nt, masked, cols, out);
    return rowLoop(b, fullRows, numRows, 1, n0, nt, masked, cols, out);
  }
};

/// Row tiles of a register block when the option leaves it open (0). Two
/// reuse each B tile twice; one halves the rows an epilogue writes per
/// block, which pays where the epilogue weighs most, K small and output rows
/// far apart (N >= 3072: 12 KB, all in the same L1 sets): 768 x 3072 at
/// M = 512 took 10-14% less time, 128 rows 5% less; 768 x 768 and
/// 384 x 1536 were 3-8% faster at 512 rows but 5% slower at 128, and
/// K >= 1536 was slower (3072 x 768: 12-18%).
static int64_t autoRowTiles(int64_t k, int64_t n) {
  return k <= 768 && n >= 3072 ? 1 : 2;
}

struct LinearToAMX : OpRewritePattern<LinearDynamicOp> {
  LinearToAMX(MLIRContext *ctx, int64_t rowTiles, int64_t colTiles,
              int64_t vnniBelow, int64_t threads, int64_t rowsPerThread,
              int64_t rowsBelowBytes)
      : OpRewritePattern(ctx), rowTiles(rowTiles), colTiles(colTiles),
        vnniBelow(vnniBelow), threads(threads), rowsPerThread(rowsPerThread),
        rowsBelowBytes(rowsBelowBytes) {}

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
    // Packing copies the (padded) weight at compile time: leave absurd sizes
    // (a huge splat) to convert-dq-to-linalg. 1 GiB is far above any layer.
    int64_t n16 = llvm::alignTo(n, 16), k64 = llvm::alignTo(k, 64);
    if (k64 > 0 && n16 > (int64_t(1) << 30) / k64)
      return rewriter.notifyMatchFailure(op, "weight too large to pack");
    std::optional<SmallVector<int8_t>> weight =
        readConstantWeight(op.getWeight());
    if (!weight)
      return rewriter.notifyMatchFailure(op, "weight is not a constant");
    // Matched: from here on the IR changes.
    if (fused)
      replaceDimUsers(op, rewriter);
    PackedAMXWeights packed =
        packAMXWeights(op.getContext(), *weight, n, k, colTiles);

    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    bool perRow = op.getActGranularity() == Granularity::PerRow;
    bool symmetric = op.getActMode() == QuantMode::Symmetric;
    Type f32 = b.getF32Type(), i32 = b.getI32Type(), i8 = b.getI8Type();

    // Runtime qparams and quantization, as convert-dq-to-linalg makes them.
    // The AMX path quantizes as it packs; only the VNNI rows read q.
    KernelContext kc = makeKernelContext(b, op, packed.data, packed.colsums,
                                         llvm::divideCeil(k, 4),
                                         /*quantize=*/false);
    kc.fused = fused;

    auto [leadDims, numRows] = leadingDims(b, x);
    int64_t kBlocks = packed.k64 / 64;
    Value weights = bufferization::ToBufferOp::create(
        b, MemRefType::get({packed.n16 * packed.k64}, i8), kc.packed,
        /*read_only=*/true);
    int64_t rt = rowTiles ? rowTiles : autoRowTiles(k, n);
    auto newScratch = [&](ImplicitLocOpBuilder &sb) -> Value {
      return memref::AllocaOp::create(
          sb, MemRefType::get({16 * rt, 16 * colTiles}, i32), ValueRange{},
          sb.getI64IntegerAttr(64));
    };
    Value scratch = newScratch(b);
    AMXKernel kernel{kc,
                     rt,
                     colTiles,
                     kBlocks,
                     leadDims,
                     numRows,
                     /*acts=*/nullptr,
                     weights,
                     scratch};

    SmallVector<OpFoldResult> outSizes = tensor::getMixedSizes(b, b.getLoc(), x);
    outSizes.back() = b.getIndexAttr(n);
    Value empty = tensor::EmptyOp::create(b, outSizes, f32);

    // Full panels inside [0, N), then at most one narrower last panel, which
    // stores masked if it reaches into the padding of N to 16.
    int64_t cols = 16 * colTiles, innerPanels = n / cols;
    Value parallel = threads > 1 ? worthThreads(b, numRows, k, n, threads)
                                 : Value();
    // Chunks of panels: the VNNI path's, and the AMX path's for few rows.
    auto allPanels = [&](ImplicitLocOpBuilder &pb, bool vnni, Value out,
                         Value splitPanels) {
      auto panels = [&](ImplicitLocOpBuilder &rb, Value lb, Value ub,
                        Value outN0, Value slice) -> Value {
        kernel.outN0 = outN0;
        // Each thread stores its accumulators to its own scratch.
        if (outN0 && !vnni)
          kernel.scratch = newScratch(rb);
        return scf::ForOp::create(
                   rb, lb, ub, constIndex(rb, cols), ValueRange{slice},
                   [&](OpBuilder &nb, Location loc, Value n0, ValueRange iter) {
                     ImplicitLocOpBuilder ib(loc, nb);
                     scf::YieldOp::create(ib, kernel.panel(ib, n0, colTiles,
                                                           false, vnni,
                                                           iter[0]));
                   })
            .getResult(0);
      };
      Value scratchHere = kernel.scratch;
      out = emitPanels(pb, out, innerPanels, cols, splitPanels ? threads : 1,
                       splitPanels, panels);
      kernel.outN0 = nullptr;
      kernel.scratch = scratchHere;
      if (int64_t n0 = innerPanels * cols; n0 < n)
        out = kernel.panel(pb, constIndex(pb, n0),
                           std::min(cols, packed.n16 - n0) / 16,
                           /*masked=*/n % 16 != 0, vnni, out);
      return out;
    };
    // A for kernel.numRows rows (padded to 16: the last row tile's extra
    // rows are never stored).
    auto allocActs = [&](ImplicitLocOpBuilder &pb) {
      Value paddedRows = arith::MulIOp::create(
          pb,
          arith::CeilDivUIOp::create(pb, kernel.numRows, constIndex(pb, 16)),
          constIndex(pb, 16));
      kernel.acts = memref::AllocOp::create(
          pb, MemRefType::get({ShapedType::kDynamic}, i8),
          ValueRange{arith::MulIOp::create(pb, paddedRows,
                                           constIndex(pb, packed.k64))},
          pb.getI64IntegerAttr(64));
    };
    // All rows, packed then multiplied by the panels, in chunks of each
    // when `chunks` (null: sequential).
    auto amxPanels = [&](ImplicitLocOpBuilder &pb, Value chunks) {
      allocActs(pb);
      kernel.packActivations(pb, chunks);
      return allPanels(pb, /*vnni=*/false, empty, chunks ? parallel : Value());
    };
    // Chunks of rows, each packed and multiplied by all panels.
    auto amxRows = [&](ImplicitLocOpBuilder &pb, const RowSplit &split,
                       Value chunks) {
      return emitRowChunks(
          pb, empty, split, chunks,
          [&](ImplicitLocOpBuilder &cb, Value first, Value count,
              ArrayRef<Value> sliceDims, Value slice) {
            kernel.firstRow = first;
            kernel.numRows = count;
            kernel.outDims.assign(sliceDims.begin(), sliceDims.end());
            kernel.scratch = newScratch(cb);
            allocActs(cb);
            kernel.packActivations(cb, Value());
            Value result = allPanels(cb, /*vnni=*/false, slice, Value());
            kernel.firstRow = nullptr;
            kernel.numRows = numRows;
            kernel.scratch = scratch;
            return result;
          });
    };
    auto amxPath = [&](ImplicitLocOpBuilder &pb) -> Value {
      if (!parallel)
        return amxPanels(pb, Value());
      Value chunks = arith::SelectOp::create(
          pb, parallel, constIndex(pb, threads), constIndex(pb, 1));
      if (leadDims.empty()) // a rank-1 input is one row
        return amxPanels(pb, chunks);
      RowSplit split = splitRows(pb, leadDims);
      // Rows where each thread gets rowsPerThread (any number when the
      // weights are at most rowsBelowBytes: reading them twice costs
      // little) and the split dim divides evenly (or nearly: at least 8
      // entries per thread).
      int64_t minRows = k * n <= rowsBelowBytes ? 0 : rowsPerThread * threads;
      Value byRows = arith::OrIOp::create(
          pb,
          arith::CmpIOp::create(
              pb, arith::CmpIPredicate::eq,
              arith::RemUIOp::create(pb, split.size, constIndex(pb, threads)),
              constIndex(pb, 0)),
          arith::CmpIOp::create(pb, arith::CmpIPredicate::uge, split.size,
                                constIndex(pb, 8 * threads)));
      if (minRows > 0)
        byRows = arith::AndIOp::create(
            pb,
            arith::CmpIOp::create(pb, arith::CmpIPredicate::uge, numRows,
                                  constIndex(pb, minRows)),
            byRows);
      auto ifOp = scf::IfOp::create(
          pb, byRows,
          [&](OpBuilder &nb, Location loc) {
            ImplicitLocOpBuilder ib(loc, nb);
            scf::YieldOp::create(ib, amxRows(ib, split, chunks));
          },
          [&](OpBuilder &nb, Location loc) {
            ImplicitLocOpBuilder ib(loc, nb);
            scf::YieldOp::create(ib, amxPanels(ib, chunks));
          });
      return ifOp.getResult(0);
    };

    Value out;
    if (vnniBelow > 0) {
      // Fewer rows than a few tiles: AMX would mostly multiply padding, and
      // its first instruction after idling costs more than the work.
      Value few = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, numRows,
                                        constIndex(b, vnniBelow));
      auto ifOp = scf::IfOp::create(
          b, few,
          [&](OpBuilder &nb, Location loc) {
            ImplicitLocOpBuilder ib(loc, nb);
            kernel.kc.q = quantizeInput(ib, op, kc.scale, kc.zeroPoint);
            Value vnniOut = allPanels(ib, /*vnni=*/true, empty, parallel);
            kernel.kc.q = nullptr;
            scf::YieldOp::create(ib, vnniOut);
          },
          [&](OpBuilder &nb, Location loc) {
            ImplicitLocOpBuilder ib(loc, nb);
            scf::YieldOp::create(ib, amxPath(ib));
          });
      out = ifOp.getResult(0);
    } else {
      out = amxPath(b);
    }

    if (out.getType() != op.getType())
      out = tensor::CastOp::create(b, op.getType(), out);
    replaceWithKernel(op, fused, out, rewriter);
    return success();
  }

  int64_t rowTiles, colTiles, vnniBelow, threads, rowsPerThread, rowsBelowBytes;
};
} // namespace

void mlir::dq::populateLinearToAMXPatterns(RewritePatternSet &patterns,
                                           int64_t rowTiles, int64_t colTiles,
                                           int64_t vnniBelow, int64_t threads,
                                           int64_t rowsPerThread,
                                           int64_t rowsBelowBytes) {
  patterns.add<LinearToAMX, FusedEpilogue<LinearToAMX, GeluOp>,
               FusedEpilogue<LinearToAMX, linalg::GenericOp>>(
      patterns.getContext(), rowTiles, colTiles, vnniBelow, threads,
      rowsPerThread, rowsBelowBytes);
}
