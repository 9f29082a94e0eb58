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
// The strategies, each a part of AMXKernel below:
// - register blocking (block, rowBlocks, panel): the loops above;
// - few rows (vnniRows): the VNNI micro-kernel on the same packed weights;
// - panel split (emitPanelSplit): all rows packed, then multiplied by the
//   panels; with threads > 1 (and few rows) a first scf.forall packs the
//   rows in chunks and a second splits the panels (ParallelPanels.h), each
//   chunk with its own scratch;
// - row split (emitRowSplit): with threads > 1 and many rows (or any number,
//   with small weights), each chunk packs and multiplies its own rows
//   (lib/Utils/RowChunks.h).
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
#include "lib/Conversion/DQToLinalg/Builders.h"
#include "lib/Kernels/Epilogue.h"
#include "lib/Kernels/LinearKernel.h"
#include "lib/Kernels/MicroKernel.h"
#include "lib/Kernels/PackWeights.h"
#include "lib/Kernels/ParallelPanels.h"
#include "lib/Utils/RowChunks.h"
#include "lib/Utils/Utils.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::dq;

namespace {

/// Tile registers (tmm0 - tmm7).
constexpr int64_t kTileRegisters = 8;
/// Rows of an A tile (activations) and of a C tile (accumulators).
constexpr int64_t kTileRows = 16;
/// Bytes of a tile row: the 64 k of one K block (A), or 4 k of 16 columns
/// (B). K is padded to a multiple of it.
constexpr int64_t kTileRowBytes = 64;
/// Bytes of an A or B tile; a B tile is contiguous in the packed weights.
constexpr int64_t kTileBytes = kTileRows * kTileRowBytes;
/// Columns of a B tile and of a C tile (16 i32 accumulators a row).
constexpr int64_t kTileCols = 16;
/// The vpdpbusd steps (4 k each) in one B tile row: how the VNNI
/// micro-kernel reads the AMX packing (emitDotTile's kGroup).
constexpr int64_t kKStepsPerTileRow = kTileRowBytes / 4;
/// f32 lanes of an AVX-512 vector: activations are quantized 16 at a time.
constexpr int64_t kLanes = 16;
/// Rows of the VNNI micro-kernel's register tile on few rows (then single
/// rows).
constexpr int64_t kVNNIRows = 4;
/// Alignment of the packed activations and the accumulator scratch: a cache
/// line, which the tile loads and stores and the 64-byte vectors want.
constexpr int64_t kAlignment = 64;
/// A row split needs its split dim to divide evenly by the threads, or to
/// give each thread at least this many entries (then the chunks differ by
/// at most one entry in 8: 3 x 128 rows on 2 threads is uneven and short,
/// and splits the panels instead).
constexpr int64_t kMinEntriesPerThread = 8;

/// Row tiles of a register block when the option leaves it open (0). Two
/// reuse each B tile twice; one halves the rows an epilogue writes per
/// block, which pays where the epilogue weighs most, K small and output rows
/// far apart (N >= 3072: 12 KB, all in the same L1 sets): 768 x 3072 at
/// M = 512 took 10-14% less time, 128 rows 5% less; 768 x 768 and
/// 384 x 1536 were 3-8% faster at 512 rows but 5% slower at 128, and
/// K >= 1536 was slower (3072 x 768: 12-18%).
int64_t autoRowTiles(int64_t k, int64_t n) {
  constexpr int64_t kMaxShallowK = 768, kMinWideN = 3072;
  return k <= kMaxShallowK && n >= kMinWideN ? 1 : kMaxAutoRowTiles;
}

/// Emits the loops of one dq.linear_dynamic's AMX kernel.
struct AMXKernel {
  /// Its `q` is set only while the VNNI rows are emitted.
  KernelContext kc;
  const ConvertDQToAMXOptions &options;
  int64_t n, k;
  int64_t rowTiles, colTiles, kBlocks;
  /// Packed widths: N padded to 16, K to 64.
  int64_t n16, k64;
  SmallVector<Value> leadDims;
  Value numRows;
  /// memref<?xi8> (tiles, see above), memref<bytes x i8>,
  /// memref<16 rowTiles x 16 colTiles xi32>.
  Value acts, weights, scratch;
  /// The first column `out` holds (null: 0), see emitEpilogue.
  Value outN0 = nullptr;
  /// In a chunk of rows (lib/Utils/RowChunks.h): the input row of the chunk's row
  /// 0 (`numRows` is the chunk's), and `out`'s leading sizes.
  Value firstRow = nullptr;
  SmallVector<Value> outDims;
  /// The empty result tensor, and (threads > 1) whether the input is large
  /// enough to split at run time.
  Value empty, parallel;

