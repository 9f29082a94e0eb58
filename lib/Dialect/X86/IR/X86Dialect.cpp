//===- X86Dialect.cpp - the dqx86 dialect ---------------------------------===//

#include "lib/Dialect/X86/IR/X86Dialect.h"
#include "lib/Dialect/X86/IR/X86Ops.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::dq::x86;

#include "lib/Dialect/X86/IR/X86Dialect.cpp.inc"

void X86Dialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "lib/Dialect/X86/IR/X86Ops.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "lib/Dialect/X86/IR/X86Ops.cpp.inc"
