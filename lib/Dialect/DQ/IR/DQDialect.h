//===- DQDialect.h - dq dialect ---------------------------------*- C++ -*-===//
#ifndef DQMLIR_DIALECT_DQ_IR_DQDIALECT_H
#define DQMLIR_DIALECT_DQ_IR_DQDIALECT_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"

#include "lib/Dialect/DQ/IR/DQDialect.h.inc"
#include "lib/Dialect/DQ/IR/DQEnums.h.inc"

namespace mlir::dq {
/// The integer range [qmin, qmax] that `choose_qparams` maps the real range
/// onto, for a mode and reduce_range (PyTorch halves both ends).
std::pair<int32_t, int32_t> getQuantRange(QuantMode mode, bool reduceRange);
} // namespace mlir::dq

#endif // DQMLIR_DIALECT_DQ_IR_DQDIALECT_H
