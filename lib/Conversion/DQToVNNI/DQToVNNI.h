//===- DQToVNNI.h - dq.linear_dynamic to a VNNI kernel ----------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOVNNI_DQTOVNNI_H
#define DQMLIR_CONVERSION_DQTOVNNI_DQTOVNNI_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace dq {

#define GEN_PASS_DECL
#include "lib/Conversion/DQToVNNI/DQToVNNI.h.inc"

#define GEN_PASS_REGISTRATION
#include "lib/Conversion/DQToVNNI/DQToVNNI.h.inc"

} // namespace dq
} // namespace mlir

#endif // DQMLIR_CONVERSION_DQTOVNNI_DQTOVNNI_H
