"""FX graph rewrites before import (python/dqmlir/frontend/fx_cleanup.py)."""
import torch
from torch.export import Dim

import dqmlir
from dqmlir.frontend.fx_cleanup import drop_noop_expands


class Attention(torch.nn.Module):
    """torch.matmul on 4-D tensors: export expands both operands to their
    common batch shape (a no-op here) and, for `bias`, a real broadcast."""

    def forward(self, q, k, bias):
        s = torch.matmul(q, k.transpose(-1, -2))
        return s + bias.expand(q.shape[0], -1, -1, -1)


def _expands(gm):
    return sum(n.target is torch.ops.aten.expand.default for n in gm.graph.nodes)


def _example():
    q, k = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4)
    return q, k, torch.randn(1, 3, 5, 5)


def test_only_noop_expands_are_dropped():
    b, s = Dim("b"), Dim("s")
    ep = torch.export.export(Attention(), _example(), dynamic_shapes=(
        {0: b, 2: s}, {0: b, 2: s}, {2: s, 3: s}), strict=False)
    ep = ep.run_decompositions()
    before = _expands(ep.graph_module)
    assert drop_noop_expands(ep.graph_module) == before - 1 > 0
    assert _expands(ep.graph_module) == 1  # the broadcast of bias stays
    args = (torch.randn(4, 3, 7, 4), torch.randn(4, 3, 7, 4), torch.randn(1, 3, 7, 7))
    assert torch.equal(ep.module()(*args), Attention()(*args))


def test_compiled_model_without_noop_expands_matches_pytorch():
    b, s = Dim("b"), Dim("s")
    c = dqmlir.compile(Attention().eval(), _example(),
                       dynamic={"q": {0: b, 2: s}, "k": {0: b, 2: s}, "bias": {2: s, 3: s}})
    assert "aten.expand" in c.ir("torch")  # the bias broadcast
    assert c.ir("torch").count("aten.expand") == 1
    args = (torch.randn(3, 3, 6, 4), torch.randn(3, 3, 6, 4), torch.randn(1, 3, 6, 6))
    assert torch.allclose(c(*args), Attention()(*args), atol=1e-5)


class Dropouts(torch.nn.Module):
    def forward(self, x):
        y = torch.nn.functional.dropout(x, 0.1, training=False) * 2
        return torch.nn.functional.dropout(y, 0.5, training=True), y


def test_only_eval_dropouts_are_dropped():
    from dqmlir.frontend.fx_cleanup import drop_eval_dropouts
    ep = torch.export.export(Dropouts(), (torch.randn(3, 4),), strict=False)
    dropouts = lambda: [n for n in ep.graph.nodes if "dropout" in str(n.target)]
    assert len(dropouts()) == 2
    assert drop_eval_dropouts(ep.graph_module) == 1
    assert len(dropouts()) == 1 and dropouts()[0].args[2] is True
    x = torch.randn(3, 4)
    assert torch.equal(ep.module()(x)[1], x * 2)
