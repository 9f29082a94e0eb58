//===- ApproximateMath.h - exp and erf on f32 vectors -----------*- C++ -*-===//
#ifndef DQMLIR_TRANSFORMS_APPROXIMATEMATH_H
#define DQMLIR_TRANSFORMS_APPROXIMATEMATH_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::dq {
/// math.exp and math.erf on vectors of f32 as polynomials (PyTorch's
/// AVX-512 algorithms), so that they vectorize.
void populateApproximateMathPatterns(RewritePatternSet &patterns);
} // namespace mlir::dq

#endif // DQMLIR_TRANSFORMS_APPROXIMATEMATH_H
