"""Views merging batch and sequence around row-wise ops are undone
(frontend/merged_rows.py): both dims stay dynamic, results as PyTorch's."""
import pytest
import torch
import torch.nn as nn

import dqmlir

SIZES = [(1, 1), (1, 9), (3, 5), (2, 40)]


class FeedForward(nn.Module):
    """OPT's feed-forward block: [B, S, H] viewed as [B * S, H], layer norm,
    two linears with a ReLU between (a where of a comparison once
    decomposed), the residual, a softmax along the last dim, the view back."""

    def __init__(self, hidden=32):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, 2 * hidden)
        self.fc2 = nn.Linear(2 * hidden, hidden)

    def forward(self, x):
        shape = x.shape
        h = x.reshape(-1, x.size(-1))
        y = self.fc2(torch.relu(self.fc1(self.norm(h)))) + h
        return torch.softmax(y * 0.5, dim=1).view(shape)


class MatmulByMatrix(nn.Module):
    """x @ W of a 3-d x by a parameter (torch.export: view, mm, view), then
    a quantized linear."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(16, 24) / 4)
        self.bias = nn.Parameter(torch.randn(24))
        self.q = nn.Linear(24, 8)

    def forward(self, x):
        return self.q(torch.addmm(self.bias, x.reshape(-1, 16), self.w).view(
            x.shape[0], x.shape[1], 24))


def _compile(model, example, caplog):
    with caplog.at_level("WARNING", logger="dqmlir"):
        compiled = dqmlir.compile(model, (example,), cache=False, verbose=False)
    assert "static in the compiled code" not in caplog.text, caplog.text
    return compiled


def test_row_wise_block_keeps_batch_and_sequence_dynamic(caplog):
    torch.manual_seed(0)
    model = torch.ao.quantization.quantize_dynamic(FeedForward().eval(), {nn.Linear},
                                                   dtype=torch.qint8)
    compiled = _compile(model, torch.randn(2, 6, 32), caplog)
    for b, s in SIZES:
        x = torch.randn(b, s, 32) * 3
        with torch.no_grad():
            assert torch.equal(compiled(x), model(x)), (b, s)


def test_matmul_by_a_matrix_keeps_batch_and_sequence_dynamic(caplog):
    torch.manual_seed(1)
    model = torch.ao.quantization.quantize_dynamic(MatmulByMatrix().eval(), {"q"},
                                                   dtype=torch.qint8)
    compiled = _compile(model, torch.randn(2, 6, 16), caplog)
    for b, s in SIZES:
        x = torch.randn(b, s, 16)
        with torch.no_grad():
            # fp32 matmul: MKL's sgemm against dq's contraction, then a
            # quantized linear whose range an ulp can move by a step.
            torch.testing.assert_close(compiled(x), model(x), rtol=0, atol=0.05)


class MergedThenReduced(nn.Module):
    """A merged tensor read by an op that mixes rows (a sum over them)."""

    def forward(self, x):
        h = torch.relu(x.reshape(-1, x.size(-1)))
        return h.sum(0), h.view(x.shape)


def test_other_uses_of_the_merged_rows_keep_one_dim_static(caplog):
    with caplog.at_level("WARNING", logger="dqmlir"):
        compiled = dqmlir.compile(MergedThenReduced().eval(), (torch.randn(2, 5, 8),),
                                  cache=False, verbose=False)
    assert "merges the dynamic dims" in caplog.text
    x = torch.randn(3, 5, 8)
    for got, want in zip(compiled(x), MergedThenReduced()(x)):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="dim 1 must be 5"):
        compiled(torch.randn(3, 6, 8))
