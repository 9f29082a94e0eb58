//===- Builders.h - the arithmetic of dq ops, as IR builders ----*- C++ -*-===//
//
// What convert-dq-to-linalg computes for dq.quantize, dq.gelu and the
// activations of dq.linear_dynamic, as functions that build it anywhere.
// The VNNI and AMX kernels (lib/Kernels) call them so that they round
// exactly as the linalg path does, which is what makes them bit-exact with
// PyTorch too.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_CONVERSION_DQTOLINALG_BUILDERS_H
#define DQMLIR_CONVERSION_DQTOLINALG_BUILDERS_H

#include "lib/Conversion/DQToLinalg/DQToLinalg.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::dq {

class LinearDynamicOp;

/// The activation side of dq.linear_dynamic, as every kernel begins it:
/// dq.choose_qparams and dq.quantize, the result bitcast to signless i8
/// (uint8 values, int8 if symmetric) in the input's shape.
struct QuantizedActivations {
  Value q, scale, zeroPoint;
};
QuantizedActivations quantizeActivations(ImplicitLocOpBuilder &b,
                                         LinearDynamicOp op);
/// Its two halves: the qparams only (q is null), then dq.quantize with them.
QuantizedActivations activationQParams(ImplicitLocOpBuilder &b,
                                       LinearDynamicOp op);
Value quantizeInput(ImplicitLocOpBuilder &b, LinearDynamicOp op, Value scale,
                    Value zeroPoint);

/// The quantization of one f32 (or vector of f32) `x` with the reciprocal
/// scale `inv` and float zero point `zpF` (same type as x), clamped to
/// [lo, hi]: i32 (or a vector of i32), exactly what dq.quantize computes.
Value quantizeValue(ImplicitLocOpBuilder &b, Value x, Value inv, Value zpF,
                    int32_t lo, int32_t hi);

/// dq.gelu's arithmetic on one f32 or a vector of f32: oneDNN's erf GELU of
/// `isa`, bit for bit (AVX-512: a minimax polynomial whose coefficient
/// tables are dq.lookup ops; AVX2: Abramowitz-Stegun with oneDNN's exp).
Value buildGelu(ImplicitLocOpBuilder &b, Value x,
                VendorISA isa = VendorISA::AVX512);

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOLINALG_BUILDERS_H
