"""Exportable stand-ins for linear layers, swapped into the model while it
is exported.

A `quantize_dynamic`'d Linear keeps its weights in an fbgemm packed-params
script object that torch.export cannot trace. While the model is exported,
every quantized linear (and, with `quantize=`, every fp32 nn.Linear / HF
Conv1D to be quantized) is replaced by a `_DQLinearStub` calling the custom
op `dqmlir::linear_dynamic` with a layer id; the weights stay on the Python
side (`QuantizedLinear`, read by quantized_linear.py) and reach MLIR as
constants when `to_dq` emits `dq.linear_dynamic`. fp32 linears left
unquantized become `dqmlir::linear_f32` (see fp32_linear.py for why). The
user's modules are put back afterwards, whatever happens.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional

import torch
import torch.nn as nn

from ..errors import UnsupportedModuleError
from . import registry
from .embedding import EmbeddingStub, is_quantized_embedding
from .recurrent import is_quantized_recurrent
from .recurrent import stubs_for as recurrent_stub
from .quantized_linear import (QuantizedLinear, from_dynamic_linear, from_torchao_linear,
                               is_torchao_linear)

# Layer id -> the quantized module; only populated while a model is swapped
# (the reference implementation is usable for eager checks inside that window).
_ACTIVE: Dict[int, Any] = {}


@torch.library.custom_op("dqmlir::linear_dynamic", mutates_args=())
def linear_dynamic(x: torch.Tensor, layer: int, out_features: int,
                   reduce_range: bool) -> torch.Tensor:
    """y = dequant(quant_dyn(x) @ W_q[layer]^T) + b. Reference: the quantized
    module itself (PyTorch's quantized::linear_dynamic, or torchao's linear)."""
    return _ACTIVE[layer](x)


@linear_dynamic.register_fake
def _(x, layer, out_features, reduce_range):
    return x.new_empty((*x.shape[:-1], out_features))


@registry.register("linear_dynamic", attrs=("layer", "out_features", "reduce_range"))
def _emit_linear(ctx, operands, attrs, result_types):
    from . import emit
    layer = attrs["layer"]
    return emit.linear_dynamic(operands[0], ctx.linears[layer], name=f"w{layer}")


def _weight_like(layer: nn.Module):
    w = layer.weight
    if isinstance(w, torch.Tensor):
        return torch.empty(w.shape, dtype=w.dtype, device="meta")
    return w                   # torch.ao's bound method weight()


class _DQLinearStub(nn.Module):
    """Exportable stand-in: no parameters, so no weight reaches the graph."""

    def __init__(self, layer: int, in_features: int, out_features: int, reduce_range: bool):
        super().__init__()
        self.layer, self.in_features, self.out_features = layer, in_features, out_features
        self.reduce_range = reduce_range

    @property
    def weight(self):
        """What the replaced layer's `weight` was, for models that inspect it:
        torch.ao's dynamic Linear has a method (T5 tests `isinstance(
        layer.weight, torch.Tensor)`), torchao's and fp32 layers a tensor, here
        a meta tensor of its shape and dtype (never computed with)."""
        return self._weight_like[0]

    def forward(self, x):
        # The kernel needs a static K: a dynamic last dim becomes this one.
        torch._check(x.shape[-1] == self.in_features)
        return torch.ops.dqmlir.linear_dynamic(x, self.layer, self.out_features,
                                               self.reduce_range)


@torch.library.custom_op("dqmlir::linear_f32", mutates_args=())
def linear_f32(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
               weight_kn: bool) -> torch.Tensor:
    """An fp32 linear layer kept whole through export (see fp32_linear.py):
    x @ W + b with W [K, N] (HF Conv1D) or [N, K] (nn.Linear)."""
    y = x @ weight if weight_kn else x @ weight.t()
    return y if bias is None else y + bias


@linear_f32.register_fake
def _(x, weight, bias, weight_kn):
    return x.new_empty((*x.shape[:-1], weight.shape[1] if weight_kn else weight.shape[0]))


@registry.register("linear_f32", attrs=("weight_kn",))
def _emit_f32(ctx, operands, attrs, result_types):
    from .fp32_linear import linear_f32 as emit_f32
    x, w, b = operands
    return emit_f32(x, w, b, attrs["weight_kn"])


@torch.library.custom_op("dqmlir::linear_f32_padded", mutates_args=())
def linear_f32_padded(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                      columns: int) -> torch.Tensor:
    """linear_f32 of W [K, N] = weight[:, :columns], the weight's rows padded
    to a stride that spreads them over the cache sets (fold_weights.py)."""
    y = x @ weight[:, :columns]
    return y if bias is None else y + bias


@linear_f32_padded.register_fake
def _(x, weight, bias, columns):
    return x.new_empty((*x.shape[:-1], columns))


@registry.register("linear_f32_padded", attrs=("columns",))
def _emit_f32_padded(ctx, operands, attrs, result_types):
    from .fp32_linear import linear_f32 as emit_f32
    x, w, b = operands
    return emit_f32(x, w, b, True, columns=attrs["columns"])


class _F32LinearStub(nn.Module):
    """Stand-in for an fp32 nn.Linear / Conv1D; shares the layer's parameters
    (tied weights stay one constant)."""

    def __init__(self, orig: nn.Module, weight_kn: bool):
        super().__init__()
        self.weight, self.bias, self.weight_kn = orig.weight, orig.bias, weight_kn

    def forward(self, x):
        # As nn.Linear's matmul would: K is the weight's, so a dynamic last
        # dim becomes static (the custom op's fake does not tie them).
        torch._check(x.shape[-1] == self.weight.shape[0 if self.weight_kn else 1])
        return torch.ops.dqmlir.linear_f32(x, self.weight, self.bias, self.weight_kn)


def _is_conv1d(m: nn.Module) -> bool:
    return type(m).__name__ == "Conv1D" and type(m).__module__.startswith("transformers")


def _f32_stub(m: nn.Module) -> Optional[nn.Module]:
    if type(m) is nn.Linear:
        return _F32LinearStub(m, weight_kn=False)
    if _is_conv1d(m):
        return _F32LinearStub(m, weight_kn=True)
    return None


def _is_dynamic_qlinear(m: nn.Module) -> bool:
    import torch.ao.nn.quantized.dynamic as nnqd
    return isinstance(m, nnqd.Linear)


def _as_linear(m: nn.Module) -> Optional[nn.Linear]:
    """nn.Linear itself, or HF's Conv1D (GPT-2: y = x @ W + b, W [in, out]) as
    an equivalent nn.Linear; None for anything else."""
    if type(m) is nn.Linear:
        return m
    if _is_conv1d(m):
        lin = nn.Linear(m.weight.shape[0], m.weight.shape[1], bias=m.bias is not None)
        with torch.no_grad():
            lin.weight.copy_(m.weight.t())
            if m.bias is not None:
                lin.bias.copy_(m.bias)
        return lin
    return None


def _quantize_fp32_linear(lin: nn.Linear, qconfig):
    """fp32 nn.Linear -> torch.ao dynamic quantized Linear, via the same
    observer quantize_dynamic would use (bit-identical weights and scales)."""
    import torch.ao.nn.quantized.dynamic as nnqd
    lin.qconfig = qconfig
    try:
        return nnqd.Linear.from_float(lin)
    finally:
        del lin.qconfig


def _set_submodule(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, new)


# Quantized modules dqmlir does not compile yet. torch.export fails on them
# with an AttributeError from their packed parameters (CellParamsBase,
# EmbeddingPackedParamsBase); name them instead.
_UNSUPPORTED_QUANTIZED = ("Conv1d", "Conv2d", "Conv3d", "RNN")


def _refuse_unsupported(path: str, m: nn.Module) -> None:
    cls = type(m)
    if cls.__module__.startswith(("torch.ao.nn.quantized", "torch.nn.quantized")) and \
            cls.__name__ in _UNSUPPORTED_QUANTIZED:
        raise UnsupportedModuleError(
            f"module '{path or '<root>'}' is a quantized {cls.__module__}.{cls.__name__}, "
            "which dqmlir does not compile yet (quantized nn.Linear, LSTM, GRU, their "
            "cells, Embedding and EmbeddingBag only)")


@contextlib.contextmanager
def swapped(model: nn.Module, quantize: Any, qconfig, reduce_range: bool,
            act_granularity: str = "per_tensor", executor=None):
    """Yields the QuantizedLinear list while every (to be) quantized linear of
    `model` is replaced by a _DQLinearStub. `quantize`: True = every nn.Linear
    of an fp32 model, or a collection of qualified names; None = only modules
    that are already torch.ao dynamic quantized. `executor`: where torch.ao
    layers unpack while the caller traces (a stub needs only the shape)."""
    chosen, fp32, embeddings, recurrent = [], [], [], []
    for path, m in model.named_modules():
        _refuse_unsupported(path, m)
        if is_quantized_recurrent(m) and path:     # export_model wraps a root one
            recurrent.append((path, m))
            continue
        if not path:
            continue
        if any(path.startswith(p + ".") for p, _ in recurrent):
            continue
        if is_quantized_embedding(m):
            embeddings.append((path, m))
            continue
        if _is_dynamic_qlinear(m) or is_torchao_linear(m):
            chosen.append((path, m, m))
        elif _as_linear(m) is not None and (quantize is True or
                                             (quantize and path in quantize)):
            chosen.append((path, m, _quantize_fp32_linear(_as_linear(m), qconfig)))
        elif _f32_stub(m) is not None:
            fp32.append((path, m))
    linears: List[QuantizedLinear] = []
    originals = []
    for i, (path, orig, qmod) in enumerate(chosen):
        ql = (from_torchao_linear(qmod, path) if is_torchao_linear(qmod)
              else from_dynamic_linear(qmod, path, executor if orig is qmod else None))
        if orig is not qmod:          # fp32 linear quantized on the caller's request
            ql.reduce_range = reduce_range
            ql.act_granularity = act_granularity
        linears.append(ql)
        originals.append((path, orig))
        _ACTIVE[i] = qmod
    originals += fp32
    stubs = [(path, EmbeddingStub(path, m)) for path, m in embeddings]
    originals += embeddings
    for path, m in recurrent:
        stub, qls, eager = recurrent_stub(path, m, len(linears))
        linears += qls
        _ACTIVE.update(eager)
        stubs.append((path, stub))
        originals.append((path, m))
    try:
        for i, ql in enumerate(linears[:len(chosen)]):
            stub = _DQLinearStub(i, ql.in_features, ql.out_features, ql.reduce_range)
            stub._weight_like = (_weight_like(originals[i][1]),)
            _set_submodule(model, ql.path, stub)
        for path, m in fp32:
            _set_submodule(model, path, _f32_stub(m))
        for path, stub in stubs:
            _set_submodule(model, path, stub)
        yield linears
    finally:
        for path, orig in originals:
            _set_submodule(model, path, orig)
        _ACTIVE.clear()
