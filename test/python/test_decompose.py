"""Node-by-node decomposition (frontend/decompose.py) gives the graph
run_decompositions gives, or falls back to it."""
import hashlib
from collections import Counter

import pytest
import torch
import torch.nn as nn
from torch.export.exported_program import ExportedProgram
from torch.fx.operator_schemas import normalize_function

import dqmlir
from dqmlir.frontend import decompose as D
from dqmlir.frontend.export import decompositions, export_model
from dqmlir.frontend.fx_cleanup import drop_eval_dropouts

T = pytest.importorskip("transformers")
from test_families import FAMILIES, _WordLM, _ids  # noqa: E402
from conftest import quantize  # noqa: E402

aten = torch.ops.aten


def _traced(model, args, kwargs=None):
    """The program dqmlir's export decomposes (before decomposition)."""
    seen = []

    def keep(ep, linears):
        seen.append(ep)
        return True
    export_model(model, args, kwargs, after_trace=keep)
    drop_eval_dropouts(seen[0].graph_module)
    return seen[0]


def _structure(ep):
    """Each tensor op as a digest of its op, arguments (their producers'
    digests, recursively), shape and dtype, counted; the outputs' digests;
    the signature's kinds. Equal for two programs computing the same ops on
    the same values, whatever their order, node names, or how a size is
    computed (sizes are compared as symbolic expressions), or the order of
    the constant inputs (run_decompositions lists lifted constants before
    buffers): inputs are known by what they hold."""
    digest = {}
    placeholders = 0
    held = {s.arg.name: (s.kind, s.target) for s in ep.graph_signature.input_specs
            if s.target is not None and hasattr(s.arg, "name")}

    def arg(a):
        return digest[a] if isinstance(a, torch.fx.Node) else a

    ops = Counter()
    for n in ep.graph.nodes:
        val = n.meta.get("val")
        if n.op == "placeholder":
            digest[n] = ("input", held.get(n.name, placeholders))
            placeholders += n.name not in held
            continue
        if n.op == "output":
            break
        if isinstance(val, (torch.SymInt, int)) and not isinstance(val, bool):
            digest[n] = ("size", str(val))
            continue
        args = (n.args, n.kwargs)
        if isinstance(n.target, torch._ops.OpOverload):
            # Positional or keyword: as the schema binds them.
            bound = normalize_function(n.target, n.args, n.kwargs,
                                       normalize_to_only_use_kwargs=True)
            args = bound.kwargs if bound is not None else args
        meta = ([(tuple(v.shape), v.dtype) for v in torch.utils._pytree.tree_leaves(val)
                 if isinstance(v, torch.Tensor)])
        text = repr((str(n.target), torch.utils._pytree.tree_map(arg, args), meta))
        digest[n] = hashlib.sha1(text.encode()).hexdigest()
        ops[(str(n.target), digest[n])] += 1
    outputs = [arg(a) for a in ep.graph.output_node().args[0]]
    sig = (sorted(str(held.get(s.arg.name, s.kind)) for s in ep.graph_signature.input_specs),
           [s.kind for s in ep.graph_signature.output_specs])
    return ops, outputs, sig


def _assert_same(ours, ref):
    a, b = _structure(ours), _structure(ref)
    assert a[2] == b[2]
    assert a[0] == b[0], (a[0] - b[0], b[0] - a[0])
    assert a[1] == b[1]


def _decompose(ep, table):
    """(decompose(ep, table), whether it fell back to run_decompositions)."""
    called = []
    orig = ExportedProgram.run_decompositions

    def spy(self, *a, **k):
        called.append(True)
        return orig(self, *a, **k)
    ExportedProgram.run_decompositions = spy
    try:
        return D.decompose(ep, table), bool(called)
    finally:
        ExportedProgram.run_decompositions = orig


def _both(build, local=True):
    """(decompose, run_decompositions) of the program `build()` exports;
    decompose must have worked node by node if `local`, else fallen back."""
    table = decompositions()
    ours, fell_back = _decompose(build(), table)
    assert fell_back != local, "fell back to run_decompositions" if local else "did not"
    return ours, build().run_decompositions(table)


def _build_functional(build):
    """run_decompositions of `build()` with its in-place ops on fresh
    tensors made functional first, as decompose does."""
    ep = build()
    D._functionalize_fresh(ep.graph_module)
    return ep.run_decompositions(decompositions())


