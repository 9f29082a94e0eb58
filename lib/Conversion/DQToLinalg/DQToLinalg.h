//===- DQToLinalg.h - lower dq ops to linalg --------------------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOLINALG_DQTOLINALG_H
#define DQMLIR_CONVERSION_DQTOLINALG_DQTOLINALG_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class ImplicitLocOpBuilder;
class RewritePatternSet;
namespace dq {

/// Which build of a vendor kernel (oneDNN's GELU) the lowering reproduces:
/// the one PyTorch runs on CPUs with AVX-512, or on CPUs with AVX2 only.
enum class VendorISA { AVX512, AVX2 };

#define GEN_PASS_DECL
#include "lib/Conversion/DQToLinalg/DQToLinalg.h.inc"

/// dq.linear_dynamic -> dq.choose_qparams + dq.quantize + linalg contraction
/// and epilogue.
void populateLowerLinearDynamicPatterns(RewritePatternSet &patterns);
/// dq.choose_qparams -> linalg reductions + scalar arithmetic.
/// `threads` > 1: per-tensor ranges of large inputs run in row chunks of an
/// scf.forall (buildVectorRange).
void populateLowerChooseQParamsPatterns(RewritePatternSet &patterns,
                                        int64_t threads = 1);
/// Builds the elementwise quantization of `input` with `scale` and
/// `zeroPoint` (rank-0 or per row) giving signless i8 holding uint8
/// (`isSigned` false) or int8 values: vector loops over rows (split over
/// `threads`, emitRowLoop) with a static last dim, else a linalg.generic.
Value buildQuantize(ImplicitLocOpBuilder &b, Value input, Value scale,
                    Value zeroPoint, bool isSigned, int64_t threads = 1);

/// dq.quantize / dq.dequantize -> vector loops / elementwise linalg.generic.
/// `threads` > 1: the rows of large quantizations in scf.forall chunks.
void populateLowerQuantizePatterns(RewritePatternSet &patterns,
                                   int64_t threads = 1);
/// dq.layer_norm -> scf/vector code in ATen's operation order; `threads` > 1:
/// the rows of large inputs in scf.forall chunks.
void populateLowerLayerNormPatterns(RewritePatternSet &patterns,
                                    int64_t threads = 1);
void populateLowerGeluPatterns(RewritePatternSet &patterns,
                               VendorISA isa = VendorISA::AVX512);
void populateLowerSigmoidPatterns(RewritePatternSet &patterns,
                                  VendorISA isa = VendorISA::AVX512);
void populateLowerTanhPatterns(RewritePatternSet &patterns);
/// dq.softmax -> scf/vector code in ATen's operation order.
void populateLowerSoftmaxPatterns(RewritePatternSet &patterns,
                                  VendorISA isa = VendorISA::AVX512);
void populateLowerFlashSoftmaxPatterns(RewritePatternSet &patterns,
                                       VendorISA isa = VendorISA::AVX512);
void populateLowerFlashFixupPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "lib/Conversion/DQToLinalg/DQToLinalg.h.inc"

} // namespace dq
} // namespace mlir

#endif // DQMLIR_CONVERSION_DQTOLINALG_DQTOLINALG_H
