// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s

// N = 20: two vectors of 8 (one Welford chunk) and a scalar tail of 4. The
// Welford steps and the lane merges are math.fma, the tail is not; the
// output is fma((x - mean) * rstd, gamma, beta) on full vectors, then one
// masked vector.
// CHECK-LABEL: func @layer_norm
// CHECK-NOT: dq.layer_norm
// CHECK: scf.for {{.*}} -> (tensor<?x20xf32>)
// CHECK:   vector.transfer_read {{.*}} {in_bounds = [true]} : tensor<?x20xf32>, vector<8xf32>
// CHECK:   arith.subf {{.*}} : vector<8xf32>
// CHECK:   math.fma {{.*}} : vector<8xf32>
// CHECK:   math.fma {{.*}} : vector<8xf32>
// CHECK:   vector.transfer_read {{.*}} : tensor<?x20xf32>, vector<8xf32>
// CHECK:   arith.divf {{.*}} : f32
// CHECK:   vector.extract {{.*}}[7] : f32 from vector<8xf32>
// CHECK:   math.fma {{.*}} : f32
// CHECK:   math.sqrt {{.*}} : f32
// CHECK:   scf.for {{.*}} -> (tensor<?x20xf32>)
// CHECK:     arith.subf {{.*}} : vector<8xf32>
// CHECK:     arith.mulf {{.*}} : vector<8xf32>
// CHECK:     math.fma {{.*}} : vector<8xf32>
// CHECK:     vector.transfer_write {{.*}} {in_bounds = [true]} : vector<8xf32>, tensor<?x20xf32>
// CHECK:   vector.transfer_write {{.*}} : vector<8xf32>, tensor<?x20xf32>
func.func @layer_norm(%x: tensor<?x20xf32>, %g: tensor<20xf32>, %b: tensor<20xf32>) -> tensor<?x20xf32> {
  %y = dq.layer_norm %x, %g, %b eps 1.0e-5 : tensor<?x20xf32>, tensor<20xf32>, tensor<20xf32> -> tensor<?x20xf32>
  return %y : tensor<?x20xf32>
}
