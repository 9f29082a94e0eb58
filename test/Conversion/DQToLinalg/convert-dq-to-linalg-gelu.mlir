// RUN: dq-opt %s --convert-dq-to-linalg | FileCheck %s

// dq.gelu is one elementwise generic: oneDNN's interval index from the bits
// of |x|, a degree-5 polynomial in |x| (six table lookups, five fmas), the
// sign of x put back, then (x * (1 + erf)) * 0.5.
// CHECK-LABEL: func.func @gelu
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
// CHECK: arith.bitcast {{.*}} : f32 to i32
// CHECK: arith.andi
// CHECK: arith.shrsi
// CHECK: arith.maxsi
// CHECK: arith.minsi
// CHECK: arith.cmpf olt
// CHECK: arith.select
// CHECK: dq.lookup
// CHECK: dq.lookup
// CHECK: math.fma
// CHECK: dq.lookup
// CHECK: math.fma
// CHECK: dq.lookup
// CHECK: math.fma
// CHECK: dq.lookup
// CHECK: math.fma
// CHECK: dq.lookup
// CHECK: math.fma
// CHECK: arith.xori
// CHECK: arith.addf
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK-NOT: dq.gelu
func.func @gelu(%x: tensor<?x128x1536xf32>) -> tensor<?x128x1536xf32> {
  %y = dq.gelu %x : tensor<?x128x1536xf32>
  return %y : tensor<?x128x1536xf32>
}

// ATen's kernel along rows (aten_inner_dims = 1): the first n - n % 32
// elements of each row in the vector form (Abramowitz-Stegun erf with
// SLEEF's exp: a division, four fmas, a rounding to an integer for 2^q),
// the rest through libm's erf (math.erf), as two generics on slices.
// CHECK-LABEL: func.func @gelu_aten_rows
// CHECK: %[[N:.*]] = tensor.dim %{{.*}}, %c1
// CHECK: %[[R:.*]] = arith.remui %[[N]], %c32
// CHECK: %[[SPLIT:.*]] = arith.subi %[[N]], %[[R]]
// CHECK: tensor.extract_slice %{{.*}}[0, 0] [%{{.*}}, %[[SPLIT]]] [1, 1]
// CHECK: tensor.extract_slice %{{.*}}[0, %[[SPLIT]]]
// CHECK: linalg.generic
// CHECK: arith.divf
// CHECK: math.roundeven
// CHECK-NOT: math.erf
// CHECK: linalg.yield
// CHECK: tensor.insert_slice
// CHECK: linalg.generic
// CHECK: math.erf
// CHECK: linalg.yield
// CHECK: tensor.insert_slice
// CHECK-NOT: dq.lookup
func.func @gelu_aten_rows(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %y = dq.gelu %x {aten_inner_dims = 1 : i64} : tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// Two coalesced dims: each element's place in the loop, i * n2 + j, picks
// the scalar form from (n1 * n2) - (n1 * n2) % 32 on.
// CHECK-LABEL: func.func @gelu_aten_coalesced
// CHECK: linalg.generic
// CHECK: linalg.index 1
// CHECK: linalg.index 2
// CHECK: arith.cmpi uge
// CHECK: math.erf
// CHECK: math.roundeven
// CHECK: arith.select
func.func @gelu_aten_coalesced(%x: tensor<2x?x8xf32>) -> tensor<2x?x8xf32> {
  %y = dq.gelu %x {aten_inner_dims = 2 : i64} : tensor<2x?x8xf32>
  return %y : tensor<2x?x8xf32>
}

// A tensor that may hold one element: PyTorch keeps those from oneDNN, so
// the element count picks ATen's scalar form at run time.
// CHECK-LABEL: func.func @gelu_maybe_one_element
// CHECK: %[[N:.*]] = tensor.dim %{{.*}}, %c0
// CHECK: arith.cmpi ule
// CHECK: linalg.generic
// CHECK: math.erf
// CHECK: dq.lookup
// CHECK: arith.select
func.func @gelu_maybe_one_element(%x: tensor<?x1xf32>) -> tensor<?x1xf32> {
  %y = dq.gelu %x : tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
