// RUN: dq-opt %s --convert-dq-to-amx --canonicalize | FileCheck %s
// One thread: register blocks of AMX tiles, the VNNI micro-kernel for few
// rows, a dq.gelu or residual add fused into the epilogue. Threads:
// convert-dq-to-amx-{row,panel}-split.mlir; the block shape:
// convert-dq-to-amx-row-tiles.mlir; to LLVM and machine code:
// test/Pipelines/dq-cpu-pipeline-amx.mlir.

// Rank 3, K = 6 (padded to 64), N = 2 (padded to 16, masked stores). The
// weights are packed at compile time in the AMX B-tile layout: row r of the
// 16x64-byte tile holds W[j][4r .. 4r+3] for the 16 columns j; the column
// sums too (1-2+3-4+5+6 = 9, 127-128+0+5 = 4).
// CHECK-LABEL: func @linear_const
// CHECK-DAG: %[[SUMS:.*]] = arith.constant dense_resource<dq_amx_colsums> : tensor<16xi32>
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<dq_amx_weights> : tensor<1024xi8>
// CHECK: dq.choose_qparams %{{.*}} asymmetric per_tensor reduce_range
// CHECK-NOT: dq.quantize
// CHECK: %[[WBUF:.*]] = bufferization.to_buffer %[[W]] read_only : tensor<1024xi8> to memref<1024xi8>
// CHECK: %[[SCRATCH:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x32xi32>
// Fewer than 32 rows: dq.quantize, then the VNNI micro-kernel on the same
// packed weights.
// CHECK: scf.if
// CHECK: %[[Q:.*]] = dq.quantize
// CHECK: tensor.bitcast %[[Q]] : tensor<?x?x6xui8> to tensor<?x?x6xi8>
// CHECK: dqx86.vpdpbusd
// CHECK: } else {
// CHECK-NOT: dq.quantize
// Activations quantized as they are packed into tiles
// [rows / 16][K / 64][16][64] (one K block here), 16 floats at a time with
// dq.quantize's arithmetic: row m at (m / 16) * 1024 + (m % 16) * 64. The
// K tail is read masked; vectors all in the padding are zeros.
// CHECK: %[[ACTS:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xi8>
// CHECK: arith.divf %{{.*}}, %{{.*}} : f32
// CHECK: scf.for
// CHECK: arith.remui %{{.*}}, %c16
// CHECK: %[[X:.*]] = vector.transfer_read %arg0{{.*}} : tensor<?x?x6xf32>, vector<16xf32>
// CHECK: math.fma %[[X]]
// CHECK: math.roundeven
// CHECK: %[[QV:.*]] = arith.trunci %{{.*}} : vector<16xi32> to vector<16xi8>
// CHECK: vector.store %[[QV]], %[[ACTS]][%{{.*}}] : memref<?xi8>, vector<16xi8>
// CHECK-COUNT-3: vector.store %[[ZERO:.*]], %[[ACTS]][%{{.*}}] : memref<?xi8>, vector<16xi8>
// Blocks of 2 x 1 tiles (N = 16 after padding): one B tile, two A tiles.
// CHECK: scf.for %[[M:.*]] = %{{.*}} step %c32 iter_args(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x?x2xf32>)
// CHECK:   amx.tile_zero : !amx.tile<16x16xi32>
// CHECK:   %[[B0:.*]] = amx.tile_load %[[WBUF]][%c0], %c64 : memref<1024xi8> into !amx.tile<16x64xi8>
// CHECK:   %[[A0:.*]] = amx.tile_load %[[ACTS]][%{{.*}}], %c64 : memref<?xi8> into !amx.tile<16x64xi8>
// CHECK:   %[[C0:.*]] = amx.tile_muli %[[A0]] zext, %[[B0]], %{{.*}} : !amx.tile<16x64xi8>, !amx.tile<16x64xi8>, !amx.tile<16x16xi32>
// CHECK:   amx.tile_muli %{{.*}} zext, %[[B0]], %{{.*}}
// CHECK:   amx.tile_store %[[SCRATCH]][%c0, %c0], %[[C0]] : memref<32x32xi32>, !amx.tile<16x16xi32>
// CHECK:   amx.tile_store %[[SCRATCH]][%c16, %c0]
// The shared epilogue, row by row from the scratch: fma(float(acc - zp *
// colsum), s * ws, bias), masked store; zp * colsum formed once per panel.
// CHECK:   scf.for
// CHECK:     %[[ACC:.*]] = vector.load %[[SCRATCH]][%{{.*}}, %c0] : memref<32x32xi32>, vector<16xi32>
// CHECK-NOT: arith.muli {{.*}} : vector<16xi32>
// CHECK:     %[[D:.*]] = arith.subi %[[ACC]], %{{.*}} : vector<16xi32>
// CHECK:     %[[F:.*]] = arith.sitofp %[[D]] : vector<16xi32> to vector<16xf32>
// CHECK:     math.fma %[[F]], %{{.*}}, %{{.*}} : vector<16xf32>
// CHECK:     vector.transfer_write %{{.*}} : vector<16xf32>, tensor<?x?x2xf32>
// Remaining rows: blocks of one row tile.
// CHECK: scf.for {{.*}} step %c16
// CHECK:   amx.tile_muli
// CHECK-NOT: dq.linear_dynamic
func.func @linear_const(%x: tensor<?x?x6xf32>) -> tensor<?x?x2xf32> {
  %w = arith.constant dense<[[1, -2, 3, -4, 5, 6], [127, -128, 0, 5, 0, 0]]> : tensor<2x6xi8>
  %ws = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range : tensor<?x?x6xf32>, tensor<2x6xi8>, tensor<2xf32>, tensor<2xf32> -> tensor<?x?x2xf32>
  return %y : tensor<?x?x2xf32>
}

