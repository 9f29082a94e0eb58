//===- DQToX86.h - dq ops to single x86 instructions ------------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_DQTOX86_DQTOX86_H
#define DQMLIR_CONVERSION_DQTOX86_DQTOX86_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace dq {

#define GEN_PASS_DECL
#include "lib/Conversion/DQToX86/DQToX86.h.inc"

/// dq.lookup on vector<16xi32> -> dqx86.vpermi2ps.
void populateDQToDQX86Patterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "lib/Conversion/DQToX86/DQToX86.h.inc"

} // namespace dq
} // namespace mlir

#endif // DQMLIR_CONVERSION_DQTOX86_DQTOX86_H
