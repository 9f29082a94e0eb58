"""Exact GELU kept whole through torch.export and torch-mlir.

PyTorch computes `F.gelu(x)` (approximate="none") on f32 CPU tensors of more
than one element with oneDNN's gelu_erf kernel, a piecewise polynomial whose
roundings neither torch-mlir's erf formula nor libm's erff reproduce. The
next quantized linear's per-tensor zero point follows GELU's minimum, so one
ulp there changes every rounding after it (MiniLM: cosine 0.96 to PyTorch).
`aten.gelu` therefore becomes the custom op ``dqmlir::gelu`` during export's
decompositions, and `to_dq` makes it `dq.gelu` (bit-exact to oneDNN's).
"""
from __future__ import annotations

from typing import Dict

import torch

from . import registry

OP_NAME = "dqmlir::gelu"
aten = torch.ops.aten


@torch.library.custom_op(OP_NAME, mutates_args=())
def gelu(x: torch.Tensor) -> torch.Tensor:
    """F.gelu(x) (exact erf form): the reference dq.gelu matches."""
    return torch.nn.functional.gelu(x)


@gelu.register_fake
def _(x):
    return torch.empty_like(x)


def decompositions(table: Dict) -> Dict:
    """`table` with f32 aten.gelu (approximate="none") routed to the custom op;
    the tanh form and other dtypes take PyTorch's own decomposition
    (torch-mlir's direct lowering of the tanh form is off by 1e-3 relative)."""
    from torch._decomp import decomposition_table as torch_decompositions

    table = dict(table)
    fallback = table.get(aten.gelu.default) or torch_decompositions[aten.gelu.default]

    def gelu_decomp(x, approximate="none"):
        if approximate == "none" and x.dtype == torch.float32:
            return torch.ops.dqmlir.gelu(x)
        return fallback(x, approximate=approximate)

    table[aten.gelu.default] = gelu_decomp
    return table


@registry.register("gelu")
def _emit(ctx, operands, attrs, result_types):
    from . import emit
    return emit.gelu(operands[0])
