// RUN: dq-opt %s --pass-pipeline="builtin.module(func.func(dq-vectorize-linalg))" | FileCheck %s
// RUN: dq-opt %s --pass-pipeline="builtin.module(func.func(dq-vectorize-linalg{threads=2}))" | FileCheck %s --check-prefix=PAR

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>

// Elementwise: rows one by one, 16 lanes at a time, masked at the edge;
// exp becomes SLEEF's expf_u10 polynomial (ApproximateMath.cpp).
// CHECK-LABEL: func.func @exp
// CHECK: scf.for
// CHECK: scf.for
// CHECK: vector.create_mask
// CHECK: vector.transfer_read {{.*}} vector<16xf32>
// CHECK: math.roundeven {{.*}} : vector<16xf32>
// CHECK-NOT: math.exp
// CHECK: vector.transfer_write
func.func @exp(%x: memref<?x?xf32>, %y: memref<?x?xf32>) {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x?xf32>) outs(%y : memref<?x?xf32>) {
  ^bb0(%in: f32, %out: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  }
  return
}

// Innermost reduction: each row in chunks of 16, the row's sum carried in
// a register through the full chunks, then the masked last chunk.
// CHECK-LABEL: func.func @row_sum
// CHECK: scf.for
// CHECK: scf.for {{.*}} step %c16 iter_args
// CHECK: vector.multi_reduction <add>
// CHECK: vector.transfer_write
// CHECK: scf.for {{.*}} step %c16
// CHECK: vector.mask {{.*}} vector.multi_reduction <add>
func.func @row_sum(%x: memref<?x?xf32>, %y: memref<?xf32>) {
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<?x?xf32>) outs(%y : memref<?xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  }
  return
}

// f32 contraction with a static k, two schedules chosen by M at run time.
// M >= 8: column strips of 32 outside, 8x32 tiles of C inside them, k one
// step at a time, the full tiles keeping C in registers across the k loop;
// the column edge is masked. M < 8 (a decode step's M = 1): rows one at a
// time with k outside the rows and columns, unmasked 1x32 steps that
// stream each row of B once.
// CHECK-LABEL: func.func @scores
// CHECK:      %[[M:.*]] = memref.dim %arg0, %c1
// CHECK:      %[[MANY:.*]] = arith.cmpi sge, %[[M]], %c8
// CHECK:      scf.if %[[MANY]] {
// CHECK:        scf.for {{.*}} step %c32
// CHECK-NEXT:     scf.for {{.*}} step %c8
// CHECK:            vector.transfer_read {{.*}} vector<8x32xf32>
// CHECK:            %[[ACC:.*]] = scf.for {{.*}} iter_args({{.*}}) -> (vector<1x8x32xf32>)
// CHECK:              vector.contract {{.*}} vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK-NOT:          vector.transfer_write
// CHECK:              scf.yield
// CHECK:            %[[C:.*]] = vector.extract %[[ACC]][0]
// CHECK:            vector.transfer_write %[[C]]
// CHECK:        vector.mask {{.*}} vector.contract
// CHECK:      } else {
// CHECK-NEXT:   memref.dim
// CHECK:        scf.for %{{.*}} = %c0 to %{{.*}} step %c1 {
// CHECK-NEXT:     scf.for %{{.*}} = %c0 to %c32 step %c1 {
// CHECK-NEXT:       scf.for %{{.*}} = %c0 to %{{.*}} step %c1 {
// CHECK:              scf.for {{.*}} step %c32 {
// CHECK-NOT:            vector.mask
// CHECK:                vector.contract {{.*}} vector<1xf32>, vector<1x32xf32> into vector<32xf32>
// CHECK:              scf.for {{.*}} step %c32 {
// CHECK:                vector.mask {{.*}} vector.contract
// threads=2: the batch loop (dim 0, parallel, tiled by 1) becomes an
// scf.parallel over 2 chunks of it when the op has at least 2 * 2^14
// iterations (b*m*n*k, at run time), else over 1 (run inline): one copy of
// the body, vectorized. Dim 1 (m) is tiled by 8: it stays a loop of its own.
// PAR-LABEL: func.func @scores
// PAR: %[[WORTH:.*]] = arith.cmpi uge, %{{.*}}, %c32768 : index
// PAR: %[[CHUNKS:.*]] = arith.select %[[WORTH]], %c2, %c1 : index
// PAR: scf.parallel (%[[C:.*]]) = (%c0) to (%[[CHUNKS]]) step (%c1) {
// PAR:   %[[LO:.*]] = arith.divui %{{.*}}, %[[CHUNKS]] : index
// PAR:   %[[HI:.*]] = arith.divui %{{.*}}, %[[CHUNKS]] : index
// PAR:   scf.for %{{.*}} = %[[LO]] to %[[HI]] step %c1 {
// PAR:     scf.for {{.*}} step %c8
// PAR:       vector.contract
// PAR-NOT: scf.if
// PAR-LABEL: func.func @context
func.func @scores(%a: memref<?x?x32xf32>, %b: memref<?x32x?xf32>, %c: memref<?x?x?xf32>) {
  linalg.batch_matmul ins(%a, %b : memref<?x?x32xf32>, memref<?x32x?xf32>) outs(%c : memref<?x?x?xf32>)
  return
}

