"""Layer norms kept whole through torch.export and torch-mlir.

torch-mlir decomposes layer norm into mean/variance ops (the variance in
f64) whose roundings differ from ATen's kernel; the quantized linears that
follow amplify such float differences (a per-tensor 7-bit activation scale
moves with them). So `aten.layer_norm` becomes the custom op
``dqmlir::layer_norm`` during export's decompositions, torch-mlir sees an
opaque `torch.operator`, and the bridge turns it into a `func.call` of a
declaration tagged `dq.layer_norm`, which `to_dq` makes a `dq.layer_norm`
(bit-exact to ATen's CPU kernel).
"""
from __future__ import annotations

from typing import Dict

import torch

from . import registry

OP_NAME = "dqmlir::layer_norm"
aten = torch.ops.aten


@torch.library.custom_op(OP_NAME, mutates_args=())
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
               eps: float) -> torch.Tensor:
    """F.layer_norm over the last dim (the reference dq.layer_norm matches)."""
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), weight, bias, eps)


@layer_norm.register_fake
def _(x, weight, bias, eps):
    return torch.empty_like(x)


def _supported(x, normalized_shape, weight, bias) -> bool:
    # dq.layer_norm: f32, one normalized dim of static size. A missing weight
    # or bias is a constant 1 or 0 (_affine): ATen's kernel computes
    # (x * rstd + shift) * gamma + beta with gamma = 1, beta = 0 where they
    # are null, the same bits as its affine kernel with ones and zeros.
    return (x.dtype == torch.float32 and len(normalized_shape) == 1
            and isinstance(x.shape[-1], int)
            and all(t is None or t.dtype == torch.float32 for t in (weight, bias))
            # A bias without a weight is not that (measured: 1-ulp differences).
            and (bias is None or weight is not None))


def _affine(x, weight, bias):
    n = x.shape[-1]
    if weight is None:
        weight = torch.ones(n, dtype=torch.float32)
    if bias is None:
        bias = torch.zeros(n, dtype=torch.float32)
    return weight, bias


def decompositions(table: Dict) -> Dict:
    """`table` with aten.layer_norm / native_layer_norm routed to the custom
    op where dq.layer_norm applies (the given decompositions elsewhere)."""
    table = dict(table)
    ln_fallback = table.get(aten.layer_norm.default)
    nln_fallback = table.get(aten.native_layer_norm.default)

    def layer_norm_decomp(x, normalized_shape, weight=None, bias=None, eps=1e-5,
                          cudnn_enable=True):
        if not _supported(x, normalized_shape, weight, bias):
            if ln_fallback is not None:
                return ln_fallback(x, normalized_shape, weight, bias, eps, cudnn_enable)
            return NotImplemented
        return torch.ops.dqmlir.layer_norm(x, *_affine(x, weight, bias), float(eps))

    def native_layer_norm_decomp(x, normalized_shape, weight, bias, eps):
        if not _supported(x, normalized_shape, weight, bias) or nln_fallback is None:
            return nln_fallback(x, normalized_shape, weight, bias, eps)
        # mean and rstd from the generic decomposition; dead (and removed)
        # unless someone reads them.
        _, mean, rstd = nln_fallback(x, normalized_shape, weight, bias, eps)
        return torch.ops.dqmlir.layer_norm(x, *_affine(x, weight, bias), float(eps)), mean, rstd

    table[aten.layer_norm.default] = layer_norm_decomp
    if nln_fallback is not None:
        table[aten.native_layer_norm.default] = native_layer_norm_decomp
    return table


@registry.register("layer_norm", attrs=("eps",))
def _emit(ctx, operands, attrs, result_types):
    from . import emit
    return emit.layer_norm(*operands, attrs["eps"])
