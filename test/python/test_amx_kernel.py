"""The AMX-INT8 kernel (convert-dq-to-amx) against PyTorch, bit for bit.

Code compiled for target="amx" uses the kernel; the runtime asks Linux for
the AMX tile state before it loads such code, without which tile
instructions raise SIGILL. Shapes cover the register block (32 x 32),
the K tail (K not a multiple of 64), N not a multiple of 16, M = 1, rank 3;
per-tensor/per-channel weights, bias or not, reduce_range on/off; and the
symmetric / per-row activations PyTorch's modules do not reach, against the
portable linalg path.
"""
import pytest
import torch
from conftest import disassembly, record_parity
from test_vnni_kernel import linear_source

import dqmlir
from test_linear_parity import make_qlinear
from dqmlir import amx

HAS_AMX = amx.host_has_amx() and amx.request_amx_permission()
pytestmark = pytest.mark.skipif(not HAS_AMX, reason="needs a CPU with AMX-INT8 (and the tile permission)")


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("reduce_range", [True, False], ids=["rr", "full"])
@pytest.mark.parametrize("k,n", [(64, 32), (67, 37), (130, 48), (768, 768), (3, 1), (200, 16)])
def test_same_as_pytorch(k, n, bias, per_channel, reduce_range):
    q = make_qlinear(k, n, bias, per_channel, reduce_range, seed=k * 1000 + n)
    torch.manual_seed(k + n)
    compiled = {}
    for shape in [(1, k), (16, k), (33, k), (70, k), (2, 3, k), (3, 17, k)]:
        x = torch.randn(*shape) * 2.5 + 0.3
        if x.dim() not in compiled:
            compiled[x.dim()] = dqmlir.compile(q, (x,), target="amx", cache=False)
            assert "tdpbusd" in disassembly(compiled[x.dim()])
        ours, ref = compiled[x.dim()](x), q(x)
        record_parity(ours, ref)
        assert torch.equal(ours, ref), (shape, (ours - ref).abs().max())


@pytest.mark.parametrize("mode,granularity", [("asymmetric", "per_row"), ("symmetric", "per_row"),
                                              ("symmetric", "per_tensor")])
@pytest.mark.parametrize("k,n,rank", [(67, 37, 2), (130, 144, 3), (64, 16, 2)])
def test_same_as_linalg(k, n, rank, mode, granularity):
    src = linear_source(k, n, rank, mode, granularity, True, True, seed=k * 7 + n)
    fast = dqmlir.compile_mlir(src, target="amx")
    assert "tdpbusd" in disassembly(fast)
    portable = dqmlir.compile_mlir(src, target="x86-64-v3", kernel="generic")
    shapes = {2: [(0, k), (1, k), (31, k), (40, k)], 3: [(1, 1, k), (2, 17, k), (3, 0, k)]}[rank]
    for shape in shapes:
        x = torch.randn(*shape) * 3 + 0.5
        assert torch.equal(fast(x), portable(x)), shape
