//===- ParallelPanels.h - weight panels split over threads ------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOVNNI_PARALLELPANELS_H
#define DQMLIR_CONVERSION_DQTOVNNI_PARALLELPANELS_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::dq {

/// Builds the loop over a range of panels: columns [lb, ub) of the result
/// in steps of a panel. `out` holds the result's columns from `outN0` on
/// (null: all of it, from column 0). Returns the new `out`.
using PanelRangeBuilder = function_ref<Value(
    ImplicitLocOpBuilder &b, Value lb, Value ub, Value outN0, Value out)>;

/// Emits the `numPanels` panels of `cols` columns at the start of `out`.
///
/// threads <= 1: one range, [0, numPanels * cols), as a sequential loop.
/// threads > 1: an `scf.forall` over chunks of consecutive panels, each
/// writing its own column slice of `out` (tensor.parallel_insert_slice, in
/// place after bufferization); dq-cpu-pipeline turns it into async tasks
/// (async-parallel-for). There are min(threads, numPanels) chunks when
/// `parallel` is true at run time, else one, which async-parallel-for runs
/// inline in the caller: small inputs pay no thread hand-off.
Value emitPanels(ImplicitLocOpBuilder &b, Value out, int64_t numPanels,
                 int64_t cols, int64_t threads, Value parallel,
                 PanelRangeBuilder body);

/// Whether a kernel of `numRows` x K x N multiply-adds is worth `threads`
/// threads: each gets at least `minMacsPerThread` of them. A parallel region
/// on the MLIR async runtime costs 50-100 us on the 2-vCPU machine measured
/// (futex wake-ups of its pool threads: 15% of the samples of a 2-thread
/// call), so the bar is the break-even measured there: ~300M multiply-adds
/// for the AMX kernel (128 x 768 x 3072: 2 threads 1.09x, 512 x 768 x 768:
/// 1.00x, 128 x 768 x 768: 0.5x), ~100M for the 4x slower VNNI kernel.
Value worthThreads(ImplicitLocOpBuilder &b, Value numRows, int64_t k,
                   int64_t n, int64_t threads, int64_t minMacsPerThread);

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOVNNI_PARALLELPANELS_H
