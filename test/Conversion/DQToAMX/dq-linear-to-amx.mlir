// RUN: dq-opt %s --convert-dq-to-amx --canonicalize | FileCheck %s
// RUN: dq-opt %s --convert-dq-to-amx="threads=2 rows-below-bytes=0" --canonicalize | FileCheck %s --check-prefix=PAR
// RUN: dq-opt %s --convert-dq-to-amx=threads=2 --canonicalize --mlir-elide-elementsattrs-if-larger=16 | FileCheck %s --check-prefix=SMALLW
// RUN: dq-opt %s --dq-cpu-pipeline="kernel=amx threads=2" | FileCheck %s --check-prefix=ASYNC
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=amx | FileCheck %s --check-prefix=LLVM
// RUN: dq-opt %s --convert-dq-to-amx --mlir-elide-elementsattrs-if-larger=16 | FileCheck %s --check-prefix=RULE
// RUN: dq-opt %s --convert-dq-to-amx=row-tiles=2 --mlir-elide-elementsattrs-if-larger=16 | FileCheck %s --check-prefix=RULE2
// RUN: dq-opt %s --dq-cpu-pipeline=kernel=amx | mlir-translate --mlir-to-llvmir \
// RUN:   | llc -O3 -mattr=+amx-int8,+amx-tile,+avx512f,+avx512bw,+avx512vnni | FileCheck %s --check-prefix=ASM

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

// LLVM-LABEL: llvm.func @linear_const
// LLVM: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// LLVM: llvm.call_intrinsic "llvm.x86.tilezero.internal"
// LLVM: llvm.call_intrinsic "llvm.x86.tileloadd64.internal"
// LLVM: llvm.call_intrinsic "llvm.x86.tdpbusd.internal"{{.*}} -> !llvm.x86_amx
// LLVM: llvm.call_intrinsic "llvm.x86.tilestored64.internal"

// ASM-LABEL: linear_const:
// ASM: vpdpbusd {{.*}}zmm
// ASM: ldtilecfg
// ASM: tileloadd
// ASM: tdpbusd %tmm{{[0-7]}}, %tmm{{[0-7]}}, %tmm{{[0-7]}}
// ASM: tilestored
func.func @linear_const(%x: tensor<?x?x6xf32>) -> tensor<?x?x2xf32> {
  %w = arith.constant dense<[[1, -2, 3, -4, 5, 6], [127, -128, 0, 5, 0, 0]]> : tensor<2x6xi8>
  %ws = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = dq.linear_dynamic %x, %w, %ws bias %b act asymmetric per_tensor reduce_range : tensor<?x?x6xf32>, tensor<2x6xi8>, tensor<2xf32>, tensor<2xf32> -> tensor<?x?x2xf32>
  return %y : tensor<?x?x2xf32>
}