  //===--- Activations ---------------------------------------------------===//

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
        arith::MulIOp::create(
            b, arith::DivUIOp::create(b, m, constIndex(b, kTileRows)),
            constIndex(b, kBlocks)),
        arith::DivUIOp::create(b, k, constIndex(b, kTileRowBytes)));
    return arith::AddIOp::create(
        b, arith::MulIOp::create(b, tile, constIndex(b, kTileBytes)),
        arith::MulIOp::create(
            b, arith::RemUIOp::create(b, m, constIndex(b, kTileRows)),
            constIndex(b, kTileRowBytes)));
  }

  /// A for `numRows` rows (padded to 16: the last row tile's extra rows are
  /// never stored).
  void allocActs(ImplicitLocOpBuilder &b) {
    Value paddedRows = arith::MulIOp::create(
        b, arith::CeilDivUIOp::create(b, numRows, constIndex(b, kTileRows)),
        constIndex(b, kTileRows));
    acts = memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
        ValueRange{arith::MulIOp::create(b, paddedRows, constIndex(b, k64))},
        b.getI64IntegerAttr(kAlignment));
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
    auto fType = VectorType::get({kLanes}, f32);
    auto bType = VectorType::get({kLanes}, i8);
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
      int64_t k0 = tail ? kc.k / kTileRowBytes * kTileRowBytes : 0;
      for (int64_t j = 0; j < kTileRowBytes / kLanes; ++j) {
        Value at =
            j ? arith::AddIOp::create(ib, base, constIndex(ib, kLanes * j))
              : base;
        if (tail && k0 + kLanes * j >= kc.k) { // all padding
          vector::StoreOp::create(
              ib,
              arith::ConstantOp::create(
                  ib, DenseElementsAttr::get(bType, ib.getI8IntegerAttr(0))),
              acts, ValueRange{at});
          continue;
        }
        SmallVector<Value> idx(row);
        idx.push_back(
            j ? arith::AddIOp::create(ib, k, constIndex(ib, kLanes * j)) : k);
        bool bounds[] = {!tail || k0 + kLanes * (j + 1) <= kc.k};
        Value x = vector::TransferReadOp::create(ib, fType, kc.input, idx, pad,
                                                 bounds);
        Value q = arith::TruncIOp::create(
            ib, bType, quantizeValue(ib, x, qp.first, qp.second, lo, hi));
        if (flip)
          q = arith::XOrIOp::create(ib, q, flip);
        vector::StoreOp::create(ib, q, acts, ValueRange{at});
      }
    };
    int64_t fullBlocks = kc.k / kTileRowBytes;
    scf::ForOp::create(
        b, rowLo, rowHi, constIndex(b, 1), ValueRange{},
        [&](OpBuilder &nb, Location loc, Value m, ValueRange) {
          ImplicitLocOpBuilder ib(loc, nb);
          RowIndex row = inputRow(ib, m);
          std::pair<Value, Value> qp =
              kc.perRow ? qparams(ib, row) : tensorQParams;
          if (fullBlocks > 0)
            scf::ForOp::create(
                ib, constIndex(ib, 0),
                constIndex(ib, fullBlocks * kTileRowBytes),
                constIndex(ib, kTileRowBytes), ValueRange{},
                [&](OpBuilder &nb2, Location loc2, Value k, ValueRange) {
                  ImplicitLocOpBuilder ib2(loc2, nb2);
                  pack(ib2, row, m, k, false, qp);
                  scf::YieldOp::create(ib2);
                });
          if (kc.k % kTileRowBytes != 0)
            pack(ib, row, m, constIndex(ib, fullBlocks * kTileRowBytes), true,
                 qp);
          scf::YieldOp::create(ib);
        });
  }

  //===--- Register blocking ---------------------------------------------===//

  /// An accumulator scratch of one register block.
  Value newScratch(ImplicitLocOpBuilder &b) {
    return memref::AllocaOp::create(
        b,
        MemRefType::get({kTileRows * rowTiles, kTileCols * colTiles},
                        b.getI32Type()),
        ValueRange{}, b.getI64IntegerAttr(kAlignment));
  }

  /// One register block: rows m0 .. m0 + 16 mt, the `nt` column tiles of the
  /// panel at column n0. Returns the new `out`.
  Value block(ImplicitLocOpBuilder &b, Value m0, int64_t mt, Value n0,
              int64_t nt, bool masked, const ColumnOperands &cols, Value out) {
    Type i8 = b.getI8Type(), i32 = b.getI32Type();
    auto abType = amx::TileType::get({kTileRows, kTileRowBytes}, i8);
    auto cType = amx::TileType::get({kTileRows, kTileCols}, i32);
    SmallVector<Value> acc;
    for (int64_t t = 0; t < mt * nt; ++t)
      acc.push_back(amx::TileZeroOp::create(b, cType));
    Value panelBase =
        arith::MulIOp::create(b, n0, constIndex(b, kTileRowBytes * kBlocks));
    auto kLoop = scf::ForOp::create(
        b, constIndex(b, 0), constIndex(b, kBlocks), constIndex(b, 1), acc,
        [&](OpBuilder &nb, Location loc, Value kb, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          Value k =
              arith::MulIOp::create(ib, kb, constIndex(ib, kTileRowBytes));
          Value bBase = arith::AddIOp::create(
              ib, panelBase,
              arith::MulIOp::create(ib, kb, constIndex(ib, nt * kTileBytes)));
          Value stride = constIndex(ib, kTileRowBytes);
          auto loadA = [&](int64_t i) -> Value {
            Value m =
                arith::AddIOp::create(ib, m0, constIndex(ib, kTileRows * i));
            return amx::TileLoadOp::create(ib, abType, acts,
                                           ValueRange{actsOffset(ib, m, k)},
                                           stride);
          };
          auto loadB = [&](int64_t j) -> Value {
            Value off = arith::AddIOp::create(
                ib, bBase, constIndex(ib, j * kTileBytes));
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
          // of the smaller side and one of the other (amxBlockFits).
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
        amx::TileStoreOp::create(b, scratch,
                                 ValueRange{constIndex(b, kTileRows * i),
                                            constIndex(b, kTileCols * j)},
                                 kLoop.getResult(i * nt + j));

    // The block's valid rows, dequantized one by one from the scratch.
    Value valid =
        arith::MinUIOp::create(b, arith::SubIOp::create(b, numRows, m0),
                               constIndex(b, kTileRows * mt));
    auto rowLoop = scf::ForOp::create(
        b, constIndex(b, 0), valid, constIndex(b, 1), ValueRange{out},
        [&](OpBuilder &nb, Location loc, Value r, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nb);
          Value m = arith::AddIOp::create(ib, m0, r);
          RowIndex row = inputRow(ib, m);
          SmallVector<Value> accs;
          for (int64_t v = 0; v < nt; ++v)
            accs.push_back(vector::LoadOp::create(
                ib, VectorType::get({kTileCols}, i32), scratch,
                ValueRange{r, constIndex(ib, kTileCols * v)}));
          scf::YieldOp::create(ib, emitEpilogue(ib, kc, cols, {row}, accs, n0,
                                                nt, masked, iter[0], outN0,
                                                outRow(ib, m)));
        });
    return rowLoop.getResult(0);
  }

  /// A loop of blocks of `mt` row tiles over rows [lb, ub).
  Value rowBlocks(ImplicitLocOpBuilder &b, Value lb, Value ub, int64_t mt,
                  Value n0, int64_t nt, bool masked, const ColumnOperands &cols,
                  Value out) {
    return scf::ForOp::create(
               b, lb, ub, constIndex(b, kTileRows * mt), ValueRange{out},
               [&](OpBuilder &nb, Location loc, Value m0, ValueRange iter) {
                 ImplicitLocOpBuilder ib(loc, nb);
                 scf::YieldOp::create(
                     ib, block(ib, m0, mt, n0, nt, masked, cols, iter[0]));
               })
        .getResult(0);
  }

  //===--- Few rows: the VNNI micro-kernel -------------------------------===//

  /// Rows [lb, ub) in register tiles of `step` rows of the VNNI
  /// micro-kernel, on the same packed weights read as K/4 steps in groups
  /// of 16.
  Value vnniRows(ImplicitLocOpBuilder &b, Value lb, Value ub, int64_t step,
                 Value n0, int64_t nt, bool masked, const ColumnOperands &cols,
                 Value out) {
    Value panelBase =
        arith::MulIOp::create(b, n0, constIndex(b, kTileRowBytes * kBlocks));
    return emitRowTiles(b, kc, leadDims, lb, ub, step, panelBase,
                        kKStepsPerTileRow, n0, nt, masked, cols, out, outN0);
  }

  //===--- Panels --------------------------------------------------------===//

  /// All rows times the panel of `nt` column tiles at column n0: blocks of
  /// `rowTiles` row tiles, then single row tiles (`vnni`: blocks of 4 rows,
  /// then single rows, of the VNNI micro-kernel).
  Value panel(ImplicitLocOpBuilder &b, Value n0, int64_t nt, bool masked,
              bool vnni, Value out) {
    ColumnOperands cols = loadColumnOperands(b, kc, n0, nt, masked);
    if (vnni) {
      Value full = arith::SubIOp::create(
          b, numRows,
          arith::RemUIOp::create(b, numRows, constIndex(b, kVNNIRows)));
      out = vnniRows(b, constIndex(b, 0), full, kVNNIRows, n0, nt, masked, cols,
                     out);
      return vnniRows(b, full, numRows, 1, n0, nt, masked, cols, out);
    }
    Value zero = constIndex(b, 0);
    if (rowTiles == 1)
      return rowBlocks(b, zero, numRows, 1, n0, nt, masked, cols, out);
    Value fullRows = arith::SubIOp::create(
        b, numRows,
        arith::RemUIOp::create(b, numRows,
                               constIndex(b, kTileRows * rowTiles)));
    out = rowBlocks(b, zero, fullRows, rowTiles, n0, nt, masked, cols, out);
    return rowBlocks(b, fullRows, numRows, 1, n0, nt, masked, cols, out);
  }

  /// All panels into `out`: the full panels inside [0, N), in chunks of an
  /// scf.forall when `splitPanels` (ParallelPanels.h), then at most one
  /// narrower last panel, which stores masked if it reaches into the padding
  /// of N to 16.
  Value allPanels(ImplicitLocOpBuilder &b, bool vnni, Value out,
                  Value splitPanels) {
    int64_t cols = kTileCols * colTiles, innerPanels = n / cols;
    auto panels = [&](ImplicitLocOpBuilder &rb, Value lb, Value ub,
                      Value chunkN0, Value slice) -> Value {
      outN0 = chunkN0;
      // Each thread stores its accumulators to its own scratch.
      if (chunkN0 && !vnni)
        scratch = newScratch(rb);
      return scf::ForOp::create(
                 rb, lb, ub, constIndex(rb, cols), ValueRange{slice},
                 [&](OpBuilder &nb, Location loc, Value n0, ValueRange iter) {
                   ImplicitLocOpBuilder ib(loc, nb);
                   scf::YieldOp::create(
                       ib, panel(ib, n0, colTiles, false, vnni, iter[0]));
                 })
          .getResult(0);
    };
    Value scratchHere = scratch;
    out = emitPanels(b, out, innerPanels, cols,
                     splitPanels ? options.threads : 1, splitPanels, panels);
    outN0 = nullptr;
    scratch = scratchHere;
    if (int64_t n0 = innerPanels * cols; n0 < n)
      out = panel(b, constIndex(b, n0), std::min(cols, n16 - n0) / kTileCols,
                  /*masked=*/n % kTileCols != 0, vnni, out);
    return out;
  }

  //===--- Strategies over threads ---------------------------------------===//

  /// All rows, packed then multiplied by the panels, each in `chunks` chunks
  /// (null: sequentially, one loop each).
  Value emitPanelSplit(ImplicitLocOpBuilder &b, Value chunks) {
    allocActs(b);
    packActivations(b, chunks);
    return allPanels(b, /*vnni=*/false, empty, chunks ? parallel : Value());
  }

  /// Chunks of rows (`split`), each packed and multiplied by all panels.
  Value emitRowSplit(ImplicitLocOpBuilder &b, const RowSplit &split,
                     Value chunks) {
    Value allRows = numRows, sharedScratch = scratch;
    return emitRowChunks(
        b, empty, split, chunks,
        [&](ImplicitLocOpBuilder &cb, Value first, Value count,
            ArrayRef<Value> sliceDims, Value slice) {
          firstRow = first;
          numRows = count;
          outDims.assign(sliceDims.begin(), sliceDims.end());
          scratch = newScratch(cb);
          allocActs(cb);
          packActivations(cb, Value());
          Value result = allPanels(cb, /*vnni=*/false, slice, Value());
          firstRow = nullptr;
          numRows = allRows;
          scratch = sharedScratch;
          return result;
        });
  }

  /// The AMX tiles on all rows: sequential, or split over the threads by
  /// rows or by panels (decided at run time).
  ///
  /// Rows, not panels, on many rows: a thread then packs the activation tiles
  /// it multiplies and writes whole output rows, so neither crosses cores, and
  /// the packing needs no region of its own. Every thread reads all the
  /// weights, which costs more than that saves when each thread has few rows
  /// (convert-dq-to-amx's rows-per-thread, 128). On 2 threads, in one process
  /// against panels (back-to-back calls, medians, both orders): 512 x 768 x 768
  /// 157-180 against 198-214 us, 512 x 3072 x 768 750-804 against 952-1021 us;
  /// BERT-base 8 x 128 139-151 against 146-169 ms. BERT-base 1 x 128 (128 rows)
  /// took 5% longer with every linear split by rows, where each linear's
  /// weights come from L3; with only the linears of at most 1 MiB of weights
  /// split by rows at any row count (rows-below-bytes), it is unchanged
  /// (19.9-20.7 against 19.9-20.5 ms), as are MiniLM and BERT-base 8 x 128,
  /// while those linears alone got faster (128 x 768 x 768 back to back 39-40
  /// against 50-59 us, 128 x 1536 x 384 47-56 against 64 us).
  Value emitTiles(ImplicitLocOpBuilder &b) {
    if (!parallel)
      return emitPanelSplit(b, Value());
    int64_t threads = options.threads;
    Value chunks = arith::SelectOp::create(b, parallel, constIndex(b, threads),
                                           constIndex(b, 1));
    if (leadDims.empty()) // a rank-1 input is one row
      return emitPanelSplit(b, chunks);
    RowSplit split = splitRows(b, leadDims);
    // Rows where each thread gets rowsPerThread (any number when the
    // weights are at most rowsBelowBytes: reading them twice costs
    // little) and the split dim divides evenly (or nearly: at least 8
    // entries per thread).
    int64_t minRows = k * n <= options.rowsBelowBytes
                          ? 0
                          : options.rowsPerThread * threads;
    Value byRows = arith::OrIOp::create(
        b,
        arith::CmpIOp::create(
            b, arith::CmpIPredicate::eq,
            arith::RemUIOp::create(b, split.size, constIndex(b, threads)),
            constIndex(b, 0)),
        arith::CmpIOp::create(b, arith::CmpIPredicate::uge, split.size,
                              constIndex(b, kMinEntriesPerThread * threads)));
    if (minRows > 0)
      byRows = arith::AndIOp::create(
          b,
          arith::CmpIOp::create(b, arith::CmpIPredicate::uge, numRows,
                                constIndex(b, minRows)),
          byRows);
    auto ifOp = scf::IfOp::create(
        b, byRows,
        [&](OpBuilder &nb, Location loc) {
          ImplicitLocOpBuilder ib(loc, nb);
          scf::YieldOp::create(ib, emitRowSplit(ib, split, chunks));
        },
        [&](OpBuilder &nb, Location loc) {
          ImplicitLocOpBuilder ib(loc, nb);
          scf::YieldOp::create(ib, emitPanelSplit(ib, chunks));
        });
    return ifOp.getResult(0);
  }

  /// The kernel: fewer rows than `vnni-below` take the VNNI micro-kernel
  /// (AMX would mostly multiply padding, and its first instruction after
  /// idling costs more than the work), the others the AMX tiles.
  Value emit(ImplicitLocOpBuilder &b, LinearDynamicOp op) {
    if (options.vnniBelow == 0)
      return emitTiles(b);
    Value few = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, numRows,
                                      constIndex(b, options.vnniBelow));
    auto ifOp = scf::IfOp::create(
        b, few,
        [&](OpBuilder &nb, Location loc) {
          ImplicitLocOpBuilder ib(loc, nb);
          kc.q = quantizeInput(ib, op, kc.scale, kc.zeroPoint);
          Value vnniOut = allPanels(ib, /*vnni=*/true, empty, parallel);
          kc.q = nullptr;
          scf::YieldOp::create(ib, vnniOut);
        },
        [&](OpBuilder &nb, Location loc) {
          ImplicitLocOpBuilder ib(loc, nb);
          scf::YieldOp::create(ib, emitTiles(ib));
        });
    return ifOp.getResult(0);
  }
};

