"""The call path (python/RuntimeModule.cpp over the C runtime): any valid
tensor goes in, results of every dtype come out as ordinary tensors,
concurrent calls stay apart."""
import threading

import pytest
import torch

import dqmlir


def _quantized_linear(k=16, n=8):
    torch.manual_seed(0)
    return torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(k, n)), {torch.nn.Linear},
                                                  dtype=torch.qint8)[0]


@pytest.fixture(scope="module")
def linear():
    q = _quantized_linear()
    return q, dqmlir.compile(q, (torch.randn(3, 16),))


def test_non_contiguous_and_subclassed_inputs(linear):
    q, c = linear
    x = torch.randn(16, 5).t()  # a transposed view
    assert not x.is_contiguous()
    assert torch.equal(c(x), q(x.contiguous()))
    p = torch.nn.Parameter(torch.randn(4, 16), requires_grad=False)
    assert torch.equal(c(p), q(p.detach()))
    sliced = torch.randn(9, 32)[::2, 8:24]  # strided rows and an offset
    assert torch.equal(c(sliced), q(sliced.contiguous()))


def test_results_are_ordinary_writable_tensors(linear):
    q, c = linear
    x = torch.randn(6, 16)
    y = c(x)
    assert y.is_contiguous() and y.dtype == torch.float32 and y.shape == (6, 8)
    y.add_(1.0)
    assert torch.equal(y, q(x) + 1.0)
    assert torch.equal(c(x), q(x))  # the written buffer did not leak into the next call


def test_results_of_several_dtypes():
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.q = _quantized_linear()

        def forward(self, x):
            y = self.q(x)
            return y, y > 0, y.argmax(-1), (y * 4).to(torch.int32), y.amax()

    m = M().eval()
    x = torch.randn(5, 16)
    c = dqmlir.compile(m, (x,))
    for got, want in zip(c(x), m(x)):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert torch.equal(got, want), (got, want)


def test_concurrent_calls_from_threads(linear):
    q, c = linear
    inputs = [torch.randn(m, 16) for m in (1, 7, 33, 64)]
    refs = [q(x) for x in inputs]
    errors = []

    def work(i):
        for _ in range(200):
            x, ref = inputs[i % 4], refs[i % 4]
            if not torch.equal(c(x), ref):
                errors.append(i)
            i += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
