"""tanh as PyTorch computes it on f32 CPU tensors: MKL's vsTanh.

ATen's tanh kernel hands every contiguous run (or a contiguous copy of a
strided one) to vml::vtanh, i.e. MKL's vmsTanh in high-accuracy mode; its
result depends on the element only, so layout and threads do not matter.
torch-mlir's lowering (math.tanh, then libm's tanhf) differs in a third of
the inputs by an ulp, which the next quantized linear's qparams can amplify.
So f32 aten.tanh becomes the custom op ``dqmlir::tanh`` during export's
decompositions (and the recurrent modules' gates use it too); `to_dq` makes
it `dq.tanh`, which calls MKL (LowerTanh.cpp). Other dtypes keep torch-mlir's
lowering.
"""
from __future__ import annotations

from typing import Dict

import torch

from . import registry

aten = torch.ops.aten


@torch.library.custom_op("dqmlir::tanh", mutates_args=())
def tanh(x: torch.Tensor) -> torch.Tensor:
    """torch.tanh (MKL's vsTanh), kept whole for dq.tanh."""
    return torch.tanh(x)


@tanh.register_fake
def _(x):
    return torch.empty_like(x)


def decompositions(table: Dict) -> Dict:
    """`table` with f32 aten.tanh routed to the custom op."""
    table = dict(table)
    fallback = table.get(aten.tanh.default)

    def tanh_decomp(x):
        if x.dtype == torch.float32:
            return torch.ops.dqmlir.tanh(x)
        return fallback(x) if fallback is not None else NotImplemented

    table[aten.tanh.default] = tanh_decomp
    return table


@registry.register("tanh")
def _emit(ctx, operands, attrs, result_types):
    from . import emit
    return emit.tanh(operands[0])
