"""dq.gelu is bit-exact to torch.nn.functional.gelu (oneDNN's gelu_erf on
CPU tensors of more than one element) on every interval of its polynomial,
at odd sizes (vector tails) and on special values; models route aten.gelu
to it. oneDNN's kernel differs between AVX-512 and AVX2 CPUs: code for the
host's level follows the one torch runs here, and x86-64-v3 code follows
the AVX2 one on any CPU (onednn_gelu.py)."""
import pytest
import torch
from conftest import HAS_AVX2, HAS_AVX512F, Fn

import dqmlir

SOURCE = """
func.func @forward(%x: tensor<?x{n}xf32>) -> tensor<?x{n}xf32> {{
  %y = dq.gelu %x : tensor<?x{n}xf32>
  return %y : tensor<?x{n}xf32>
}}
"""


def check(got, x):
    want = torch.nn.functional.gelu(x)
    same = (got.view(torch.int32) == want.view(torch.int32)) | (got.isnan() & want.isnan())
    assert bool(same.all()), (f"{(~same).sum().item()} of {same.numel()} differ, e.g. x="
                              f"{x[~same][:4].tolist()} got {got[~same][:4].tolist()} "
                              f"want {want[~same][:4].tolist()}")


@pytest.mark.parametrize("n", [1, 7, 16, 33, 1536])
def test_random(n):
    torch.manual_seed(n)
    fn = dqmlir.compile_mlir(SOURCE.format(n=n))
    x = torch.randn(257, n) * 3
    check(fn(x), x)


def test_every_interval():
    # |x| from 2^-30 to 2^4 on a log grid: all 23 polynomial pieces, both
    # signs, and the saturated range past 5.5426.
    fn = dqmlir.compile_mlir(SOURCE.format(n=64))
    mag = torch.logspace(-30, 4, 64 * 64, base=2.0)
    x = torch.cat([mag, -mag]).reshape(-1, 64)
    check(fn(x), x)


def test_special_values():
    fn = dqmlir.compile_mlir(SOURCE.format(n=16))
    x = torch.tensor([0.0, -0.0, 1e-45, -1e-45, 5.5425, 5.542594, -5.542594, 7.0,
                      -7.0, 3.4e38, -3.4e38, float("inf"), float("-inf"), float("nan"),
                      -0.7517357, 1e-30]).repeat(3, 1)
    check(fn(x), x)


class _MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(48, 96)
        self.down = torch.nn.Linear(96, 48)

    def forward(self, x):
        return self.down(torch.nn.functional.gelu(self.up(x)))


def test_model_uses_dq_gelu():
    torch.manual_seed(0)
    model = torch.ao.quantization.quantize_dynamic(_MLP().eval(), {torch.nn.Linear},
                                                   dtype=torch.qint8)
    x = torch.randn(2, 10, 48)
    compiled = dqmlir.compile(model, (x,))
    assert "dq.gelu" in compiled.ir("dq")
    # The GELU is fused into the first linear's epilogue (VNNI rows below 32,
    # AMX tiles above): same bits as PyTorch's linear, then gelu.
    with torch.no_grad():
        for shape in [(2, 10, 48), (1, 1, 48), (2, 40, 48), (3, 77, 48)]:
            x = torch.randn(shape) * 3
            assert torch.equal(compiled(x), model(x)), shape


