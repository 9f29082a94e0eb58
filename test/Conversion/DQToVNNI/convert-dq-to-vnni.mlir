// RUN: dq-opt %s --convert-dq-to-vnni="rows=4 cols=64" --canonicalize --split-input-file | FileCheck %s
// RUN: dq-opt %s --convert-dq-to-vnni=rows=2 --canonicalize --split-input-file | FileCheck %s --check-prefix=ROWS2
// RUN: dq-opt %s --convert-dq-to-vnni="cols=64 threads=2" --canonicalize --split-input-file | FileCheck %s --check-prefix=PAR

// Rank 3, K = 6 (one full group of 4 and a masked tail), N = 2 (padded to
// 16, masked stores). The weights are packed at compile time into a
// dense_resource: [K/4][16 columns][4 k], zero-padded; the column sums too
// (1-2+3-4+5+6 = 9, 127-128+0+5 = 4).
// CHECK-LABEL: func @linear_const
// CHECK-DAG: %[[SUMS:.*]] = arith.constant dense_resource<dq_vnni_colsums> : tensor<16xi32>
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<dq_vnni_weights> : tensor<128xi8>
// CHECK: %[[S:.*]], %[[ZP:.*]] = dq.choose_qparams %{{.*}} asymmetric per_tensor reduce_range
// CHECK: %[[Q:.*]] = dq.quantize
// CHECK: %[[A:.*]] = tensor.bitcast %[[Q]] : tensor<?x?x6xui8> to tensor<?x?x6xi8>
// CHECK-DAG: %[[CS:.*]] = vector.transfer_read %[[SUMS]]{{.*}}in_bounds = [true]{{.*}} : tensor<16xi32>, vector<16xi32>
// CHECK-DAG: %[[WS:.*]] = vector.transfer_read %{{.*}} : tensor<2xf32>, vector<16xf32>
// CHECK-DAG: %[[B:.*]] = vector.transfer_read %{{.*}} : tensor<2xf32>, vector<16xf32>
// Per-tensor qparams: zp * colsum and s * ws once per panel, not per row.
// CHECK: %[[ZPV:.*]] = vector.broadcast %{{.*}} : i32 to vector<16xi32>
// CHECK: %[[CORR:.*]] = arith.muli %[[ZPV]], %[[CS]] : vector<16xi32>
// CHECK: %[[MULT:.*]] = arith.mulf %{{.*}}, %[[WS]] : vector<16xf32>
// Blocks of 4 rows: 4 accumulators; rows delinearized, no reshape.
// CHECK: scf.for %[[M:.*]] = %{{.*}} step %c4 iter_args(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x?x2xf32>)
// CHECK:   arith.remui %[[M]]
// CHECK:   %[[W0:.*]] = vector.transfer_read %[[W]][%c0]{{.*}}in_bounds = [true]{{.*}} : tensor<128xi8>, vector<64xi8>
// CHECK:   %[[A0:.*]] = vector.transfer_read %[[A]]{{.*}}in_bounds = [true]{{.*}} : tensor<?x?x6xi8>, vector<4xi8>
// CHECK:   %[[A1:.*]] = vector.bitcast %[[A0]] : vector<4xi8> to vector<1xi32>
// CHECK:   %[[A2:.*]] = vector.extract %[[A1]][0]
// CHECK:   %[[A3:.*]] = vector.broadcast %[[A2]] : i32 to vector<16xi32>
// CHECK:   %[[A4:.*]] = vector.bitcast %[[A3]] : vector<16xi32> to vector<64xi8>
// CHECK:   dqx86.vpdpbusd %{{.*}}, %[[A4]], %[[W0]] : vector<64xi8> into vector<16xi32>
// CHECK-COUNT-3: dqx86.vpdpbusd
// The last, partial group of 4: activations read masked (no in_bounds).
// CHECK:   vector.transfer_read %[[W]][%c64]
// CHECK:   vector.transfer_read %[[A]][{{.*}}, %c4], %{{.*}} : tensor<?x?x6xi8>, vector<4xi8>
// CHECK-COUNT-4: dqx86.vpdpbusd
// Fused epilogue: fma(float(acc - zp * colsum), s * ws, bias), masked store.
// CHECK:   %[[D:.*]] = arith.subi %{{.*}}, %[[CORR]] : vector<16xi32>
// CHECK:   %[[F:.*]] = arith.sitofp %[[D]] : vector<16xi32> to vector<16xf32>
// CHECK:   %[[R:.*]] = math.fma %[[F]], %[[MULT]], %[[B]] : vector<16xf32>
// CHECK:   vector.transfer_write %[[R]], %[[OUT]][{{.*}}, %c0] : vector<16xf32>, tensor<?x?x2xf32>
// CHECK-COUNT-3: vector.transfer_write
// CHECK:   scf.yield
// The remaining rows one at a time.
// CHECK: scf.for {{.*}} step %c1
// CHECK-COUNT-2: dqx86.vpdpbusd
// CHECK: vector.transfer_write
// CHECK-NOT: dq.linear_dynamic
// CHECK: dq_vnni_colsums: "0x04000000090000000400000000000000
// CHECK: dq_vnni_weights: "0x4000000001FE03FC7F80000500000000{{0+}}05060000{{0+}}"
func.func @linear_const(%x: tensor<?x?x6xf32>) -> tensor<?x?x2xf32> {
  %w = arith.constant dense<[[1, -2, 3, -4, 5, 6], [127, -128, 0, 5, 0, 0]]> : tensor<2x6xi8>
  %ws = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range
      : tensor<?x?x6xf32>, tensor<2x6xi8>, tensor<2xf32>, tensor<2xf32> -> tensor<?x?x2xf32>
  return %y : tensor<?x?x2xf32>
}

