// RUN: dq-opt %s --pass-pipeline="builtin.module(func.func(dq-lower-lookup))" | FileCheck %s
// On AVX-512, convert-dq-to-dqx86 runs first and takes the 16-lane lookups
// (test/Conversion/DQToX86); what is left is lowered here.
// RUN: dq-opt %s --pass-pipeline="builtin.module(func.func(convert-dq-to-dqx86,dq-lower-lookup))" | FileCheck %s --check-prefix=X86

// 16 lanes, portably: one extract per lane from the table as a constant vector.
// CHECK-LABEL: func.func @lanes16
// CHECK-NOT: llvm.call_intrinsic
// CHECK-COUNT-16: vector.extract {{.*}} : f32 from vector<3xf32>
// X86-LABEL: func.func @lanes16
// X86-NOT: vector.extract
// X86: dqx86.vpermi2ps
func.func @lanes16(%i: vector<16xi32>) -> vector<16xf32> {
  %y = dq.lookup %i [1.0, 2.0, 3.0] : vector<16xi32> -> vector<16xf32>
  return %y : vector<16xf32>
}

// A scalar (a lookup left in a linalg body): one extractelement.
// CHECK-LABEL: func.func @scalar
// CHECK: %[[T:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : vector<2xf32>
// CHECK: %[[I:.*]] = arith.index_cast %arg0 : i32 to index
// CHECK: vector.extract %[[T]][%[[I]]] : f32 from vector<2xf32>
// X86-LABEL: func.func @scalar
// X86: vector.extract
func.func @scalar(%i: i32) -> f32 {
  %y = dq.lookup %i [1.0, 2.0] : i32 -> f32
  return %y : f32
}

// Other shapes: lane by lane on the flattened vector.
// CHECK-LABEL: func.func @lanes2x2
// CHECK-COUNT-4: vector.insert
// CHECK: vector.shape_cast {{.*}} : vector<4xf32> to vector<2x2xf32>
// X86-LABEL: func.func @lanes2x2
// X86-COUNT-4: vector.insert
func.func @lanes2x2(%i: vector<2x2xi32>) -> vector<2x2xf32> {
  %y = dq.lookup %i [1.0, 2.0] : vector<2x2xi32> -> vector<2x2xf32>
  return %y : vector<2x2xf32>
}
