// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s

// dq.sigmoid splits each row at n - n % 32: the head in ATen's vector form
// (0 - x, SLEEF's expf built in place, + 1, 1 / that), the tail in its scalar
// form with libm's expf, declared once in the module.
// CHECK: func.func private @expf(f32) -> f32
// CHECK-LABEL: func.func @sigmoid
// CHECK: %[[HEAD:.*]] = tensor.extract_slice %{{.*}}[0, 0] [%{{.*}}, %{{.*}}] [1, 1]
// CHECK: %[[TAIL:.*]] = tensor.extract_slice %{{.*}}[0, %{{.*}}] [%{{.*}}, %{{.*}}] [1, 1]
// CHECK: linalg.generic {{.*}} ins(%[[HEAD]]
// CHECK: arith.subf
// CHECK: math.roundeven
// CHECK: math.fma
// CHECK: arith.divf
// CHECK: tensor.insert_slice
// CHECK: linalg.generic {{.*}} ins(%[[TAIL]]
// CHECK: arith.negf
// CHECK-NEXT: func.call @expf
// CHECK: arith.divf
// CHECK: tensor.insert_slice
// CHECK-NOT: dq.sigmoid
func.func @sigmoid(%x: tensor<?x200xf32>) -> tensor<?x200xf32> {
  %y = dq.sigmoid %x : tensor<?x200xf32>
  return %y : tensor<?x200xf32>
}

// A rank-0 tensor is the scalar form.
// CHECK-LABEL: func.func @sigmoid_rank0
// CHECK: linalg.generic
// CHECK: func.call @expf
func.func @sigmoid_rank0(%x: tensor<f32>) -> tensor<f32> {
  %y = dq.sigmoid %x : tensor<f32>
  return %y : tensor<f32>
}