// The register tile's rows are an option.
// ROWS2-LABEL: func @linear_const
// ROWS2: scf.for {{.*}} step %c2 iter_args
// ROWS2-COUNT-4: dqx86.vpdpbusd
// ROWS2: scf.for {{.*}} step %c1 iter_args
// ROWS2-COUNT-2: dqx86.vpdpbusd
// ROWS2-LABEL: func @linear_symmetric

// -----

// N = 136 = two inner panels of 64 columns (unmasked stores, a loop over
// panels) + a masked panel of 16 (N padded to 144); K = 8: an scf.for over
// K/4 with 4 x 4 vector<16xi32> accumulators. Symmetric per-row activations: sign bit
// flipped (+128), then 128 * colsum comes off; epilogue
// ((float(acc) * s) * ws) + bias, per-row scale, per-tensor weight scale.
// CHECK-LABEL: func @linear_symmetric
// CHECK: dq.choose_qparams %{{.*}} symmetric per_row
// CHECK: dq.quantize {{.*}} -> tensor<?x8xsi8>
// CHECK: scf.for %[[N0:.*]] = %c0 to %c128 step %c64
// CHECK:   scf.for
// CHECK:     scf.for %{{.*}} = %c0 to %c2 step %c1 iter_args({{.*}}) -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>)
// CHECK:       vector.broadcast %{{.*}} : i32 to vector<16xi32>
// CHECK:       arith.xori %{{.*}}, %cst{{.*}} : vector<16xi32>
// CHECK-COUNT-4: dqx86.vpdpbusd
// CHECK:     tensor.extract %{{.*}}[%{{.*}}] : tensor<?xf32>
// CHECK:     arith.muli
// CHECK:     arith.subi
// CHECK:     arith.sitofp
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
// CHECK-NEXT: vector.transfer_write {{.*}} {in_bounds = [true]} : vector<16xf32>, tensor<?x136xf32>
// The masked panel at column 128.
// CHECK: vector.transfer_write {{.*}}[%{{.*}}, %c128] : vector<16xf32>, tensor<?x136xf32>

