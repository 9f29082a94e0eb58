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
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(DQX86, dqx86);

/// Registers the dq passes and pipelines (convert-dq-to-linalg,
/// dq-cpu-pipeline) with the global pass registry. Idempotent.
MLIR_CAPI_EXPORTED void dqmlirRegisterPasses(void);

#ifdef __cplusplus
}
#endif

#endif // DQMLIR_CAPI_DQ_H
