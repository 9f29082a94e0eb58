// RUN: dq-opt %s -split-input-file -verify-diagnostics

func.func @symmetric_reduce_range(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{reduce_range is only defined for the asymmetric mode}}
  %s, %z = dq.choose_qparams %x symmetric per_tensor reduce_range : tensor<4x8xf32> -> tensor<f32>, tensor<i32>
  return
}

// -----

func.func @per_tensor_not_scalar(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{per_tensor qparams must be rank-0 tensors}}
  %s, %z = dq.choose_qparams %x asymmetric per_tensor : tensor<4x8xf32> -> tensor<4xf32>, tensor<4xi32>
  return
}

// -----

func.func @per_row_rank(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{per_row qparams must have rank 1 (the input's rank minus one), got 0}}
  %s, %z = dq.choose_qparams %x asymmetric per_row : tensor<4x8xf32> -> tensor<f32>, tensor<i32>
  return
}

// -----

func.func @per_row_shape(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{per-row scale must have shape [4], got [5]}}
  %s, %z = dq.choose_qparams %x asymmetric per_row : tensor<4x8xf32> -> tensor<5xf32>, tensor<5xi32>
  return
}

// -----

func.func @rank0_input(%x: tensor<f32>) {
  // expected-error @+1 {{input must have rank >= 1}}
  %s, %z = dq.choose_qparams %x asymmetric per_tensor : tensor<f32> -> tensor<f32>, tensor<i32>
  return
}

// -----

func.func @scale_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 32-bit float values}}
  %s, %z = dq.choose_qparams %x asymmetric per_tensor : tensor<4x8xf32> -> tensor<f64>, tensor<i32>
  return
}

// -----

func.func @quantize_shape(%x: tensor<4x8xf32>, %s: tensor<f32>, %z: tensor<i32>) {
  // expected-error @+1 {{result must have shape [4, 8], got [4, 9]}}
  %q = dq.quantize %x, %s, %z : tensor<4x8xf32>, tensor<f32>, tensor<i32> -> tensor<4x9xui8>
  return
}

// -----

func.func @quantize_signless(%x: tensor<4x8xf32>, %s: tensor<f32>, %z: tensor<i32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 8-bit unsigned integer or 8-bit signed integer values}}
  %q = dq.quantize %x, %s, %z : tensor<4x8xf32>, tensor<f32>, tensor<i32> -> tensor<4x8xi8>
  return
}

// -----

func.func @quantize_qparam_mismatch(%x: tensor<4x8xf32>, %s: tensor<4xf32>, %z: tensor<i32>) {
  // expected-error @+1 {{scale and zero point must have the same shape}}
  %q = dq.quantize %x, %s, %z : tensor<4x8xf32>, tensor<4xf32>, tensor<i32> -> tensor<4x8xui8>
  return
}

// -----

func.func @dequantize_per_row(%q: tensor<4x8xui8>, %s: tensor<8xf32>, %z: tensor<8xi32>) {
  // expected-error @+1 {{per-row scale must have shape [4], got [8]}}
  %x = dq.dequantize %q, %s, %z : tensor<4x8xui8>, tensor<8xf32>, tensor<8xi32> -> tensor<4x8xf32>
  return
}

// -----

func.func @linear_rank1(%x: tensor<8xf32>, %w: tensor<16x8xi8>, %ws: tensor<f32>) {
  // expected-error @+1 {{input must have rank >= 2, got 1}}
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor : tensor<8xf32>, tensor<16x8xi8>, tensor<f32> -> tensor<16xf32>
  return
}

// -----

func.func @linear_k(%x: tensor<?x9xf32>, %w: tensor<16x8xi8>, %ws: tensor<f32>) {
  // expected-error @+1 {{input reduction dimension (last) is 9 but the weight has K = 8}}
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor : tensor<?x9xf32>, tensor<16x8xi8>, tensor<f32> -> tensor<?x16xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<?x8xf32>, %w: tensor<2x16x8xi8>, %ws: tensor<f32>) {
  // expected-error @+1 {{weight must have rank 2 ([N, K]), got 3}}
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor : tensor<?x8xf32>, tensor<2x16x8xi8>, tensor<f32> -> tensor<?x16xf32>
  return
}

// -----

func.func @linear_weight_type(%x: tensor<?x8xf32>, %w: tensor<16x8xui8>, %ws: tensor<f32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 8-bit signless integer or 8-bit signed integer values}}
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor : tensor<?x8xf32>, tensor<16x8xui8>, tensor<f32> -> tensor<?x16xf32>
  return
}

// -----

