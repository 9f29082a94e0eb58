// RUN: dq-opt %s --dq-cpu-pipeline | FileCheck %s
// The pipeline must never specialize the mixed-sign generic into a (signed)
// linalg.matmul: MLIR 22's linalg-specialize-generic-ops gets it wrong.
// RUN: dq-opt %s --dq-cpu-pipeline --dump-pass-pipeline 2>&1 >/dev/null | FileCheck %s --check-prefix=PIPELINE
// PIPELINE: convert-dq-to-linalg
// PIPELINE-NOT: linalg-specialize-generic-ops
// PIPELINE: reconcile-unrealized-casts
// buffer-cache: allocation through the functions the Python runtime binds to
// its buffer cache, not malloc/free.
// RUN: dq-opt %s --dq-cpu-pipeline=buffer-cache=true | FileCheck %s --check-prefix=CACHE
// CACHE-DAG: llvm.func @_mlir_memref_to_llvm_alloc(i64) -> !llvm.ptr
// CACHE-DAG: llvm.func @_mlir_memref_to_llvm_free(!llvm.ptr)
// CACHE-NOT: llvm.call @malloc

// Everything ends in the LLVM dialect, with a C interface for the JIT.
// CHECK-NOT: dq.
// CHECK-NOT: linalg.
// CHECK-NOT: tensor.
// CHECK-LABEL: llvm.func @forward
// CHECK: llvm.intr.fma
// CHECK: llvm.intr.roundeven
// CHECK: llvm.func @_mlir_ciface_forward
func.func @forward(%x: tensor<?x?x8xf32>) -> tensor<?x?x16xf32> attributes {llvm.emit_c_interface} {
  %w = arith.constant dense<3> : tensor<16x8xi8>
  %ws = arith.constant dense<0.01> : tensor<f32>
  %b = arith.constant dense<1.0> : tensor<16xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range
      : tensor<?x?x8xf32>, tensor<16x8xi8>, tensor<f32>, tensor<16xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}
