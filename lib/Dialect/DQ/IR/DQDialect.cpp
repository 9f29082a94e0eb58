//===- DQDialect.cpp - dq dialect -----------------------------------------===//

#include "lib/Dialect/DQ/IR/DQDialect.h"
#include "lib/Dialect/DQ/IR/DQOps.h"

using namespace mlir;
using namespace mlir::dq;

#include "lib/Dialect/DQ/IR/DQDialect.cpp.inc"
#include "lib/Dialect/DQ/IR/DQEnums.cpp.inc"

void DQDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "lib/Dialect/DQ/IR/DQOps.cpp.inc"
      >();
}

std::pair<int32_t, int32_t> mlir::dq::getQuantRange(QuantMode mode,
                                                    bool reduceRange) {
  // Symmetric is torchao 0.18's int8 range (Int8Tensor), [-128, 127].
  int32_t qmin = mode == QuantMode::Asymmetric ? 0 : -128;
  int32_t qmax = mode == QuantMode::Asymmetric ? 255 : 127;
  // ChooseQuantizationParams: `qmin = qmin / 2; qmax = qmax / 2;`.
  if (reduceRange)
    return {qmin / 2, qmax / 2};
  return {qmin, qmax};
}
