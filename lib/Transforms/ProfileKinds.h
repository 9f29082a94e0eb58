//===- ProfileKinds.h - the op kinds dq-profile-ops times -------*- C++ -*-===//
//
// One table, index = the kind number the instrumented code passes to
// dqmlir_profile_tick; dq-compile writes the names into the manifest, from
// which dqmlir.profile labels the runtime's counters.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_TRANSFORMS_PROFILEKINDS_H
#define DQMLIR_TRANSFORMS_PROFILEKINDS_H

#include "llvm/ADT/ArrayRef.h"

namespace mlir::dq {

inline llvm::ArrayRef<const char *> profileKindNames() {
  static const char *const names[] = {
      "int8 linears (range, quantize, kernel, epilogue + fused GELU or add)",
      "f32 matmuls (attention, fp32 linears, convolutions)",
      "softmax (attention's included)",
      "layer norm",
      "GELU",
      "tanh, sigmoid",
      "copies (transposes, reshapes, slices, concatenations)",
      "elementwise (residual adds, masks, scaling)",
      "reductions",
      "loops (embedding lookups, recurrences)",
      "attention by blocks of queries (q @ k^T, softmax, e @ v)",
      "other",
  };
  return names;
}

} // namespace mlir::dq

#endif // DQMLIR_TRANSFORMS_PROFILEKINDS_H
