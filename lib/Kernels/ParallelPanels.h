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
/// threads: each gets at least 2^minMacsLog2 of them. With dq's async
/// runtime (lib/Runtime/AsyncRuntime.h) a hand-off costs microseconds, so
/// the bar is a time: tens of microseconds of the kernel's work. The AMX
/// kernel's measured break-even on 2 threads is near 2^24 (32 x 768 x 768:
/// 0.95x, 64 x 768 x 768: 1.23x); the VNNI and AVX2 kernels do a quarter
/// of its work in the same time or less (kMinMacsLog2Vector).
Value worthThreads(ImplicitLocOpBuilder &b, Value numRows, int64_t k,
                   int64_t n, int64_t threads, int64_t minMacsLog2);

/// The bars of the AMX kernel and of the vector (VNNI, AVX2) kernels.
constexpr int64_t kMinMacsLog2AMX = 24;
constexpr int64_t kMinMacsLog2Vector = 22;

} // namespace mlir::dq

#endif // DQMLIR_KERNELS_PARALLELPANELS_H
