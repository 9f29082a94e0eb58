//===- DQModule.cpp - dqmlir._mlir_libs._dqmlir ---------------------------===//
//
// Registers the dq dialects into an upstream `mlir.ir.Context` and the dq
// passes into the process-wide pass registry, so that upstream
// `mlir.passmanager.PassManager.parse("builtin.module(dq-cpu-pipeline)")`
// runs them. The compiler's Python side only builds and prints dq modules
// with it; running compiled models is python/RuntimeModule.cpp's.
//
//===----------------------------------------------------------------------===//

#include "lib/CAPI/DQ.h"

#include "mlir/Bindings/Python/Nanobind.h"
#include "mlir/Bindings/Python/NanobindAdaptors.h"

namespace nb = nanobind;

NB_MODULE(_dqmlir, m) {
  m.doc() = "dq dialects and passes for the upstream MLIR Python bindings";

  m.def(
      "register_dialect",
      [](MlirContext context, bool load) {
        for (MlirDialectHandle handle :
             {mlirGetDialectHandle__dq__(), mlirGetDialectHandle__dqx86__()}) {
          mlirDialectHandleRegisterDialect(handle, context);
          if (load)
            mlirDialectHandleLoadDialect(handle, context);
        }
      },
      nb::arg("context").none() = nb::none(), nb::arg("load") = true,
      "Registers (and loads) the dq and dqx86 dialects in the context.");

  m.def("register_passes", &dqmlirRegisterPasses,
        "Registers the dq passes and pipelines.");
}
