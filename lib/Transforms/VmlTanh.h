//===- VmlTanh.h - dq.tanh's math.tanh as calls of MKL --------*- C++ -*-===//
#ifndef DQMLIR_TRANSFORMS_VMLTANH_H
#define DQMLIR_TRANSFORMS_VMLTANH_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::dq {
/// `math.tanh {dq.mkl_vml}` (from dq.tanh): on a vector of f32, one call of
/// the runtime's dqmlirTanhN over a stack copy; on an f32, dqmlirTanhf.
void populateVmlTanhPatterns(RewritePatternSet &patterns);
} // namespace mlir::dq

#endif // DQMLIR_TRANSFORMS_VMLTANH_H