def _family(name):
    def build():
        make, inputs, _ = FAMILIES[name]
        torch.manual_seed(0)
        args, kwargs = inputs(2, 16)
        return _traced(quantize(make().eval()), args, kwargs)
    return build


# A convolution feeding a GELU: each node here is decomposed seeing its
# inputs' eager layouts (a convolution's output is contiguous), the re-trace
# sees the decomposed convolution's (a permuted view) and picks another GELU
# kernel's numerics for it (test_gelu_after_a_convolution_is_bit_exact).
# T5: `.contiguous()` of attention's transposed output is a copy by the
# layout of aten.scaled_dot_product_attention's meta, a no-op by the flash
# decomposition's (one copy of [batch, sequence, inner dim] per layer).
# Falcon adds in place into a matmul's [batch, seq, hidden] output: the
# re-trace functionalizes that on the matmul's [batch * seq, hidden] base (an
# add there and two views), _functionalize_fresh on the tensor it was given:
# the same sums.
_EAGER_LAYOUTS = {"whisper-encoder", "wav2vec2", "wav2vec2-base-convs", "t5-encoder", "falcon"}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_families_decompose_as_run_decompositions(name):
    ours, ref = _both(_family(name))
    if name in _EAGER_LAYOUTS:
        def targets(ep):
            return {n.target for n in ep.graph.nodes if n.op == "call_function"}
        assert targets(ours) <= targets(ref)
        return
    if name == "deberta-v2":
        # Its in-place ops (detach_ of tensors made in forward) were made
        # functional before: so must the reference's be.
        ref = _build_functional(_family(name))
    _assert_same(ours, ref)
    # Decomposed ops keep the module path errors and profiles name.
    def paths(ep):
        return Counter(str(list(n.meta["nn_module_stack"].values())[-1][0])
                       for n in ep.graph.nodes if n.op == "call_function"
                       and isinstance(n.meta.get("val"), torch.Tensor)
                       and n.meta.get("nn_module_stack"))
    assert paths(ours) == paths(ref)


def test_recurrent_model_decomposes_as_run_decompositions():
    def build():
        torch.manual_seed(0)
        q = torch.ao.quantization.quantize_dynamic(_WordLM().eval(), {nn.LSTM, nn.Linear},
                                                   dtype=torch.qint8)
        return _traced(q, (_ids(5, 3), (torch.randn(2, 3, 32), torch.randn(2, 3, 32))))
    ours, ref = _both(build)
    _assert_same(ours, ref)


class _MomentsUsed(nn.Module):
    """native_layer_norm's mean and rstd read (tuple results through
    getitem), var_mean, and a layer norm's output as a program output."""

    def forward(self, x):
        y, mean, rstd = torch.native_layer_norm(x, [x.shape[-1]], None, None, 1e-5)
        var, m = torch.var_mean(x, -1, keepdim=True)
        return y, mean * rstd + var - m, nn.functional.gelu(x)


def test_tuple_results_and_outputs():
    x = torch.randn(2, 5, 8)
    ours, ref = _both(lambda: _traced(_MomentsUsed().eval(), (x,)))
    _assert_same(ours, ref)
    for a, b in zip(ours.module()(x), ref.module()(x)):
        assert torch.equal(a, b)


class _Gelu(nn.Module):
    def forward(self, x):
        return nn.functional.gelu(x) * 2


def test_a_bounding_decomposition_falls_back():
    """A decomposition that branches on a dynamic size narrows its range:
    that is left to the whole-program path."""
    x = torch.randn(2, 5, 8)
    table = decompositions()
    table[aten.gelu.default] = lambda x, approximate="none": x * 3 if x.shape[0] > 4 else x
    with pytest.raises(D._NotLocal, match="bounds"):
        D._trace_nodes(_traced(_Gelu().eval(), (x,)), table)
    out, fell_back = _decompose(_traced(_Gelu().eval(), (x,)), table)
    assert fell_back and not any(n.target is aten.gelu.default for n in out.graph.nodes)


class _ConvGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 16, 3, padding=1)

    def forward(self, x):
        return nn.functional.gelu(self.conv(x))


