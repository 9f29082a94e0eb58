//===- DQToVNNI.h - dq.linear_dynamic to a VNNI kernel ----------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOVNNI_DQTOVNNI_H
#define DQMLIR_CONVERSION_DQTOVNNI_DQTOVNNI_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace dq {

#define GEN_PASS_DECL
#include "lib/Conversion/DQToVNNI/DQToVNNI.h.inc"

/// dq.linear_dynamic with a constant weight -> choose_qparams + quantize + a
/// vpdpbusd kernel of `rows` x `cols` register tiles with a fused epilogue,
/// its panels split over `threads` threads (scf.forall) if > 1.
void populateLinearToVNNIPatterns(RewritePatternSet &patterns, int64_t rows,
                                  int64_t cols, int64_t threads = 1);

#define GEN_PASS_REGISTRATION
#include "lib/Conversion/DQToVNNI/DQToVNNI.h.inc"

} // namespace dq
} // namespace mlir

#endif // DQMLIR_CONVERSION_DQTOVNNI_DQTOVNNI_H
