// RUN: dq-opt %s --dq-profile-ops | FileCheck %s
// RUN: dq-opt %s --dq-profile-ops=fused-epilogues=false | FileCheck %s --check-prefix=UNFUSED
// RUN: dq-opt %s '--dq-cpu-pipeline=kernel=avx2 profile=true' | FileCheck %s --check-prefix=LLVM

// One tick after each op that computes a tensor (its entry of the module's
// table as an i32), one at the entry (-1: start the clock); none after
// constants, dims, empties. An entry is [kind, label]: the op's module path
// with its integer components as `*`, so the same op of two layers shares
// an entry; ops without a location are "(model)". A linear whose GELU the
// int8 kernel fuses ticks once, after the GELU, as the linear (kind 0),
// unless fused-epilogues=false.
// CHECK: module attributes {dq.profile_ops = [
// CHECK-SAME: [3 : i32, "(model): dq.layer_norm -> tensor<?x64xf32>"],
// CHECK-SAME: [0 : i32, "(model): dq.linear_dynamic -> tensor<?x128xf32>"],
// CHECK-SAME: [6 : i32, "(model): linalg.transpose -> tensor<128x?xf32>"],
// CHECK-SAME: [7 : i32, "(model): linalg.fill -> tensor<32x?xf32>"],
// CHECK-SAME: [6 : i32, "(model): linalg.transpose -> tensor<32x128xf32>"],
// CHECK-SAME: [1 : i32, "(model): linalg.matmul -> tensor<32x?xf32>"],
// CHECK-SAME: [3 : i32, "encoder.layer.*.output: dq.layer_norm -> tensor<?x64xf32>"]]}
// CHECK: func.func private @dqmlir_profile_tick(i32)
// CHECK-LABEL: func.func @ffn
// CHECK: %[[START:.*]] = arith.constant -1 : i32
// CHECK-NEXT: call @dqmlir_profile_tick(%[[START]])
// CHECK: dq.layer_norm
// CHECK-NEXT: %[[LN:.*]] = arith.constant 0 : i32
// CHECK-NEXT: call @dqmlir_profile_tick(%[[LN]])
// CHECK-NEXT: dq.linear_dynamic
// CHECK-NEXT: dq.gelu
// CHECK-NEXT: %[[LIN:.*]] = arith.constant 1 : i32
// CHECK-NEXT: call @dqmlir_profile_tick(%[[LIN]])
// CHECK: linalg.transpose
// CHECK-NEXT: %[[COPY:.*]] = arith.constant 2 : i32
// CHECK-NEXT: call @dqmlir_profile_tick(%[[COPY]])
// CHECK: linalg.matmul
// CHECK-NEXT: %[[MM:.*]] = arith.constant 5 : i32
// CHECK-NEXT: call @dqmlir_profile_tick(%[[MM]])
// CHECK-NEXT: return
// CHECK-LABEL: func.func @layers
// CHECK: dq.layer_norm
// CHECK-NEXT: %[[L0:.*]] = arith.constant 6 : i32
// CHECK-NEXT: call @dqmlir_profile_tick(%[[L0]])
// CHECK-NEXT: dq.layer_norm
// CHECK-NEXT: %[[L1:.*]] = arith.constant 6 : i32
// CHECK-NEXT: call @dqmlir_profile_tick(%[[L1]])

// UNFUSED: [0 : i32, "(model): dq.linear_dynamic -> tensor<?x128xf32>"], [4 : i32, "(model): dq.gelu -> tensor<?x128xf32>"]
// UNFUSED: dq.linear_dynamic
// UNFUSED-NEXT: %[[LIN:.*]] = arith.constant 1 : i32
// UNFUSED-NEXT: call @dqmlir_profile_tick(%[[LIN]])
// UNFUSED-NEXT: dq.gelu
// UNFUSED-NEXT: %[[GELU:.*]] = arith.constant 2 : i32
// UNFUSED-NEXT: call @dqmlir_profile_tick(%[[GELU]])

// Through the whole pipeline the ticks stay calls into the runtime.
// LLVM: llvm.func @dqmlir_profile_tick(i32)
// LLVM: llvm.call @dqmlir_profile_tick

func.func @ffn(%x: tensor<?x64xf32>, %w: tensor<128x64xi8>, %s: tensor<f32>,
               %g: tensor<64xf32>, %b: tensor<64xf32>, %m: tensor<128x32xf32>)
    -> tensor<32x?xf32> attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %x, %c0 : tensor<?x64xf32>
  %ln = dq.layer_norm %x, %g, %b eps 1.0e-12 : tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %y = dq.linear_dynamic %ln, %w, %s act asymmetric per_tensor reduce_range : tensor<?x64xf32>, tensor<128x64xi8>, tensor<f32> -> tensor<?x128xf32>
  %h = dq.gelu %y : tensor<?x128xf32>
  %ti = tensor.empty(%n) : tensor<128x?xf32>
  %t = linalg.transpose ins(%h : tensor<?x128xf32>) outs(%ti : tensor<128x?xf32>) permutation = [1, 0]
  %mi = tensor.empty(%n) : tensor<32x?xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%mi : tensor<32x?xf32>) -> tensor<32x?xf32>
  %mt = tensor.empty() : tensor<32x128xf32>
  %mtt = linalg.transpose ins(%m : tensor<128x32xf32>) outs(%mt : tensor<32x128xf32>) permutation = [1, 0]
  %r = linalg.matmul ins(%mtt, %t : tensor<32x128xf32>, tensor<128x?xf32>) outs(%acc : tensor<32x?xf32>) -> tensor<32x?xf32>
  return %r : tensor<32x?xf32>
}

// Two layers' layer norms (the importer's locations): one entry.
func.func @layers(%x: tensor<?x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>)
    -> tensor<?x64xf32> {
  %0 = dq.layer_norm %x, %g, %b eps 1.0e-12 : tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32> -> tensor<?x64xf32> loc("encoder.layer.0.output|layer_norm")
  %1 = dq.layer_norm %0, %g, %b eps 1.0e-12 : tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32> -> tensor<?x64xf32> loc("encoder.layer.1.output|layer_norm_1")
  return %1 : tensor<?x64xf32>
}
