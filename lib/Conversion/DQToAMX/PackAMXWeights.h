//===- PackAMXWeights.h - compile-time AMX B-tile packing -------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOAMX_PACKAMXWEIGHTS_H
#define DQMLIR_CONVERSION_DQTOAMX_PACKAMXWEIGHTS_H

#include "mlir/IR/BuiltinAttributes.h"

namespace mlir::dq {

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

#endif // DQMLIR_CONVERSION_DQTOAMX_PACKAMXWEIGHTS_H
