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
    if not reduce_range and not HAS_VNNI:
        pytest.skip("fbgemm saturates u8*s8 pairs in int16 without AVX512-VNNI (reduce_range=False)")
    q = make_qlinear(k, n, bias, per_channel, reduce_range, seed=k * 1000 + n)
    c = None
    for shape in [(1, k), (7, k), (2, 3, k), (2, 1, 4, k)]:
        x = torch.randn(*shape) * 2.5 + 0.3
        if c is None or x.dim() != c._fn.specs[0].shape.__len__():
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
