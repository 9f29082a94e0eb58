//===- VectorRange.h - min(x, 0), max(x, 0) with vector ops -----*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOLINALG_VECTORRANGE_H
#define DQMLIR_CONVERSION_DQTOLINALG_VECTORRANGE_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::dq {

/// min(x, 0) and max(x, 0) of `input` (static last dim) over everything
/// (rank-0 results) or per row (results shaped like the leading dims), NaNs
/// skipped, as scf.for loops of vector<16xf32> minnum/maxnum on tensors.
/// The same values as the scalar reduction: minnum/maxnum are exact, so the
/// order does not matter (the sign of a zero min/max does not change the
/// qparams). With `threads` > 1, the range over everything of an input of at
/// least 2^14 floats per thread runs in row chunks of an scf.forall, each
/// folding its rows into partial min/max vectors, combined after: at 2
/// threads the sequential range was a fifth of a 512-row linear.
std::pair<Value, Value> buildVectorRange(ImplicitLocOpBuilder &b, Value input,
                                         bool perRow, int64_t threads = 1);

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOLINALG_VECTORRANGE_H