// f32 contraction with a dynamic k (attention probabilities x V): the same
// schedule, k walked to its runtime size.
// CHECK-LABEL: func.func @context
// CHECK: scf.for {{.*}} step %c32
// CHECK: scf.for {{.*}} step %c8
// CHECK: scf.for {{.*}} iter_args
// CHECK: vector.contract
func.func @context(%a: memref<?x?x?xf32>, %b: memref<?x?x32xf32>, %c: memref<?x?x32xf32>) {
  linalg.batch_matmul ins(%a, %b : memref<?x?x?xf32>, memref<?x?x32xf32>) outs(%c : memref<?x?x32xf32>)
  return
}

// erf stays math.erf on the vector (libm's erff per lane later): torch.erf
// is MKL's vsErf, which erff matches within 1 ulp, and A&S's polynomial
// (Vectorized<float>::erf) does not near 0.
// CHECK-LABEL: func.func @erf
// CHECK: vector.transfer_read {{.*}} vector<16xf32>
// CHECK-NOT: arith.divf
// CHECK: math.erf {{.*}} : vector<16xf32>
// CHECK: vector.transfer_write
func.func @erf(%x: memref<?x?xf32>, %y: memref<?x?xf32>) {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x?xf32>) outs(%y : memref<?x?xf32>) {
  ^bb0(%in: f32, %out: f32):
    %e = math.erf %in : f32
    linalg.yield %e : f32
  }
  return
}

// Left alone: math.fpowi (MathToLLVM emits an invalid vector powi).
// CHECK-LABEL: func.func @powi
// CHECK: linalg.generic
// CHECK-NOT: vector.
func.func @powi(%x: memref<?x?xf32>, %y: memref<?x?xf32>) {
  %c3 = arith.constant 3 : i32
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x?xf32>) outs(%y : memref<?x?xf32>) {
  ^bb0(%in: f32, %out: f32):
    %e = math.fpowi %in, %c3 : f32, i32
    linalg.yield %e : f32
  }
  return
}

// A static transpose of a reshaped buffer (BERT's K^T with the batch fixed):
// tiles of 16 head-dim x 16 keys, read as 16 rows of the input, transposed
// in registers by 64 shuffles, written as 16 rows of the output; the last 8
// of the 24 keys are masked on both sides.
// Its reads stay on the expand_shape: MLIR 22 folds them into the source
// wrongly (test/fuzz/upstream/transfer-read-through-expand-shape.mlir).
// CHECK-LABEL: func.func @transpose_of_reshape
// CHECK: memref.expand_shape
// CHECK: scf.for {{.*}} to %c64 step %c16
// CHECK: vector.transfer_read %expand_shape{{.*}} : memref<2x24x2x64xf32>, vector<16x1x16xf32>
// CHECK-COUNT-64: vector.shuffle
// CHECK: vector.transfer_write {{.*}} : vector<16x16xf32>, memref<2x2x64x24xf32>
// CHECK: vector.create_mask %c1, %{{.*}}, %c1, %c16 : vector<1x16x1x16xi1>
// CHECK: vector.transfer_read %expand_shape{{.*}} vector<16x1x16xf32>
// CHECK-COUNT-64: vector.shuffle
// CHECK: vector.create_mask %c1, %c1, %c16, %{{.*}} : vector<1x1x16x16xi1>
// CHECK: vector.transfer_write {{.*}} : vector<16x16xf32>, memref<2x2x64x24xf32>
// CHECK-NOT: vector.transpose
func.func @transpose_of_reshape(%a: memref<2x24x128xf32>, %o: memref<2x2x64x24xf32>) {
  %e = memref.expand_shape %a [[0], [1], [2, 3]] output_shape [2, 24, 2, 64]
      : memref<2x24x128xf32> into memref<2x24x2x64xf32>
  linalg.transpose ins(%e : memref<2x24x2x64xf32>) outs(%o : memref<2x2x64x24xf32>)
      permutation = [0, 2, 3, 1]
  return
}

