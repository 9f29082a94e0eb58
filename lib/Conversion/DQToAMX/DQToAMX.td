//===- DQToAMX.td - dq.linear_dynamic to an AMX kernel -----*- tablegen -*-===//

#ifndef DQ_CONVERSION_DQTOAMX_TD
#define DQ_CONVERSION_DQTOAMX_TD

include "mlir/Pass/PassBase.td"

def ConvertDQToAMX : Pass<"convert-dq-to-amx"> {
  let summary = "Lower dq.linear_dynamic with constant weights to an "
                "AMX-INT8 (tdpbusd) tile kernel";
  let description = [{
    Rewrites each `dq.linear_dynamic` whose weight is a constant into
    `dq.choose_qparams` + `dq.quantize` (lowered later by
    `convert-dq-to-linalg`; the AMX path quantizes while it packs) and a
    tile kernel made of `scf.for`, `vector` and upstream `amx` ops:

    - a `dq.gelu` that is the linear's only user, or an elementwise add of a
      same-typed tensor (a residual) that is its only user besides
      `tensor.dim`, is applied in the epilogue (same arithmetic, same bits)
      and replaced by the kernel's result;
    - the weights are packed at compile time into one constant in the AMX
      B-tile layout: panels of `col-tiles` x 16 columns (the last one may be
      narrower), each `[K/64][col-tiles][16 rows = 16 groups of 4 k][16
      columns][4 k]` bytes, so one B tile is 1 KiB contiguous (stride 64).
      K is padded to 64 and N to 16 with zero weights; the column sums are a
      second constant;
    - the quantized activations are copied into a scratch buffer
      `[M padded to 16][K padded to 64]` (vectorized; symmetric ones get
      their sign bit flipped, i.e. +128 as u8), so tile loads never read past
      the end of the input and the padding bytes meet zero weights;
    - a block of `row-tiles` x `col-tiles` 16x16 i32 accumulator tiles stays
      in tile registers over an `scf.for` on K/64 (`amx.tile_load` of A and
      B tiles, `amx.tile_muli %a zext, %b` = tdpbusd, u8 x s8 -> i32);
      remaining rows (< 16 * row-tiles) use blocks of one row tile;
    - inputs of fewer than `vnni-below` rows (a runtime `scf.if`) take the
      `convert-dq-to-vnni` micro-kernel instead (lib/Kernels/MicroKernel.h,
      reading the same packed weights as K/4 steps in groups of 16): AMX
      would mostly multiply row padding, and its first tile instruction
      after idling costs more than such a call's work;
    - the accumulators are stored to a small scratch buffer and dequantized
      by the VNNI path's epilogue (lib/Kernels/Epilogue.h), row by row,
      vectorized and bit-exact with PyTorch.

    With `threads` > 1 and at least `rows-per-thread` rows per thread (any
    number for weights of at most `rows-below-bytes`), the rows are split
    into chunks (an `scf.forall` writing disjoint boxes of rows of the
    result, lib/Utils/RowChunks.h): each chunk packs its own rows into
    its own tiles and multiplies them by all panels. With fewer rows, a
    first `scf.forall` packs the rows in chunks and a second splits the
    panels as in `convert-dq-to-vnni` (disjoint column slices). Each chunk
    has its own accumulator scratch. AMX tile permission and configuration
    are per process and per function, so the outlined async tasks need
    nothing more.

    The amx ops need a CPU with amx-int8 and amx-tile, and on Linux the
    process must have asked for the tile state
    (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), see
    python/dqmlir/amx.py) or they raise SIGILL. `dq-cpu-pipeline` runs this
    pass only with `kernel=amx` or `kernel=auto` on such a host.

    ```mlir
    %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
        : tensor<?x64xf32>, tensor<16x64xi8>, tensor<f32> -> tensor<?x16xf32>
    ```
    becomes, in outline,
    ```mlir
    %packed = arith.constant dense_resource<dq_amx_weights> : tensor<1024xi8>
    %wbuf = bufferization.to_buffer %packed read_only : tensor<1024xi8> to memref<1024xi8>
    %s, %zp = dq.choose_qparams %x asymmetric per_tensor : ...
    %y = scf.if %fewer_than_32_rows -> tensor<?x16xf32> {
      // dq.quantize, then the VNNI micro-kernel (dqx86.vpdpbusd) on %packed
    } else {
      %acts = memref.alloc(%bytes) {alignment = 64 : i64} : memref<?xi8>
      // quantize x into %acts, 16 floats at a time, in A-tile order
      scf.for %m0 = ... step %c32 iter_args(%o = %empty) {  // register blocks
        %c:2 = scf.for %kb = ... iter_args(%c0 = %zero, %c1 = %zero) {
          %b = amx.tile_load %wbuf[%off], %c64 : memref<1024xi8> into !amx.tile<16x64xi8>
          %a = amx.tile_load %acts[%aoff], %c64 : memref<?xi8> into !amx.tile<16x64xi8>
          %n = amx.tile_muli %a zext, %b, %c0 : ... -> !amx.tile<16x16xi32>
        }
        amx.tile_store %scratch[%c0, %c0], %c#0 : memref<32x32xi32>, !amx.tile<16x16xi32>
        // epilogue, row by row from %scratch
      }
    }
    ```
  }];
  let options = [
    Option<"rowTiles", "row-tiles", "int64_t", /*default=*/"0",
           "Row tiles (of 16 rows) of a register block; 0: by the layer's "
           "shape (1 for K <= 768 and N >= 3072, else 2)">,
    Option<"colTiles", "col-tiles", "int64_t", /*default=*/"2",
           "Column tiles (of 16 columns) of a register block and of a weight "
           "panel; row-tiles * col-tiles + min(row-tiles, col-tiles) + 1 "
           "<= 8 (tile registers)">,
    Option<"vnniBelow", "vnni-below", "int64_t", /*default=*/"32",
           "Inputs with fewer rows run the VNNI micro-kernel (vpdpbusd) on "
           "the same packed weights instead of AMX (0: never)">,
    Option<"threads", "threads", "int64_t", /*default=*/"1",
           "Threads to split the work over (scf.forall); 1: one sequential "
           "loop">,
    Option<"rowsPerThread", "rows-per-thread", "int64_t", /*default=*/"128",
           "With threads > 1, inputs of at least this many rows per thread "
           "split rows over the threads, smaller ones split the weight "
           "panels (0: rows wherever they split evenly)">,
    Option<"rowsBelowBytes", "rows-below-bytes", "int64_t",
           /*default=*/"1048576",
           "With threads > 1, weights of at most this many bytes split rows "
           "at any row count: every thread reads them all, which costs "
           "little when they are small">,
  ];
  let dependentDialects = [
    "::mlir::amx::AMXDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::dq::DQDialect",
    "::mlir::dq::x86::X86Dialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // DQ_CONVERSION_DQTOAMX_TD
