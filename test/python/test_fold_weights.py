"""Layout ops on weights folded at compile time (frontend/fold_weights.py)."""
import re
import warnings

import torch
import torch.nn as nn
from torch.export.graph_signature import InputKind

import dqmlir
from dqmlir.frontend.export import export_model
from dqmlir.frontend.fold_weights import _LAYOUT


class Mixed(nn.Module):
    """An fp32 linear ([N, K] weight: transposed for its contraction), a
    convolution and a grouped one (permuted, reshaped, sliced per group),
    a linear whose weight an embedding shares, and a quantized linear."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.conv = nn.Conv1d(16, 16, 3, padding=1)
        self.grouped = nn.Conv1d(16, 16, 3, padding=1, groups=4)
        self.fp32 = nn.Linear(16, 24)
        self.tied = nn.Linear(16, 50, bias=False)
        self.tied.weight = self.emb.weight
        self.q = nn.Linear(24, 8)

    def forward(self, ids):
        x = self.emb(ids)                                   # [B, S, 16]
        x = self.grouped(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return self.q(torch.relu(self.fp32(x))), self.tied(x)


def _model():
    torch.manual_seed(0)
    m = Mixed().eval()
    return torch.ao.quantization.quantize_dynamic(m, {"q"}, dtype=torch.qint8)


def _constant_inputs(ep):
    return {s.arg.name for s in ep.graph_signature.input_specs
            if s.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR)}


def test_no_layout_op_on_constants_is_left():
    ids = torch.randint(0, 50, (2, 7))
    exported = export_model(_model(), (ids,))
    ep = exported.program
    constant = _constant_inputs(ep)
    for node in ep.graph.nodes:
        if node.op == "call_function" and node.target in _LAYOUT:
            inputs = [a for a in node.all_input_nodes]
            assert not all(a.name in constant for a in inputs), node.format_node()
    targets = {s.target for s in ep.graph_signature.input_specs}
    # Read only through a transpose or a permute: gone. The embedding's table,
    # which the tied linear also reads transposed, stays (and its transpose
    # becomes one more constant).
    assert "fp32.weight" not in targets and "conv.weight" not in targets
    assert "grouped.weight" not in targets
    assert targets & {"emb.weight", "tied.weight"}
    folded = [s for s in ep.graph_signature.input_specs if (s.target or "").startswith("_dq_folded")]
    assert len(folded) >= 4, folded
    for s in folded:
        assert ep.constants[s.target].is_contiguous()


def test_folded_program_computes_what_the_model_does():
    model = _model()
    ids = torch.randint(0, 50, (2, 7))
    compiled = dqmlir.compile(model, (ids,), verbose=False, cache=False)
    text = compiled.ir("dq")
    constants = set(re.findall(r"(%[\w.]+) = arith.constant dense_resource", text))
    transposed = re.findall(r"linalg.transpose ins\((%[\w.]+)", text)
    assert transposed and not constants & set(transposed), transposed
    for shape in [(1, 5), (3, 11)]:
        ids = torch.randint(0, 50, shape)
        with torch.no_grad():
            ref = model(ids)
        ours = compiled(ids)
        for a, b in zip(ours, ref):
            # fp32 convolutions and linears: oneDNN's and MKL's summation
            # order against ours (test_convolution.py).
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_linear_weights_rows_padded_off_the_cache_sets():
    """A [K, N] weight with an even number of 64-byte lines per row (N = 64)
    is read through a slice of rows padded by one line; N = 24 is not."""
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    model = nn.Sequential(Conv1D(64, 32), nn.ReLU(), Conv1D(24, 64), nn.Linear(24, 8)).eval()
    q = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    x = torch.randn(2, 5, 32)
    ep = export_model(q, (x,)).program
    padded = [n for n in ep.graph.nodes
              if n.op == "call_function" and "linear_f32_padded" in str(n.target)]
    assert len(padded) == 1 and padded[0].args[3] == 64
    assert ep.constants[padded[0].args[1].target].shape == (32, 80)
    compiled = dqmlir.compile(q, (x,), verbose=False, cache=False)
    assert "tensor.extract_slice" in compiled.ir("dq")
    for shape in [(1, 3, 32), (4, 9, 32)]:
        x = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), q(x), rtol=1e-5, atol=1e-5)


class _FlagFirst(nn.Module):
    """A non-tensor first argument: export keeps no placeholder for it."""

    def __init__(self):
        super().__init__()
        self.fp32 = nn.Linear(8, 32)
        self.q = nn.Linear(32, 4)

    def forward(self, flag: bool, x):
        y = self.q(self.fp32(x))
        return y * 2 if flag else y


def test_constants_placed_before_a_constant_first_argument():
    m = torch.ao.quantization.quantize_dynamic(_FlagFirst().eval(), {"q"}, dtype=torch.qint8)
    x = torch.randn(3, 8)
    compiled = dqmlir.compile(m, (True, x), verbose=False, cache=False)
    x = torch.randn(5, 8)
    with torch.no_grad():
        torch.testing.assert_close(compiled(True, x), m(True, x), rtol=1e-5, atol=1e-5)


class WeightNormed(nn.Module):
    """Wav2Vec2's positional convolution: a grouped convolution under
    weight_norm over the kernel dim (a parametrization), and one under the
    older hook form."""

    def __init__(self):
        super().__init__()
        self.pos = nn.utils.parametrizations.weight_norm(
            nn.Conv1d(16, 16, 9, padding=4, groups=4), name="weight", dim=2)
        self.hooked = nn.utils.weight_norm(nn.Conv1d(16, 8, 3, padding=1))
        self.q = nn.Linear(8, 4)

    def forward(self, x):                                   # [B, S, 16]
        y = torch.nn.functional.gelu(self.pos(x.transpose(1, 2)))
        return self.q(self.hooked(y).transpose(1, 2))


def test_weight_norm_becomes_a_constant_computed_as_eager_computes_it():
    """No weight_norm, norm or division is left on the parameters: the
    weights are constants, computed by eager's own kernel, so the result is
    as close to eager as the convolutions allow (the decomposed weight norm
    rounded otherwise: 8e-4 off on a small Wav2Vec2)."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # nn.utils.weight_norm is deprecated
        m = WeightNormed().eval()
    # (in place: the hook form cannot be deep-copied)
    q = torch.ao.quantization.quantize_dynamic(m, {nn.Linear}, dtype=torch.qint8, inplace=True)
    x = torch.randn(2, 11, 16)
    ep = export_model(q, (x,)).program
    targets = {str(n.target) for n in ep.graph.nodes
               if n.op == "call_function" and str(n.target).startswith("aten.")}
    assert not any("norm" in t or "pow" in t or "sqrt" in t or "div" in t for t in targets), \
        targets
    names = {s.target for s in ep.graph_signature.input_specs}
    assert not any("original" in str(n) or str(n).endswith(("_g", "_v")) for n in names), names
    c = dqmlir.compile(q, (x,), verbose=False, cache=False)
    for length in (11, 30):
        x = torch.randn(3, length, 16)
        with torch.no_grad():
            torch.testing.assert_close(c(x), q(x), rtol=0, atol=2e-6)



class ListIndex(nn.Module):
    """Falcon's `fused_qkv[..., [-2], :]`: a tensor made in forward (a
    constant, copied) as an index inside aten.index's list."""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 12)

    def forward(self, x):
        h = self.q(x).view(x.shape[0], x.shape[1], 3, 4)
        return h[..., [-2], :] * 2


def test_a_constant_read_inside_a_list_is_not_folded():
    # Folded, it would reach torch-mlir's frozen import as a literal inside
    # the list, which that cannot import.
    torch.manual_seed(0)
    m = torch.ao.quantization.quantize_dynamic(ListIndex().eval(), {nn.Linear},
                                               dtype=torch.qint8)
    compiled = dqmlir.compile(m, (torch.randn(2, 5, 8),), cache=False, verbose=False)
    for shape in [(1, 1, 8), (3, 7, 8)]:
        x = torch.randn(*shape)
        assert torch.equal(compiled(x), m(x))
