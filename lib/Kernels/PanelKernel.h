//===- PanelKernel.h - dq.linear_dynamic to a panel-blocked kernel -*- C++ -*-===//
#ifndef DQMLIR_KERNELS_PANELKERNEL_H
#define DQMLIR_KERNELS_PANELKERNEL_H

#include "lib/Kernels/Kernel.h"

namespace mlir {
class RewritePatternSet;
namespace dq {

/// dq.linear_dynamic with a constant weight -> choose_qparams + quantize + a
/// kernel of `rows` x `cols` register tiles whose K loop uses `dot`, with a
/// fused epilogue, its panels split over `threads` threads (scf.forall) if
/// > 1. Weights are packed in panels of `cols` columns, [K/4][cols/16][16][4].
void populatePanelKernelPatterns(RewritePatternSet &patterns, DotKind dot,
                                 int64_t rows, int64_t cols,
                                 int64_t threads = 1);

} // namespace dq
} // namespace mlir

#endif // DQMLIR_KERNELS_PANELKERNEL_H
