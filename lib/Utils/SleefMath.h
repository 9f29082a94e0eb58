//===- SleefMath.h - PyTorch's vector exp and log on f32 --------*- C++ -*-===//
//
// ATen's Vectorized<float>::exp and ::log (AVX-512 build) call SLEEF's
// Sleef_expf16_u10 and Sleef_logf16_u10. Built here operation for operation,
// so that code using them rounds exactly as PyTorch's CPU kernels do: the
// vectorized unary ops, softmax and log_softmax.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_UTILS_SLEEFMATH_H
#define DQMLIR_UTILS_SLEEFMATH_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::dq {

/// SLEEF's expf_u10 of `x`, an f32 or a vector of f32.
Value buildSleefExp(ImplicitLocOpBuilder &b, Value x);

/// SLEEF's logf_u10 (xlogf_u1) of `x`, a vector of f32, as its AVX-512
/// build computes it (getexp/getmant, double-float arithmetic, fixupimm for
/// zero, negative, infinite and NaN inputs).
Value buildSleefLog(ImplicitLocOpBuilder &b, Value x);

} // namespace mlir::dq

#endif // DQMLIR_UTILS_SLEEFMATH_H
