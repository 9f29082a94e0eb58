//===- Passes.h - transforms of the dq dialect ------------------*- C++ -*-===//
#ifndef DQMLIR_DIALECT_DQ_TRANSFORMS_PASSES_H
#define DQMLIR_DIALECT_DQ_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::dq {
#define GEN_PASS_DECL
#include "lib/Dialect/DQ/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lib/Dialect/DQ/Transforms/Passes.h.inc"
} // namespace mlir::dq

#endif // DQMLIR_DIALECT_DQ_TRANSFORMS_PASSES_H
