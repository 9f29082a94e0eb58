//===- Epilogue.h - the dequantize epilogue of a VNNI tile ------*- C++ -*-===//
#ifndef DQMLIR_KERNELS_EPILOGUE_H
#define DQMLIR_KERNELS_EPILOGUE_H

#include "lib/Kernels/Kernel.h"

namespace mlir::dq {

/// The per-column operands of the epilogue of one weight panel (nv vectors
/// of 16 columns from n0), loaded once for all its rows. weightScale holds
/// one splat for a per-tensor scale; bias is empty without a bias. With
/// per-tensor activation qparams the row-invariant terms are formed here,
/// once per panel: the splat scale s, shiftedSums = shift * colsum (shift:
/// the zero point, or 128 when symmetric) and, asymmetric only, mult = s * ws
/// (the same operations, so the same bits, as per row).
struct ColumnOperands {
  SmallVector<Value> colsums, weightScale, bias;
  Value scale;
  SmallVector<Value> shiftedSums, mult;
};

/// Loads them; `masked` panels reach past N (reads padded with 0).
ColumnOperands loadColumnOperands(ImplicitLocOpBuilder &b,
                                  const KernelContext &kc, Value n0,
                                  int64_t nv, bool masked);

/// Dequantizes a tile's accumulators (see emitDotTile) and writes row i,
/// columns n0 + 16 v .. of the result (masked past N); returns the new
/// `out`. `out` holds the result's columns from `outN0` on (null: from 0),
/// e.g. one thread's slice (see ParallelPanels.h). `outRows`, if given, are
/// the rows' indices in `out` (a box of rows, see lib/Utils/RowChunks.h);
/// `rows` index the input's other operands.
Value emitEpilogue(ImplicitLocOpBuilder &b, const KernelContext &kc,
                   const ColumnOperands &cols, ArrayRef<RowIndex> rows,
                   ArrayRef<Value> accs, Value n0, int64_t nv, bool masked,
                   Value out, Value outN0 = nullptr,
                   ArrayRef<RowIndex> outRows = {});

} // namespace mlir::dq

#endif // DQMLIR_KERNELS_EPILOGUE_H
