//===- Weights.h - constant int8 weights at compile time --------*- C++ -*-===//
//
// dq.linear_dynamic's weight is usually a constant: its bytes are read at
// compile time to pack them for a kernel and to fold sum_k W[n, k], which
// the epilogue needs (zero-point correction), into a constant.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_UTILS_WEIGHTS_H
#define DQMLIR_UTILS_WEIGHTS_H

#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace mlir::dq {

/// The int8 values of a constant `[N, K]` weight (row-major), if it is an
/// arith.constant holding a DenseIntElementsAttr or a dense_resource blob.
std::optional<SmallVector<int8_t>> readConstantWeight(Value weight);

/// sum_k W[n, k] of a row-major `[n, k]` int8 weight, for n < `size`, and
/// 0 for the padding n in [N, size). The sums wrap around in 32 bits, as
/// the kernels' i32 arithmetic and convert-dq-to-linalg's i32 reduction of
/// a non-constant weight do (in C++, signed overflow would be undefined).
SmallVector<int32_t> columnSums(ArrayRef<int8_t> weight, int64_t n, int64_t k,
                                int64_t size);

} // namespace mlir::dq

#endif // DQMLIR_UTILS_WEIGHTS_H
