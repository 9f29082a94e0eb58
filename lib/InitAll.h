//===- InitAll.h - register dqmlir's dialects and passes --------*- C++ -*-===//
//
// The one list of what dqmlir adds to MLIR, for dq-opt and the C API.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_INITALL_H
#define DQMLIR_INITALL_H

namespace mlir {
class DialectRegistry;
namespace dq {

/// Adds the dq and dqx86 dialects to `registry`.
void registerAllDialects(DialectRegistry &registry);

/// Registers every dq pass and pipeline with the global pass registry.
void registerAllPasses();

} // namespace dq
} // namespace mlir

#endif // DQMLIR_INITALL_H
