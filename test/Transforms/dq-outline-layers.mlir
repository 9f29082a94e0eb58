// RUN: dq-opt %s --dq-outline-layers --split-input-file | FileCheck %s

// Three layers of `blocks` (module paths blocks.0, blocks.1, blocks.2): the
// same ops on their own weights. One function, three calls; the weights
// (constants that differ between layers) are its arguments, the constant
// they share (%two) stays inside it.
// CHECK-LABEL: func.func private @dq_layer_0
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %[[W:.*]]: tensor<4xf32>) -> tensor<4xf32>
// CHECK-SAME: dq.layer
// CHECK: %[[TWO:.*]] = arith.constant dense<2.000000e+00>
// CHECK: %[[A:.*]] = arith.mulf %[[X]], %[[W]]
// CHECK: %[[B:.*]] = arith.addf %[[A]], %[[TWO]]
// CHECK: return %[[B]]
// CHECK-LABEL: func.func @model
// CHECK: %[[H1:.*]] = call @dq_layer_0(%arg0, %{{.*}})
// CHECK: %[[H2:.*]] = call @dq_layer_0(%[[H1]], %{{.*}})
// CHECK: %[[H3:.*]] = call @dq_layer_0(%[[H2]], %{{.*}})
// CHECK: %[[OUT:.*]] = arith.negf %[[H3]]
// CHECK: return %[[OUT]]
func.func @model(%x: tensor<4xf32>) -> tensor<4xf32> attributes {llvm.emit_c_interface} {
  %w0 = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %w1 = arith.constant dense<[5.0, 6.0, 7.0, 8.0]> : tensor<4xf32>
  %w2 = arith.constant dense<[9.0, 1.5, 2.5, 3.5]> : tensor<4xf32>
  %two = arith.constant dense<2.0> : tensor<4xf32>
  %a0 = arith.mulf %x, %w0 : tensor<4xf32> loc("blocks.0.fc|mul")
  %h1 = arith.addf %a0, %two : tensor<4xf32> loc("blocks.0|add")
  %a1 = arith.mulf %h1, %w1 : tensor<4xf32> loc("blocks.1.fc|mul_1")
  %h2 = arith.addf %a1, %two : tensor<4xf32> loc("blocks.1|add_1")
  %a2 = arith.mulf %h2, %w2 : tensor<4xf32> loc("blocks.2.fc|mul_2")
  %h3 = arith.addf %a2, %two : tensor<4xf32> loc("blocks.2|add_2")
  %out = arith.negf %h3 : tensor<4xf32> loc("head|neg")
  return %out : tensor<4xf32>
}

// -----

// Layers that differ stay inline.
// CHECK-LABEL: func.func @different
// CHECK-NOT: call
func.func @different(%x: tensor<4xf32>) -> tensor<4xf32> attributes {llvm.emit_c_interface} {
  %w0 = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %a0 = arith.mulf %x, %w0 : tensor<4xf32> loc("blocks.0|mul")
  %a1 = arith.addf %a0, %w0 : tensor<4xf32> loc("blocks.1|add")
  return %a1 : tensor<4xf32>
}

// -----

// The first layer also computes what every layer reads (the attention
// mask, CSE'd into it): those ops stay inline, before its call.
// CHECK-LABEL: func.func private @dq_layer_
// CHECK-LABEL: func.func @shared
// CHECK: %[[M:.*]] = arith.negf %arg1
// CHECK: call @dq_layer_{{[0-9]+}}(%arg0, %[[M]]
// CHECK: call @dq_layer_{{[0-9]+}}(%{{.*}}, %[[M]]
// CHECK: call @dq_layer_{{[0-9]+}}(%{{.*}}, %[[M]]
func.func @shared(%x: tensor<4xf32>, %mask: tensor<4xf32>) -> tensor<4xf32> attributes {llvm.emit_c_interface} {
  %w0 = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %w1 = arith.constant dense<[5.0, 6.0, 7.0, 8.0]> : tensor<4xf32>
  %w2 = arith.constant dense<[9.0, 1.5, 2.5, 3.5]> : tensor<4xf32>
  %a0 = arith.mulf %x, %w0 : tensor<4xf32> loc("layers.0|mul")
  %m = arith.negf %mask : tensor<4xf32> loc("layers.0.attn|neg")
  %h1 = arith.addf %a0, %m : tensor<4xf32> loc("layers.0|add")
  %a1 = arith.mulf %h1, %w1 : tensor<4xf32> loc("layers.1|mul")
  %h2 = arith.addf %a1, %m : tensor<4xf32> loc("layers.1|add")
  %a2 = arith.mulf %h2, %w2 : tensor<4xf32> loc("layers.2|mul")
  %h3 = arith.addf %a2, %m : tensor<4xf32> loc("layers.2|add")
  return %h3 : tensor<4xf32>
}

