// RUN: dq-opt %s --pass-pipeline="builtin.module(func.func(convert-dq-to-dqx86))" | FileCheck %s

// 16 lanes: one vpermi2ps over the table split in two halves (zero-padded
// to 32 entries).
// CHECK-LABEL: func.func @lanes16
// CHECK-DAG: %[[LO:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 0.000000e+00
// CHECK-DAG: %[[HI:.*]] = arith.constant dense<0.000000e+00> : vector<16xf32>
// CHECK: dqx86.vpermi2ps %[[LO]], %arg0, %[[HI]] : vector<16xi32> -> vector<16xf32>
func.func @lanes16(%i: vector<16xi32>) -> vector<16xf32> {
  %y = dq.lookup %i [1.0, 2.0, 3.0] : vector<16xi32> -> vector<16xf32>
  return %y : vector<16xf32>
}

// A table of more than 16 entries: its second half in `hi`.
// CHECK-LABEL: func.func @table18
// CHECK-DAG: %[[LO:.*]] = arith.constant dense<[0.000000e+00, 1.000000e+00, {{.*}}, 1.500000e+01]> : vector<16xf32>
// CHECK-DAG: %[[HI:.*]] = arith.constant dense<[1.600000e+01, 1.700000e+01, 0.000000e+00, {{.*}}]> : vector<16xf32>
// CHECK: dqx86.vpermi2ps %[[LO]], %arg0, %[[HI]]
func.func @table18(%i: vector<16xi32>) -> vector<16xf32> {
  %y = dq.lookup %i [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0] : vector<16xi32> -> vector<16xf32>
  return %y : vector<16xf32>
}

// Other shapes stay for dq-lower-lookup.
// CHECK-LABEL: func.func @scalar
// CHECK: dq.lookup
// CHECK-LABEL: func.func @lanes8
// CHECK: dq.lookup
func.func @scalar(%i: i32) -> f32 {
  %y = dq.lookup %i [1.0, 2.0] : i32 -> f32
  return %y : f32
}
func.func @lanes8(%i: vector<8xi32>) -> vector<8xf32> {
  %y = dq.lookup %i [1.0, 2.0] : vector<8xi32> -> vector<8xf32>
  return %y : vector<8xf32>
}
