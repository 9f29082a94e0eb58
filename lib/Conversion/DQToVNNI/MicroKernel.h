//===- MicroKernel.h - the vpdpbusd register tile ---------------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOVNNI_MICROKERNEL_H
#define DQMLIR_CONVERSION_DQTOVNNI_MICROKERNEL_H

#include "lib/Conversion/DQToVNNI/Kernel.h"

namespace mlir::dq {

/// Emits the reduction over K of a register tile: `rows.size()` rows times
/// `nv` vectors of 16 columns of the weight panel starting at byte
/// `panelBase` of the packed weights. Returns the accumulators, row-major
/// (acc[i * nv + v]): exact i32 sums of u8 activations x s8 weights (for
/// symmetric activations, of the activations + 128).
///
/// `kGroup` > 1 reads a panel whose K/4 steps come in groups of kGroup:
/// step k4, vector v at byte ((k4 / g) * nv + v) * 64 g + (k4 % g) * 64 --
/// the AMX B-tile layout with g = 16 (lib/Conversion/DQToAMX/PackAMXWeights.h),
/// so convert-dq-to-amx can run this kernel on its own packed weights.
SmallVector<Value> emitDotTile(ImplicitLocOpBuilder &b, const KernelContext &kc,
                               ArrayRef<RowIndex> rows, Value panelBase,
                               int64_t nv, int64_t kGroup = 1);

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOVNNI_MICROKERNEL_H
