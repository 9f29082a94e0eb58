//===- PackWeights.h - weight packing for the kernels -----------*- C++ -*-===//
//
// The VNNI and AMX kernels read a constant weight in the order their inner
// loops consume it, packed at compile time into one constant; its column
// sums (for the epilogue's zero-point correction) are a second constant,
// made by the same function for both (columnSums).
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_KERNELS_PACKWEIGHTS_H
#define DQMLIR_KERNELS_PACKWEIGHTS_H

#include "mlir/IR/BuiltinAttributes.h"

namespace mlir::dq {

/// A weight packed for vpdpbusd and its column sums.
///
/// Layout: panels of `cols` columns (the last one may be narrower, a
/// multiple of 16), one after the other. Panel p starts at byte
/// p * cols * 4 * k4; inside a panel of nv = width / 16 vectors,
///   byte (k4 * nv + v) * 64 + j * 4 + kk  holds  W[p * cols + 16 v + j][4 k4 + kk],
/// so one K/4 step of a panel reads nv consecutive vector<64xi8>, each the
/// 4 consecutive k of 16 columns that vpdpbusd multiplies with 4 activation
/// bytes. K is padded to a multiple of 4 (k4 = ceil(K / 4)) and N to one of
/// 16 (n16) with zero weights, so the matching activation bytes may hold
/// anything.
struct PackedWeights {
  int64_t n, k, n16, k4;
  /// i8 [n16 * k4 * 4], a dense_resource blob.
  DenseResourceElementsAttr data;
  /// i32 [n16]: sum_k W[n, k], 0 in the padding.
  DenseResourceElementsAttr colsums;
};

PackedWeights packWeights(MLIRContext *ctx, ArrayRef<int8_t> weight, int64_t n,
                          int64_t k, int64_t cols);

/// A weight packed for tdpbusd B tiles, and its column sums.
///
/// An AMX B tile for u8 x s8 -> i32 is 16 rows x 64 bytes: row r holds, for
/// 16 columns j, the 4 weights of k = 4 r .. 4 r + 3 (64 k per tile). K is
/// padded to k64 (a multiple of 64) and N to n16 with zero weights.
/// Columns are grouped in panels of `colTiles` tiles (the last panel may
/// have fewer); panel p (columns n0 = 16 colTiles p ..) starts at byte
/// n0 * k64, and inside it the tile t of K block kb is the 1 KiB at
///   (kb * tiles + t) * 1024:  byte r * 64 + j * 4 + kk
///                              = W[n0 + 16 t + j][64 kb + 4 r + kk].
/// Read as K/4 steps in groups of 16 (emitDotTile's kGroup), the same bytes
/// feed the vpdpbusd micro-kernel.
struct PackedAMXWeights {
  int64_t n, k, n16, k64;
  /// i8 [n16 * k64], a dense_resource blob (64-byte aligned).
  DenseResourceElementsAttr data;
  /// i32 [n16]: sum_k W[n, k], 0 in the padding.
  DenseResourceElementsAttr colsums;
};

PackedAMXWeights packAMXWeights(MLIRContext *ctx, ArrayRef<int8_t> weight,
                                int64_t n, int64_t k, int64_t colTiles);

} // namespace mlir::dq

#endif // DQMLIR_KERNELS_PACKWEIGHTS_H