// A dq.gelu that is the linear's only user (a transformer's FFN1) is applied
// in the epilogue of both branches, to the dequantized vectors before their
// store (its coefficient tables as dq.lookup): the output is written once,
// and no dq.gelu is left.
// CHECK-LABEL: func @linear_gelu
// CHECK-NOT: dq.gelu
// CHECK: dqx86.vpdpbusd
// CHECK: math.fma
// CHECK: dq.lookup
// CHECK: vector.transfer_write
// CHECK: } else {
// CHECK: amx.tile_muli
// CHECK: dq.lookup
// CHECK: vector.transfer_write
// CHECK-NOT: dq.gelu
// CHECK: return
func.func @linear_gelu(%x: tensor<?x64xf32>) -> tensor<?x32xf32> {
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %b = arith.constant dense<1.0> : tensor<32xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range
      : tensor<?x64xf32>, tensor<32x64xi8>, tensor<f32>, tensor<32xf32> -> tensor<?x32xf32>
  %g = dq.gelu %y : tensor<?x32xf32>
  return %g : tensor<?x32xf32>
}

// With another user the linear keeps its own output and dq.gelu stays.
// CHECK-LABEL: func @linear_gelu_shared
// CHECK: amx.tile_muli
// CHECK: %[[G:.*]] = dq.gelu
// CHECK: return %[[G]], %{{.*}}
func.func @linear_gelu_shared(%x: tensor<?x64xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x64xf32>, tensor<32x64xi8>, tensor<f32> -> tensor<?x32xf32>
  %g = dq.gelu %y : tensor<?x32xf32>
  return %g, %y : tensor<?x32xf32>, tensor<?x32xf32>
}

// A residual add, the linear's only user besides tensor.dim, is fused in
// both branches: the residual's vector at the output's row and column is
// added (as the add's left operand here) before the store.
// CHECK-LABEL: func @linear_residual
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[R:.*]]: tensor<?x32xf32>)
// CHECK-NOT: linalg.generic
// CHECK: dqx86.vpdpbusd
// CHECK: %[[Y:.*]] = math.fma
// CHECK: %[[RES:.*]] = vector.transfer_read %[[R]]
// CHECK: arith.addf %[[RES]], %[[Y]] : vector<16xf32>
// CHECK: } else {
// CHECK: amx.tile_muli
// CHECK: %[[Y2:.*]] = math.fma
// CHECK: %[[RES2:.*]] = vector.transfer_read %[[R]]
// CHECK: arith.addf %[[RES2]], %[[Y2]] : vector<16xf32>
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @linear_residual(%x: tensor<?x64xf32>, %r: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %b = arith.constant dense<1.0> : tensor<32xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range
      : tensor<?x64xf32>, tensor<32x64xi8>, tensor<f32>, tensor<32xf32> -> tensor<?x32xf32>
  %d = tensor.dim %y, %c0 : tensor<?x32xf32>
  %e = tensor.empty(%d) : tensor<?x32xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%r, %y : tensor<?x32xf32>, tensor<?x32xf32>) outs(%e : tensor<?x32xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %t = arith.addf %a, %c : f32
    linalg.yield %t : f32
  } -> tensor<?x32xf32>
  return %s : tensor<?x32xf32>
}

// The packed constants of @linear_const, in the resource section at the end.
// CHECK: dq_amx_colsums: "0x04000000090000000400000000000000
// CHECK: dq_amx_weights: "0x4000000001FE03FC7F80000500000000{{0+}}05060000{{0+}}"
