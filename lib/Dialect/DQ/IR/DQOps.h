//===- DQOps.h - dq dialect operations --------------------------*- C++ -*-===//
#ifndef DQMLIR_DIALECT_DQ_IR_DQOPS_H
#define DQMLIR_DIALECT_DQ_IR_DQOPS_H

#include "lib/Dialect/DQ/IR/DQDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "lib/Dialect/DQ/IR/DQOps.h.inc"

#endif // DQMLIR_DIALECT_DQ_IR_DQOPS_H
