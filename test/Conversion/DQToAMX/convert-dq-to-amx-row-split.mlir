// With threads > 1 and many rows, the AMX kernel splits rows over the
// threads: each chunk quantizes and packs its own rows into its own tiles
// and multiplies them by all panels (lib/Kernels/ParallelRows.h).
// RUN: dq-opt %s --convert-dq-to-amx="threads=2 rows-below-bytes=0" --canonicalize | FileCheck %s --check-prefix=PAR
// RUN: dq-opt %s --convert-dq-to-amx=threads=2 --canonicalize --mlir-elide-elementsattrs-if-larger=16 | FileCheck %s --check-prefix=SMALLW

// threads=2, N = 64: two chunks of an scf.forall from 2 * 2^24
// multiply-adds on (8192 rows of 64 x 64), else one. Fewer than 32 rows
// take the VNNI branch (convert-dq-to-amx-panel-split.mlir).
// PAR-LABEL: func @linear_threads
// PAR: %[[BIG:.*]] = arith.cmpi uge, %{{.*}}, %c8192 : index
// PAR: scf.if
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
// Else the panels are split (convert-dq-to-amx-panel-split.mlir).
// PAR:   } else {
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
