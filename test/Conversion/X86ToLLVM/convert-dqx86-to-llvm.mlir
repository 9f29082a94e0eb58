// RUN: dq-opt %s --convert-dqx86-to-llvm | FileCheck %s

// The operand order is (acc, u8 activations, s8 weights) and the byte
// operands stay vector<64xi8>: LLVM 22 declares the intrinsic that way.
// CHECK-LABEL: func @dot
// CHECK: %[[R:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%arg0, %arg1, %arg2) : (vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
// CHECK: return %[[R]]
func.func @dot(%acc: vector<16xi32>, %a: vector<64xi8>, %w: vector<64xi8>) -> vector<16xi32> {
  %r = dqx86.vpdpbusd %acc, %a, %w : vector<64xi8> into vector<16xi32>
  return %r : vector<16xi32>
}

// (table low half, index, table high half).
// CHECK-LABEL: func @lanes16
// CHECK: %[[P:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpermi2var.ps.512"(%arg0, %arg1, %arg2) : (vector<16xf32>, vector<16xi32>, vector<16xf32>) -> vector<16xf32>
// CHECK: return %[[P]]
func.func @lanes16(%lo: vector<16xf32>, %i: vector<16xi32>, %hi: vector<16xf32>) -> vector<16xf32> {
  %r = dqx86.vpermi2ps %lo, %i, %hi : vector<16xi32> -> vector<16xf32>
  return %r : vector<16xf32>
}

// AMX tiles, an accumulator carried by scf.for included (the AMX kernel's K
// loop): the loop's iter_arg becomes !llvm.x86_amx, so nothing tile-typed is
// left for scf-to-cf; memrefs and indices reach the intrinsics through
// unrealized casts that the later LLVM conversions resolve.
// CHECK-LABEL: func @tiles
// CHECK-NOT: !amx.tile
// CHECK: %[[ZERO:.*]] = llvm.call_intrinsic "llvm.x86.tilezero.internal"({{.*}}) : (i16, i16) -> !llvm.x86_amx
// CHECK: %[[ACC:.*]] = scf.for {{.*}} iter_args(%[[C:.*]] = %[[ZERO]]) -> (!llvm.x86_amx)
// CHECK:   %[[A:.*]] = llvm.call_intrinsic "llvm.x86.tileloadd64.internal"
// CHECK:   %[[B:.*]] = llvm.call_intrinsic "llvm.x86.tileloadd64.internal"
// CHECK:   %[[M:.*]] = llvm.call_intrinsic "llvm.x86.tdpbusd.internal"({{.*}}, %[[C]], %[[A]], %[[B]]) {isZextLhs}
// CHECK:   scf.yield %[[M]] : !llvm.x86_amx
// CHECK: llvm.call_intrinsic "llvm.x86.tilestored64.internal"({{.*}}, %[[ACC]])
// CHECK-NOT: !amx.tile
func.func @tiles(%a: memref<?xi8>, %b: memref<1024xi8>, %out: memref<16x16xi32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %zero = amx.tile_zero : !amx.tile<16x16xi32>
  %acc = scf.for %k = %c0 to %n step %c1 iter_args(%c = %zero) -> (!amx.tile<16x16xi32>) {
    %ta = amx.tile_load %a[%c0], %c64 : memref<?xi8> into !amx.tile<16x64xi8>
    %tb = amx.tile_load %b[%c0], %c64 : memref<1024xi8> into !amx.tile<16x64xi8>
    %m = amx.tile_muli %ta zext, %tb, %c : !amx.tile<16x64xi8>, !amx.tile<16x64xi8>, !amx.tile<16x16xi32>
    scf.yield %m : !amx.tile<16x16xi32>
  }
  amx.tile_store %out[%c0, %c0], %acc : memref<16x16xi32>, !amx.tile<16x16xi32>
  return
}

// AVX2: (u8 activations, s8 weights) -> saturated i16 pair sums, then i16
// pairs -> i32.
// CHECK-LABEL: func @avx2_dot
// CHECK: %[[P:.*]] = llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"(%arg0, %arg1) : (vector<32xi8>, vector<32xi8>) -> vector<16xi16>
// CHECK: %[[S:.*]] = llvm.call_intrinsic "llvm.x86.avx2.pmadd.wd"(%[[P]], %arg2) : (vector<16xi16>, vector<16xi16>) -> vector<8xi32>
// CHECK: return %[[S]]
func.func @avx2_dot(%a: vector<32xi8>, %w: vector<32xi8>, %ones: vector<16xi16>) -> vector<8xi32> {
  %p = dqx86.vpmaddubsw %a, %w : vector<32xi8> -> vector<16xi16>
  %s = dqx86.vpmaddwd %p, %ones : vector<16xi16> -> vector<8xi32>
  return %s : vector<8xi32>
}
