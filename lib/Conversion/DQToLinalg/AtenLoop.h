//===- AtenLoop.h - elementwise ops as ATen's CPU loops round them -*- C++ -*-===//
//
// ATen's unary float kernels (cpu_kernel_vec) run each inner loop of
// TensorIterator in pairs of Vectorized<float> (2 x 16 lanes in the AVX-512
// build, 2 x 8 in the AVX2 one) and its last n % 32 (n % 16) elements
// through a scalar lambda, which may round differently (SLEEF's expf in the
// vector form, glibc's in the scalar one). dq.gelu and dq.sigmoid repeat
// that split along their last dim.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_CONVERSION_DQTOLINALG_ATENLOOP_H
#define DQMLIR_CONVERSION_DQTOLINALG_ATENLOOP_H

#include "lib/Conversion/DQToLinalg/DQToLinalg.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::dq {

/// Lanes of ATen's Vectorized<float> (its Vec::size()) in the build of
/// PyTorch for `isa`'s CPUs: 16 (AVX-512) or 8 (AVX2). The lowerings of
/// ATen's kernels take it where ATen's helpers read Vec::size().
int64_t atenLanes(VendorISA isa);

using ElementBody = llvm::function_ref<Value(ImplicitLocOpBuilder &, Value)>;

/// One elementwise linalg.generic of `input` (f32) into a new tensor.
Value elementwise(ImplicitLocOpBuilder &b, Value input, ElementBody body);

/// ATen's loop along the last dim: per row of n elements, the first
/// n - n % (2 * lanes) in `vectorForm`, the rest in `scalarForm` (two generics on
/// slices, so that the scalar one can hold library calls).
Value lowerAtenRows(ImplicitLocOpBuilder &b, Value input, int64_t lanes,
                    ElementBody vectorForm, ElementBody scalarForm);

/// Declares the external f32 -> f32 function `name` in `module` (libm's
/// expf, the runtime's tanh) unless it is there; callF32 calls it.
void declareF32Function(OpBuilder &b, ModuleOp module, StringRef name);
Value callF32(ImplicitLocOpBuilder &b, StringRef name, Value x);

} // namespace mlir::dq

#endif // DQMLIR_CONVERSION_DQTOLINALG_ATENLOOP_H