// threads=2, a 3-D elementwise op (a residual add or a permute of
// [batch, seq, hidden]): dims 0 and 1 are tiled by 1 and parallel, so both
// loops become one 2-D scf.parallel; with a batch of 1 the rows are split.
// PAR-LABEL: func.func @add3d
// PAR: %[[WORTH:.*]] = arith.cmpi uge, %{{.*}}, %c32768 : index
// PAR: %[[CHUNKS:.*]] = arith.select %[[WORTH]], %c2, %c1 : index
// PAR: scf.parallel (%{{.*}}) = (%c0) to (%[[CHUNKS]]) step (%c1) {
// PAR:   scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %c1 {
// PAR:     %[[J:.*]] = arith.remui %[[I]], %[[D1:.*]] : index
// PAR:     %[[B:.*]] = arith.divui %[[I]], %[[D1]] : index
// PAR-NOT: scf.for {{.*}} step %c1 {
// PAR:     scf.for {{.*}} step %c16
// PAR:       vector.transfer_read %{{.*}}[%[[B]], %[[J]], %{{.*}}]
// PAR:       arith.addf {{.*}} : vector<16xf32>
// PAR-NOT: scf.if
// PAR-LABEL: func.func @transpose_dynamic
func.func @add3d(%a: memref<?x?x?xf32>, %b: memref<?x?x?xf32>, %o: memref<?x?x?xf32>) {
  linalg.add ins(%a, %b : memref<?x?x?xf32>, memref<?x?x?xf32>) outs(%o : memref<?x?x?xf32>)
  return
}

