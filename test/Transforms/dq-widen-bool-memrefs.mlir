// RUN: dq-opt %s --dq-widen-bool-memrefs --split-input-file | FileCheck %s
// The result lowers to LLVM (MemRefToLLVM asserts on i1 loads and stores).
// RUN: dq-opt %s --dq-widen-bool-memrefs --split-input-file --expand-strided-metadata --finalize-memref-to-llvm --convert-arith-to-llvm --convert-func-to-llvm --reconcile-unrealized-casts | FileCheck %s --check-prefix=LLVM
// LLVM-NOT: memref.
// LLVM-NOT: xi1>

// CHECK-LABEL: func @mask
// CHECK: %[[M:.*]] = memref.alloc(%{{.*}}) : memref<?x4xi8>
// CHECK: %[[E:.*]] = arith.extui %{{.*}} : i1 to i8
// CHECK: memref.store %[[E]], %[[M]]
// CHECK: %[[S:.*]] = memref.subview %[[M]]{{.*}} to memref<2xi8, strided<[1], offset: ?>>
// CHECK: %[[B:.*]] = memref.load %[[S]]
// CHECK: %[[T:.*]] = arith.trunci %[[B]] : i8 to i1
// CHECK: arith.select %[[T]]
// CHECK: memref.dealloc %[[M]] : memref<?x4xi8>
func.func @mask(%n: index, %i: index, %a: f32, %b: f32) -> f32 {
  %c0 = arith.constant 0 : index
  %m = memref.alloc(%n) : memref<?x4xi1>
  %lt = arith.cmpf olt, %a, %b : f32
  memref.store %lt, %m[%i, %c0] : memref<?x4xi1>
  %s = memref.subview %m[%i, 0] [1, 2] [1, 1] : memref<?x4xi1> to memref<2xi1, strided<[1], offset: ?>>
  %v = memref.load %s[%c0] : memref<2xi1, strided<[1], offset: ?>>
  %r = arith.select %v, %a, %b : f32
  memref.dealloc %m : memref<?x4xi1>
  return %r : f32
}

// -----

// Constant masks: the global's type and initial value become bytes.
// CHECK: memref.global "private" constant @causal : memref<2x2xi8> = dense<{{\[\[}}1, 0], [1, 1]]>
// CHECK-LABEL: func @global
// CHECK: memref.get_global @causal : memref<2x2xi8>
// CHECK: arith.trunci
memref.global "private" constant @causal : memref<2x2xi1> = dense<[[true, false], [true, true]]>
func.func @global(%i: index, %j: index) -> i1 {
  %g = memref.get_global @causal : memref<2x2xi1>
  %v = memref.load %g[%i, %j] : memref<2x2xi1>
  return %v : i1
}

// -----

// Function boundaries and calls carry bytes too.
// CHECK-LABEL: func @callee(%{{.*}}: memref<8xi8>) -> memref<8xi8>
// CHECK-LABEL: func @caller
// CHECK: call @callee(%{{.*}}) : (memref<8xi8>) -> memref<8xi8>
func.func @callee(%m: memref<8xi1>) -> memref<8xi1> {
  return %m : memref<8xi1>
}
func.func @caller() -> memref<8xi1> {
  %m = memref.alloc() : memref<8xi1>
  %r = call @callee(%m) : (memref<8xi1>) -> memref<8xi1>
  return %r : memref<8xi1>
}
