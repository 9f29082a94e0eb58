//===- ParallelPanels.h - weight panels split over threads ------*- C++ -*-===//
#ifndef DQMLIR_KERNELS_PARALLELPANELS_H
#define DQMLIR_KERNELS_PARALLELPANELS_H

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
/// threads: each gets at least 2^24 of them (tens of microseconds). With
/// dq's async runtime (lib/Runtime/AsyncRuntime.h) a hand-off costs
/// microseconds; the measured break-even of the AMX kernel on 2 threads is
/// near this bar (32 x 768 x 768: 0.95x, 64 x 768 x 768: 1.23x). The bar
/// keeps M <= 8 sequential on 768-3072 sized layers.
Value worthThreads(ImplicitLocOpBuilder &b, Value numRows, int64_t k,
                   int64_t n, int64_t threads);

} // namespace mlir::dq

#endif // DQMLIR_KERNELS_PARALLELPANELS_H
