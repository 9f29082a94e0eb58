"""Integer division of tensors kept integer through torch-mlir.

torch-mlir lowers `a // b` (aten.floor_divide, aten.div with a rounding
mode) and `a % b` on integer tensors through f64: divf, floor, fptosi. That
is wrong for |values| above 2^53, and a zero divisor gives INT_MIN where
PyTorch raises ZeroDivisionError. Here they become the custom op
``dqmlir::int_div`` (operands broadcast and promoted in torch first), which
lowers to a linalg.generic of arith.floordivsi / divsi; dq-runtime-checks
guards its data-dependent divisor, so a zero raises ZeroDivisionError.
"""
from __future__ import annotations

from typing import Dict

import torch

from . import registry

aten = torch.ops.aten
FLOOR, TRUNC, REMAINDER = 0, 1, 2


@torch.library.custom_op("dqmlir::int_div", mutates_args=())
def int_div(a: torch.Tensor, b: torch.Tensor, mode: int) -> torch.Tensor:
    """a // b (FLOOR), trunc(a / b) (TRUNC) or a % b with b's sign
    (REMAINDER), on integer tensors of one shape and dtype."""
    if mode == REMAINDER:
        return torch.remainder(a, b)
    return torch.div(a, b, rounding_mode="floor" if mode == FLOOR else "trunc")


@int_div.register_fake
def _(a, b, mode):
    return torch.empty_like(a)


def _integers(a, b) -> bool:
    def integer(x):
        return (isinstance(x, int) and not isinstance(x, bool)) or (
            isinstance(x, torch.Tensor) and not x.is_floating_point() and not x.is_complex()
            and x.dtype != torch.bool)
    return integer(a) and integer(b) and (isinstance(a, torch.Tensor)
                                          or isinstance(b, torch.Tensor))


def _call(a, b, mode):
    dtype = torch.result_type(a, b)
    a = a.to(dtype) if isinstance(a, torch.Tensor) else torch.full((), a, dtype=dtype)
    b = b.to(dtype) if isinstance(b, torch.Tensor) else torch.full((), b, dtype=dtype)
    a, b = torch.broadcast_tensors(a, b)
    return torch.ops.dqmlir.int_div(a.contiguous(), b.contiguous(), mode)


def decompositions(table: Dict) -> Dict:
    """`table` with integer floor/trunc division and remainder routed to
    dqmlir::int_div; float ones keep their decompositions."""
    table = dict(table)

    def wrap(op, mode_of):
        fallback = table.get(op)

        def decomp(a, b, *args, **kwargs):
            mode = mode_of(*args, **kwargs)
            if mode is not None and _integers(a, b):
                return _call(a, b, mode)
            return fallback(a, b, *args, **kwargs) if fallback else NotImplemented
        table[op] = decomp

    wrap(aten.floor_divide.default, lambda: FLOOR)
    wrap(aten.div.Tensor_mode, lambda rounding_mode=None: {
        "floor": FLOOR, "trunc": TRUNC}.get(rounding_mode))
    wrap(aten.div.Scalar_mode, lambda rounding_mode=None: {
        "floor": FLOOR, "trunc": TRUNC}.get(rounding_mode))
    wrap(aten.remainder.Tensor, lambda: REMAINDER)
    wrap(aten.remainder.Scalar, lambda: REMAINDER)
    return table


@registry.register("int_div", attrs=("mode",))
def _emit(ctx, operands, attrs, result_types):
    from mlir import ir
    from mlir.dialects import arith, linalg, tensor

    from . import emit

    a, b = operands
    mode = attrs["mode"]
    t = ir.RankedTensorType(a.type)
    init = tensor.EmptyOp(emit.sizes(a), t.element_type).result
    ident = ir.AffineMapAttr.get(ir.AffineMap.get_identity(t.rank))
    par = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    op = linalg.GenericOp_([a, b], [init], ir.ArrayAttr.get([ident] * 3),
                           ir.ArrayAttr.get([par] * t.rank))
    with ir.InsertionPoint(op.regions[0].blocks[0]):
        x, y, _ = op.regions[0].blocks[0].arguments
        if mode == TRUNC:
            q = arith.divsi(x, y)
        else:
            q = arith.floordivsi(x, y)
            if mode == REMAINDER:
                q = arith.subi(x, arith.muli(q, y))
        linalg.YieldOp([q])
    return [op.result]
