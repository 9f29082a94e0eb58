//===- DQToAVX2.h - dq.linear_dynamic to an AVX2 kernel ---------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOAVX2_DQTOAVX2_H
#define DQMLIR_CONVERSION_DQTOAVX2_DQTOAVX2_H

#include "mlir/Pass/Pass.h"

namespace mlir::dq {

#define GEN_PASS_DECL
#include "lib/Conversion/DQToAVX2/DQToAVX2.h.inc"

#define GEN_PASS_REGISTRATION
#include "lib/Conversion/DQToAVX2/DQToAVX2.h.inc"

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOAVX2_DQTOAVX2_H
