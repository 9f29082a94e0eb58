//===- AsyncRuntime.h - the async runtime API with spinning threads -*- C++ -*-===//
//
// dq's implementation of the C API in mlir/ExecutionEngine/AsyncRuntime.h,
// bound by python/dqmlir/runtime.py to engines of threads > 1 code in place
// of libmlir_async_runtime.so (see AsyncRuntime.cpp for why).
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_RUNTIME_ASYNCRUNTIME_H
#define DQMLIR_RUNTIME_ASYNCRUNTIME_H

#include <cstdint>
#include <utility>
#include <vector>

namespace mlir::dq {
/// (mlirAsyncRuntime* name, address of dq's implementation) for every
/// function convert-async-to-llvm may call.
std::vector<std::pair<const char *, void *>> asyncRuntimeSymbols();
/// Gets the pool's sleeping threads spinning (for the spin time) ahead of a
/// call's first parallel region: waking one costs tens of microseconds.
void wakeAsyncWorkers();
/// Makes the pool at least `workers` threads strong (besides callers).
void setAsyncWorkers(int workers);
/// How many tasks the pool has queued so far (all callers).
uint64_t asyncTasksQueued();
} // namespace mlir::dq

#endif // DQMLIR_RUNTIME_ASYNCRUNTIME_H
