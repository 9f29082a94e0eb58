"""Views that merge a tensor's leading dims into one row dim, undone where
only row-wise ops see the merged tensor.

OPT's and Falcon's layers write their feed-forward block as

    h = x.reshape(-1, hidden)          # [batch, seq, hidden] -> [batch * seq, hidden]
    h = fc2(act(fc1(layer_norm(h)))) + h
    y = h.view(batch, seq, hidden)

torch-mlir lowers a view that merges two dynamic dims wrongly (see
fx_checks.check_dynamic_collapses), so such a model used to compile with its
sequence length static. Every op between the two views works row by row:
linears contract the last dim, layer norm normalizes it, elementwise ops
pair elements at equal positions. Run on [batch, seq, hidden] instead, they
compute the same values in the same memory order (a per-tensor activation
range spans the same elements), and the views go away. `unmerge_row_views`
does that where every use of the merged tensor is such an op or a view back
to the leading dims; any other use leaves the graph as it was.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

from .fx_checks import VIEWS, merged_dynamic_dims, same_sizes

aten = torch.ops.aten


def _val(node):
    v = getattr(node, "meta", {}).get("val") if isinstance(node, torch.fx.Node) else None
    return v if isinstance(v, torch.Tensor) else None


def _leading_merge(node) -> Optional[int]:
    """k >= 2 if `node` is a view of x[d0, ..., dk-1, *rest] to
    [d0 * ... * dk-1, *rest] merging two or more dynamic dims, else None."""
    if node.op != "call_function" or node.target not in VIEWS:
        return None
    src, dst = _val(node.args[0]), _val(node)
    if src is None or dst is None or dst.dim() < 1:
        return None
    k = src.dim() - dst.dim() + 1
    if k < 2 or not same_sizes(src.shape[k:], dst.shape[1:]):
        return None
    return k if merged_dynamic_dims(src.shape, dst.shape) else None


# Ops that treat the rows of their first operand independently and keep its
# rank: dqmlir's custom ops for linears (the last dim contracted; the
# per-tensor activation range spans all rows either way), layer norm (over
# the last dim) and tanh. Their other tensor operands are weights.
_ROW_OPS = ("linear_dynamic", "linear_f32", "linear_f32_padded", "layer_norm", "tanh")


def _custom(node, name: str) -> bool:
    ns = getattr(torch.ops, "dqmlir", None)
    packet = getattr(ns, name, None) if ns is not None else None
    return packet is not None and node.target == getattr(packet, "default", None)


def _row_wise(node, merged: dict) -> Optional[dict]:
    """How `node`, a user of merged tensors, is rewritten on unmerged ones:
    {"dim_arg": index of a dim argument to shift, or None}; None if it is
    not a row-wise op of them."""
    if node.op != "call_function":
        return None
    tensors = [a for a in node.args if isinstance(a, torch.fx.Node)]
    tensors += [a for a in node.kwargs.values() if isinstance(a, torch.fx.Node)]
    if any(_custom(node, name) for name in _ROW_OPS):
        first = node.args[0]
        return {} if first in merged and all(a not in merged for a in tensors[1:]) else None
    if _custom(node, "gelu"):
        # aten_inner_dims > 0 describes a non-contiguous input's layout.
        return {} if node.args[0] in merged and node.args[1] == 0 else None
    if node.target in (aten.mm.default, aten.addmm.default):
        # x @ W of a [rows, K] x (torch.export's form of a matmul of a 3-d
        # tensor by a matrix): an fp32 linear over the leading dims.
        x, w = node.args[-2:]
        bias = node.args[0] if node.target is aten.addmm.default else None
        plain = not node.kwargs and len(node.args) == (2 if bias is None else 3)
        if bias is not None:
            plain = plain and bias not in merged and _val(bias) is not None \
                and _val(bias).dim() == 1
        # fp32_linear.py emits a weight of static shape.
        return ({"linear_f32": bias} if plain and x in merged and w not in merged
                and _val(w) is not None and _val(w).dim() == 2
                and all(isinstance(d, int) for d in _val(w).shape) else None)
    if _custom(node, "softmax"):
        dim = node.args[1]
        return {"dim_arg": 1} if node.args[0] in merged and dim >= 1 else None
    if torch.Tag.pointwise not in getattr(node.target, "tags", ()):
        return None
    out = _val(node)
    if out is None:
        return None
    for a in tensors:
        v = _val(a)
        if v is None:
            return None
        # Merged operands pair rows with rows; any other broadcasts along
        # the trailing dims only.
        if (v.dim() != out.dim()) if a in merged else (v.dim() >= out.dim()):
            return None
    return {}


def _view_back(node, merged: dict, lead: Sequence) -> bool:
    """`node` views a merged tensor as [*lead, ...]: it ends the region."""
    out = _val(node)
    return (node.op == "call_function" and node.target in VIEWS and node.args[0] in merged
            and out is not None and out.dim() >= len(lead)
            and same_sizes(out.shape[:len(lead)], lead))


def _plan(view, k: int) -> Optional[Tuple[dict, List]]:
    """The row-wise nodes downstream of `view` (graph order, each with how
    it is rewritten: _row_wise) and the views back to its leading dims that
    end the region, or None if some use of a merged tensor is neither."""
    lead = _val(view.args[0]).shape[:k]
    merged = {view: {}}
    ends = []
    node = view
    while node.next.op != "root":
        node = node.next
        if not any(a in merged for a in node.all_input_nodes):
            continue
        if node.op == "output":
            return None
        if _view_back(node, merged, lead):
            ends.append(node)
            continue
        how = _row_wise(node, merged)
        if how is None:
            return None
        merged[node] = how
    if not ends:
        return None
    del merged[view]
    return merged, ends


def unmerge_row_views(gm: torch.fx.GraphModule) -> int:
    """Rewrites every merging view whose region is row-wise (module
    docstring); returns how many views it removed."""
    removed, erased = 0, set()
    for view in list(gm.graph.nodes):
        if view in erased:
            continue
        k = _leading_merge(view)
        if k is None:
            continue
        plan = _plan(view, k)
        if plan is None:
            continue
        region, ends = plan
        src = view.args[0]
        lead = list(_val(src).shape[:k])
        fake_mode = torch._guards.detect_fake_mode([_val(src)])
        with fake_mode:
            for node, how in region.items():
                old = _val(node)
                node.meta["val"] = old.new_empty(lead + list(old.shape[1:]))
                node.meta.pop("tensor_meta", None)
                if "linear_f32" in how:
                    node.target = torch.ops.dqmlir.linear_f32.default
                    node.args = (node.args[-2], node.args[-1], how["linear_f32"], True)
                if how.get("dim_arg") is not None:
                    args = list(node.args)
                    args[how["dim_arg"]] += k - 1
                    node.args = tuple(args)
        view.replace_all_uses_with(src)
        gm.graph.erase_node(view)
        for end in ends:
            if same_sizes(_val(end).shape, _val(end.args[0]).shape):
                end.replace_all_uses_with(end.args[0])
                gm.graph.erase_node(end)
                erased.add(end)
        removed += 1
    if removed:
        gm.graph.lint()
        gm.recompile()
    return removed
