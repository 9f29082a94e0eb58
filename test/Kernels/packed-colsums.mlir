// The weight column sums (the epilogue's zero-point correction) come from
// one function (columnSums, lib/Utils/Weights.h) for both packed layouts
// and for convert-dq-to-linalg's folded constant: the three runs must give
// the same sums, wrapping in 32 bits.
// RUN: dq-opt %s --convert-dq-to-vnni | FileCheck %s --check-prefix=PACKED
// RUN: dq-opt %s --convert-dq-to-amx | FileCheck %s --check-prefix=PACKED
// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s --check-prefix=LINALG

// Column 0: 1 - 2 + 3 - 4 + 5 + 6 = 9; column 1: 127 - 128 + 0 + 5 = 4;
// column 2: -128 * 6 = -768 (0xFFFFFD00); the padding to 16 columns is 0.
// LINALG-LABEL: func @colsums
// LINALG: arith.constant dense<[9, 4, -768]> : tensor<3xi32>
// PACKED: dq_{{vnni|amx}}_colsums: "0x04000000090000000400000000FDFFFF00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
func.func @colsums(%x: tensor<?x6xf32>) -> tensor<?x3xf32> {
  %w = arith.constant dense<[[1, -2, 3, -4, 5, 6], [127, -128, 0, 5, 0, 0], [-128, -128, -128, -128, -128, -128]]> : tensor<3x6xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor reduce_range
      : tensor<?x6xf32>, tensor<3x6xi8>, tensor<f32> -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}
