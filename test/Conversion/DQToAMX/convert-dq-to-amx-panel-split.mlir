// With threads > 1 and few rows, the AMX kernel splits its weight panels
// over the threads (lib/Kernels/ParallelPanels.h): a first scf.forall packs
// the rows in chunks, a second gives each chunk consecutive panels, its own
// accumulator scratch and its own column slice of the result. The VNNI
// micro-kernel on few rows splits the panels too.
// RUN: dq-opt %s --convert-dq-to-amx="threads=2 rows-below-bytes=0" --canonicalize | FileCheck %s --check-prefix=PAR

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
// The AMX branch: from 256 rows (128 per thread, with rows-below-bytes=0
// as here) rows are split instead (convert-dq-to-amx-row-split.mlir).
// PAR: } else {
// PAR:   %[[RCHUNKS:.*]] = arith.select %[[BIG]], %c2, %c1 : index
// PAR:   scf.if
// PAR:     scf.forall (%{{.*}}) in (%[[RCHUNKS]]) shared_outs
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
func.func @linear_threads(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %w = arith.constant dense<1> : tensor<64x64xi8>
  %ws = arith.constant dense<0.5> : tensor<f32>
  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
      : tensor<?x64xf32>, tensor<64x64xi8>, tensor<f32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
