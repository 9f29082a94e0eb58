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
    ATen's CPU layer norm operation for operation (bit-exact results).

    The mixed-sign contraction stays a `linalg.generic` on purpose: MLIR 22's
    `linalg-specialize-generic-ops` would turn it into a signed
    `linalg.matmul`, which is wrong for uint8 activations.
  }];
  let options = [
    Option<"threads", "threads", "int64_t", /*default=*/"1",
           "Per-tensor dq.choose_qparams ranges split their rows over this "
           "many scf.forall chunks (inputs of at least 2^14 floats per "
           "chunk); the chunks' partial min/max are combined after.">,
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