// -----

// Two lists (Wav2Vec2: feature_extractor.conv_layers, then encoder.layers),
// the one later in the block outlined first, and a list of two classes
// (convs 0-1 multiply, convs 2-3 add): every call reads the call before it.
// CHECK-LABEL: func.func @two_lists
// CHECK: %[[C0:.*]] = call @dq_layer_[[MUL:[0-9]+]](%arg0, %{{.*}})
// CHECK: %[[C1:.*]] = call @dq_layer_[[MUL]](%[[C0]], %{{.*}})
// CHECK: %[[C2:.*]] = call @dq_layer_[[ADD:[0-9]+]](%[[C1]], %{{.*}})
// CHECK: %[[C3:.*]] = call @dq_layer_[[ADD]](%[[C2]], %{{.*}})
// CHECK: %[[E0:.*]] = call @dq_layer_[[ENC:[0-9]+]](%[[C3]], %{{.*}})
// CHECK: %[[E1:.*]] = call @dq_layer_[[ENC]](%[[E0]], %{{.*}})
// CHECK: return %[[E1]]
func.func @two_lists(%x: tensor<4xf32>) -> tensor<4xf32> attributes {llvm.emit_c_interface} {
  %w0 = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %w1 = arith.constant dense<[5.0, 6.0, 7.0, 8.0]> : tensor<4xf32>
  %w2 = arith.constant dense<[9.0, 1.5, 2.5, 3.5]> : tensor<4xf32>
  %w3 = arith.constant dense<[4.5, 5.5, 6.5, 7.5]> : tensor<4xf32>
  %c0 = arith.mulf %x, %w0 : tensor<4xf32> loc("feat.convs.0|mul")
  %c1 = arith.mulf %c0, %w1 : tensor<4xf32> loc("feat.convs.1|mul_1")
  %c2 = arith.addf %c1, %w2 : tensor<4xf32> loc("feat.convs.2|add")
  %c3 = arith.addf %c2, %w3 : tensor<4xf32> loc("feat.convs.3|add_1")
  %a0 = arith.mulf %c3, %w0 : tensor<4xf32> loc("enc.layers.0|mul_2")
  %e0 = arith.subf %a0, %w1 : tensor<4xf32> loc("enc.layers.0|sub")
  %a1 = arith.mulf %e0, %w2 : tensor<4xf32> loc("enc.layers.1|mul_3")
  %e1 = arith.subf %a1, %w3 : tensor<4xf32> loc("enc.layers.1|sub_1")
  return %e1 : tensor<4xf32>
}

// -----

// The layers under the run-time checks' guard, with more size arithmetic
// moved before it (checks of every layer's sizes) than tensor ops inside
// it: the guarded block is still where the layers are.
// CHECK-LABEL: func.func private @dq_layer_
// CHECK-LABEL: func.func @guarded
// CHECK: scf.if
// CHECK: call @dq_layer_
// CHECK: call @dq_layer_
func.func @guarded(%x: tensor<?xf32>, %w0: tensor<?xf32>, %w1: tensor<?xf32>) -> (tensor<?xf32>, i32)
    attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %n0 = tensor.dim %w0, %c0 : tensor<?xf32>
  %n1 = tensor.dim %w1, %c0 : tensor<?xf32>
  %s0 = arith.addi %n, %n0 : index
  %s1 = arith.addi %n, %n1 : index
  %s2 = arith.muli %s0, %s1 : index
  %s3 = arith.subi %s2, %n : index
  %s4 = arith.addi %s3, %n1 : index
  %ok = arith.cmpi sge, %s4, %c0 : index
  %r:2 = scf.if %ok -> (tensor<?xf32>, i32) {
    %a0 = arith.mulf %x, %w0 : tensor<?xf32> loc("blocks.0.fc|mul")
    %h1 = arith.negf %a0 : tensor<?xf32> loc("blocks.0|neg")
    %a1 = arith.mulf %h1, %w1 : tensor<?xf32> loc("blocks.1.fc|mul_1")
    %h2 = arith.negf %a1 : tensor<?xf32> loc("blocks.1|neg_1")
    %c0_i32 = arith.constant 0 : i32
    scf.yield %h2, %c0_i32 : tensor<?xf32>, i32
  } else {
    %c1_i32 = arith.constant 1 : i32
    scf.yield %x, %c1_i32 : tensor<?xf32>, i32
  }
  return %r#0, %r#1 : tensor<?xf32>, i32
}
