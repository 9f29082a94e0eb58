//===- DQModule.cpp - dqmlir._mlir_libs._dqmlir ---------------------------===//
//
// Registers the dq dialect into an upstream `mlir.ir.Context` and the dq
// passes into the process-wide pass registry, so that upstream
// `mlir.passmanager.PassManager.parse("builtin.module(dq-cpu-pipeline)")`
// runs them.
//
//===----------------------------------------------------------------------===//

#include "lib/CAPI/DQ.h"
#include "lib/Runtime/AsyncRuntime.h"
#include "lib/Runtime/BufferCache.h"
#include "python/Invoke.h"

#include "mlir/Bindings/Python/Nanobind.h"
#include "mlir/Bindings/Python/NanobindAdaptors.h"

namespace nb = nanobind;

NB_MODULE(_dqmlir, m) {
  m.doc() = "dq dialect and passes for the upstream MLIR Python bindings";

  m.def(
      "register_dialect",
      [](MlirContext context, bool load) {
        MlirDialectHandle handle = mlirGetDialectHandle__dq__();
        mlirDialectHandleRegisterDialect(handle, context);
        if (load)
          mlirDialectHandleLoadDialect(handle, context);
      },
      nb::arg("context").none() = nb::none(), nb::arg("load") = true,
      "Registers (and loads) the dq dialect in the context.");

  m.def(
      "detach_large_globals",
      [](MlirModule module, size_t minBytes) {
        nb::list out;
        dqmlirDetachLargeGlobals(
            module, minBytes,
            [](MlirStringRef name, const void *data, size_t size, void *user) {
              static_cast<nb::list *>(user)->append(nb::make_tuple(
                  nb::str(name.data, name.length),
                  nb::bytes(static_cast<const char *>(data), size)));
            },
            &out);
        return out;
      },
      nb::arg("module"), nb::arg("min_bytes") = 4096,
      "Makes large constant llvm.mlir.globals external; returns their "
      "[(name, bytes)] to bind at JIT load time.");

  m.def(
      "buffer_cache_symbols",
      [] {
        nb::dict d;
        d["_mlir_memref_to_llvm_alloc"] =
            reinterpret_cast<uintptr_t>(&dqmlirBufferAlloc);
        d["_mlir_memref_to_llvm_aligned_alloc"] =
            reinterpret_cast<uintptr_t>(&dqmlirBufferAlignedAlloc);
        d["_mlir_memref_to_llvm_free"] =
            reinterpret_cast<uintptr_t>(&dqmlirBufferFree);
        return d;
      },
      "Addresses of the buffer cache's functions under the names "
      "finalize-memref-to-llvm{use-generic-functions} calls.");
  m.def(
      "async_runtime_symbols",
      [] {
        nb::dict d;
        for (auto [name, address] : mlir::dq::asyncRuntimeSymbols())
          d[name] = reinterpret_cast<uintptr_t>(address);
        return d;
      },
      "Addresses of dq's async runtime functions under the "
      "mlirAsyncRuntime* names convert-async-to-llvm calls.");
  m.def(
      "buffer_cache_stats",
      [] {
        mlir::dq::BufferCacheStats s = mlir::dq::bufferCacheStats();
        nb::dict d;
        d["hits"] = s.hits;
        d["misses"] = s.misses;
        d["cached_bytes"] = s.cachedBytes;
        d["limit_bytes"] = s.limitBytes;
        d["live_bytes"] = s.liveBytes;
        d["peak_live_bytes"] = s.peakLiveBytes;
        return d;
      },
      "Hits, misses and bytes held by the buffer cache of compiled code.");
  m.def("buffer_cache_trim", &mlir::dq::bufferCacheTrim,
        "Frees every buffer the cache holds.");
  m.def("set_buffer_cache_limit", &mlir::dq::setBufferCacheLimit,
        nb::arg("bytes"), "The most bytes the buffer cache keeps.");

  dqmlir::python::populateInvoke(m);

  m.def("register_passes", &dqmlirRegisterPasses,
        "Registers convert-dq-to-linalg and dq-cpu-pipeline.");
}
