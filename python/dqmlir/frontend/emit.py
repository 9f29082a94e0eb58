"""Emits dq ops with the upstream MLIR Python builders.

Weights become `dense_resource` constants made straight from the numpy
buffers (no text, no copy), so that the lowering sees them as constants and
folds what depends on them (weight sums) at compile time.
"""
from __future__ import annotations

import itertools

import numpy as np
from mlir import ir
from mlir.dialects import arith

from .quantized_linear import QuantizedLinear

_MODES = {"asymmetric": 0, "symmetric": 1}
_GRANULARITIES = {"per_tensor": 0, "per_row": 1}
_counter = itertools.count()


def f32_tensor(shape) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(shape), ir.F32Type.get())


def constant(array: np.ndarray, name: str | None = None) -> ir.Value:
    """An arith.constant holding `array`; large ones as a dense_resource."""
    array = np.require(array, requirements="C")  # keeps rank 0, unlike ascontiguousarray
    elem = {np.dtype(np.float32): ir.F32Type.get(), np.dtype(np.int8): ir.IntegerType.get_signless(8),
            np.dtype(np.int32): ir.IntegerType.get_signless(32)}[array.dtype]
    ttype = ir.RankedTensorType.get(list(array.shape), elem)
    if array.size <= 64:
        attr = ir.DenseElementsAttr.get(array, type=ttype)
    else:
        key = f"{name or 'cst'}_{next(_counter)}"
        attr = ir.DenseResourceElementsAttr.get_from_buffer(memoryview(array), key, ttype)
    return arith.ConstantOp(ttype, attr).result


def linear_dynamic(x: ir.Value, lin: QuantizedLinear, name: str = "w") -> ir.Value:
    """`dq.linear_dynamic` of `x` (rank >= 2, last dim K) with `lin`'s weights."""
    xtype = ir.RankedTensorType(x.type)
    out_shape = list(xtype.shape[:-1]) + [lin.out_features]
    operands = [x, constant(lin.weight, name), constant(lin.weight_scale.astype(np.float32))]
    if lin.bias is not None:
        operands.append(constant(lin.bias.astype(np.float32)))
    i32 = ir.IntegerType.get_signless(32)
    attrs = {
        "act_mode": ir.IntegerAttr.get(i32, _MODES[lin.act_mode]),
        "act_granularity": ir.IntegerAttr.get(i32, _GRANULARITIES[lin.act_granularity]),
    }
    if lin.reduce_range:
        attrs["reduce_range"] = ir.UnitAttr.get()
    op = ir.Operation.create("dq.linear_dynamic", results=[f32_tensor(out_shape)],
                             operands=operands, attributes=attrs)
    return op.result


def layer_norm(x: ir.Value, gamma: ir.Value, beta: ir.Value, eps: float) -> ir.Value:
    """`dq.layer_norm` of `x` over its last dim (ATen's CPU numerics)."""
    op = ir.Operation.create("dq.layer_norm", results=[x.type], operands=[x, gamma, beta],
                             attributes={"eps": ir.FloatAttr.get_f32(eps)})
    return op.result


def gelu(x: ir.Value, aten_inner_dims: int = 0) -> ir.Value:
    """`dq.gelu` of `x` (PyTorch's CPU numerics: oneDNN's gelu_erf; with
    `aten_inner_dims` k > 0, ATen's kernel with the last k dims as its inner
    loop)."""
    i64 = ir.IntegerType.get_signless(64)
    attrs = {"aten_inner_dims": ir.IntegerAttr.get(i64, aten_inner_dims)} \
        if aten_inner_dims else {}
    return ir.Operation.create("dq.gelu", results=[x.type], operands=[x],
                               attributes=attrs).result


def sigmoid(x: ir.Value) -> ir.Value:
    """`dq.sigmoid` of `x` (ATen's kernel along the last dim)."""
    return ir.Operation.create("dq.sigmoid", results=[x.type], operands=[x]).result


def tanh(x: ir.Value) -> ir.Value:
    """`dq.tanh` of `x` (MKL's vsTanh, as PyTorch)."""
    return ir.Operation.create("dq.tanh", results=[x.type], operands=[x]).result


def softmax(x: ir.Value, dim: int, log: bool) -> ir.Value:
    """`dq.softmax` of `x` along `dim` (ATen's CPU numerics; log_softmax
    with `log`)."""
    attrs = {"dim": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), dim)}
    if log:
        attrs["log"] = ir.UnitAttr.get()
    return ir.Operation.create("dq.softmax", results=[x.type], operands=[x],
                               attributes=attrs).result


def flash_softmax(scores: ir.Value, mask: ir.Value, scale: float, result_types) -> list:
    """`dq.flash_softmax` of `scores` (PyTorch's CPU flash attention numerics):
    [exp, inv_sum]. `mask` rank 0 means none."""
    op = ir.Operation.create("dq.flash_softmax", results=list(result_types),
                             operands=[scores, mask],
                             attributes={"scale": ir.FloatAttr.get_f32(scale)})
    return list(op.results)


def flash_fixup(name: str, x: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
    """`dq.flash_scores_fixup` / `dq.flash_output_fixup` (rows MKL computes with
    other kernels inside PyTorch's CPU flash attention)."""
    return ir.Operation.create(f"dq.{name}", results=[x.type], operands=[x, a, b]).result
