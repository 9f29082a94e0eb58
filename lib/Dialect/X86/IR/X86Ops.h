//===- X86Ops.h - dqx86 dialect operations ----------------------*- C++ -*-===//
#ifndef DQMLIR_DIALECT_X86_IR_X86OPS_H
#define DQMLIR_DIALECT_X86_IR_X86OPS_H

#include "lib/Dialect/X86/IR/X86Dialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "lib/Dialect/X86/IR/X86Ops.h.inc"

#endif // DQMLIR_DIALECT_X86_IR_X86OPS_H
