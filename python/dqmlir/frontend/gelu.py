"""Exact GELU kept whole through torch.export and torch-mlir.

PyTorch computes `F.gelu(x)` (approximate="none") on f32 CPU tensors of more
than one element with oneDNN's gelu_erf kernel, a piecewise polynomial whose
roundings neither torch-mlir's erf formula nor libm's erff reproduce. The
next quantized linear's per-tensor zero point follows GELU's minimum, so one
ulp there changes every rounding after it (MiniLM: cosine 0.96 to PyTorch).
`aten.gelu` therefore becomes the custom op ``dqmlir::gelu`` during export's
decompositions, and `to_dq` makes it `dq.gelu` (bit-exact to oneDNN's).

PyTorch runs ATen's own kernel instead on non-contiguous tensors (a GELU of a
transposed or sliced intermediate), whose rounding depends on where each
element falls in TensorIterator's inner loop. The layout is known at export
(the fake tensor's strides): the input is permuted to its memory order, the
last dims, which TensorIterator coalesces into its inner loop, are named by
`dq.gelu {aten_inner_dims}` (see LowerGelu.cpp). PyTorch with several threads
splits a GELU of more than 6144 elements between them, each chunk with its own
scalar tail: that result depends on torch.get_num_threads(); dqmlir's is the
one-thread one.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch

from . import registry

OP_NAME = "dqmlir::gelu"
aten = torch.ops.aten


@torch.library.custom_op(OP_NAME, mutates_args=())
def gelu(x: torch.Tensor, aten_inner_dims: int) -> torch.Tensor:
    """F.gelu(x) (exact erf form): the reference dq.gelu matches. With
    `aten_inner_dims` k > 0, x is in its memory order and its last k dims
    are ATen's inner loop."""
    return torch.nn.functional.gelu(x)


@gelu.register_fake
def _(x, aten_inner_dims):
    return torch.empty_like(x)


def _hint(v) -> int:
    """A size or stride's value at the example inputs (no guard added)."""
    if isinstance(v, torch.SymInt):
        hint = v.node.hint
        if hint is None:
            raise ValueError("no hint")
        return int(hint)
    return int(v)


def aten_layout(x: torch.Tensor) -> Optional[Tuple[List[int], int, bool]]:
    """None where PyTorch gives `x` to oneDNN (contiguous; the one-element
    case is left to the lowering), else how ATen's TensorIterator walks it
    (TensorIterator.cpp: reorder_dimensions, coalesce_dimensions): the
    permutation that puts its iteration order last (slowest dim first), how
    many of the fastest dims it coalesces into its inner loop, and whether
    that loop is vectorized (unit or broadcast inner stride). Judged at the
    example's sizes: for sizes of 2 or more a view's order does not depend
    on them."""
    try:
        sizes = [_hint(s) for s in x.shape]
        strides = [_hint(s) for s in x.stride()]
    except ValueError:
        return None
    expected, contiguous = 1, True
    for size, stride in reversed(list(zip(sizes, strides))):
        if size != 1 and stride != expected:
            contiguous = False
        expected *= size
    if contiguous or 0 in sizes:
        return None
    ndim = len(sizes)

    def should_swap(d0, d1):
        s0, s1 = strides[d0], strides[d1]
        if s0 == 0 or s1 == 0:
            return 0              # a broadcast dim: ambiguous
        if s0 != s1:
            return -1 if s0 < s1 else 1
        return 1 if sizes[d0] > sizes[d1] else 0

    fast = list(reversed(range(ndim)))          # fast[0]: the inner dim
    for i in range(1, ndim):                    # ATen's insertion sort
        d1 = i
        for d0 in range(i - 1, -1, -1):
            c = should_swap(fast[d0], fast[d1])
            if c > 0:
                fast[d0], fast[d1] = fast[d1], fast[d0]
                d1 = d0
            elif c < 0:
                break
    inner, inner_stride = 1, strides[fast[0]]
    for prev, d in zip(fast, fast[1:]):
        if sizes[prev] != 1 and sizes[d] != 1 and sizes[prev] * strides[prev] != strides[d]:
            break
        if sizes[prev] == 1:
            inner_stride = strides[d]
        inner += 1
    return list(reversed(fast)), inner, inner_stride in (0, 1)


def _importable(v) -> bool:
    """Whether a size or stride can become graph arithmetic torch-mlir
    imports: integers, symbols, +, * and // (not the Max/Min that strides
    after a convolution carry)."""
    if not isinstance(v, torch.SymInt):
        return True
    import sympy
    from torch.utils._sympy.functions import FloorDiv
    allowed = (sympy.Symbol, sympy.Integer, sympy.Add, sympy.Mul, FloorDiv)
    return all(isinstance(e, allowed) for e in sympy.preorder_traversal(v.node.expr))


def _contiguous_at_run_time(x: torch.Tensor) -> Optional[torch.Tensor]:
    """A 0-d bool tensor: whether `x` is contiguous at the call's sizes (a
    slice that keeps a whole dim, a transpose with a dim of 1), where PyTorch
    hands it to oneDNN after all; None where its sizes and strides are
    static (then it never is: aten_layout judged it at those sizes), or are
    expressions torch-mlir cannot import (then judged at the example's)."""
    values = (*x.shape, *x.stride())
    if all(isinstance(v, int) for v in values) or not all(_importable(v) for v in values):
        return None
    flag, expected = None, 1
    for size, stride in reversed(list(zip(x.shape, x.stride()))):
        if isinstance(size, int) and size == 1:
            continue
        n = torch.scalar_tensor(size, dtype=torch.int64)
        ok = torch.scalar_tensor(stride, dtype=torch.int64) == \
            torch.scalar_tensor(expected, dtype=torch.int64)
        if not isinstance(size, int):
            ok = ok | (n == 1)
        flag = ok if flag is None else flag & ok
        expected = expected * size
    return flag


def _aten_gelu(x: torch.Tensor, layout) -> torch.Tensor:
    perm, coalesced, vectorized = layout
    y = x.permute(perm).contiguous()
    if vectorized:
        out = torch.ops.dqmlir.gelu(y, coalesced)
    else:                         # ATen's basic loop: every element scalar
        out = torch.ops.dqmlir.gelu(y.unsqueeze(-1), 1).squeeze(-1)
    inverse = [0] * len(perm)
    for i, d in enumerate(perm):
        inverse[d] = i
    return out.permute(inverse)


def decompositions(table: Dict) -> Dict:
    """`table` with f32 aten.gelu (approximate="none") routed to the custom op;
    the tanh form and other dtypes take PyTorch's own decomposition
    (torch-mlir's direct lowering of the tanh form is off by 1e-3 relative)."""
    from torch._decomp import decomposition_table as torch_decompositions

    table = dict(table)
    fallback = table.get(aten.gelu.default) or torch_decompositions[aten.gelu.default]

    def gelu_decomp(x, approximate="none"):
        if approximate == "none" and x.dtype == torch.float32:
            layout = aten_layout(x)
            if layout is None:
                return torch.ops.dqmlir.gelu(x, 0)
            aten_form = _aten_gelu(x, layout)
            contiguous = _contiguous_at_run_time(x)
            if contiguous is None:
                return aten_form
            return torch.where(contiguous, torch.ops.dqmlir.gelu(x.contiguous(), 0), aten_form)
        return fallback(x, approximate=approximate)

    table[aten.gelu.default] = gelu_decomp
    return table


@registry.register("gelu", attrs=("aten_inner_dims",))
def _emit(ctx, operands, attrs, result_types):
    from . import emit
    return emit.gelu(operands[0], attrs["aten_inner_dims"])
