// RUN: dq-opt %s | FileCheck %s
// Round trip through the generic form.
// RUN: dq-opt %s --mlir-print-op-generic | dq-opt | FileCheck %s

// CHECK-LABEL: func @vpdpbusd
// CHECK: dqx86.vpdpbusd %arg0, %arg1, %arg2 : vector<64xi8> into vector<16xi32>
func.func @vpdpbusd(%acc: vector<16xi32>, %a: vector<64xi8>, %b: vector<64xi8>) -> vector<16xi32> {
  %r = dqx86.vpdpbusd %acc, %a, %b : vector<64xi8> into vector<16xi32>
  return %r : vector<16xi32>
}

// CHECK-LABEL: func @vpermi2ps
// CHECK: dqx86.vpermi2ps %arg0, %arg1, %arg2 : vector<16xi32> -> vector<16xf32>
func.func @vpermi2ps(%lo: vector<16xf32>, %i: vector<16xi32>, %hi: vector<16xf32>) -> vector<16xf32> {
  %r = dqx86.vpermi2ps %lo, %i, %hi : vector<16xi32> -> vector<16xf32>
  return %r : vector<16xf32>
}
