"""The AVX2 kernel (convert-dq-to-avx2): what CPUs without AVX-512 VNNI run.

Its K loop is vpmaddubsw + vpmaddwd, which saturates u8 x s8 pair sums to
int16 exactly as fbgemm's AVX2 kernel does. Checked here, on any CPU with
AVX2: bit for bit the linalg path (kernel="generic") wherever no pair can
saturate, and in every mode that must sum exactly (symmetric, per-row);
bit for bit a numpy model of fbgemm's saturating sums where pairs do
saturate; and the machine code. Where the host has no VNNI, the parity tests
(test_linear_parity, with reduce_range=False) compare it with PyTorch itself.
"""
import numpy as np
import pytest
import torch
from conftest import HAS_AVX2, disassembly
from test_vnni_kernel import linear_source

import dqmlir

pytestmark = pytest.mark.skipif(not HAS_AVX2, reason="needs a CPU with AVX2")


def compile_with(source, kernel):
    c = dqmlir.compile_mlir(source, target="x86-64-v3", kernel=kernel)
    assert ("vpmaddubsw" in disassembly(c)) == (kernel == "avx2")
    return c


@pytest.mark.parametrize("mode,granularity", [("asymmetric", "per_tensor"), ("asymmetric", "per_row"),
                                              ("symmetric", "per_row"), ("symmetric", "per_tensor")])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor_w"])
@pytest.mark.parametrize("k,n,rank", [(67, 37, 2), (4, 64, 3), (130, 144, 2), (9, 200, 4)])
def test_same_as_linalg(k, n, rank, mode, granularity, per_channel):
    # Per-tensor asymmetric activations here come with reduce_range (<= 128):
    # no pair saturates, so the kernel must equal the exact linalg path.
    src = linear_source(k, n, rank, mode, granularity, per_channel, True, seed=k * 7 + n)
    fast, portable = (compile_with(src, v) for v in ("avx2", "generic"))
    torch.manual_seed(k + n)
    shapes = {2: [(0, k), (1, k), (5, k), (13, k)], 3: [(1, 1, k), (2, 3, k), (3, 0, k)],
              4: [(2, 1, 3, k), (1, 2, 2, k)]}[rank]
    for shape in shapes:
        x = torch.randn(*shape) * 3 + 0.5
        # Outliers: per-row activations use the whole [0, 255] (symmetric:
        # [-128, 127]), where only the exact split of the bytes is right.
        x.view(-1)[::7] *= 40
        assert torch.equal(fast(x), portable(x)), shape


def _saturating_source(w, ws):
    n, k = w.shape
    rows = ",".join("[" + ",".join(str(int(v)) for v in r) + "]" for r in w)
    return "\n".join([
        f"func.func @forward(%x: tensor<?x{k}xf32>) -> tensor<?x{n}xf32> {{",
        f"  %w = arith.constant dense<[{rows}]> : tensor<{n}x{k}xi8>",
        f"  %ws = arith.constant dense<{ws!r}> : tensor<f32>",
        f"  %y = dq.linear_dynamic %x, %w, %ws act asymmetric per_tensor"
        f" : tensor<?x{k}xf32>, tensor<{n}x{k}xi8>, tensor<f32> -> tensor<?x{n}xf32>",
        f"  return %y : tensor<?x{n}xf32>", "}"])


def fbgemm_avx2_sums(q, w):
    """fbgemm's AVX2 u8 x s8 sums: k in groups of 4 (zero-padded), each
    pair (4i, 4i+1), (4i+2, 4i+3) saturated to int16, then added in int32."""
    k = q.shape[1]
    pad = -k % 4
    q = np.pad(q.astype(np.int64), ((0, 0), (0, pad)))
    w = np.pad(w.astype(np.int64), ((0, 0), (0, pad)))
    prod = q[:, None, :] * w[None, :, :]                       # [m, n, k]
    pairs = prod[..., 0::2] + prod[..., 1::2]
    return np.clip(pairs, -32768, 32767).sum(-1)


@pytest.mark.parametrize("k,n", [(8, 16), (67, 37), (256, 48)])
def test_saturates_like_fbgemm(k, n):
    # Without reduce_range, activations span [0, 255]: x = j * 0.5 for
    # j in [0, 255] with 0 and 127.5 present gives scale 0.5, zero point 0,
    # q = j exactly. Weights of +-127/-128 next to large q saturate pairs.
    rng = np.random.default_rng(k + n)
    w = rng.choice([-128, -127, 127, 100, -3, 0, 5], size=(n, k)).astype(np.int8)
    ws = 0.25
    kernel = compile_with(_saturating_source(w, ws), "avx2")
    exact = compile_with(_saturating_source(w, ws), "generic")
    q = rng.integers(0, 256, size=(9, k))
    q[:, :4] = 255
    q[0, 0], q[1, 1] = 0, 255
    q[0, 1] = 0
    q[1, 0] = 255
    q[2, :] = [0, 255] * (k // 2) + [255] * (k % 2)
    x = torch.from_numpy(q.astype(np.float32) * 0.5)
    sums = fbgemm_avx2_sums(q, w)
    assert (sums != (q.astype(np.int64) @ w.T.astype(np.int64))).any(), "no pair saturated"
    # fma(float(acc - 0 * colsum), 0.5 * 0.25, 0): one rounding of acc / 8.
    expected = torch.from_numpy((sums.astype(np.float32) * np.float32(0.125)).astype(np.float32))
    assert torch.equal(kernel(x), expected)
    assert not torch.equal(exact(x), expected)


def test_machine_code():
    src = linear_source(64, 48, 2, "asymmetric", "per_tensor", True, True, seed=1)
    asm = disassembly(dqmlir.compile_mlir(src, target="x86-64-v3"))
    assert "vpmaddubsw" in asm and "vpmaddwd" in asm and "ymm" in asm
    assert "zmm" not in asm and "vpdpbusd" not in asm
