"""The AVX-512 VNNI kernel (convert-dq-to-vnni) against the portable path.

Code compiled for target="avx512-vnni" uses the kernel; the parity tests
compare it with PyTorch where the host picks it. Here it is compared bit for
bit with the linalg path (kernel="generic") on what PyTorch's modules do
not reach: symmetric and per-row activations, rank-0 weight scales with
per-row activations, K and N around the register tile, empty and single
rows. And the library's machine code must really use vpdpbusd.
"""
import numpy as np
import pytest
import torch
from conftest import HAS_VNNI, KERNEL_TARGETS, disassembly

import dqmlir

pytestmark = pytest.mark.skipif(not HAS_VNNI, reason="needs a CPU with AVX512-VNNI")


def linear_source(k, n, rank, mode, granularity, per_channel, bias, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, size=(n, k))
    ws = rng.uniform(1e-3, 2e-2, size=n if per_channel else ())
    b = rng.normal(size=n)
    lead = "?x" * (rank - 1)
    ws_type = f"tensor<{n}xf32>" if per_channel else "tensor<f32>"
    fmt = lambda a: np.array2string(np.asarray(a), separator=",", threshold=1 << 30,
                                    max_line_width=1 << 30, floatmode="unique")
    lines = [f"func.func @forward(%x: tensor<{lead}{k}xf32>) -> tensor<{lead}{n}xf32> {{",
             f"  %w = arith.constant dense<{fmt(w)}> : tensor<{n}x{k}xi8>",
             f"  %ws = arith.constant dense<{fmt(ws)}> : {ws_type}"]
    operands, types = "%x, %w, %ws", f"tensor<{lead}{k}xf32>, tensor<{n}x{k}xi8>, {ws_type}"
    if bias:
        lines.append(f"  %b = arith.constant dense<{fmt(b)}> : tensor<{n}xf32>")
        operands += " bias %b"
        types += f", tensor<{n}xf32>"
    rr = " reduce_range" if mode == "asymmetric" else ""
    lines += [f"  %y = dq.linear_dynamic {operands} act {mode} {granularity}{rr}"
              f" : {types} -> tensor<{lead}{n}xf32>",
              "  return %y : " + f"tensor<{lead}{n}xf32>", "}"]
    return "\n".join(lines)


def compile_with(source, kernel):
    c = dqmlir.compile_mlir(source, target=KERNEL_TARGETS[kernel], kernel=kernel)
    assert ("vpdpbusd" in disassembly(c)) == (kernel == "vnni")
    return c


@pytest.mark.parametrize("mode,granularity", [("asymmetric", "per_tensor"), ("asymmetric", "per_row"),
                                              ("symmetric", "per_row"), ("symmetric", "per_tensor")])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor_w"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("k,n,rank", [(67, 37, 2), (4, 64, 3), (130, 144, 2), (9, 200, 4)])
def test_same_as_linalg(k, n, rank, mode, granularity, per_channel, bias):
    src = linear_source(k, n, rank, mode, granularity, per_channel, bias, seed=k * 7 + n)
    fast, portable = (compile_with(src, v) for v in ("vnni", "generic"))
    torch.manual_seed(k + n)
    shapes = {2: [(0, k), (1, k), (5, k), (13, k)], 3: [(1, 1, k), (2, 3, k), (3, 0, k)],
              4: [(2, 1, 3, k), (1, 2, 2, k)]}[rank]
    for shape in shapes:
        x = torch.randn(*shape) * 3 + 0.5
        assert torch.equal(fast(x), portable(x)), shape


def test_machine_code_has_vpdpbusd():
    src = linear_source(64, 48, 2, "asymmetric", "per_tensor", True, True, seed=1)
    asm = disassembly(dqmlir.compile_mlir(src, target="avx512-vnni"))
    assert "vpdpbusd" in asm and "zmm" in asm
