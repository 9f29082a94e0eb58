//===- X86Dialect.h - the dqx86 dialect -------------------------*- C++ -*-===//
#ifndef DQMLIR_DIALECT_X86_IR_X86DIALECT_H
#define DQMLIR_DIALECT_X86_IR_X86DIALECT_H

#include "mlir/IR/Dialect.h"

#include "lib/Dialect/X86/IR/X86Dialect.h.inc"

#endif // DQMLIR_DIALECT_X86_IR_X86DIALECT_H