def test_gelu_after_a_convolution_is_bit_exact():
    """Weights and inputs on a coarse grid: the convolution's sums are exact
    in any order, so PyTorch's GELU (oneDNN's, on the convolution's
    contiguous output) can be matched bit for bit, which it is only if the
    GELU is decomposed seeing that layout."""
    torch.manual_seed(0)
    m = _ConvGelu().eval()
    with torch.no_grad():
        m.conv.weight.copy_(torch.randint(-2, 3, m.conv.weight.shape).float() / 4)
        m.conv.bias.zero_()
    c = dqmlir.compile(m, (torch.randint(-3, 4, (2, 8, 40)).float(),), verbose=False,
                       cache=False)
    for b in (1, 3):
        x = torch.randint(-3, 4, (b, 8, 40)).float() / 2
        assert torch.equal(c(x), m(x))


def test_a_decomposition_making_a_constant_falls_back():
    x = torch.randn(2, 5, 8)
    table = decompositions()
    table[aten.gelu.default] = lambda x, approximate="none": x + torch.tensor([1.0, 2.0]).sum()
    with pytest.raises(D._NotLocal, match="a get_attr node"):
        D._trace_nodes(_traced(_Gelu().eval(), (x,)), table)


class _ReturnsItsInput(nn.Module):
    def forward(self, x):
        return x.to(torch.float32), x.float() * 2


def test_an_output_decomposing_to_an_input_falls_back():
    x = torch.randn(2, 5, 8)
    with pytest.raises(D._NotLocal, match="an output"):
        D._trace_nodes(_traced(_ReturnsItsInput().eval(), (x,)), decompositions())
    ours, ref = _both(lambda: _traced(_ReturnsItsInput().eval(), (x,)), local=False)
    _assert_same(ours, ref)


class _GeluOfTransposed(nn.Module):
    def forward(self, x):
        return nn.functional.gelu(x.transpose(1, 2))


def test_a_decomposition_reading_a_dynamic_stride_falls_back():
    """dq.gelu of a non-contiguous tensor checks its layout at run time,
    from strides the node-by-node trace would read off its input (an op
    torch-mlir does not import)."""
    x = torch.randn(2, 5, 8)
    with pytest.raises(D._NotLocal, match="stride"):
        D._trace_nodes(_traced(_GeluOfTransposed().eval(), (x,)), decompositions())
    ours, ref = _both(lambda: _traced(_GeluOfTransposed().eval(), (x,)), local=False)
    _assert_same(ours, ref)


def _read_after(x):
    y = x * 2
    w = y + 0
    y.add_(1)
    return y, w


def _fresh(x):
    y = x * 2
    y.add_(1)
    return y


@pytest.mark.parametrize("fn,functional", [(_fresh, True), (_read_after, False)])
def test_in_place_ops_on_fresh_tensors_become_functional(fn, functional):
    """`y += 1` on a tensor only the in-place op reads (T5's scores) becomes
    `add`; on one another op reads it stays (for the whole-program path)."""
    from torch.fx.experimental.proxy_tensor import make_fx
    gm = make_fx(fn, tracing_mode="fake")(torch.randn(2, 3))
    assert D._functionalize_fresh(gm) == int(functional)
    assert (aten.add_.Tensor in [n.target for n in gm.graph.nodes]) != functional
    x = torch.randn(2, 3)
    for a, b in zip(torch.utils._pytree.tree_leaves(gm(x)),
                    torch.utils._pytree.tree_leaves(fn(x))):
        assert torch.equal(a, b)


def test_equal_layers_share_their_traces(monkeypatch):
    """A 2-layer encoder's layers have the same op on the same shapes at
    each place: each is traced once (the result still equal: above)."""
    calls = []
    orig = D._trace_one

    def counted(*a):
        calls.append(a[2])
        return orig(*a)
    monkeypatch.setattr(D, "_trace_one", counted)
    ep = _family("distilbert")()
    table = decompositions()
    nodes = [n for n in ep.graph.nodes if n.op == "call_function"
             and D._needs_decomposition(n.target, table)]
    D.decompose(ep, table)
    layer_norms = [n for n in nodes if n.target is aten.layer_norm.default]
    assert len(layer_norms) == 5 and calls.count(aten.layer_norm.default) == 1
    assert len(calls) < len(nodes) * 0.6
