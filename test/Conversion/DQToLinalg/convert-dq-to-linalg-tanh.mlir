// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s

// dq.tanh calls the runtime's dqmlirTanhf (MKL's vmsTanh) per element, and
// the module exports dqmlir_needs_mkl for the runtime to check on open.
// CHECK: func.func private @dqmlirTanhf(f32) -> f32
// CHECK-LABEL: func.func @tanh
// CHECK: linalg.generic
// CHECK: func.call @dqmlirTanhf(%{{.*}}) : (f32) -> f32
// CHECK-NOT: dq.tanh
// CHECK: func.func @dqmlir_needs_mkl()
// CHECK-NEXT: return
func.func @tanh(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %y = dq.tanh %x : tensor<?x64xf32>
  %z = dq.tanh %y : tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}
