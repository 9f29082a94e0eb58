"""dqmlir.compile on torch.ao.nn.quantized.dynamic.Linear vs PyTorch (fbgemm).

PyTorch's own `quantized::linear_dynamic` is the reference; outputs must agree
to a few ulps (they are bit-exact on this machine).
"""
import pytest
import torch
from conftest import HAS_VNNI, record_parity

import dqmlir

MAX_ULP = 2


def make_qlinear(k, n, bias=True, per_channel=False, reduce_range=True, seed=0):
    torch.manual_seed(seed)
    lin = torch.nn.Linear(k, n, bias=bias)
    qconfig = (torch.ao.quantization.per_channel_dynamic_qconfig if per_channel
               else torch.ao.quantization.default_dynamic_qconfig)
    q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear: qconfig},
                                               dtype=torch.qint8)[0]
    if not reduce_range:
        q.version = 3  # forward then calls linear_dynamic without reduce_range
    return q


def check(q, x, compiled=None):
    compiled = compiled or dqmlir.compile(q, (x,))
    ours, ref = compiled(x), q(x)
    ulp = record_parity(ours, ref)
    assert ulp <= MAX_ULP, f"{ulp} ulp, max |diff| {(ours - ref).abs().max()}"
    return compiled


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("reduce_range", [True, False], ids=["rr", "full"])
@pytest.mark.parametrize("k,n", [(64, 48), (67, 37), (3, 1), (1, 5), (768, 768)])
def test_random(k, n, bias, per_channel, reduce_range):
    q = make_qlinear(k, n, bias, per_channel, reduce_range, seed=k * 1000 + n)
    c = None
    for shape in [(1, k), (7, k), (2, 3, k), (2, 1, 4, k)]:
        x = torch.randn(*shape) * 2.5 + 0.3
        if c is None or x.dim() != len(c.signature.tensor_leaves[0].dims):
            c = dqmlir.compile(q, (x,))
        check(q, x, c)


def test_one_compile_any_batch():
    q = make_qlinear(96, 80)
    c = dqmlir.compile(q, (torch.randn(4, 96),))
    for m in [1, 2, 17, 128, 300]:
        check(q, torch.randn(m, 96) * 4, c)


def test_bert_sized():
    q = make_qlinear(768, 3072, per_channel=True)
    x = torch.randn(2, 64, 768)
    check(q, x)


@pytest.mark.parametrize("name,make", [
    ("zeros", lambda s: torch.zeros(s)),
    ("constant", lambda s: torch.full(s, 0.37)),
    ("negative", lambda s: -torch.rand(s) - 0.5),
    ("positive", lambda s: torch.rand(s) + 2.0),
    ("tiny_range", lambda s: torch.randn(s) * 1e-7),
    ("tiny_positive", lambda s: torch.rand(s) * 1e-6),
    ("tiny_negative", lambda s: -torch.rand(s) * 1e-6),
    ("large", lambda s: torch.randn(s) * 1e6),
    ("outlier", lambda s: torch.randn(s).index_put_((torch.tensor([0]), torch.tensor([3])), torch.tensor(500.0))),
])
def test_edge_inputs(name, make):
    q = make_qlinear(40, 24, per_channel=True)
    check(q, make((6, 40)))


def test_noncontiguous_input():
    q = make_qlinear(32, 16)
    x = torch.randn(32, 10).t()  # [10, 32], not contiguous
    assert not x.is_contiguous()
    check(q, x)


def _with(value, row=1, col=2):
    def make(shape):
        x = torch.randn(*shape)
        x[row, col] = value
        return x
    return make


@pytest.mark.parametrize("name,make", [
    ("inf", _with(float("inf"))),
    ("minus_inf", _with(float("-inf"))),
    ("nan_not_first", _with(float("nan"))),
    ("1e30", lambda s: torch.randn(s) * 1e30),
    ("3e38", lambda s: torch.randn(s) * 3e38),
    ("denormal", lambda s: torch.randn(s) * 1e-41),
    ("single_element", lambda s: torch.tensor([[0.7]])),
])
def test_special_values_match_pytorch(name, make):
    """Where PyTorch defines the result (it may be NaN), ours is the same."""
    k = 1 if name == "single_element" else 16
    q = make_qlinear(k, 8, per_channel=True)
    x = make((3, k))
    ours, ref = dqmlir.compile(q, (x,))(x), q(x)
    assert torch.equal(ours.isnan(), ref.isnan())
    assert torch.equal(ours.nan_to_num(0.0), ref.nan_to_num(0.0))


def test_nan_first_element_differs_deliberately():
    """fbgemm's FindMinMax keeps a leading NaN and PyTorch then raises
    ("min should be less than or equal to max"); dqmlir ignores NaNs in the
    range (docs/semantics.md) and the NaN element quantizes to 255."""
    q = make_qlinear(16, 8)
    x = torch.randn(3, 16)
    x[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="min should be less than or equal to max"):
        q(x)
    y = dqmlir.compile(q, (x,))(x)
    assert y.shape == (3, 8) and not y[1:].isnan().any()


def test_zero_weight_channel():
    torch.manual_seed(3)
    lin = torch.nn.Linear(24, 8)
    with torch.no_grad():
        lin.weight[2] = 0
    q = torch.ao.quantization.quantize_dynamic(
        torch.nn.Sequential(lin), {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
        dtype=torch.qint8)[0]
    x = torch.randn(5, 24)
    assert record_parity(dqmlir.compile(q, (x,))(x), q(x)) == 0


class _Residual(torch.nn.Module):
    """linear(x) + r or r + linear(x): the add is fused into the kernel's
    epilogue (FuseEpilogue.h) and must round like PyTorch's separate add."""

    def __init__(self, k, n, first, per_channel):
        super().__init__()
        self.lin = make_qlinear(k, n, per_channel=per_channel)
        self.first = first

    def forward(self, x, r):
        y = self.lin(x)
        return r + y if self.first else y + r


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("first,per_channel,k,n", [(False, False, 64, 48), (True, True, 96, 40),
                                                   (False, True, 200, 768)])
def test_residual_add_fused(threads, first, per_channel, k, n):
    model = _Residual(k, n, first, per_channel).eval()
    compiled = dqmlir.compile(model, (torch.randn(2, 3, k), torch.randn(2, 3, n)), threads=threads)
    if HAS_VNNI:
        assert "dq.linear_dynamic" in compiled.ir("dq")
    # Rows of the VNNI branch (< 32), of AMX tiles and their remainders;
    # residuals with infinities and NaN too.
    for b, s in [(1, 1), (2, 3), (1, 31), (2, 40), (3, 77), (1, 231)]:
        x, r = torch.randn(b, s, k) * 3, torch.randn(b, s, n) * 5
        r.view(-1)[:3] = torch.tensor([float("inf"), float("-inf"), float("nan")])
        ours, ref = compiled(x, r), model(x, r)
        same = (ours.view(torch.int32) == ref.view(torch.int32)) | (ours.isnan() & ref.isnan())
        assert bool(same.all()), ((b, s), (~same).sum().item())
