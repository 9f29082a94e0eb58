"""dq.softmax is bit-exact to torch.softmax / torch.log_softmax (ATen's CPU
kernels, one thread) over every dim, at sizes around the vector width, on
special values and fully masked rows; models route f32 softmax to it.

aten_softmax.py models the kernels in Python; it is checked against torch
first, so that a failure below points at the lowering, not at a guess about
ATen."""
import itertools

import pytest
import torch
from aten_softmax import softmax as aten_softmax
from torch.export import Dim

import dqmlir

SOURCE = """
func.func @forward(%x: tensor<{t}xf32>) -> tensor<{t}xf32> {{
  %y = dq.softmax %x dim {dim}{log} : tensor<{t}xf32>
  return %y : tensor<{t}xf32>
}}
"""
INF, NAN = float("inf"), float("nan")
SPECIAL = torch.tensor([0.0, -0.0, INF, -INF, NAN, 1e-45, -1e-45, 1e-40, 3e38, -3e38, 88.0,
                        -104.5, 1.0, -1.0, 0.5, 100.0, -200.0, 1e-30])


def inputs(shape, seed):
    """Random at two scales, special values, scattered and full -inf (masked
    attention rows), HF's finfo.min mask."""
    g = torch.Generator().manual_seed(seed)
    n = int(torch.tensor(shape).prod())
    yield torch.randn(shape, generator=g) * 5
    yield torch.randn(shape, generator=g) * 100
    yield SPECIAL[torch.randint(0, len(SPECIAL), (n,), generator=g)].reshape(shape)
    x = torch.randn(shape, generator=g)
    yield torch.where(torch.rand(shape, generator=g) < 0.3, torch.tensor(-INF), x)
    yield torch.full(shape, -INF)
    yield torch.where(torch.rand(shape, generator=g) < 0.5,
                      torch.tensor(torch.finfo(torch.float32).min), x)


def shapes(rank):
    if rank == 1:
        return [(1,), (7,), (16,), (17,), (33,), (100,)]
    return list(itertools.product([1, 3, 16, 17, 40], repeat=rank))[::7][:12]


def assert_same(got, want, what):
    same = (got.view(torch.int32) == want.view(torch.int32)) | (got.isnan() & want.isnan())
    assert bool(same.all()), (f"{what}: {(~same).sum().item()} of {same.numel()} differ, "
                              f"got {got[~same][:4].tolist()} want {want[~same][:4].tolist()}")


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("rank,dim", [(1, 0), (2, 1), (3, 1), (4, 3)])
def test_reference_matches_pytorch(rank, dim, log):
    ref = torch.log_softmax if log else torch.softmax
    for shape in shapes(rank):
        for i, x in enumerate(inputs(shape, len(shape))):
            assert_same(aten_softmax(x, dim, log), ref(x, dim), f"{shape} input {i}")


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("rank,dim", [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (4, 1),
                                      (4, 2), (4, 3)])
def test_bit_exact(rank, dim, log):
    t = "x".join(["?"] * rank)
    fn = dqmlir.compile_mlir(SOURCE.format(t=t, dim=dim, log=" log" if log else ""))
    ref = torch.log_softmax if log else torch.softmax
    for shape in shapes(rank):
        for i, x in enumerate(inputs(shape, len(shape))):
            assert_same(fn(x), ref(x, dim), f"{shape} input {i}")


def test_long_rows():
    # Attention rows of up to 512 keys, every length class mod 16.
    fn = dqmlir.compile_mlir(SOURCE.format(t="?x?", dim=1, log=""))
    g = torch.Generator().manual_seed(0)
    for n in [48, 127, 128, 129, 255, 384, 511, 512, 1000]:
        x = torch.randn(9, n, generator=g) * 4
        assert_same(fn(x), torch.softmax(x, 1), f"n={n}")


class _Softmaxes(torch.nn.Module):
    def forward(self, x):
        return (torch.softmax(x, -1), torch.log_softmax(x, 1),
                torch.nn.functional.softmax(x, dim=0, dtype=torch.float32), x.softmax(-2))


def test_model_routes_softmax():
    model = _Softmaxes().eval()
    dyn = {"x": {d: Dim.DYNAMIC for d in range(3)}}
    c = dqmlir.compile(model, (torch.randn(2, 3, 4),), dynamic=dyn, cache=False)
    dq = c.ir("dq")
    assert dq.count("dq.softmax") == 4 and " log " in dq
    for shape in [(2, 3, 4), (1, 1, 1), (3, 17, 33), (2, 40, 16)]:
        x = torch.randn(shape) * 3
        for got, want in zip(c(x), model(x)):
            assert_same(got, want, str(shape))


def test_other_dtypes_keep_torch_mlir():
    # f64 softmax is not dq.softmax (which is f32 only).
    from dqmlir.frontend import softmax as frontend

    table = frontend.decompositions({})
    x = torch.randn(2, 3, dtype=torch.float64)
    assert table[torch.ops.aten._softmax.default](x, 1, False) is NotImplemented
    assert table[torch.ops.aten._softmax.default](x.float(), -1, False).dtype == torch.float32
