//===- X86ToLLVM.h - dqx86 and amx ops to LLVM ------------------*- C++ -*-===//
#ifndef DQMLIR_CONVERSION_X86TOLLVM_X86TOLLVM_H
#define DQMLIR_CONVERSION_X86TOLLVM_X86TOLLVM_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace dq {

#define GEN_PASS_DECL
#include "lib/Conversion/X86ToLLVM/X86ToLLVM.h.inc"

/// dqx86 ops -> llvm.call_intrinsic of their instruction.
void populateDQX86ToLLVMPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "lib/Conversion/X86ToLLVM/X86ToLLVM.h.inc"

} // namespace dq
} // namespace mlir

#endif // DQMLIR_CONVERSION_X86TOLLVM_X86TOLLVM_H
