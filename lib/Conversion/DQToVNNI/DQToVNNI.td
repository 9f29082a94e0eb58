//===- DQToVNNI.td - dq.linear_dynamic to a VNNI kernel ----*- tablegen -*-===//

#ifndef DQ_CONVERSION_DQTOVNNI_TD
#define DQ_CONVERSION_DQTOVNNI_TD

include "mlir/Pass/PassBase.td"

def ConvertDQToVNNI : Pass<"convert-dq-to-vnni"> {
  let summary = "Lower dq.linear_dynamic with constant weights to an "
                "AVX-512 VNNI (vpdpbusd) micro-kernel";
  let description = [{
    Rewrites each `dq.linear_dynamic` whose weight is a constant into
    `dq.choose_qparams` + `dq.quantize` (lowered later by
    `convert-dq-to-linalg`) and a register-blocked kernel on tensors made of
    `scf.for` and `vector` ops:

    - a `dq.gelu` that is the linear's only user, or an elementwise add of a
      same-typed tensor (a residual) that is its only user besides
      `tensor.dim`, is applied in the epilogue (same arithmetic, same bits)
      and replaced by the kernel's result;
    - the weights are packed at compile time into one constant, a panel of
      `cols` columns after the other, each panel `[K/4][cols/16][16][4]`
      (K padded to 4 and N to 16 with zero weights); their column sums are
      a second constant;
    - a tile of `rows` x `cols` outputs keeps `rows * cols / 16`
      `vector<16xi32>` accumulators in registers over an `scf.for` on K/4;
      each step broadcasts 4 activation bytes to `vector<64xi8>` and issues
      `dqx86.vpdpbusd` (u8 activations x s8 weights;
      `convert-dqx86-to-llvm` makes it the `llvm.x86.avx512.vpdpbusd.512`
      intrinsic after bufferization);
    - the dequantize epilogue is fused into the tile's store and rounds
      exactly like `convert-dq-to-linalg`'s (bit-exact with PyTorch).

    With `threads` > 1 the panels are split into that many chunks of
    consecutive panels, an `scf.forall` whose iterations write disjoint
    column slices of the result (`tensor.parallel_insert_slice`);
    `dq-cpu-pipeline{threads=N}` runs them as async tasks. Inputs with too
    few rows to be worth it (under 2^22 multiply-adds per thread) take one
    chunk, checked at run time.

    Symmetric (si8) activations are shifted to u8 by flipping their sign
    bit (+128); the epilogue subtracts `128 * colsum` in int32.

    The intrinsic needs a CPU with avx512vnni: `dq-cpu-pipeline` runs this
    pass only on such hosts (`kernel=vnni`, or `kernel=auto` on a host
    without usable AMX).

    ```mlir
    %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
        : tensor<?x64xf32>, tensor<16x64xi8>, tensor<f32> -> tensor<?x16xf32>
    ```
    becomes, in outline,
    ```mlir
    %packed = arith.constant dense_resource<dq_vnni_weights> : tensor<1024xi8>
    %colsums = arith.constant dense_resource<dq_vnni_colsums> : tensor<16xi32>
    %s, %zp = dq.choose_qparams %x asymmetric per_tensor : ...
    %q = dq.quantize %x, %s, %zp : ... -> tensor<?x64xui8>
    %out = scf.for %n0 = ... step %c48 iter_args(%o = %empty) {  // panels
      scf.for %m = ... step %c8 iter_args(...) {              // row tiles
        %acc:N = scf.for %k4 = %c0 to %c16 step %c1 iter_args(...) {
          %w = vector.transfer_read %packed[...] : tensor<1024xi8>, vector<64xi8>
          %a = vector.bitcast ... : vector<16xi32> to vector<64xi8>  // 4 bytes of q, broadcast
          %r = dqx86.vpdpbusd %acc, %a, %w : vector<64xi8> into vector<16xi32>
        }
        // epilogue: float(acc - zp * colsum) * (s * ws), vector.transfer_write
      }
    }
    ```
  }];
  let options = [
    // 8 x 48 (24 accumulators) measured best on 768/3072-sized layers: it
    // loads fewer weight bytes per vpdpbusd than 4 x 64.
    Option<"rows", "rows", "int64_t", /*default=*/"8",
           "Rows of a register tile (MR)">,
    Option<"cols", "cols", "int64_t", /*default=*/"48",
           "Columns of a register tile and of a weight panel (NR), a "
           "multiple of 16">,
    Option<"threads", "threads", "int64_t", /*default=*/"1",
           "Threads to split the weight panels over (scf.forall); 1: one "
           "sequential loop">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::dq::DQDialect",
    "::mlir::dq::x86::X86Dialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // DQ_CONVERSION_DQTOVNNI_TD
