// RUN: dq-opt %s --pass-pipeline="builtin.module(func.func(dq-early-dealloc))" | FileCheck %s

// Each buffer is freed right after its last use (through views and inside
// loops included), not at the return.
// CHECK-LABEL: func.func @chain
// CHECK:      %[[A:.*]] = memref.alloc
// CHECK:      linalg.fill {{.*}} outs(%[[A]]
// CHECK:      %[[B:.*]] = memref.alloc
// CHECK:      %[[V:.*]] = memref.subview %[[A]]
// CHECK:      scf.for
// CHECK:        memref.load %[[V]]
// CHECK:      }
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK:      %[[C:.*]] = memref.alloc
// CHECK:      memref.copy %[[B]], %[[C]]
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK:      memref.copy %[[C]], %arg1
// CHECK-NEXT: memref.dealloc %[[C]]
// CHECK-NEXT: return
func.func @chain(%n: index, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %one = arith.constant 1.0 : f32
  %a = memref.alloc(%n) : memref<?xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<?xf32>)
  %b = memref.alloc(%n) : memref<?xf32>
  %v = memref.subview %a[0] [%n] [1] : memref<?xf32> to memref<?xf32, strided<[1]>>
  scf.for %i = %c0 to %n step %c1 {
    %x = memref.load %v[%i] : memref<?xf32, strided<[1]>>
    memref.store %x, %b[%i] : memref<?xf32>
  }
  %c = memref.alloc(%n) : memref<?xf32>
  memref.copy %b, %c : memref<?xf32> to memref<?xf32>
  memref.copy %c, %out : memref<?xf32> to memref<?xf32>
  memref.dealloc %a : memref<?xf32>
  memref.dealloc %b : memref<?xf32>
  memref.dealloc %c : memref<?xf32>
  return
}

// A buffer that is returned, or that may be (through a select), or that a
// call sees, keeps its dealloc where it was.
// CHECK-LABEL: func.func @escapes
// CHECK:      call @use
// CHECK:      arith.select
// CHECK:      memref.copy
// CHECK-NEXT: memref.dealloc %{{.*}} : memref<4xf32>
// CHECK-NEXT: memref.dealloc %{{.*}} : memref<4xf32>
// CHECK-NEXT: return
func.func private @use(memref<4xf32>)
func.func @escapes(%p: i1, %out: memref<4xf32>) -> memref<4xf32> {
  %a = memref.alloc() : memref<4xf32>
  %b = memref.alloc() : memref<4xf32>
  call @use(%a) : (memref<4xf32>) -> ()
  %s = arith.select %p, %b, %out : memref<4xf32>
  memref.copy %out, %b : memref<4xf32> to memref<4xf32>
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  return %s : memref<4xf32>
}
