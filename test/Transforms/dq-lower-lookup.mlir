// RUN: dq-opt %s --pass-pipeline="builtin.module(func.func(dq-lower-lookup{avx512=true}))" | FileCheck %s
// RUN: dq-opt %s --pass-pipeline="builtin.module(func.func(dq-lower-lookup))" | FileCheck %s --check-prefix=GENERIC

// 16 lanes on AVX-512: one vpermi2ps over the table split in two halves
// (zero-padded to 32 entries).
// CHECK-LABEL: func.func @lanes16
// CHECK-DAG: %[[LO:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 0.000000e+00
// CHECK-DAG: %[[HI:.*]] = arith.constant dense<0.000000e+00> : vector<16xf32>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpermi2var.ps.512"(%[[LO]], %arg0, %[[HI]])
// GENERIC-LABEL: func.func @lanes16
// GENERIC-NOT: llvm.call_intrinsic
// GENERIC-COUNT-16: vector.extract {{.*}} : f32 from vector<3xf32>
func.func @lanes16(%i: vector<16xi32>) -> vector<16xf32> {
  %y = dq.lookup %i [1.0, 2.0, 3.0] : vector<16xi32> -> vector<16xf32>
  return %y : vector<16xf32>
}

// A scalar (a lookup left in a linalg body): one extractelement.
// CHECK-LABEL: func.func @scalar
// CHECK: %[[T:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : vector<2xf32>
// CHECK: %[[I:.*]] = arith.index_cast %arg0 : i32 to index
// CHECK: vector.extract %[[T]][%[[I]]] : f32 from vector<2xf32>
func.func @scalar(%i: i32) -> f32 {
  %y = dq.lookup %i [1.0, 2.0] : i32 -> f32
  return %y : f32
}

// Other shapes: lane by lane on the flattened vector.
// CHECK-LABEL: func.func @lanes2x2
// CHECK-COUNT-4: vector.insert
// CHECK: vector.shape_cast {{.*}} : vector<4xf32> to vector<2x2xf32>
func.func @lanes2x2(%i: vector<2x2xi32>) -> vector<2x2xf32> {
  %y = dq.lookup %i [1.0, 2.0] : vector<2x2xi32> -> vector<2x2xf32>
  return %y : vector<2x2xf32>
}
