//===- DQ.cpp - C API of dqmlir -------------------------------------------===//

#include "lib/CAPI/DQ.h"
#include "lib/Dialect/DQ/IR/DQDialect.h"
#include "lib/Dialect/X86/IR/X86Dialect.h"
#include "lib/InitAll.h"

#include "mlir/CAPI/Registration.h"

#include <mutex>

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(DQ, dq, mlir::dq::DQDialect)
MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(DQX86, dqx86, mlir::dq::x86::X86Dialect)

void dqmlirRegisterPasses(void) {
  static std::once_flag once;
  std::call_once(once, [] { mlir::dq::registerAllPasses(); });
}
