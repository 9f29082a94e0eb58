//===- Kernel.h - what the parts of the int8 kernels share ------*- C++ -*-===//
#ifndef DQMLIR_KERNELS_KERNEL_H
#define DQMLIR_KERNELS_KERNEL_H

#include "lib/Conversion/DQToLinalg/DQToLinalg.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::dq {

class LinearDynamicOp;

/// The user of a linear that its kernel's epilogue applies (FuseEpilogue.h;
/// none: null `op`).
struct FusedUser {
  /// The dq.gelu or the add (linalg.generic); the kernel replaces it.
  Operation *op = nullptr;
  bool gelu = false;
  /// The add's other operand, and whether it is the add's left one.
  Value residual;
  bool residualFirst = false;
  explicit operator bool() const { return op != nullptr; }
};

/// The instruction a kernel's K loop multiplies and adds bytes with.
enum class DotKind {
  /// vpdpbusd zmm (AVX-512 VNNI): exact u8 x s8 quadruple sums.
  VNNI,
  /// vpmaddubsw + vpmaddwd ymm (AVX2): u8 x s8 pair sums saturated to i16,
  /// then quadruple sums in i32 -- what fbgemm computes without VNNI.
  AVX2,
};

/// The CPUs a kernel's dot kind runs on, whose PyTorch build its fused
/// vendor kernels (oneDNN's GELU) reproduce.
inline VendorISA vendorISA(DotKind dot) {
  return dot == DotKind::AVX2 ? VendorISA::AVX2 : VendorISA::AVX512;
}

/// The operands and static facts one dq.linear_dynamic's kernel is built
/// from, as tensors (the kernel is emitted before bufferization).
struct KernelContext {
  int64_t n, k, k4;
  bool symmetric, perRow, perChannel;
  /// How the K loop multiplies (set by the kernel pattern).
  DotKind dot = DotKind::VNNI;
  /// The f32 input, and its quantized activations as signless i8 in the
  /// same shape (null if the kernel quantizes as it packs).
  Value input, q;
  /// Packed weights and their column sums (PackWeights.h).
  Value packed, colsums;
  /// Activation qparams: rank-0, or the input's leading dims (per row).
  Value scale, zeroPoint;
  /// Weight scale (rank-0 or [N]) and bias ([N], may be null).
  Value weightScale, bias;
  /// The linear's user that the epilogue applies (dq.gelu, or the add of
  /// `fused.residual`), if any.
  FusedUser fused;
};

/// Quantizes the activations of `op` (quantizeActivations; only their
/// qparams without `quantize`) and fills the context with them, the packed
/// weight constants and the op's operands.
KernelContext makeKernelContext(ImplicitLocOpBuilder &b, LinearDynamicOp op,
                                Attribute packedData, Attribute colsums,
                                int64_t k4, bool quantize = true);

/// Indices of one row: the input's leading dims.
using RowIndex = SmallVector<Value>;

} // namespace mlir::dq

#endif // DQMLIR_KERNELS_KERNEL_H
