// Register blocking: a block of row-tiles x col-tiles accumulator tiles.
// RUN: dq-opt %s --convert-dq-to-amx --mlir-elide-elementsattrs-if-larger=16 | FileCheck %s --check-prefix=RULE
// RUN: dq-opt %s --convert-dq-to-amx=row-tiles=2 --mlir-elide-elementsattrs-if-larger=16 | FileCheck %s --check-prefix=RULE2

// row-tiles=0 (the default) picks one row tile for K <= 768 and N >= 3072
// (its epilogue writes 16 rows per block), two otherwise; an explicit
// row-tiles is kept.
// RULE-LABEL: func @linear_wide
// RULE: memref.alloca() {alignment = 64 : i64} : memref<16x32xi32>
// RULE-NOT: memref<32x32xi32>
// RULE-LABEL: func @linear_deep
// RULE: memref.alloca() {alignment = 64 : i64} : memref<32x32xi32>
// RULE2-LABEL: func @linear_wide
// RULE2: memref.alloca() {alignment = 64 : i64} : memref<32x32xi32>
func.func @linear_wide(%x: tensor<?x64xf32>) -> tensor<?x3072xf32> {
  %w = arith.constant dense<1> : tensor<3072x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x64xf32>, tensor<3072x64xi8>, tensor<f32> -> tensor<?x3072xf32>
  return %y : tensor<?x3072xf32>
}

func.func @linear_deep(%x: tensor<?x1536xf32>) -> tensor<?x3072xf32> {
  %w = arith.constant dense<1> : tensor<3072x1536xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x1536xf32>, tensor<3072x1536xi8>, tensor<f32> -> tensor<?x3072xf32>
  return %y : tensor<?x3072xf32>
}