struct LinearToAMX : LinearKernelPattern<LinearToAMX> {
  LinearToAMX(MLIRContext *ctx, const ConvertDQToAMXOptions &options)
      : LinearKernelPattern(ctx), options(options) {}

  /// K padded to a whole number of tile rows.
  int64_t packedColumnBytes(int64_t k) const {
    return llvm::alignTo(k, kTileRowBytes);
  }

  Value emitKernel(ImplicitLocOpBuilder &b, LinearDynamicOp op,
                   ArrayRef<int8_t> weight, const FusedUser &fused) const {
    int64_t n = op.getWeight().getType().getDimSize(0);
    int64_t k = op.getWeight().getType().getDimSize(1);
    PackedAMXWeights packed =
        packAMXWeights(op.getContext(), weight, n, k, options.colTiles);
    Value x = op.getInput();

    // Runtime qparams, as convert-dq-to-linalg makes them. The AMX path
    // quantizes as it packs; only the VNNI rows read q.
    KernelContext kc = makeKernelContext(b, op, packed.data, packed.colsums,
                                         llvm::divideCeil(k, 4),
                                         /*quantize=*/false);
    kc.fused = fused;

    auto [leadDims, numRows] = leadingDims(b, x);
    Value weights = bufferization::ToBufferOp::create(
        b, MemRefType::get({packed.n16 * packed.k64}, b.getI8Type()),
        kc.packed, /*read_only=*/true);
    int64_t rowTiles =
        options.rowTiles ? options.rowTiles : autoRowTiles(k, n);
    AMXKernel kernel{kc,
                     options,
                     n,
                     k,
                     rowTiles,
                     options.colTiles,
                     packed.k64 / kTileRowBytes,
                     packed.n16,
                     packed.k64,
                     leadDims,
                     numRows};
    kernel.weights = weights;
    kernel.scratch = kernel.newScratch(b);

    SmallVector<OpFoldResult> outSizes =
        tensor::getMixedSizes(b, b.getLoc(), x);
    outSizes.back() = b.getIndexAttr(n);
    kernel.empty = tensor::EmptyOp::create(b, outSizes, b.getF32Type());
    if (options.threads > 1)
      kernel.parallel =
          worthThreads(b, numRows, k, n, options.threads, kMinMacsLog2AMX);
    return kernel.emit(b, op);
  }

  ConvertDQToAMXOptions options;
};
} // namespace

bool mlir::dq::amxBlockFits(int64_t rowTiles, int64_t colTiles) {
  // The accumulators, all tiles of the smaller side and one of the other
  // (AMXKernel::block).
  return rowTiles * colTiles + std::min(rowTiles, colTiles) + 1 <=
         kTileRegisters;
}

void mlir::dq::populateLinearToAMXPatterns(
    RewritePatternSet &patterns, const ConvertDQToAMXOptions &options) {
  addLinearKernelPatterns<LinearToAMX>(patterns, options);
}
