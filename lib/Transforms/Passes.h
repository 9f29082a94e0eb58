//===- Passes.h - dqmlir's target-independent transforms --------*- C++ -*-===//
#ifndef DQMLIR_TRANSFORMS_PASSES_H
#define DQMLIR_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::dq {
#define GEN_PASS_DECL
#include "lib/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lib/Transforms/Passes.h.inc"
} // namespace mlir::dq

#endif // DQMLIR_TRANSFORMS_PASSES_H
