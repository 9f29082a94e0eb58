// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s

// The rows MKL computes with other kernels are recomputed in loops whose
// trip count is zero unless the sequence length selects them: a
// single-query last block (gemv), then L = 2 or 3.
// CHECK-LABEL: func.func @scores
// CHECK: arith.remui
// CHECK: scf.for
// CHECK: scf.for
// CHECK: math.fma {{.*}} : vector<16xf32>
// CHECK: vector.shuffle
// CHECK: math.fma {{.*}} : vector<16xf32>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: arith.select {{.*}} : vector<16xf32>
// CHECK-NOT: dq.flash_scores_fixup
func.func @scores(%s: tensor<?x12x?x?xf32>, %q: tensor<?x12x?x32xf32>, %k: tensor<?x12x?x32xf32>) -> tensor<?x12x?x?xf32> {
  %r = dq.flash_scores_fixup %s, %q, %k : tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>, tensor<?x12x?x32xf32>
  return %r : tensor<?x12x?x?xf32>
}

// CHECK-LABEL: func.func @output
// CHECK: scf.for
// CHECK: math.fma {{.*}} : vector<32xf32>
// CHECK: scf.for
// CHECK: vector.transfer_write
// CHECK-NOT: dq.flash_output_fixup
func.func @output(%o: tensor<?x12x?x32xf32>, %e: tensor<?x12x?x?xf32>, %v: tensor<?x12x?x32xf32>) -> tensor<?x12x?x32xf32> {
  %r = dq.flash_output_fixup %o, %e, %v : tensor<?x12x?x32xf32>, tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>
  return %r : tensor<?x12x?x32xf32>
}

// Other head dims: unchanged.
// CHECK-LABEL: func.func @other_head_dim
// CHECK-NEXT: return %arg0
func.func @other_head_dim(%s: tensor<2x4x4xf32>, %q: tensor<2x4x64xf32>, %k: tensor<2x4x64xf32>) -> tensor<2x4x4xf32> {
  %r = dq.flash_scores_fixup %s, %q, %k : tensor<2x4x4xf32>, tensor<2x4x64xf32>, tensor<2x4x64xf32>
  return %r : tensor<2x4x4xf32>
}
