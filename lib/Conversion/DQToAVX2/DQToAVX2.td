//===- DQToAVX2.td - dq.linear_dynamic to an AVX2 kernel ---*- tablegen -*-===//

#ifndef DQ_CONVERSION_DQTOAVX2_TD
#define DQ_CONVERSION_DQTOAVX2_TD

include "mlir/Pass/PassBase.td"

def ConvertDQToAVX2 : Pass<"convert-dq-to-avx2"> {
  let summary = "Lower dq.linear_dynamic with constant weights to an AVX2 "
                "(vpmaddubsw + vpmaddwd) micro-kernel";
  let description = [{
    The kernel of `convert-dq-to-vnni` -- the same packed weights, panels,
    register tiles, fused epilogue and threads -- for CPUs without
    AVX-512 VNNI: each step of the K loop multiplies 4 activation bytes,
    broadcast to a ymm, with the two 32-byte halves of a 16-column weight
    block:

    ```
    acc[h] += dqx86.vpmaddwd(dqx86.vpmaddubsw(a, w[h]), splat(1 : i16))
    ```

    `vpmaddubsw` adds u8 x s8 products in pairs with int16 saturation. That
    is what fbgemm's AVX2 (and AVX-512 without VNNI) kernels compute, pair
    for pair (they pack 4 k per lane too), so PyTorch's own
    `quantized::linear_dynamic` saturates where this kernel does: with
    asymmetric per-tensor activations (`quantize_dynamic`) the result is
    PyTorch's on such CPUs, bit for bit. Saturation needs activations above
    127 (reduce_range=False, or a NaN quantized to 255).

    Symmetric (torchao) and per-row (`quantize="accurate"`) activations
    have references that sum exactly: their bytes are split into the low 7
    bits and the top bit, two products that cannot saturate, at twice the
    multiplies.

    The intrinsics need a CPU with avx2: `dq-cpu-pipeline` runs this pass on
    hosts without AVX-512 VNNI (`kernel=avx2`, or `kernel=auto`).

    ```mlir
    %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
        : tensor<?x64xf32>, tensor<16x64xi8>, tensor<f32> -> tensor<?x16xf32>
    ```
    becomes the loops of `convert-dq-to-vnni` whose K step is, per row and
    16 columns,
    ```mlir
    %w0 = vector.transfer_read %packed[%off] : tensor<1024xi8>, vector<32xi8>
    %w1 = vector.transfer_read %packed[%off32] : tensor<1024xi8>, vector<32xi8>
    %a = vector.bitcast %splat : vector<8xi32> to vector<32xi8>
    %p = dqx86.vpmaddubsw %a, %w0 : vector<32xi8> -> vector<16xi16>
    %s = dqx86.vpmaddwd %p, %ones : vector<16xi16> -> vector<8xi32>
    %acc0 = arith.addi %acc, %s : vector<8xi32>
    ```
  }];
  let options = [
    // 16 ymm registers: 4 x 16 keeps 8 accumulators, 2 weight halves, the
    // broadcast activations and the products in registers. 6 x 16 and
    // 3 x 32 (12 accumulators) were no faster on BERT's shapes (Zen 3).
    Option<"rows", "rows", "int64_t", /*default=*/"4",
           "Rows of a register tile (MR)">,
    Option<"cols", "cols", "int64_t", /*default=*/"16",
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

#endif // DQ_CONVERSION_DQTOAVX2_TD
