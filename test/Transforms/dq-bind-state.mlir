// RUN: dq-opt %s --dq-bind-state --split-input-file --verify-diagnostics | FileCheck %s

// A state result bufferized in place (the argument's own buffer, here
// through the run-time checks' scf.if): dropped, nothing copied.
// CHECK-LABEL: func.func @in_place
// CHECK-SAME: (%[[CACHE:.*]]: memref<?x8xf32>, %{{.*}}: memref<1x8xf32>, %{{.*}}: i1) -> memref<f32>
// CHECK:      memref.copy %{{.*}}, %{{.*}} : memref<1x8xf32> to memref<1x8xf32, strided<[8, 1], offset: ?>>
// CHECK-NOT:  memref.copy
// CHECK:      return %{{.*}} : memref<f32>
func.func @in_place(%cache: memref<?x8xf32>, %new: memref<1x8xf32>, %ok: i1)
    -> (memref<?x8xf32> {dq.state = 0 : i64}, memref<f32>) {
  %slot = arith.constant 3 : index
  %r = scf.if %ok -> memref<?x8xf32> {
    %view = memref.subview %cache[%slot, 0] [1, 8] [1, 1]
        : memref<?x8xf32> to memref<1x8xf32, strided<[8, 1], offset: ?>>
    memref.copy %new, %view : memref<1x8xf32> to memref<1x8xf32, strided<[8, 1], offset: ?>>
    scf.yield %cache : memref<?x8xf32>
  } else {
    scf.yield %cache : memref<?x8xf32>
  }
  %sum = memref.alloc() : memref<f32>
  return %r, %sum : memref<?x8xf32>, memref<f32>
}

// -----

// A state result in another buffer (bufferized out of place): copied into
// the argument, then dropped.
// CHECK-LABEL: func.func @out_of_place
// CHECK-SAME: (%[[CACHE:.*]]: memref<?x8xf32>) -> memref<f32>
// CHECK:      %[[NEW:.*]] = memref.alloc
// CHECK:      memref.copy %[[NEW]], %[[CACHE]] : memref<?x8xf32> to memref<?x8xf32>
// CHECK-NEXT: return %{{.*}} : memref<f32>
func.func @out_of_place(%cache: memref<?x8xf32>)
    -> (memref<f32>, memref<?x8xf32> {dq.state = 0 : i64}) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %cache, %c0 : memref<?x8xf32>
  %new = memref.alloc(%n) : memref<?x8xf32>
  memref.copy %cache, %new : memref<?x8xf32> to memref<?x8xf32>
  %sum = memref.alloc() : memref<f32>
  return %sum, %new : memref<f32>, memref<?x8xf32>
}

// -----

// The argument a state result names must exist and have its type.
// expected-error @+1 {{result 0: dq.state names argument 1, which does not exist or has another type}}
func.func @bad_index(%cache: memref<?x8xf32>) -> (memref<?x8xf32> {dq.state = 1 : i64}) {
  return %cache : memref<?x8xf32>
}

// -----

// It runs after bufferization.
// expected-error @+1 {{dq-bind-state runs after bufferization; result 0 is not a buffer}}
func.func @tensors(%cache: tensor<?x8xf32>) -> (tensor<?x8xf32> {dq.state = 0 : i64}) {
  return %cache : tensor<?x8xf32>
}