func.func @linear_channel_scale(%x: tensor<?x8xf32>, %w: tensor<16x8xi8>, %ws: tensor<8xf32>) {
  // expected-error @+1 {{per-channel weight scale must have shape [16], got [8]}}
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor : tensor<?x8xf32>, tensor<16x8xi8>, tensor<8xf32> -> tensor<?x16xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<?x8xf32>, %w: tensor<16x8xi8>, %ws: tensor<f32>, %b: tensor<15xf32>) {
  // expected-error @+1 {{bias must have shape [16], got [15]}}
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor : tensor<?x8xf32>, tensor<16x8xi8>, tensor<f32>, tensor<15xf32> -> tensor<?x16xf32>
  return
}

// -----

func.func @linear_result(%x: tensor<?x?x8xf32>, %w: tensor<16x8xi8>, %ws: tensor<f32>) {
  // expected-error @+1 {{result must have shape [?, ?, 16], got [?, 16]}}
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor : tensor<?x?x8xf32>, tensor<16x8xi8>, tensor<f32> -> tensor<?x16xf32>
  return
}

// -----

func.func @linear_symmetric_reduce_range(%x: tensor<?x8xf32>, %w: tensor<16x8xi8>, %ws: tensor<f32>) {
  // expected-error @+1 {{reduce_range is only defined for the asymmetric mode}}
  %y = dq.linear_dynamic %x, %w, %ws act symmetric per_row reduce_range : tensor<?x8xf32>, tensor<16x8xi8>, tensor<f32> -> tensor<?x16xf32>
  return
}

// -----

func.func @bad_mode(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'mode' [asymmetric, symmetric]}}
  %s, %z = dq.choose_qparams %x affine per_tensor : tensor<4x8xf32> -> tensor<f32>, tensor<i32>
  return
}

// -----

// Found by test/fuzz: the lowerings build plain tensors, so an encoding was
// dropped (invalid IR after convert-dq-to-linalg).
func.func @encoding(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{tensors with an encoding are not supported, got 'tensor<f32, {foo}>'}}
  %s, %z = dq.choose_qparams %x asymmetric per_tensor : tensor<4x8xf32> -> tensor<f32, {foo}>, tensor<i32>
  return
}

// -----

func.func @encoding_linear(%x: tensor<?x8xf32, "enc">, %w: tensor<16x8xi8>, %ws: tensor<f32>) {
  // expected-error @+1 {{tensors with an encoding are not supported, got 'tensor<?x8xf32, "enc">'}}
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor : tensor<?x8xf32, "enc">, tensor<16x8xi8>, tensor<f32> -> tensor<?x16xf32>
  return
}

// -----

// Found by test/fuzz: 33 * 2^62 * 4 elements; the strides of its memref
// overflow int64 (an assertion in expand-strided-metadata's verifier after
// bufferization).
func.func @size_overflow(%x: tensor<33x4611686018427387904x4xf32>, %w: tensor<0x4xi8>, %ws: tensor<f32>) {
  // expected-error @+1 {{the static sizes of 'tensor<33x4611686018427387904x4xf32>' overflow int64}}
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_row : tensor<33x4611686018427387904x4xf32>, tensor<0x4xi8>, tensor<f32> -> tensor<33x4611686018427387904x0xf32>
  return
}

// -----

func.func @layer_norm_dynamic_n(%x: tensor<4x?xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{the normalized (last) dimension must be static}}
  %y = dq.layer_norm %x, %g, %g eps 1.0e-5 : tensor<4x?xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<4x?xf32>
  return
}

// -----

func.func @layer_norm_gamma(%x: tensor<4x8xf32>, %g: tensor<7xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{gamma must have shape [8], got [7]}}
  %y = dq.layer_norm %x, %g, %b eps 1.0e-5 : tensor<4x8xf32>, tensor<7xf32>, tensor<8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @layer_norm_beta(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<8x1xf32>) {
  // expected-error @+1 {{beta must have shape [8], got [8, 1]}}
  %y = dq.layer_norm %x, %g, %b eps 1.0e-5 : tensor<4x8xf32>, tensor<8xf32>, tensor<8x1xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @layer_norm_result(%x: tensor<4x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{result must have shape [4, 8], got [5, 8]}}
  %y = dq.layer_norm %x, %g, %g eps 1.0e-5 : tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<5x8xf32>
  return
}

// -----

func.func @layer_norm_rank0(%x: tensor<f32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{input must have rank >= 1}}
  %y = dq.layer_norm %x, %g, %g eps 1.0e-5 : tensor<f32>, tensor<8xf32>, tensor<8xf32> -> tensor<f32>
  return
}

// -----

func.func @gelu_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %y = "dq.gelu"(%x) : (tensor<4x8xf32>) -> tensor<4x9xf32>
  return
}

// -----

func.func @lookup_empty(%i: i32) {
  // expected-error @+1 {{table must have 1 to 32 entries, has 0}}
  %y = dq.lookup %i [] : i32 -> f32
  return
}

// -----

