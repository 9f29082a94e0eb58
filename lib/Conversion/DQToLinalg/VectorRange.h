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
/// qparams).
std::pair<Value, Value> buildVectorRange(ImplicitLocOpBuilder &b, Value input,
                                         bool perRow);

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOLINALG_VECTORRANGE_H
