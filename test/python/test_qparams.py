"""dq.choose_qparams and dq.quantize vs PyTorch's ChooseQuantizationParams.

`torch._choose_qparams_per_tensor(x, reduce_range)` runs the same C++ function
as `quantized::linear_dynamic`; scale and zero point must be identical.
"""
import numpy as np
import pytest
import torch

import dqmlir

QPARAMS = """
func.func @forward(%x: tensor<?x?xf32>) -> (tensor<f32>, tensor<i32>) {{
  %s, %z = dq.choose_qparams %x asymmetric per_tensor {rr} : tensor<?x?xf32> -> tensor<f32>, tensor<i32>
  return %s, %z : tensor<f32>, tensor<i32>
}}
"""

PER_ROW = """
func.func @forward(%x: tensor<?x?xf32>) -> (tensor<?xf32>, tensor<?xi32>, tensor<?x?xi8>) {
  %s, %z = dq.choose_qparams %x asymmetric per_row : tensor<?x?xf32> -> tensor<?xf32>, tensor<?xi32>
  %q = dq.quantize %x, %s, %z : tensor<?x?xf32>, tensor<?xf32>, tensor<?xi32> -> tensor<?x?xui8>
  // Memrefs have no signedness-changing cast: hand out signless bytes.
  %b = tensor.bitcast %q : tensor<?x?xui8> to tensor<?x?xi8>
  return %s, %z, %b : tensor<?xf32>, tensor<?xi32>, tensor<?x?xi8>
}
"""

SYMMETRIC = """
func.func @forward(%x: tensor<?x?xf32>) -> (tensor<?xf32>, tensor<?x?xi8>) {
  %s, %z = dq.choose_qparams %x symmetric per_row : tensor<?x?xf32> -> tensor<?xf32>, tensor<?xi32>
  %q = dq.quantize %x, %s, %z : tensor<?x?xf32>, tensor<?xf32>, tensor<?xi32> -> tensor<?x?xsi8>
  %b = tensor.bitcast %q : tensor<?x?xsi8> to tensor<?x?xi8>
  return %s, %b : tensor<?xf32>, tensor<?x?xi8>
}
"""


@pytest.fixture(scope="module", params=[True, False], ids=["reduce_range", "full_range"])
def qparams(request):
    rr = request.param
    return rr, dqmlir.compile_mlir(QPARAMS.format(rr="reduce_range" if rr else ""))


def inputs():
    g = torch.Generator().manual_seed(1)
    yield "randn", torch.randn(16, 33, generator=g)
    yield "scaled", torch.randn(7, 5, generator=g) * 123.4 - 17
    yield "zeros", torch.zeros(3, 4)
    yield "one_element", torch.tensor([[2.5]])
    yield "one_negative", torch.tensor([[-0.75]])
    yield "constant", torch.full((4, 4), -3.0)
    yield "positive", torch.rand(5, 9, generator=g) + 1
    yield "negative", -torch.rand(5, 9, generator=g) - 1
    for e in [-3, -5, -6, -7, -9, -20, -38]:
        yield f"range_1e{e}", torch.randn(4, 8, generator=g) * 10.0 ** e
        yield f"positive_1e{e}", torch.rand(4, 8, generator=g) * 10.0 ** e
        yield f"negative_1e{e}", -torch.rand(4, 8, generator=g) * 10.0 ** e
    yield "denormal", torch.full((2, 3), 1e-40)
    yield "large", torch.randn(4, 4, generator=g) * 1e30
    for seed in range(40):
        gs = torch.Generator().manual_seed(100 + seed)
        lo, hi = sorted((torch.randn(2, generator=gs) * 10 ** torch.randint(-6, 6, (1,), generator=gs)).tolist())
        yield f"uniform_{seed}", torch.rand(6, 11, generator=gs) * (hi - lo) + lo


@pytest.mark.parametrize("name,x", list(inputs()), ids=[n for n, _ in inputs()])
def test_per_tensor_matches_pytorch(qparams, name, x):
    rr, c = qparams
    scale, zp = c(x)
    ref_scale, ref_zp = torch._choose_qparams_per_tensor(x, rr)
    assert float(scale) == np.float32(ref_scale), (float(scale), ref_scale)
    assert int(zp) == ref_zp


def test_per_row_is_per_tensor_of_each_row():
    c = dqmlir.compile_mlir(PER_ROW)
    x = torch.randn(9, 31) * torch.logspace(-4, 3, 9)[:, None] + 0.1
    scale, zp, q = c(x)
    q = q.view(torch.uint8)
    for i in range(x.shape[0]):
        s, z = torch._choose_qparams_per_tensor(x[i:i + 1], False)
        assert float(scale[i]) == np.float32(s) and int(zp[i]) == z
        # quantize: fma(x, 1/s, zp), rounded half to even, clamped (fbgemm).
        inv = np.float32(1) / np.float32(s)
        t = (x[i].double().numpy() * np.float64(inv) + z).astype(np.float32)
        assert torch.equal(q[i], torch.from_numpy(np.clip(np.rint(t), 0, 255).astype(np.uint8)))


def test_symmetric_matches_torchao():
    """torchao 0.18's own per-row int8 activation quantization is the reference."""
    from torchao.quantization import PerRow
    from torchao.quantization.quantize_.workflows.int8.int8_tensor import Int8Tensor

    c = dqmlir.compile_mlir(SYMMETRIC)
    x = torch.randn(7, 20) * 3
    x[0] = 0  # all-zero row: the scale clamps to eps
    x[1, 4] = 1e-30
    x[2] *= 1e4
    scale, q = c(x)
    ref = Int8Tensor.from_hp(x, PerRow())
    assert torch.equal(scale, ref.scale.flatten())
    assert torch.equal(q, ref.qdata)