def test_tanh_form_is_not_dq_gelu():
    class Tanh(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.gelu(x, approximate="tanh")

    x = torch.randn(4, 32)
    compiled = dqmlir.compile(Tanh().eval(), (x,))
    assert "dq.gelu" not in compiled.ir("dq")
    torch.testing.assert_close(compiled(x), Tanh()(x), rtol=1e-5, atol=1e-6)


F = torch.nn.functional
# GELUs of layouts the model makes itself: PyTorch runs ATen's kernel on
# them (not oneDNN's), whose vector erf and scalar tails dq.gelu
# {aten_inner_dims} follows. Shapes: (example, calls), dims 0-1 dynamic.
LAYOUTS = {
    "transpose": (lambda x: F.gelu(x.t() * 2), (8, 40), [(8, 40), (3, 77), (1, 5), (5, 1)]),
    "transpose_3d": (lambda x: F.gelu(x.transpose(1, 2) + 1), (2, 8, 40),
                     [(2, 8, 40), (3, 5, 40), (1, 1, 40)]),
    "permute": (lambda x: F.gelu(x.permute(2, 0, 1) * 3), (2, 3, 50),
                [(2, 3, 50), (4, 5, 50), (1, 7, 50)]),
    "slice": (lambda x: F.gelu(x[:, :37]), (8, 40), [(8, 40), (3, 77), (2, 37)]),
    "slice_3d": (lambda x: F.gelu(x[:, 1:, 3:60]), (2, 5, 70), [(2, 5, 70), (3, 4, 70)]),
    "step": (lambda x: F.gelu(x[:, ::2]), (8, 40), [(8, 40), (3, 77)]),
    "expand": (lambda x: F.gelu(x.unsqueeze(1).expand(-1, 3, -1)), (8, 40), [(8, 40), (2, 40)]),
    "expand_inner": (lambda x: F.gelu(x.unsqueeze(-1).expand(-1, -1, 33)), (4, 5),
                     [(4, 5), (3, 9)]),
    "contiguous": (lambda x: F.gelu(x.t().contiguous()), (8, 40), [(8, 40), (3, 77)]),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_non_contiguous_intermediates(name):
    fn, example, shapes = LAYOUTS[name]
    torch.manual_seed(0)
    compiled = dqmlir.compile(Fn(fn).eval(), (torch.randn(example),), verbose=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)    # see docs/semantics.md: PyTorch's tails follow its threads
    try:
        for shape in shapes:
            x = torch.randn(shape) * 3
            want, got = fn(x), compiled(x)
            same = (got.view(torch.int32) == want.view(torch.int32)) | (got.isnan() & want.isnan())
            assert got.shape == want.shape and bool(same.all()), (
                name, shape, f"{(~same).sum().item()} of {same.numel()} differ")
    finally:
        torch.set_num_threads(threads)


def test_non_contiguous_gelu_is_dq_gelu_aten():
    fn, example, _ = LAYOUTS["transpose_3d"]
    compiled = dqmlir.compile(Fn(fn).eval(), (torch.randn(example),), verbose=False)
    assert "aten_inner_dims = 3" in compiled.ir("dq")     # one coalesced loop
    fn, example, _ = LAYOUTS["slice"]
    compiled = dqmlir.compile(Fn(fn).eval(), (torch.randn(example),), verbose=False)
    assert "aten_inner_dims = 1" in compiled.ir("dq")     # a loop per row


@pytest.mark.parametrize("example", [(1, 1), (2, 1), (3, 1, 1)])
def test_tensors_of_one_element(example):
    # PyTorch computes a GELU of one element with ATen's scalar lambda
    # (libm's erff), of more with oneDNN: the compiled model tells them apart
    # at run time where the shape allows both.
    compiled = dqmlir.compile(Fn(F.gelu).eval(), (torch.randn(example),), verbose=False)
    static = [d for d in example[2:]]
    calls = [(1, 1, *static), (2, 1, *static), (5, 1, *static)] if example != (1, 1) \
        else [(1, 1)]
    torch.manual_seed(1)
    for shape in calls:
        for _ in range(200 if shape[0] == 1 else 3):
            x = torch.randn(shape) * 3
            assert torch.equal(compiled(x), F.gelu(x)), (shape, x.flatten()[:2].tolist())


@pytest.mark.skipif(not HAS_AVX2, reason="needs AVX2")
def test_x86_64_v3_is_onednn_avx2():
    # Code for x86-64-v3 reproduces oneDNN's AVX2 GELU (what torch runs on
    # CPUs without AVX-512), on any host: random values at odd lengths, every
    # binade from 2^-30 to 2^7 and the clamps of its exp (|x| ~ 13.2164).
    import numpy as np
    from onednn_gelu import gelu_avx2
    fn = dqmlir.compile_mlir(SOURCE.format(n=37), target="x86-64-v3")
    torch.manual_seed(0)
    mag = torch.logspace(-30, 7, 37 * 200, base=2.0)
    near = torch.tensor(13.2164).repeat(37 * 2) + torch.arange(-37, 37) * 1e-6
    specials = torch.tensor([0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 3.4e38,
                             -3.4e38, float("inf"), float("-inf"), float("nan"), -5.0, -6.0, -1e20])
    x = torch.cat([torch.randn(37 * 300) * 3, mag, -mag, near, -near, specials,
                   torch.zeros(-(specials.numel() + 4 * 37) % 37)]).reshape(-1, 37)
    got = fn(x).numpy()
    want = gelu_avx2(x.numpy())
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (f"{(~same).sum()} differ, e.g. x={x.numpy()[~same][:4]} "
                        f"got {got[~same][:4]} want {want[~same][:4]}")
    if not HAS_AVX512F:
        check(fn(x), x)                          # and torch's own, on this CPU
