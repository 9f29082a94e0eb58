"""Softmax and log-softmax kept whole through torch.export and torch-mlir.

A plain softmax (models with eager attention: DeBERTa-v2, or any HF model
loaded with attn_implementation="eager"; classifier heads' log_softmax)
reaches torch-mlir as `aten._softmax` / `aten._log_softmax`, whose generic
lowering rounds differently from ATen's CPU kernels in most entries (exp,
sum order). The next quantized linear's per-tensor range amplifies a
last-ulp difference into visible ones. So f32 softmax and log_softmax become
the custom op ``dqmlir::softmax`` during export's decompositions, and
`to_dq` makes it `dq.softmax` (bit-exact to SoftMaxKernel.cpp, see
LowerSoftmax.cpp). Other dtypes keep the given decompositions.
"""
from __future__ import annotations

from typing import Dict

import torch

from . import registry

OP_NAME = "dqmlir::softmax"
aten = torch.ops.aten


@torch.library.custom_op(OP_NAME, mutates_args=())
def softmax(x: torch.Tensor, dim: int, log: bool) -> torch.Tensor:
    """torch.softmax (log_softmax with `log`) along `dim` >= 0: what
    dq.softmax computes, rounding for rounding."""
    return torch.log_softmax(x, dim) if log else torch.softmax(x, dim)


@softmax.register_fake
def _(x, dim, log):
    return torch.empty_like(x)


def _supported(x, out_dtype=None) -> bool:
    return (x.dtype == torch.float32 and x.dim() >= 1
            and out_dtype in (None, torch.float32))


def decompositions(table: Dict) -> Dict:
    """`table` with f32 softmax / log_softmax routed to the custom op; other
    dtypes (and rank 0) take the given decompositions, or stay as they are."""
    table = dict(table)

    def route(op, log, fallback):
        def decomp(x, dim, third=None):
            # _softmax(x, dim, half_to_float) or softmax.int(x, dim, dtype).
            out_dtype = third if isinstance(third, torch.dtype) else None
            if (op in (aten._softmax.default, aten._log_softmax.default) and third) \
                    or not _supported(x, out_dtype):
                return fallback(x, dim, third) if fallback is not None else NotImplemented
            return torch.ops.dqmlir.softmax(x, dim % x.dim(), log)
        return decomp

    for op, log in [(aten._softmax.default, False), (aten.softmax.int, False),
                    (aten._log_softmax.default, True), (aten.log_softmax.int, True)]:
        table[op] = route(op, log, table.get(op))
    return table


@registry.register("softmax", attrs=("dim", "log"))
def _emit(ctx, operands, attrs, result_types):
    from . import emit
    return emit.softmax(operands[0], attrs["dim"], attrs["log"])
