// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s

// dq.softmax over the last dim is a loop over rows; per row: the maximum
// (vec::maximum: ogt select, NaN propagated), as lanes folded in turn for a
// row shorter than 16, else lane-wise over vectors of 16 and the lanes
// combined l^8, l^4, l^2, l^1; SLEEF's exp of x - max on every vector (the
// tail masked), stored and summed the same way; then e * (1 / sum).
// CHECK-LABEL: func.func @softmax_last
// CHECK: scf.for
// CHECK: vector.create_mask
// CHECK: scf.if
// CHECK: scf.for {{.*}} -> (f32)
// CHECK: vector.extract {{.*}}[%{{.*}}] : f32 from vector<16xf32>
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpf uno
// CHECK: } else {
// CHECK: scf.for {{.*}} -> (vector<16xf32>)
// CHECK: vector.shuffle {{.*}} [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]
// CHECK: vector.shuffle {{.*}} [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]
// CHECK: vector.shuffle {{.*}} [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13]
// CHECK: vector.shuffle {{.*}} [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14]
// CHECK: scf.for {{.*}} -> (vector<16xf32>, tensor<?x12x?xf32>)
// CHECK: math.roundeven {{.*}} : vector<16xf32>
// CHECK: vector.transfer_write {{.*}} {in_bounds = [true]}
// CHECK: math.roundeven {{.*}} : vector<16xf32>
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : vector<16xi1>, vector<16xf32>
// CHECK: arith.addf {{.*}} : vector<16xf32>
// CHECK: vector.transfer_write
// CHECK: scf.if
// CHECK: arith.divf {{.*}} : f32
// CHECK: scf.for
// CHECK: arith.mulf {{.*}} : vector<16xf32>
// CHECK-NOT: dq.softmax
func.func @softmax_last(%x: tensor<?x12x?xf32>) -> tensor<?x12x?xf32> {
  %y = dq.softmax %x dim 2 : tensor<?x12x?xf32>
  return %y : tensor<?x12x?xf32>
}

// log_softmax stores nothing but its result: (x - max) - log(sum), with
// SLEEF's log (getexp/getmant from the bits, double-float division).
// CHECK-LABEL: func.func @log_softmax_last
// CHECK: math.roundeven {{.*}} : vector<16xf32>
// CHECK-NOT: vector.transfer_write
// CHECK: math.ctlz {{.*}} : vector<16xi32>
// CHECK: arith.divf {{.*}} : vector<16xf32>
// CHECK: vector.extract {{.*}}[0] : f32 from vector<16xf32>
// CHECK: scf.for
// CHECK: arith.subf
// CHECK: arith.subf
// CHECK: vector.transfer_write
func.func @log_softmax_last(%x: tensor<4x30xf32>) -> tensor<4x30xf32> {
  %y = dq.softmax %x dim 1 log : tensor<4x30xf32>
  return %y : tensor<4x30xf32>
}

// Over another dim: vectors along the last dim reduce over the softmax dim
// one element at a time (e / sum by division), then the inner % 16 last
// positions again as scalars with libm's expf (math.exp on f32).
// CHECK-LABEL: func.func @softmax_dim1
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for {{.*}} step %c16
// CHECK: scf.for {{.*}} -> (vector<16xf32>)
// CHECK: arith.cmpf ogt
// CHECK: math.roundeven {{.*}} : vector<16xf32>
// CHECK: arith.divf {{.*}} : vector<16xf32>
// CHECK: scf.for
// CHECK: tensor.extract
// CHECK: arith.cmpf olt
// CHECK: math.exp {{.*}} : f32
// CHECK: tensor.insert
// CHECK: arith.divf {{.*}} : f32
func.func @softmax_dim1(%x: tensor<?x?x5x7xf32>) -> tensor<?x?x5x7xf32> {
  %y = dq.softmax %x dim 1 : tensor<?x?x5x7xf32>
  return %y : tensor<?x?x5x7xf32>
}

// log_softmax over another dim: the running max ignores NaN (x > m ? x : m)
// from -inf; the scalar tail takes libm's expf but SLEEF's log.
// CHECK-LABEL: func.func @log_softmax_dim0
// CHECK: scf.for {{.*}} -> (vector<16xf32>)
// CHECK: arith.cmpf ogt
// CHECK-NEXT: arith.select
// CHECK-NEXT: scf.yield
// CHECK: math.ctlz {{.*}} : vector<16xi32>
// CHECK: math.exp {{.*}} : f32
// CHECK: math.ctlz {{.*}} : vector<16xi32>
func.func @log_softmax_dim0(%x: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %y = dq.softmax %x dim 0 log : tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}
