//===- MicroKernel.h - the register tile of the int8 kernels ----*- C++ -*-===//
#ifndef DQMLIR_KERNELS_MICROKERNEL_H
#define DQMLIR_KERNELS_MICROKERNEL_H

#include "lib/Kernels/Epilogue.h"
#include "lib/Kernels/Kernel.h"

namespace mlir::dq {

/// Emits the reduction over K of a register tile: `rows.size()` rows times
/// `nv` vectors of 16 columns of the weight panel starting at byte
/// `panelBase` of the packed weights. Returns the accumulators, row-major
/// (acc[i * nv + v]): i32 sums of u8 activations x s8 weights (for
/// symmetric activations, of the activations + 128), made with kc.dot:
/// exact, except that DotKind::AVX2 saturates pairs in i16 as fbgemm does
/// for per-tensor asymmetric activations (MicroKernel.cpp).
///
/// `kGroup` > 1 reads a panel whose K/4 steps come in groups of kGroup:
/// step k4, vector v at byte ((k4 / g) * nv + v) * 64 g + (k4 % g) * 64 --
/// the AMX B-tile layout with g = 16 (PackedAMXWeights in PackWeights.h),
/// so convert-dq-to-amx can run this kernel on its own packed weights.
SmallVector<Value> emitDotTile(ImplicitLocOpBuilder &b, const KernelContext &kc,
                               ArrayRef<RowIndex> rows, Value panelBase,
                               int64_t nv, int64_t kGroup = 1);

/// A loop over linear rows [lb, ub) by `step`, threading `out`: each
/// iteration is one register tile of `step` rows (their indices over
/// `leadDims`, see delinearizeRow) times the `nv` column vectors of the
/// panel at column n0 (packed from byte `panelBase`, read with `kGroup` as
/// in emitDotTile), dequantized and stored by emitEpilogue (`out` holds the
/// result's columns from `outN0` on, null: 0). Returns the new `out`.
Value emitRowTiles(ImplicitLocOpBuilder &b, const KernelContext &kc,
                   ArrayRef<Value> leadDims, Value lb, Value ub, int64_t step,
                   Value panelBase, int64_t kGroup, Value n0, int64_t nv,
                   bool masked, const ColumnOperands &cols, Value out,
                   Value outN0);

} // namespace mlir::dq

#endif // DQMLIR_KERNELS_MICROKERNEL_H
