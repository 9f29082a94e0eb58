//===- AtenLoop.h - elementwise ops as ATen's CPU loops round them -*- C++ -*-===//
//
// ATen's unary float kernels (cpu_kernel_vec) run each inner loop of
// TensorIterator in pairs of AVX-512 vectors and its last n % 32 elements
// through a scalar lambda, which may round differently (SLEEF's expf in the
// vector form, glibc's in the scalar one). dq.gelu and dq.sigmoid repeat
// that split along their last dim.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_CONVERSION_DQTOLINALG_ATENLOOP_H
#define DQMLIR_CONVERSION_DQTOLINALG_ATENLOOP_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::dq {

using ElementBody = llvm::function_ref<Value(ImplicitLocOpBuilder &, Value)>;

/// One elementwise linalg.generic of `input` (f32) into a new tensor.
Value elementwise(ImplicitLocOpBuilder &b, Value input, ElementBody body);

/// ATen's loop along the last dim: per row of n elements, the first
/// n - n % 32 in `vectorForm`, the rest in `scalarForm` (two generics on
/// slices, so that the scalar one can hold library calls).
Value lowerAtenRows(ImplicitLocOpBuilder &b, Value input, ElementBody vectorForm,
                    ElementBody scalarForm);

/// Declares the external f32 -> f32 function `name` in `module` (libm's
/// expf, the runtime's tanh) unless it is there; callF32 calls it.
void declareF32Function(OpBuilder &b, ModuleOp module, StringRef name);
Value callF32(ImplicitLocOpBuilder &b, StringRef name, Value x);

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOLINALG_ATENLOOP_H
