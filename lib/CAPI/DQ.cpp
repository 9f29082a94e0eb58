//===- DQ.cpp - C API of dqmlir -------------------------------------------===//

#include "lib/CAPI/DQ.h"
#include "lib/Conversion/DQToLinalg/DQToLinalg.h"
#include "lib/Dialect/DQ/IR/DQDialect.h"
#include "lib/Pipelines/CPUPipeline.h"

#include "mlir/CAPI/Registration.h"

#include <mutex>

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(DQ, dq, mlir::dq::DQDialect)

void dqmlirRegisterPasses(void) {
  static std::once_flag once;
  std::call_once(once, [] {
    mlir::dq::registerDQToLinalgPasses();
    mlir::dq::registerCPUPipeline();
  });
}
