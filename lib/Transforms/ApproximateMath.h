//===- ApproximateMath.h - exp on f32 vectors -------------------*- C++ -*-===//
#ifndef DQMLIR_TRANSFORMS_APPROXIMATEMATH_H
#define DQMLIR_TRANSFORMS_APPROXIMATEMATH_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::dq {
/// math.exp on vectors of f32 as SLEEF's polynomial (PyTorch's
/// Vectorized<float>::exp), so that it vectorizes.
void populateApproximateMathPatterns(RewritePatternSet &patterns);
} // namespace mlir::dq

#endif // DQMLIR_TRANSFORMS_APPROXIMATEMATH_H
