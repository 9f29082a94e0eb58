// RUN: dq-opt %s | FileCheck %s
// Round trip: custom form -> custom form, and through the generic form.
// RUN: dq-opt %s --mlir-print-op-generic | dq-opt | FileCheck %s

// CHECK-LABEL: func @choose_qparams
func.func @choose_qparams(%x: tensor<?x?x768xf32>) -> (tensor<f32>, tensor<i32>, tensor<?x?xf32>, tensor<?x?xi32>) {
  // CHECK: dq.choose_qparams %{{.*}} asymmetric per_tensor reduce_range : tensor<?x?x768xf32> -> tensor<f32>, tensor<i32>
  %s, %z = dq.choose_qparams %x asymmetric per_tensor reduce_range : tensor<?x?x768xf32> -> tensor<f32>, tensor<i32>
  // CHECK: dq.choose_qparams %{{.*}} symmetric per_row : tensor<?x?x768xf32> -> tensor<?x?xf32>, tensor<?x?xi32>
  %s2, %z2 = dq.choose_qparams %x symmetric per_row : tensor<?x?x768xf32> -> tensor<?x?xf32>, tensor<?x?xi32>
  return %s, %z, %s2, %z2 : tensor<f32>, tensor<i32>, tensor<?x?xf32>, tensor<?x?xi32>
}

// CHECK-LABEL: func @quantize_dequantize
func.func @quantize_dequantize(%x: tensor<4x8xf32>, %s: tensor<f32>, %z: tensor<i32>,
                               %rs: tensor<4xf32>, %rz: tensor<4xi32>) -> (tensor<4x8xf32>, tensor<4x8xsi8>) {
  // CHECK: dq.quantize %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<f32>, tensor<i32> -> tensor<4x8xui8>
  %q = dq.quantize %x, %s, %z : tensor<4x8xf32>, tensor<f32>, tensor<i32> -> tensor<4x8xui8>
  // CHECK: dq.dequantize %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x8xui8>, tensor<f32>, tensor<i32> -> tensor<4x8xf32>
  %d = dq.dequantize %q, %s, %z : tensor<4x8xui8>, tensor<f32>, tensor<i32> -> tensor<4x8xf32>
  // CHECK: dq.quantize %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<4xf32>, tensor<4xi32> -> tensor<4x8xsi8>
  %qs = dq.quantize %x, %rs, %rz : tensor<4x8xf32>, tensor<4xf32>, tensor<4xi32> -> tensor<4x8xsi8>
  return %d, %qs : tensor<4x8xf32>, tensor<4x8xsi8>
}

// CHECK-LABEL: func @linear_dynamic
func.func @linear_dynamic(%x: tensor<?x?x768xf32>, %x2: tensor<?x768xf32>, %w: tensor<3072x768xi8>,
                          %ws: tensor<f32>, %wc: tensor<3072xf32>, %b: tensor<3072xf32>)
    -> (tensor<?x?x3072xf32>, tensor<?x3072xf32>) {
  // CHECK: dq.linear_dynamic %{{.*}}, %{{.*}}, %{{.*}} bias %{{.*}} act asymmetric per_tensor reduce_range : tensor<?x?x768xf32>, tensor<3072x768xi8>, tensor<f32>, tensor<3072xf32> -> tensor<?x?x3072xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range
      : tensor<?x?x768xf32>, tensor<3072x768xi8>, tensor<f32>, tensor<3072xf32> -> tensor<?x?x3072xf32>
  // CHECK: dq.linear_dynamic %{{.*}}, %{{.*}}, %{{.*}} act asymmetric per_row : tensor<?x768xf32>, tensor<3072x768xi8>, tensor<3072xf32> -> tensor<?x3072xf32>
  %y2 = dq.linear_dynamic %x2, %w, %wc act asymmetric per_row
      : tensor<?x768xf32>, tensor<3072x768xi8>, tensor<3072xf32> -> tensor<?x3072xf32>
  return %y, %y2 : tensor<?x?x3072xf32>, tensor<?x3072xf32>
}

// CHECK-LABEL: func @layer_norm
func.func @layer_norm(%x: tensor<?x?x384xf32>, %g: tensor<384xf32>, %b: tensor<384xf32>) -> tensor<?x?x384xf32> {
  // CHECK: dq.layer_norm %{{.*}}, %{{.*}}, %{{.*}} eps 9.99999996E-13 : tensor<?x?x384xf32>, tensor<384xf32>, tensor<384xf32> -> tensor<?x?x384xf32>
  %y = dq.layer_norm %x, %g, %b eps 1.0e-12 : tensor<?x?x384xf32>, tensor<384xf32>, tensor<384xf32> -> tensor<?x?x384xf32>
  return %y : tensor<?x?x384xf32>
}

// CHECK-LABEL: func @softmax
// CHECK: dq.softmax %{{.*}} dim 3 : tensor<?x12x?x?xf32>
// CHECK: dq.softmax %{{.*}} dim 0 log : tensor<5x7xf32>
func.func @softmax(%s: tensor<?x12x?x?xf32>, %t: tensor<5x7xf32>) {
  %p = dq.softmax %s dim 3 : tensor<?x12x?x?xf32>
  %l = dq.softmax %t dim 0 log : tensor<5x7xf32>
  return
}

// CHECK-LABEL: func @flash_softmax
// CHECK: dq.flash_softmax %{{.*}}, %{{.*}} scale 1.250000e-01 : tensor<?x12x?x?xf32>, tensor<?x1x1x?xf32> -> tensor<?x12x?x?xf32>, tensor<?x12x?x1xf32>
// CHECK: dq.flash_softmax %{{.*}}, %{{.*}} scale 1.250000e-01 : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>, tensor<4x1xf32>
func.func @flash_softmax(%s: tensor<?x12x?x?xf32>, %m: tensor<?x1x1x?xf32>, %t: tensor<4x8xf32>, %none: tensor<f32>) {
  %e, %inv = dq.flash_softmax %s, %m scale 0.125 : tensor<?x12x?x?xf32>, tensor<?x1x1x?xf32> -> tensor<?x12x?x?xf32>, tensor<?x12x?x1xf32>
  %e2, %inv2 = dq.flash_softmax %t, %none scale 0.125 : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>, tensor<4x1xf32>
  return
}

// CHECK-LABEL: func @flash_fixups
// CHECK: dq.flash_scores_fixup %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>, tensor<?x12x?x32xf32>
// CHECK: dq.flash_output_fixup %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x12x?x32xf32>, tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>
func.func @flash_fixups(%s: tensor<?x12x?x?xf32>, %q: tensor<?x12x?x32xf32>, %k: tensor<?x12x?x32xf32>) {
  %r = dq.flash_scores_fixup %s, %q, %k : tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>, tensor<?x12x?x32xf32>
  %o = dq.flash_output_fixup %q, %s, %k : tensor<?x12x?x32xf32>, tensor<?x12x?x?xf32>, tensor<?x12x?x32xf32>
  return
}

// CHECK-LABEL: func @gates
// CHECK: dq.sigmoid %{{.*}} : tensor<?x35xf32>
// CHECK: dq.tanh %{{.*}} : tensor<?x35xf32>
func.func @gates(%x: tensor<?x35xf32>) {
  %s = dq.sigmoid %x : tensor<?x35xf32>
  %t = dq.tanh %s : tensor<?x35xf32>
  return
}