// threads=2: the two full panels split into chunks of consecutive panels,
// an scf.forall whose iterations write disjoint column slices of the
// result. Two chunks from 2 * 2^22 multiply-adds on (7711 rows of K x N =
// 8 x 136), else one. The masked panel follows, sequential.
// PAR-LABEL: func @linear_symmetric
// PAR: %[[BIG:.*]] = arith.cmpi uge, %{{.*}}, %c7711 : index
// PAR: %[[CHUNKS:.*]] = arith.select %[[BIG]], %c2, %c1 : index
// PAR: %[[RES:.*]] = scf.forall (%[[C:.*]]) in (%[[CHUNKS]]) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x136xf32>)
// PAR:   arith.muli %[[C]], %c2
// PAR:   %[[P0:.*]] = arith.divui %{{.*}}, %[[CHUNKS]]
// PAR:   %[[LB:.*]] = arith.muli %[[P0]], %c64
// PAR:   %[[UB:.*]] = arith.muli %{{.*}}, %c64
// PAR:   %[[W:.*]] = arith.subi %[[UB]], %[[LB]]
// PAR:   %[[SLICE:.*]] = tensor.extract_slice %[[OUT]][0, %[[LB]]] [%{{.*}}, %[[W]]] [1, 1] : tensor<?x136xf32> to tensor<?x?xf32>
// PAR:   %[[R:.*]] = scf.for %[[N0:.*]] = %[[LB]] to %[[UB]] step %c64 iter_args(%{{.*}} = %[[SLICE]]) -> (tensor<?x?xf32>)
// PAR:     dqx86.vpdpbusd
// Stores at the panel's column within the slice.
// PAR:     %[[COL:.*]] = arith.subi %[[N0]], %[[LB]] : index
// PAR:     vector.transfer_write %{{.*}}[%{{.*}}, %[[COL]]] {in_bounds = [true]} : vector<16xf32>, tensor<?x?xf32>
// PAR:   scf.forall.in_parallel
// PAR-NEXT: tensor.parallel_insert_slice %[[R]] into %[[OUT]][0, %[[LB]]] [%{{.*}}, %[[W]]] [1, 1]
// PAR: scf.for {{.*}} iter_args(%{{.*}} = %[[RES]])
// PAR: vector.transfer_write {{.*}}[%{{.*}}, %c128] : vector<16xf32>, tensor<?x136xf32>
func.func @linear_symmetric(%x: tensor<?x8xf32>) -> tensor<?x136xf32> {
  %w = arith.constant dense<-3> : tensor<136x8xsi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %b = arith.constant dense<1.0> : tensor<136xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act symmetric per_row
      : tensor<?x8xf32>, tensor<136x8xsi8>, tensor<f32>, tensor<136xf32> -> tensor<?x136xf32>
  return %y : tensor<?x136xf32>
}

// -----

// A weight that is not a constant is left to convert-dq-to-linalg.
// CHECK-LABEL: func @linear_arg
// CHECK: dq.linear_dynamic
// CHECK-NOT: dqx86.vpdpbusd
func.func @linear_arg(%x: tensor<?x8xf32>, %w: tensor<16x8xi8>, %ws: tensor<f32>) -> tensor<?x16xf32> {
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x8xf32>, tensor<16x8xi8>, tensor<f32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Found by test/fuzz: packing copies the weight into a new constant, so a
// splat of a huge type took gigabytes (out of memory). Weights whose packed
// form exceeds 1 GiB are left to convert-dq-to-linalg.
// CHECK-LABEL: func @linear_huge_splat
// CHECK: dq.linear_dynamic
// CHECK-NOT: dqx86.vpdpbusd
func.func @linear_huge_splat(%x: tensor<?x65536xf32>) -> tensor<?x65536xf32> {
  %w = arith.constant dense<3> : tensor<65536x65536xi8>
  %ws = arith.constant dense<0.01> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x65536xf32>, tensor<65536x65536xi8>, tensor<f32> -> tensor<?x65536xf32>
  return %y : tensor<?x65536xf32>
}

// -----

// The VNNI kernel fuses a dq.gelu that is the linear's only user into its
// epilogue too (lib/Kernels/FuseEpilogue.h).
// CHECK-LABEL: func @linear_gelu
// CHECK-NOT: dq.gelu
// CHECK: dqx86.vpdpbusd
// CHECK: dq.lookup
// CHECK: vector.transfer_write
// CHECK-NOT: dq.gelu
func.func @linear_gelu(%x: tensor<?x64xf32>) -> tensor<?x32xf32> {
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x64xf32>, tensor<32x64xi8>, tensor<f32> -> tensor<?x32xf32>
  %g = dq.gelu %y : tensor<?x32xf32>
  return %g : tensor<?x32xf32>
}

// -----

// A residual add (torch-mlir's elementwise generic, the linear's only user
// besides tensor.dim) is fused too: the epilogue reads the residual at the
// output's row and column and adds it, as the add's right operand, before
// the store. The tensor.dim users become dims of the input.
// CHECK-LABEL: func @linear_residual
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[R:.*]]: tensor<?x32xf32>)
// CHECK: tensor.dim %[[X]], %c0
// CHECK-NOT: linalg.generic
// CHECK: dqx86.vpdpbusd
// CHECK: %[[Y:.*]] = math.fma
// CHECK: %[[RES:.*]] = vector.transfer_read %[[R]]
// CHECK: %[[SUM:.*]] = arith.addf %[[Y]], %[[RES]] : vector<16xf32>
// CHECK: vector.transfer_write %[[SUM]]
// CHECK-NOT: linalg.generic
func.func @linear_residual(%x: tensor<?x64xf32>, %r: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %b = arith.constant dense<1.0> : tensor<32xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor
      : tensor<?x64xf32>, tensor<32x64xi8>, tensor<f32>, tensor<32xf32> -> tensor<?x32xf32>
  %d = tensor.dim %y, %c0 : tensor<?x32xf32>
  %e = tensor.empty(%d) : tensor<?x32xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%y, %r : tensor<?x32xf32>, tensor<?x32xf32>) outs(%e : tensor<?x32xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %t = arith.addf %a, %c : f32
    linalg.yield %t : f32
  } -> tensor<?x32xf32>
  return %s : tensor<?x32xf32>
}

