//===- DQ.h - C API of dqmlir -------------------------------------*- C -*-===//
//
// What the Python extension needs, in the MLIR C API style.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_CAPI_DQ_H
#define DQMLIR_CAPI_DQ_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(DQ, dq);

/// Registers the dq passes and pipelines (convert-dq-to-linalg,
/// dq-cpu-pipeline) with the global pass registry. Idempotent.
MLIR_CAPI_EXPORTED void dqmlirRegisterPasses(void);

/// Receives one detached global: its symbol name and initial bytes.
typedef void (*DQDetachedGlobalCallback)(MlirStringRef name, const void *data,
                                         size_t size, void *userData);

/// Moves the data of large constant `llvm.mlir.global`s (>= minBytes) out of
/// an LLVM-dialect module: each loses its initializer and becomes an external
/// declaration, and `callback` gets its bytes, for the runtime to bind at load
/// time. Keeps big weights out of LLVM IR, where they cost seconds of JIT
/// time and copies.
MLIR_CAPI_EXPORTED void dqmlirDetachLargeGlobals(MlirModule module,
                                                 size_t minBytes,
                                                 DQDetachedGlobalCallback callback,
                                                 void *userData);

#ifdef __cplusplus
}
#endif

#endif // DQMLIR_CAPI_DQ_H
