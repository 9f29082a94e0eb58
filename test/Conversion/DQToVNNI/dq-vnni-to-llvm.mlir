// RUN: dq-opt %s --dq-vnni-to-llvm | FileCheck %s

// The operand order is (acc, u8 activations, s8 weights) and the byte
// operands stay vector<64xi8>: LLVM 22 declares the intrinsic that way.
// CHECK-LABEL: func @dot
// CHECK: %[[R:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%arg0, %arg1, %arg2) : (vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
// CHECK: return %[[R]]
func.func @dot(%acc: vector<16xi32>, %a: vector<64xi8>, %w: vector<64xi8>) -> vector<16xi32> {
  %r = dq.vpdpbusd %acc, %a, %w : vector<64xi8> into vector<16xi32>
  return %r : vector<16xi32>
}
