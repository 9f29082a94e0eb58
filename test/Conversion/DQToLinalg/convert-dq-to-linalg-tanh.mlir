// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s

// dq.tanh is an elementwise math.tanh marked dq.mkl_vml (dq-vectorize-linalg
// makes it calls of MKL's vmsTanh through the runtime, both declared here),
// and the module exports dqmlir_needs_mkl for the runtime to check on open.
// CHECK-DAG: func.func private @dqmlirTanhN(i64, i64, i64)
// CHECK-DAG: func.func private @dqmlirTanhf(f32) -> f32
// CHECK-LABEL: func.func @tanh
// CHECK: linalg.generic
// CHECK: math.tanh %{{.*}} {dq.mkl_vml} : f32
// CHECK-NOT: dq.tanh
// CHECK: func.func @dqmlir_needs_mkl()
// CHECK-NEXT: return
func.func @tanh(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %y = dq.tanh %x : tensor<?x64xf32>
  %z = dq.tanh %y : tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}