// threads=2, N = 64: two chunks of an scf.forall from 2 * 2^24
// multiply-adds on (8192 rows of 64 x 64), else one. Fewer than 32 rows
// take the VNNI branch, its chunks split the two panels of 32 columns.
// PAR-LABEL: func @linear_threads
// PAR: %[[BIG:.*]] = arith.cmpi uge, %{{.*}}, %c8192 : index
// PAR: scf.if
// PAR:   %[[CHUNKS:.*]] = arith.select %[[BIG]], %c2, %c1 : index
// PAR:   scf.forall (%{{.*}}) in (%[[CHUNKS]]) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x64xf32>)
// PAR:     %[[SLICE:.*]] = tensor.extract_slice %[[OUT]]
// PAR:     scf.for {{.*}} step %c32 iter_args(%{{.*}} = %[[SLICE]]) -> (tensor<?x?xf32>)
// PAR:       dqx86.vpdpbusd
// PAR:     scf.forall.in_parallel
// PAR-NEXT:  tensor.parallel_insert_slice
// The AMX branch splits rows from 128 per thread (256 rows) if the split
// dim (here the only one) divides evenly or has >= 8 entries per thread.
// This run sets rows-below-bytes=0; by default weights of at most 1 MiB,
// like these, split rows at any row count (the SMALLW prefix).
// PAR: } else {
// PAR:   %[[RCHUNKS:.*]] = arith.select %[[BIG]], %c2, %c1 : index
// PAR:   %[[LONG:.*]] = arith.cmpi uge, %[[ROWS:.*]], %c16 : index
// PAR:   %[[REM:.*]] = arith.remui %[[ROWS]], %c2 : index
// PAR:   %[[DIVIDES:.*]] = arith.cmpi eq, %[[REM]], %c0 : index
// PAR:   %[[EVEN:.*]] = arith.ori %[[DIVIDES]], %[[LONG]] : i1
// PAR:   %[[MANY:.*]] = arith.cmpi uge, %[[ROWS]], %c256 : index
// PAR:   %[[BYROWS:.*]] = arith.andi %[[MANY]], %[[EVEN]] : i1
// PAR:   scf.if %[[BYROWS]]
// Each chunk of rows packs its rows into its own A, then multiplies them by
// all panels into its own scratch and its own rows of the result.
// PAR:     scf.forall (%{{.*}}) in (%[[RCHUNKS]]) shared_outs(%[[ROUT:.*]] = %{{.*}}) -> (tensor<?x64xf32>)
// PAR:       %[[RSLICE:.*]] = tensor.extract_slice %[[ROUT]][%{{.*}}, 0] [%[[RLEN:.*]], 64] [1, 1] : tensor<?x64xf32> to tensor<?x64xf32>
// PAR:       %[[RSCRATCH:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x32xi32>
// PAR:       %[[RACTS:.*]] = memref.alloc
// PAR:       scf.for %{{.*}} = %c0 to %[[RLEN]] step %c1
// PAR:         math.fma
// PAR:         vector.store %{{.*}}, %[[RACTS]]
// PAR:       scf.for {{.*}} step %c32 iter_args(%{{.*}} = %[[RSLICE]]) -> (tensor<?x64xf32>)
// PAR:         amx.tile_load %[[RACTS]]
// PAR:         amx.tile_muli
// PAR:         amx.tile_store %[[RSCRATCH]]
// PAR:       scf.forall.in_parallel
// PAR-NEXT:    tensor.parallel_insert_slice
// Else a first forall packs the rows in chunks, a second splits the panels.
// PAR:   } else {
// PAR:     %[[ACTS:.*]] = memref.alloc
// PAR:     scf.forall (%{{.*}}) in (%[[RCHUNKS]]) {
// PAR:       scf.for
// PAR:         math.fma
// PAR:         vector.store %{{.*}}, %[[ACTS]]
// PAR:     %[[PCHUNKS:.*]] = arith.select %[[BIG]], %c2, %c1 : index
// PAR:     scf.forall (%{{.*}}) in (%[[PCHUNKS]]) shared_outs(%[[OUT2:.*]] = %{{.*}}) -> (tensor<?x64xf32>)
// PAR:       %[[SLICE2:.*]] = tensor.extract_slice %[[OUT2]]
// PAR:       %[[SCRATCH:.*]] = memref.alloca() {alignment = 64 : i64} : memref<32x32xi32>
// PAR:       scf.for {{.*}} step %c32 iter_args(%{{.*}} = %[[SLICE2]]) -> (tensor<?x?xf32>)
// PAR:         amx.tile_muli
// PAR:         amx.tile_store %[[SCRATCH]]
// PAR:       scf.forall.in_parallel
// PAR-NEXT:    tensor.parallel_insert_slice

