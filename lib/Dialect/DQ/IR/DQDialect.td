//===- DQDialect.td - dq dialect and its attributes --------*- tablegen -*-===//
//
// The dq dialect: dynamic quantization with quantization parameters (scale,
// zero point) computed at run time from the values that flow in, as SSA
// values, so that they can be lowered, fused and vectorized like any other
// tensor computation.
//
//===----------------------------------------------------------------------===//

#ifndef DQ_DIALECT_TD
#define DQ_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def DQ_Dialect : Dialect {
  let name = "dq";
  let cppNamespace = "::mlir::dq";
  let summary = "Dynamic quantization with runtime-computed qparams";
  let description = [{
    Ops for PyTorch-style dynamic quantization: `dq.choose_qparams` computes a
    scale and zero point from an fp32 tensor at run time, `dq.quantize` and
    `dq.dequantize` convert with them, and `dq.linear_dynamic` is the whole
    `quantized::linear_dynamic` (quantize activations, int8 contraction,
    dequantize epilogue). Numerics follow PyTorch's fbgemm engine exactly;
    see docs/semantics.md.
  }];
}

// How the quantization range is placed around the real range.
def DQ_QuantModeAttr : I32EnumAttr<"QuantMode", "quantization mode", [
    // uint8, zero point chosen so that [min(x,0), max(x,0)] maps onto
    // [0, 255] (or [0, 127] with reduce_range): PyTorch/fbgemm.
    I32EnumAttrCase<"Asymmetric", 0, "asymmetric">,
    // int8, zero point 0, scale from max|x|: torchao per-row activations.
    I32EnumAttrCase<"Symmetric", 1, "symmetric">
  ]> {
  let cppNamespace = "::mlir::dq";
}

// Which values share one scale and zero point.
def DQ_GranularityAttr : I32EnumAttr<"Granularity", "qparam granularity", [
    // One scale for the whole tensor (PyTorch quantize_dynamic).
    I32EnumAttrCase<"PerTensor", 0, "per_tensor">,
    // One scale per row: every index of the leading dims (torchao, per token).
    I32EnumAttrCase<"PerRow", 1, "per_row">
  ]> {
  let cppNamespace = "::mlir::dq";
}

#endif // DQ_DIALECT_TD
