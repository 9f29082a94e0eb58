// RUN: dq-opt %s -split-input-file -verify-diagnostics

func.func @vpdpbusd_narrow_acc(%acc: vector<8xi32>, %a: vector<64xi8>, %b: vector<64xi8>) {
  // expected-error @+1 {{'dqx86.vpdpbusd' op operand #0 must be vector of 32-bit signless integer values of length 16}}
  %r = "dqx86.vpdpbusd"(%acc, %a, %b) : (vector<8xi32>, vector<64xi8>, vector<64xi8>) -> vector<8xi32>
  return
}

// -----

func.func @vpermi2ps_types(%lo: vector<16xf32>, %i: vector<16xi32>, %hi: vector<16xi32>) {
  // expected-error @+1 {{'dqx86.vpermi2ps' op operand #2 must be vector of 32-bit float values of length 16}}
  %r = "dqx86.vpermi2ps"(%lo, %i, %hi) : (vector<16xf32>, vector<16xi32>, vector<16xi32>) -> vector<16xf32>
  return
}