// -----

// Not fused: the linear has another user (the add would read it anyway), or
// the add is a subtraction.
// CHECK-LABEL: func @linear_residual_shared
// CHECK: dqx86.vpdpbusd
// CHECK: linalg.generic
// CHECK: arith.addf %{{.*}}, %{{.*}} : f32
// CHECK-LABEL: func @linear_minus
// CHECK: dqx86.vpdpbusd
// CHECK: linalg.generic
// CHECK: arith.subf %{{.*}}, %{{.*}} : f32
func.func @linear_residual_shared(%x: tensor<4x64xf32>, %r: tensor<4x32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<4x64xf32>, tensor<32x64xi8>, tensor<f32> -> tensor<4x32xf32>
  %e = tensor.empty() : tensor<4x32xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%y, %r : tensor<4x32xf32>, tensor<4x32xf32>) outs(%e : tensor<4x32xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %t = arith.addf %a, %c : f32
    linalg.yield %t : f32
  } -> tensor<4x32xf32>
  return %s, %y : tensor<4x32xf32>, tensor<4x32xf32>
}
func.func @linear_minus(%x: tensor<4x64xf32>, %r: tensor<4x32xf32>) -> tensor<4x32xf32> {
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<4x64xf32>, tensor<32x64xi8>, tensor<f32> -> tensor<4x32xf32>
  %e = tensor.empty() : tensor<4x32xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%y, %r : tensor<4x32xf32>, tensor<4x32xf32>) outs(%e : tensor<4x32xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %t = arith.subf %a, %c : f32
    linalg.yield %t : f32
  } -> tensor<4x32xf32>
  return %s : tensor<4x32xf32>
}

// -----

// A weight that is not a constant is left to convert-dq-to-linalg: the linear,
// its tensor.dim user and the add stay as they are.
// CHECK-LABEL: func @linear_residual_weight_arg
// CHECK: %[[Y:.*]] = dq.linear_dynamic
// CHECK: tensor.dim %[[Y]]
// CHECK: linalg.generic
// CHECK-NOT: dqx86.vpdpbusd
func.func @linear_residual_weight_arg(%x: tensor<?x64xf32>, %w: tensor<32x64xi8>, %r: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x64xf32>, tensor<32x64xi8>, tensor<f32> -> tensor<?x32xf32>
  %d = tensor.dim %y, %c0 : tensor<?x32xf32>
  %e = tensor.empty(%d) : tensor<?x32xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%y, %r : tensor<?x32xf32>, tensor<?x32xf32>) outs(%e : tensor<?x32xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %t = arith.addf %a, %c : f32
    linalg.yield %t : f32
  } -> tensor<?x32xf32>
  return %s : tensor<?x32xf32>
}

// -----

// The linear as the add's init (which the body does not read) is not a
// residual add of it: not fused.
// CHECK-LABEL: func @linear_as_init
// CHECK: dqx86.vpdpbusd
// CHECK: linalg.generic
// CHECK: arith.addf %{{.*}}, %{{.*}} : f32
func.func @linear_as_init(%x: tensor<4x64xf32>, %r: tensor<4x32xf32>, %q: tensor<4x32xf32>) -> tensor<4x32xf32> {
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<4x64xf32>, tensor<32x64xi8>, tensor<f32> -> tensor<4x32xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%r, %q : tensor<4x32xf32>, tensor<4x32xf32>) outs(%y : tensor<4x32xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %t = arith.addf %a, %c : f32
    linalg.yield %t : f32
  } -> tensor<4x32xf32>
  return %s : tensor<4x32xf32>
}
