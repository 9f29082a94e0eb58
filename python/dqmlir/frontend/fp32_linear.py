"""fp32 linear layers (unquantized nn.Linear, HF Conv1D) as one linalg.contract.

torch.export writes `linear(x[B, S, K])` as `view(x, [-1, K])`, `mm`, `view`.
torch-mlir lowers a view that merges two dynamic dims by assuming the second
is 1 (an unchecked tensor.cast to ?x1xK: wrong reads, NaN or a crash at run
time), and a correct collapse_shape instead meets an upstream assertion once
fusion turns it into a memref.expand_shape with two dynamic sizes per group.
So these layers reach MLIR as a custom op (registry.py) and become a
contraction over all leading dims here, with no reshape at all.
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, linalg, tensor

from . import emit


def _maps(rank: int):
    """Maps of x, W [K, N] and y, loops (leading..., n, k): k innermost is
    the form dq-vectorize-linalg tiles as an f32 contraction (vectors along
    n, one k at a time, each output summed over k in order). With n
    innermost instead (once used for W [K, N]) it stayed scalar loops:
    GPT-2's Conv1D layers took 40 s for 32 tokens."""
    d = [ir.AffineExpr.get_dim(i) for i in range(rank + 1)]
    lead = d[:rank - 1]
    n, k = d[rank - 1], d[rank]

    def amap(exprs):
        return ir.AffineMap.get(rank + 1, 0, exprs)
    return amap(lead + [k]), amap([k, n]), amap(lead + [n])


def linear_f32(x: ir.Value, w: ir.Value, b: ir.Value | None, weight_kn: bool,
               columns: int = 0) -> ir.Value:
    """y = x @ W + b for x [..., K]; W is [K, N] (Conv1D) or [N, K] (nn.Linear).
    columns > 0: W is w[:, :columns] of a [K, N'] w whose rows are padded
    (fold_weights.py), read in place through the slice."""
    if columns and columns != ir.RankedTensorType(w.type).shape[1]:
        k = ir.RankedTensorType(w.type).shape[0]
        w = tensor.extract_slice(ir.RankedTensorType.get([k, columns], ir.F32Type.get()), w,
                                 [], [], [], [0, 0], [k, columns], [1, 1])
    xt, wt = ir.RankedTensorType(x.type), ir.RankedTensorType(w.type)
    rank, f32 = xt.rank, ir.F32Type.get()
    n = wt.shape[1] if weight_kn else wt.shape[0]
    init = tensor.EmptyOp(emit.sizes(x)[:-1] + [n], f32).result
    acc = linalg.fill(arith.constant(f32, 0.0), outs=[init])
    if not weight_kn:
        # [N, K] -> [K, N]: the contraction reads W along n for each k (a
        # row of [K, N] is one vector load; a column of [N, K] a gather,
        # once per tile of rows). The transpose is a copy of W per call:
        # weights are dense_resource constants, which constant folding
        # does not read.
        wt = ir.RankedTensorType(w.type)
        w = linalg.transpose(w, outs=[tensor.EmptyOp(wt.shape[::-1], wt.element_type).result],
                             permutation=[1, 0])
    xmap, wmap, ymap = _maps(rank)
    # A named op, not a linalg.generic: elementwise fusion fuses producers
    # into generics of any kind, and a producer fused into a contraction is
    # recomputed for every output column (GPT-2's tanh GELU before c_proj:
    # 768 times, 60x slower than PyTorch).
    y = linalg.contract(x, w, outs=[acc], indexing_maps=[xmap, wmap, ymap])
    if b is None:
        return y
    # Bias after the sum, as PyTorch's addmm rounds it.
    par = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    ymap_r = ir.AffineMap.get_identity(rank)
    bmap_r = ir.AffineMap.get(rank, 0, [ir.AffineExpr.get_dim(rank - 1)])
    add = linalg.GenericOp_([y, b], [init], ir.ArrayAttr.get(
        [ir.AffineMapAttr.get(m) for m in (ymap_r, bmap_r, ymap_r)]), ir.ArrayAttr.get([par] * rank))
    with ir.InsertionPoint(add.regions[0].blocks[0]):
        v, bias, _ = add.regions[0].blocks[0].arguments
        linalg.YieldOp([arith.addf(v, bias)])
    return add.result
