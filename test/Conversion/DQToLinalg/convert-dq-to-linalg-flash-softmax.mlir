// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s

// dq.flash_softmax is a loop over rows; per row: t = fma(s, scale, mask)
// with its maximum on vectors of 16, exp_u20 of t - max on the whole
// vectors summed lane by lane, the lanes added as vec_reduce_all does
// (l^8, l^4, l^2, l^1), then the N % 16 last columns one by one with exp in
// f64, and 1 / sum.
// CHECK-LABEL: func.func @flash_softmax
// CHECK: scf.for
// CHECK: scf.for
// CHECK: vector.transfer_read
// CHECK: vector.transfer_read
// CHECK: math.fma {{.*}} : vector<16xf32>
// CHECK: arith.maximumf
// CHECK: vector.reduction <maximumf>
// CHECK: scf.for
// CHECK: math.floor {{.*}} : vector<16xf32>
// CHECK: arith.fptosi
// CHECK: arith.shli
// CHECK: arith.bitcast
// CHECK: arith.addf {{.*}} : vector<16xf32>
// CHECK: vector.shuffle {{.*}} [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]
// CHECK: vector.shuffle {{.*}} [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]
// CHECK: vector.shuffle {{.*}} [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13]
// CHECK: vector.shuffle {{.*}} [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14]
// CHECK: scf.for
// CHECK: arith.extf {{.*}} : f32 to f64
// CHECK: math.exp {{.*}} : f64
// CHECK: arith.truncf
// CHECK: arith.divf
// CHECK-NOT: dq.flash_softmax
func.func @flash_softmax(%s: tensor<?x12x?x?xf32>, %m: tensor<?x1x?x?xf32>)
    -> (tensor<?x12x?x?xf32>, tensor<?x12x?x1xf32>) {
  %e, %inv = dq.flash_softmax %s, %m scale 0.176776692 : tensor<?x12x?x?xf32>, tensor<?x1x?x?xf32> -> tensor<?x12x?x?xf32>, tensor<?x12x?x1xf32>
  return %e, %inv : tensor<?x12x?x?xf32>, tensor<?x12x?x1xf32>
}

// Without a mask (rank 0) the scores are only scaled.
// CHECK-LABEL: func.func @flash_softmax_no_mask
// CHECK: vector.transfer_read
// CHECK-NOT: math.fma
// CHECK: arith.mulf {{.*}} : vector<16xf32>
// CHECK: arith.maximumf
func.func @flash_softmax_no_mask(%s: tensor<2x3x5x7xf32>, %m: tensor<f32>)
    -> (tensor<2x3x5x7xf32>, tensor<2x3x5x1xf32>) {
  %e, %inv = dq.flash_softmax %s, %m scale 0.5 : tensor<2x3x5x7xf32>, tensor<f32> -> tensor<2x3x5x7xf32>, tensor<2x3x5x1xf32>
  return %e, %inv : tensor<2x3x5x7xf32>, tensor<2x3x5x1xf32>
}
