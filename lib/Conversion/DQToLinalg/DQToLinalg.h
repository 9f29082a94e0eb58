//===- DQToLinalg.h - lower dq ops to linalg --------------------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOLINALG_DQTOLINALG_H
#define DQMLIR_CONVERSION_DQTOLINALG_DQTOLINALG_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class ImplicitLocOpBuilder;
class RewritePatternSet;
namespace dq {

#define GEN_PASS_DECL
#include "lib/Conversion/DQToLinalg/DQToLinalg.h.inc"

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

/// dq.linear_dynamic -> dq.choose_qparams + dq.quantize + linalg contraction
/// and epilogue.
void populateLowerLinearDynamicPatterns(RewritePatternSet &patterns);
/// dq.choose_qparams -> linalg reductions + scalar arithmetic.
/// `threads` > 1: per-tensor ranges of large inputs run in row chunks of an
/// scf.forall (buildVectorRange).
void populateLowerChooseQParamsPatterns(RewritePatternSet &patterns,
                                        int64_t threads = 1);
/// Builds the elementwise quantization of `input` with `scale` and
/// `zeroPoint` (rank-0 or per row) as a linalg.generic giving signless i8
/// holding uint8 (`isSigned` false) or int8 values.
Value buildQuantize(ImplicitLocOpBuilder &b, Value input, Value scale,
                    Value zeroPoint, bool isSigned);

/// The quantization of one f32 (or vector of f32) `x` with the reciprocal
/// scale `inv` and float zero point `zpF` (same type as x), clamped to
/// [lo, hi]: i32 (or a vector of i32), exactly what dq.quantize computes.
Value quantizeValue(ImplicitLocOpBuilder &b, Value x, Value inv, Value zpF,
                    int32_t lo, int32_t hi);

/// dq.quantize / dq.dequantize -> elementwise linalg.generic.
void populateLowerQuantizePatterns(RewritePatternSet &patterns);
/// dq.layer_norm -> scf/vector code in ATen's operation order.
void populateLowerLayerNormPatterns(RewritePatternSet &patterns);
void populateLowerGeluPatterns(RewritePatternSet &patterns);
/// dq.gelu's arithmetic on one f32 or a vector of f32 (oneDNN's erf GELU,
/// bit for bit; the coefficient tables are dq.lookup ops).
Value buildGelu(ImplicitLocOpBuilder &b, Value x);
void populateLowerFlashSoftmaxPatterns(RewritePatternSet &patterns);
void populateLowerFlashFixupPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "lib/Conversion/DQToLinalg/DQToLinalg.h.inc"

} // namespace dq
} // namespace mlir

#endif // DQMLIR_CONVERSION_DQTOLINALG_DQTOLINALG_H