func.func @lookup_too_big(%i: i32) {
  // expected-error @+1 {{table must have 1 to 32 entries, has 33}}
  %y = dq.lookup %i [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0] : i32 -> f32
  return
}

// -----

func.func @lookup_shape(%i: vector<16xi32>) {
  // expected-error @+1 {{all non-scalar operands/results must have the same shape and base type}}
  %y = dq.lookup %i [1.0, 2.0] : vector<16xi32> -> vector<8xf32>
  return
}

// -----

func.func @lookup_vector_scalar(%i: vector<16xi32>) {
  // expected-error @+1 {{if an operand is non-scalar, then there must be at least one non-scalar result}}
  %y = dq.lookup %i [1.0, 2.0] : vector<16xi32> -> f32
  return
}

// -----

func.func @flash_softmax_mask_rank(%s: tensor<2x3x4x5xf32>, %m: tensor<4x5xf32>) {
  // expected-error @+1 {{mask must be rank 0 or have the rank of scores}}
  %e, %inv = dq.flash_softmax %s, %m scale 0.5 : tensor<2x3x4x5xf32>, tensor<4x5xf32> -> tensor<2x3x4x5xf32>, tensor<2x3x4x1xf32>
  return
}

// -----

func.func @flash_softmax_mask_last_dim(%s: tensor<2x3x4x5xf32>, %m: tensor<2x1x4x1xf32>) {
  // expected-error @+1 {{mask dimension 3 must be that of scores}}
  %e, %inv = dq.flash_softmax %s, %m scale 0.5 : tensor<2x3x4x5xf32>, tensor<2x1x4x1xf32> -> tensor<2x3x4x5xf32>, tensor<2x3x4x1xf32>
  return
}

// -----

func.func @flash_softmax_mask_lead_dim(%s: tensor<2x3x4x5xf32>, %m: tensor<2x2x4x5xf32>) {
  // expected-error @+1 {{mask dimension 1 must be 1 or that of scores}}
  %e, %inv = dq.flash_softmax %s, %m scale 0.5 : tensor<2x3x4x5xf32>, tensor<2x2x4x5xf32> -> tensor<2x3x4x5xf32>, tensor<2x3x4x1xf32>
  return
}

// -----

func.func @flash_softmax_sum_shape(%s: tensor<2x3x4x5xf32>, %m: tensor<f32>) {
  // expected-error @+1 {{inv_sum must have shape [2, 3, 4, 1], got [2, 3, 4]}}
  %e, %inv = dq.flash_softmax %s, %m scale 0.5 : tensor<2x3x4x5xf32>, tensor<f32> -> tensor<2x3x4x5xf32>, tensor<2x3x4xf32>
  return
}

// -----

func.func @flash_scores_fixup_key(%s: tensor<2x4x5xf32>, %q: tensor<2x4x32xf32>, %k: tensor<2x6x32xf32>) {
  // expected-error @+1 {{rhs must have shape [2, 5, 32], got [2, 6, 32]}}
  %r = dq.flash_scores_fixup %s, %q, %k : tensor<2x4x5xf32>, tensor<2x4x32xf32>, tensor<2x6x32xf32>
  return
}

// -----

func.func @flash_output_fixup_value(%o: tensor<2x4x32xf32>, %e: tensor<2x4x5xf32>, %v: tensor<2x5x16xf32>) {
  // expected-error @+1 {{rhs must have shape [2, 5, 32], got [2, 5, 16]}}
  %r = dq.flash_output_fixup %o, %e, %v : tensor<2x4x32xf32>, tensor<2x4x5xf32>, tensor<2x5x16xf32>
  return
}

// -----

func.func @softmax_dim(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{dim must be in [0, 2), got 2}}
  %y = dq.softmax %x dim 2 : tensor<4x8xf32>
  return
}

// -----

func.func @softmax_rank0(%x: tensor<f32>) {
  // expected-error @+1 {{input must have rank >= 1}}
  %y = dq.softmax %x dim 0 : tensor<f32>
  return
}

// -----

func.func @gelu_aten_inner_dims_past_rank(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{aten_inner_dims 3 exceeds the rank 2}}
  %y = dq.gelu %x {aten_inner_dims = 3 : i64} : tensor<4x8xf32>
  return
}

// -----

func.func @gelu_aten_inner_dims_zero(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{attribute 'aten_inner_dims' failed to satisfy constraint}}
  %y = dq.gelu %x {aten_inner_dims = 0 : i64} : tensor<4x8xf32>
  return
}

// -----

func.func @sigmoid_f64(%x: tensor<4x8xf64>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float values}}
  %y = dq.sigmoid %x : tensor<4x8xf64>
  return
}

// -----

func.func @tanh_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %y = "dq.tanh"(%x) : (tensor<4x8xf32>) -> tensor<4x9xf32>
  return
}
