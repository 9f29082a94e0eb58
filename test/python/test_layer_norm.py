"""dq.layer_norm is bit-exact to torch.nn.functional.layer_norm (ATen's CPU
kernel) for sizes that exercise every part of its schedule: the Welford
chunks, the cascade of chunk merges, the scalar tail and N < 8."""
import pytest
import torch

import dqmlir

SOURCE = """
func.func @forward(%x: tensor<?x{n}xf32>, %g: tensor<{n}xf32>, %b: tensor<{n}xf32>) -> tensor<?x{n}xf32> {{
  %y = dq.layer_norm %x, %g, %b eps {eps:e} : tensor<?x{n}xf32>, tensor<{n}xf32>, tensor<{n}xf32> -> tensor<?x{n}xf32>
  return %y : tensor<?x{n}xf32>
}}
"""


def compiled(n, eps):
    return dqmlir.compile_mlir(SOURCE.format(n=n, eps=eps))


def check(fn, x, g, b, eps):
    got = fn(x, g, b)
    want = torch.nn.functional.layer_norm(x, (x.shape[-1],), g, b, eps)
    same = (got.view(torch.int32) == want.view(torch.int32)) | (got.isnan() & want.isnan())
    assert bool(same.all()), (f"{(~same).sum().item()} of {same.numel()} differ, max |diff| "
                              f"{(got - want).abs().nan_to_num().max().item():.3e}")


@pytest.mark.parametrize("n", [1, 5, 8, 37, 128, 129, 384, 768, 1000, 1024, 2056, 4100])
def test_random(n):
    torch.manual_seed(n)
    fn = compiled(n, 1e-12)
    x = torch.randn(33, n) * 3 + 1
    x[0] = x[0] * 1e-3 + 1000          # large mean, small spread
    x[1] = 0.0                         # zero variance
    x[2, ::3] = 1e30 if n > 1 else 1.0
    check(fn, x, torch.randn(n), torch.randn(n), 1e-12)


@pytest.mark.parametrize("eps", [1e-5, 1e-12])
def test_bert_like(eps):
    torch.manual_seed(0)
    fn = compiled(768, eps)
    # Residual-stream magnitudes with a few outlier features, as in BERT.
    x = torch.randn(64, 768)
    x[:, [17, 308, 588]] *= 40
    check(fn, x, torch.rand(768) + 0.5, torch.randn(768) * 0.1, eps)


def test_nonfinite():
    fn = compiled(384, 1e-12)
    x = torch.randn(4, 384)
    x[0, 5] = float("nan")
    x[1, 100] = float("inf")
    x[2, 383] = float("-inf")
    check(fn, x, torch.randn(384), torch.randn(384), 1e-12)


class _Block(torch.nn.Module):
    """Quantized linear -> layer norm (affine), and a layer norm without affine."""

    def __init__(self, d):
        super().__init__()
        self.lin = torch.nn.Linear(d, d)
        self.ln = torch.nn.LayerNorm(d, eps=1e-12)
        self.plain = torch.nn.LayerNorm(d, elementwise_affine=False)
        with torch.no_grad():
            self.ln.weight.uniform_(0.5, 1.5)
            self.ln.bias.uniform_(-0.1, 0.1)

    def forward(self, x):
        h = self.ln(self.lin(x) + x)
        return h, self.plain(h)


def test_frontend_routes_layer_norm():
    torch.manual_seed(0)
    model = torch.ao.quantization.quantize_dynamic(_Block(96).eval(), {torch.nn.Linear},
                                                   dtype=torch.qint8)
    x = torch.randn(3, 7, 96)
    c = dqmlir.compile(model, (x,))
    # Both become dq.layer_norm: ATen's kernel without weight and bias gives
    # the bits of its affine kernel with ones and zeros.
    assert c.ir("dq").count("dq.layer_norm") == 2
    with torch.no_grad():
        want_h, want_p = model(x)
    got_h, got_p = c(x)
    assert torch.equal(got_h, want_h)   # quantized linear, add and layer norm: all exact
    assert torch.equal(got_p, want_p)
