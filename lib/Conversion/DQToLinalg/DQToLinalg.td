//===- DQToLinalg.td - dq to linalg lowering pass ----------*- tablegen -*-===//

#ifndef DQ_CONVERSION_DQTOLINALG_TD
#define DQ_CONVERSION_DQTOLINALG_TD

include "mlir/Pass/PassBase.td"

def ConvertDQToLinalg : Pass<"convert-dq-to-linalg"> {
  let summary = "Lower dq ops to linalg, tensor, arith and math on tensors";
  let description = [{
    `dq.linear_dynamic` becomes `dq.choose_qparams` + `dq.quantize` + a
    u8 x s8 -> i32 `linalg.generic` contraction + a dequantize epilogue
    `float(acc - zp * sum_k W[n, k]) * scale * w_scale[n] + bias[n]`; the
    weight column sums are folded at compile time when the weight is a
    constant. `dq.choose_qparams` becomes a min/max reduction and scalar
    arithmetic that reproduce PyTorch's ChooseQuantizationParams bit for bit;
    `dq.quantize` and `dq.dequantize` become elementwise `linalg.generic`s.
    `dq.layer_norm` becomes scf.for loops of vector<8xf32> ops that repeat
    ATen's CPU layer norm operation for operation (bit-exact results);
    `dq.softmax` likewise, in vector<16xf32> ops, ATen's softmax and
    log_softmax kernels, with SLEEF's exp and log built in place.

    The mixed-sign contraction stays a `linalg.generic` on purpose: MLIR 22's
    `linalg-specialize-generic-ops` would turn it into a signed
    `linalg.matmul`, which is wrong for uint8 activations.

    ```mlir
    %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor
        : tensor<?x64xf32>, tensor<16x64xi8>, tensor<f32> -> tensor<?x16xf32>
    ```
    becomes, in outline,
    ```mlir
    // min(x, 0), max(x, 0): scf.for over rows of vector<16xf32> min/max
    %s, %zp = linalg.generic ... // ChooseQuantizationParams, f64 where PyTorch uses double
    %q = linalg.generic ins(%x, %s, %zp ...) // clamp(rne(fma(x, 1/s, zp)), 0, 255) as i8
    %acc = linalg.generic {iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%q, %w : tensor<?x64xi8>, tensor<16x64xi8>) outs(%zero : tensor<?x16xi32>) {
      ^bb0(%a: i8, %b: i8, %c: i32):  // c + zext(a) * sext(b)
    }
    %colsum = arith.constant dense<64> : tensor<16xi32>  // folded: W is constant
    %y = linalg.generic ins(%acc, %colsum, %s, %zp, %ws ...)
        // float(acc - zp * colsum) * (s * ws)
    ```
  }];
  let options = [
    Option<"threads", "threads", "int64_t", /*default=*/"1",
           "Per-tensor dq.choose_qparams ranges, dq.quantize and "
           "dq.layer_norm split their rows over this many scf.forall chunks "
           "(inputs of at least 2^14 floats per chunk); the ranges' partial "
           "min/max are combined after.">,
    Option<"isa", "isa", "::mlir::dq::VendorISA",
           /*default=*/"::mlir::dq::VendorISA::AVX512",
           "The CPUs whose PyTorch the vendor kernels are reproduced for: "
           "avx512 (oneDNN's AVX-512 GELU, ATen's 16-lane Vectorized<float>) "
           "or avx2 (oneDNN's AVX2 GELU, 8 lanes)",
           [{::llvm::cl::values(
               clEnumValN(::mlir::dq::VendorISA::AVX512, "avx512",
                          "oneDNN's AVX-512 GELU, ATen's 16-lane "
                          "Vectorized<float>"),
               clEnumValN(::mlir::dq::VendorISA::AVX2, "avx2",
                          "oneDNN's AVX2 GELU, 8 lanes"))}]>,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // DQ_CONVERSION_DQTOLINALG_TD
