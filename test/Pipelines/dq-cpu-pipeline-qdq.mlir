// RUN: dq-opt %s --dq-cpu-pipeline=kernel=generic --split-input-file | FileCheck %s
// Standalone dq.choose_qparams / dq.quantize / dq.dequantize through the
// whole pipeline. Shapes the fuzzer (test/fuzz) found crashing or failing.

// quantize -> dequantize with a dynamic dim: the dequantize's sizes kept the
// quantize's final tensor.bitcast alive, which one-shot-bufferize rejects
// ("op was not bufferized").
// CHECK-LABEL: llvm.func @qdq_dynamic
// CHECK-NOT: tensor.bitcast
// CHECK: llvm.intr.roundeven
// CHECK: llvm.return
func.func @qdq_dynamic(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %s, %z = dq.choose_qparams %x asymmetric per_tensor : tensor<?x4xf32> -> tensor<f32>, tensor<i32>
  %q = dq.quantize %x, %s, %z : tensor<?x4xf32>, tensor<f32>, tensor<i32> -> tensor<?x4xui8>
  %d = dq.dequantize %q, %s, %z : tensor<?x4xui8>, tensor<f32>, tensor<i32> -> tensor<?x4xf32>
  return %d : tensor<?x4xf32>
}

// -----

// Rank 1 with a static last dim (the vector loops' row index had no leading
// dims: an assertion) and rank 0 (no last dim: an assertion).
// CHECK-LABEL: llvm.func @rank1_rank0
// CHECK: llvm.intr.vector.reduce.fmin
// CHECK: llvm.return
func.func @rank1_rank0(%x: tensor<20xf32>, %x0: tensor<f32>) -> (tensor<20xf32>, tensor<f32>) {
  %s, %z = dq.choose_qparams %x symmetric per_row : tensor<20xf32> -> tensor<f32>, tensor<i32>
  %q = dq.quantize %x, %s, %z : tensor<20xf32>, tensor<f32>, tensor<i32> -> tensor<20xsi8>
  %d = dq.dequantize %q, %s, %z : tensor<20xsi8>, tensor<f32>, tensor<i32> -> tensor<20xf32>
  %q0 = dq.quantize %x0, %s, %z : tensor<f32>, tensor<f32>, tensor<i32> -> tensor<ui8>
  %d0 = dq.dequantize %q0, %s, %z : tensor<ui8>, tensor<f32>, tensor<i32> -> tensor<f32>
  return %d, %d0 : tensor<20xf32>, tensor<f32>
}
