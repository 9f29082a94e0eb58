"""Bad calls raise Python exceptions that say what was expected."""
import pytest
import torch

import dqmlir


@pytest.fixture(scope="module")
def compiled():
    torch.manual_seed(0)
    q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(16, 8)), {torch.nn.Linear},
                                               dtype=torch.qint8)[0]
    return dqmlir.compile(q, (torch.randn(3, 16),))


def test_wrong_rank(compiled):
    with pytest.raises(ValueError, match=r"argument 'input' must have 2 dims \(float32\[\?, 16\]\), got shape \[16\]"):
        compiled(torch.randn(16))


def test_wrong_last_dim(compiled):
    with pytest.raises(ValueError, match=r"argument 'input' dim 1 must be 16, got 15"):
        compiled(torch.randn(3, 15))


def test_wrong_dtype(compiled):
    with pytest.raises(TypeError, match="argument 'input' must have dtype float32, got float64"):
        compiled(torch.randn(3, 16, dtype=torch.float64))


def test_not_a_tensor(compiled):
    with pytest.raises(TypeError, match="argument 'input' must be a Tensor"):
        compiled([[0.0] * 16])


def test_wrong_arity(compiled):
    with pytest.raises(TypeError, match=r"Linear\(\) too many positional arguments"):
        compiled(torch.randn(3, 16), torch.randn(3, 16))


def test_meta_device(compiled):
    with pytest.raises(ValueError, match="argument 'input' must be a CPU tensor, got device meta"):
        compiled(torch.empty(3, 16, device="meta"))


def test_empty_batch(compiled):
    y = compiled(torch.randn(0, 16))
    assert y.shape == (0, 8)


def test_result_outlives_compiled_and_input():
    q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(16, 8)), {torch.nn.Linear},
                                               dtype=torch.qint8)[0]
    x = torch.randn(5, 16)
    c = dqmlir.compile(q, (x,))
    y = c(x)
    ref = q(x)
    del c, x
    import gc
    gc.collect()
    assert torch.equal(y, ref)


def test_not_a_module():
    with pytest.raises(dqmlir.UnsupportedModuleError, match="expected a torch.nn.Module, got function"):
        dqmlir.compile(lambda x: x, (torch.randn(2, 4),))


def test_fp16_dynamic_is_rejected():
    q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(16, 8)), {torch.nn.Linear},
                                               dtype=torch.float16)[0]
    with pytest.raises(dqmlir.UnsupportedModuleError, match="only qint8 weights"):
        dqmlir.compile(q, (torch.randn(2, 16),))


def test_invalid_ir_reports_diagnostics():
    bad = """
    func.func @forward(%x: tensor<?x8xf32>) -> tensor<?x16xf32> {
      %w = arith.constant dense<1> : tensor<16x9xi8>
      %s = arith.constant dense<1.0> : tensor<f32>
      %y = dq.linear_dynamic %x, %w, %s act asymmetric per_tensor : tensor<?x8xf32>, tensor<16x9xi8>, tensor<f32> -> tensor<?x16xf32>
      return %y : tensor<?x16xf32>
    }"""
    with pytest.raises(Exception, match="input reduction dimension"):
        dqmlir.compile_mlir(bad)