// dq-cpu-pipeline{threads=2}: the chunks become async tasks
// (async-parallel-for); one chunk is a direct call of the outlined body.
// ASYNC-LABEL: llvm.func @linear_threads
// ASYNC: llvm.call @parallel_compute_fn
// ASYNC: llvm.call @mlirAsyncRuntimeCreateGroup
// ASYNC: llvm.call @async_dispatch_fn
// ASYNC: llvm.call @mlirAsyncRuntimeAwaitAllInGroup
// ASYNC-LABEL: llvm.func @parallel_compute_fn
// ASYNC: llvm.call_intrinsic "llvm.x86.tdpbusd.internal"
// ASYNC-LABEL: llvm.func @async_execute_fn
// ASYNC: llvm.call @mlirAsyncRuntimeExecute
func.func @linear_threads(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %w = arith.constant dense<1> : tensor<64x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x64xf32>, tensor<64x64xi8>, tensor<f32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// SMALLW-LABEL: func @linear_threads
// SMALLW: } else {
// SMALLW:   %[[CHUNKS:.*]] = arith.select
// SMALLW-NOT: %c256
// SMALLW:   %[[LONG:.*]] = arith.cmpi uge, %[[ROWS:.*]], %c16 : index
// SMALLW:   %[[REM:.*]] = arith.remui %[[ROWS]], %c2 : index
// SMALLW:   %[[DIVIDES:.*]] = arith.cmpi eq, %[[REM]], %c0 : index
// SMALLW:   %[[EVEN:.*]] = arith.ori %[[DIVIDES]], %[[LONG]] : i1
// SMALLW:   scf.if %[[EVEN]]
// SMALLW:     scf.forall (%{{.*}}) in (%[[CHUNKS]]) shared_outs

// Rank 3: rows are split along dim 0 unless it is 1, then along dim 1 (a
// range of either is a box of the result and a range of linear rows).
// PAR-LABEL: func @linear_threads_rank3
// PAR:   %[[D0:.*]] = tensor.dim %{{.*}}, %c0 : tensor<?x?x64xf32>
// PAR:   %[[D1:.*]] = tensor.dim %{{.*}}, %c1 : tensor<?x?x64xf32>
// PAR: } else {
// PAR:   %[[BATCH1:.*]] = arith.cmpi eq, %[[D0]], %c1 : index
// PAR:   %[[SPLIT0:.*]] = arith.cmpi ne, %[[D0]], %c1 : index
// PAR:   %[[SIZE:.*]] = arith.select %[[SPLIT0]], %[[D0]], %[[D1]] : index
// PAR:   %[[PER:.*]] = arith.select %[[SPLIT0]], %[[D1]], %c1 : index
// PAR:   scf.forall
// PAR:     %[[LO:.*]] = arith.divui
// PAR:     %[[HI:.*]] = arith.divui
// PAR:     %[[LEN:.*]] = arith.subi %[[HI]], %[[LO]] : index
// PAR:     %[[O0:.*]] = arith.select %[[SPLIT0]], %[[LO]], %c0 : index
// PAR:     %[[S0:.*]] = arith.select %[[SPLIT0]], %[[LEN]], %[[D0]] : index
// PAR:     %[[O1:.*]] = arith.select %[[BATCH1]], %[[LO]], %c0 : index
// PAR:     %[[S1:.*]] = arith.select %[[BATCH1]], %[[LEN]], %[[D1]] : index
// PAR:     tensor.extract_slice %{{.*}}[%[[O0]], %[[O1]], 0] [%[[S0]], %[[S1]], 64] [1, 1, 1]
// PAR:     %[[COUNT:.*]] = arith.muli %[[LEN]], %[[PER]] : index
// PAR:     %[[FIRST:.*]] = arith.muli %[[LO]], %[[PER]] : index
// PAR:     scf.for %[[M:.*]] = %c0 to %[[COUNT]] step %c1 {
// PAR:       arith.addi %[[FIRST]], %[[M]] : index
func.func @linear_threads_rank3(%x: tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
  %w = arith.constant dense<1> : tensor<64x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x?x64xf32>, tensor<64x64xi8>, tensor<f32> -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
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

// row-tiles=0 (the default) picks one row tile for K <= 768 and N >= 3072
// (its epilogue writes 16 rows per block), two otherwise; an explicit
// row-tiles is kept.
// RULE-LABEL: func @linear_wide
// RULE: memref.alloca() {alignment = 64 : i64} : memref<16x32xi32>
// RULE-NOT: memref<32x32xi32>
// RULE-LABEL: func @linear_deep
// RULE: memref.alloca() {alignment = 64 : i64} : memref<32x32xi32>
// RULE2-LABEL: func @linear_wide
// RULE2: memref.alloca() {alignment = 64 : i64} : memref<32x32xi32>
func.func @linear_wide(%x: tensor<?x64xf32>) -> tensor<?x3072xf32> {
  %w = arith.constant dense<1> : tensor<3072x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x64xf32>, tensor<3072x64xi8>, tensor<f32> -> tensor<?x3072xf32>
  return %y : tensor<?x3072xf32>
}
func.func @linear_deep(%x: tensor<?x1536xf32>) -> tensor<?x3072xf32> {
  %w = arith.constant dense<1> : tensor<3072x1536xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x1536xf32>, tensor<3072x1536xi8>, tensor<f32> -> tensor<?x3072xf32>
  return %y : tensor<?x3072xf32>
}
