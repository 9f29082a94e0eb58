//===- PackWeights.h - compile-time VNNI weight packing ---------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOVNNI_PACKWEIGHTS_H
#define DQMLIR_CONVERSION_DQTOVNNI_PACKWEIGHTS_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Value.h"

#include <optional>

namespace mlir::dq {

/// The int8 values of a constant `[N, K]` weight (row-major), if it is an
/// arith.constant holding a DenseIntElementsAttr or a dense_resource blob.
std::optional<SmallVector<int8_t>> readConstantWeight(Value weight);

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

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOVNNI_PACKWEIGHTS_H
