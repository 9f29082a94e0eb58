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
