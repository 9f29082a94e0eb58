"""Rewrites of the exported FX graph that leave the model's results unchanged."""
from __future__ import annotations

import torch

from .fx_checks import same_sizes

aten = torch.ops.aten


def drop_noop_expands(gm: torch.fx.GraphModule) -> int:
    """Removes aten.expand to the shape the tensor already has.

    torch.matmul on 4-D attention tensors expands both operands to their
    common batch shape before its bmm; with equal shapes (every encoder) the
    expand is a no-op, but torch-mlir lowers it, with dynamic sizes, to a
    broadcast that copies the whole tensor with scalar loads (Q, Kᵀ, V and the
    probabilities: 4.5% of a BERT-base call at 8 x 128). Returns how many it
    removed."""
    def noop(node) -> bool:
        if node.target is not aten.expand.default:
            return False
        src, dst = getattr(node.args[0], "meta", {}).get("val"), node.meta.get("val")
        return (isinstance(src, torch.Tensor) and isinstance(dst, torch.Tensor)
                and same_sizes(src.shape, dst.shape))
    return _bypass(gm, noop)


_DROPOUTS = {aten.dropout.default, aten.feature_dropout.default, aten.alpha_dropout.default,
             aten.feature_alpha_dropout.default}


def drop_eval_dropouts(gm: torch.fx.GraphModule) -> int:
    """Removes dropouts with train=False (an eval model's: identities) before
    decomposition, which would trace each through torch._decomp's dropout
    (10 ms of symbolic shape work per call; BERT layers have two). Returns
    how many it removed."""
    def identity(node) -> bool:
        train = node.args[2] if len(node.args) > 2 else node.kwargs.get("train")
        return node.target in _DROPOUTS and train is False
    return _bypass(gm, identity)


def _bypass(gm: torch.fx.GraphModule, is_identity) -> int:
    """Replaces each call node for which `is_identity(node)` holds by its
    first argument; returns how many."""
    removed = 0
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and is_identity(node):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
            removed += 1
    if removed:
        gm.graph.lint()
        gm.recompile()
    return removed
