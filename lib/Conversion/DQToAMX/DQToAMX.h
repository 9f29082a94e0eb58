//===- DQToAMX.h - dq.linear_dynamic to an AMX kernel -----------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOAMX_DQTOAMX_H
#define DQMLIR_CONVERSION_DQTOAMX_DQTOAMX_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace dq {

#define GEN_PASS_DECL
#include "lib/Conversion/DQToAMX/DQToAMX.h.inc"

/// dq.linear_dynamic with a constant weight -> choose_qparams + quantize + an
/// AMX tile kernel of `rowTiles` x `colTiles` 16x16 accumulator tiles with
/// the VNNI path's epilogue; inputs of fewer than `vnniBelow` rows take the
/// VNNI micro-kernel on the same packed weights instead (0: never). With
/// `threads` > 1 the work is split over them (scf.forall): by rows from
/// `rowsPerThread` rows per thread, or at any row count for weights of at
/// most `rowsBelowBytes`, else by panels (LinearToAMX.cpp).
void populateLinearToAMXPatterns(RewritePatternSet &patterns,
                                 const ConvertDQToAMXOptions &options);

/// Row tiles of a register block that row-tiles=0 may pick.
inline constexpr int64_t kMaxAutoRowTiles = 2;

/// Whether a register block of `rowTiles` x `colTiles` accumulator tiles,
/// with the A and B tiles it loads, fits the 8 tile registers.
bool amxBlockFits(int64_t rowTiles, int64_t colTiles);

#define GEN_PASS_REGISTRATION
#include "lib/Conversion/DQToAMX/DQToAMX.h.inc"

} // namespace dq
} // namespace mlir

#endif // DQMLIR_CONVERSION_DQTOAMX_DQTOAMX_H