// A dynamic 2-D transpose: full and partial tiles in both dims (4 copies),
// each a 16 x 16 tile. A broadcast input (row) is not a transpose: it keeps
// the [1, 16] tiles.
// CHECK-LABEL: func.func @transpose_dynamic
// CHECK-COUNT-4: vector.transfer_write {{.*}} : vector<16x16xf32>, memref<?x?xf32>
// CHECK-NOT: vector.transpose
// CHECK-LABEL: func.func @broadcast_rows
// CHECK: vector.transfer_write {{.*}} : vector<16xf32>, memref<?x?xf32>
// CHECK-NOT: vector<16x16xf32>
func.func @transpose_dynamic(%a: memref<?x?xf32>, %o: memref<?x?xf32>) {
  linalg.transpose ins(%a : memref<?x?xf32>) outs(%o : memref<?x?xf32>)
      permutation = [1, 0]
  return
}
func.func @broadcast_rows(%r: memref<?xf32>, %o: memref<?x?xf32>) {
  linalg.generic {indexing_maps = [#row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%r : memref<?xf32>) outs(%o : memref<?x?xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  }
  return
}

// A batch matmul as linalg.generic (reshape propagation generalizes it when
// shapes are static) gets the contraction schedule and vector.contract, not
// mulf + multi_reduction (two roundings, scalar code for the unit k tile).
// CHECK-LABEL: func.func @generic_batch_matmul
// CHECK: scf.for {{.*}} step %c32
// CHECK: scf.for {{.*}} step %c8
// CHECK: scf.for {{.*}} iter_args
// CHECK: vector.contract {{.*}} vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK-NOT: vector.multi_reduction
#bmm_a = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#bmm_b = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
#bmm_c = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @generic_batch_matmul(%a: memref<2x24x64xf32>, %b: memref<2x64x40xf32>, %c: memref<2x24x40xf32>) {
  linalg.generic {indexing_maps = [#bmm_a, #bmm_b, #bmm_c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<2x24x64xf32>, memref<2x64x40xf32>) outs(%c : memref<2x24x40xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %m = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// An fp32 linear of [B, S, K] activations (fp32_linear.py: no reshape, so
// two m dims, B and S): S takes the 8 rows (in strips of 32 columns), B
// is tiled by 1; the same vector.contract as a matmul.
// CHECK-LABEL: func.func @linear_two_m_dims
// CHECK: scf.for {{.*}} step %c32
// CHECK: scf.for {{.*}} step %c8
// CHECK: scf.for {{.*}} iter_args
// CHECK: vector.contract {{.*}} vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK-NOT: vector.multi_reduction
#lin_x = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#lin_w = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
#lin_y = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @linear_two_m_dims(%x: memref<?x?x64xf32>, %w: memref<64x96xf32>, %y: memref<?x?x96xf32>) {
  linalg.generic {indexing_maps = [#lin_x, #lin_w, #lin_y], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x?x64xf32>, memref<64x96xf32>) outs(%y : memref<?x?x96xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// dq.tanh's math.tanh {dq.mkl_vml}: each vector goes to MKL through the
// runtime as one array on the stack (in an alloca scope: no stack growth in
// loops); the masked edge tile too. Unmarked tanh stays math.tanh.
// CHECK-LABEL: func.func @mkl_tanh
// CHECK: memref.alloca_scope
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<16xf32>
// CHECK: vector.store
// CHECK: func.call @dqmlirTanhN(%{{.*}}, %{{.*}}, %{{.*}}) : (i64, i64, i64) -> ()
// CHECK: vector.load
// CHECK: memref.alloca_scope.return
// CHECK-NOT: math.tanh {{.*}}dq.mkl_vml
// CHECK: math.tanh %{{.*}} : vector<16xf32>
func.func private @dqmlirTanhN(i64, i64, i64)
func.func private @dqmlirTanhf(f32) -> f32
func.func @mkl_tanh(%x: memref<?x64xf32>, %y: memref<?x64xf32>, %z: memref<?x64xf32>) {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x64xf32>) outs(%y : memref<?x64xf32>) {
  ^bb0(%a: f32, %b: f32):
    %t = math.tanh %a {dq.mkl_vml} : f32
    linalg.yield %t : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x64xf32>) outs(%z : memref<?x64xf32>) {
  ^bb0(%a: f32, %b: f32):
    %t = math.tanh %a : f32
    linalg.yield %t : f32
  }
  return
}

// A contraction with two k dims, both innermost (kernel positions x
// channels): tiled by 1 each, the same vector contraction per k step.
// CHECK-LABEL: func.func @two_k_dims
// CHECK: scf.for
// CHECK: scf.for {{.*}} iter_args
// CHECK: vector.contract
// CHECK-NOT: linalg.contract
func.func @two_k_dims(%x: memref<?x16x3x8xf32>, %w: memref<3x8x32xf32>, %y: memref<?x16x32xf32>) {
  linalg.contract indexing_maps = [affine_map<(b, m, n, k1, k2) -> (b, m, k1, k2)>,
                                   affine_map<(b, m, n, k1, k2) -> (k1, k2, n)>,
                                   affine_map<(b, m, n, k1, k2) -> (b, m, n)>]
      ins(%x, %w : memref<?x16x3x8xf32>, memref<3x8x32xf32>) outs(%y : memref<?x16x32xf32>)
  return
}

// threads=2 inside an scf.forall (the frontend's blocked attention: one
// head and block of queries per iteration): the forall's iterations are
// what the threads share, so the batch_matmul of one iteration gets no
// parallel region of its own (nested, it cost a hand-off and a wait per
// iteration).
// CHECK-LABEL: func.func @scores_per_head
// PAR-LABEL: func.func @scores_per_head
// PAR: scf.forall
// PAR-NOT: scf.parallel
// PAR: vector.contract
// PAR-NOT: scf.parallel
// PAR: return
func.func @scores_per_head(%a: memref<?x?x32xf32>, %b: memref<?x32x?xf32>, %c: memref<?x?x?xf32>, %heads: index) {
  scf.forall (%h) in (%heads) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %m = memref.dim %a, %c1 : memref<?x?x32xf32>
    %n = memref.dim %b, %c2 : memref<?x32x?xf32>
    %sa = memref.subview %a[%h, 0, 0] [1, %m, 32] [1, 1, 1] : memref<?x?x32xf32> to memref<1x?x32xf32, strided<[?, 32, 1], offset: ?>>
    %sb = memref.subview %b[%h, 0, 0] [1, 32, %n] [1, 1, 1] : memref<?x32x?xf32> to memref<1x32x?xf32, strided<[?, ?, 1], offset: ?>>
    %sc = memref.subview %c[%h, 0, 0] [1, %m, %n] [1, 1, 1] : memref<?x?x?xf32> to memref<1x?x?xf32, strided<[?, ?, 1], offset: ?>>
    linalg.batch_matmul ins(%sa, %sb : memref<1x?x32xf32, strided<[?, 32, 1], offset: ?>>, memref<1x32x?xf32, strided<[?, ?, 1], offset: ?>>) outs(%sc : memref<1x?x?xf32, strided<[?, ?, 1], offset: ?>>)
  }
  return
}
