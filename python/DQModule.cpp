//===- DQModule.cpp - dqmlir._mlir_libs._dqmlir ---------------------------===//
//
// Registers the dq dialect into an upstream `mlir.ir.Context` and the dq
// passes into the process-wide pass registry, so that upstream
// `mlir.passmanager.PassManager.parse("builtin.module(dq-cpu-pipeline)")`
// runs them.
//
//===----------------------------------------------------------------------===//

#include "lib/CAPI/DQ.h"

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

  m.def("register_passes", &dqmlirRegisterPasses,
        "Registers dq-lower-to-linalg and dq-cpu-pipeline.");
}
