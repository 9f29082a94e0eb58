"""Whole models through torch.export -> torch-mlir -> dq -> JIT, against PyTorch."""
import pytest
import torch
import torch.nn.functional as F
from conftest import record_parity, tiny_bert

import dqmlir


class MLP(torch.nn.Module):
    def __init__(self, act=F.relu):
        super().__init__()
        self.fc1 = torch.nn.Linear(48, 96)
        self.fc2 = torch.nn.Linear(96, 20)
        self.act = act

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def quantized_mlp(per_channel=False, act=F.relu):
    torch.manual_seed(0)
    m = MLP(act).eval()
    qconfig = (torch.ao.quantization.per_channel_dynamic_qconfig if per_channel
               else torch.ao.quantization.default_dynamic_qconfig)
    return m, torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear: qconfig}, dtype=torch.qint8)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_quantize_dynamic_mlp_bit_exact(per_channel):
    _, q = quantized_mlp(per_channel)
    c = dqmlir.compile(q, (torch.randn(4, 48),))
    for batch in [4, 2, 31]:  # one compile, any batch
        x = torch.randn(batch, 48) * 2
        assert record_parity(c(x), q(x)) == 0


def test_gelu_mlp_close():
    # torch-mlir's erf-based GELU and ATen's differ in the last bits, which
    # can move one activation to the next quantization level downstream.
    _, q = quantized_mlp(act=F.gelu)
    c = dqmlir.compile(q, (torch.randn(4, 48),))
    x = torch.randn(16, 48) * 2
    ours, ref = c(x), q(x)
    assert F.cosine_similarity(ours.flatten(), ref.flatten(), dim=0) > 0.9999
    assert (ours - ref).abs().max() < 1e-3


def test_fp32_model_pytorch_scheme_equals_quantize_dynamic():
    m, q = quantized_mlp()
    c = dqmlir.compile(m, (torch.randn(4, 48),), quantize="pytorch")
    x = torch.randn(6, 48)
    assert record_parity(c(x), q(x)) == 0


def test_accurate_scheme_is_closer_to_fp32():
    m, q = quantized_mlp()
    x = torch.randn(64, 48)
    x[:, 3] *= 40  # an outlier feature, as in trained transformers
    acc = dqmlir.compile(m, (x,), quantize="accurate")
    ref = m(x).detach()
    err_acc = (acc(x) - ref).norm() / ref.norm()
    err_pt = (q(x) - ref).norm() / ref.norm()
    assert err_acc < err_pt


def test_user_model_is_left_unchanged():
    m, q = quantized_mlp()
    before = {n: type(mod) for n, mod in q.named_modules()}
    dqmlir.compile(q, (torch.randn(2, 48),))
    assert {n: type(mod) for n, mod in q.named_modules()} == before


def test_stages():
    _, q = quantized_mlp()
    c = dqmlir.compile(q, (torch.randn(2, 48),), cache=False)
    assert "torch.operator" not in c.ir("torch") and "dq_linear_dynamic_0" in c.ir("torch")
    assert c.ir("dq").count("dq.linear_dynamic") == 2
    assert "linalg.generic" in c.ir("linalg") and "dq." not in c.ir("linalg")
    assert "llvm.func @main" in c.ir("llvm")
    with pytest.raises(ValueError, match="unknown stage"):
        c.ir("asm")


def test_dump_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DQMLIR_DUMP_DIR", str(tmp_path))
    _, q = quantized_mlp()
    dqmlir.compile(q, (torch.randn(2, 48),))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["0-torch.mlir", "1-dq.mlir", "1-dq.mlirbc", "3-llvm.mlir", "4-llvm.ll",
                     "REPRODUCE.sh", "interface.partial.json"]
    # It runs as written, from anywhere, and makes the same library.
    import subprocess
    r = subprocess.run(["sh", str(tmp_path / "REPRODUCE.sh")], cwd="/", capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "model" / "model.so").exists() and (tmp_path / "2-linalg.mlir").exists()
    again = dqmlir.load(tmp_path / "model")
    x = torch.randn(3, 48)
    assert torch.equal(again(x), q(x))


class Sort(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)
        self.inner = torch.nn.Sequential(torch.nn.ReLU())

    def forward(self, x):
        return torch.sort(self.inner(self.proj(x)), dim=1).values


def test_unsupported_op_names_it():
    # torch-mlir lowers sort to tm_tensor.sort, which upstream MLIR lacks.
    m = Sort().eval()
    with pytest.raises(dqmlir.UnsupportedModuleError, match="tm_tensor.sort"):
        dqmlir.compile(m, (torch.randn(2, 8),))


def test_weight_with_a_zero_point_names_the_layer():
    # dqmlir's kernels take symmetric int8 weights; what the layer holds is
    # known once it is unpacked, which compile does beside the trace.
    lin = torch.ao.nn.quantized.dynamic.Linear(8, 4)
    lin.set_weight_bias(torch.quantize_per_tensor(torch.randn(4, 8), 0.05, 3, torch.qint8),
                        torch.zeros(4))
    m = torch.nn.Sequential(torch.nn.ReLU(), lin).eval()
    with pytest.raises(dqmlir.UnsupportedModuleError, match=r"^1: weight zero point must be 0"):
        dqmlir.compile(m, (torch.randn(2, 8),), verbose=False)


def test_training_mode_is_rejected():
    m = MLP()
    with pytest.raises(ValueError, match="eval"):
        dqmlir.compile(m, (torch.randn(2, 48),))


def test_bert_two_layers_dynamic_batch_and_sequence():
    m = tiny_bert(layers=2, hidden=128, heads=2, intermediate=256, vocab=30522,
                  max_positions=512)
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    ids = torch.randint(0, 30000, (2, 16))
    c = dqmlir.compile(q, (ids,), {"attention_mask": torch.ones(2, 16, dtype=torch.long)})
    for b, s in [(2, 16), (3, 9), (1, 33)]:
        ids = torch.randint(0, 30000, (b, s))
        mask = torch.ones(b, s, dtype=torch.long)
        mask[0, s // 2:] = 0
        out, ref = c(ids, attention_mask=mask), q(ids, attention_mask=mask)
        assert type(out) is type(ref)
        a, r = out.last_hidden_state, ref.last_hidden_state.detach()
        assert F.cosine_similarity(a.flatten(), r.flatten(), dim=0) > 0.9999
        assert (a - r).abs().max() < 1e-3


def test_variadic_forward():
    """forward(*xs): the example arguments stay separate positionals."""
    class Variadic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, *xs):
            return self.fc(xs[0]) + xs[1]

    torch.manual_seed(0)
    q = torch.ao.quantization.quantize_dynamic(Variadic().eval(), {torch.nn.Linear}, dtype=torch.qint8)
    c = dqmlir.compile(q, (torch.randn(3, 8), torch.randn(3, 4)))
    for m in (1, 5):
        a, b = torch.randn(m, 8), torch.randn(m, 4)
        assert torch.equal(c(a, b), q(a, b))


def test_bert_static_shapes_bit_exact():
    """dynamic=False: every shape static (K^T of a reshape once failed to
    lower, without a diagnostic)."""
    m = tiny_bert(layers=1, hidden=128, heads=2, intermediate=256, vocab=30522,
                  max_positions=512)
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    ids = torch.randint(0, 30000, (2, 24))
    mask = torch.ones(2, 24, dtype=torch.long)
    mask[1, 10:] = 0
    c = dqmlir.compile(q, (ids,), {"attention_mask": mask}, dynamic=False)
    with torch.no_grad():
        ref = q(ids, attention_mask=mask).last_hidden_state
    assert torch.equal(c(ids, attention_mask=mask).last_hidden_state, ref)


def test_torchao_int8_dynamic_bit_exact():
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    torch.manual_seed(0)
    m = MLP().eval()
    quantize_(m, Int8DynamicActivationInt8WeightConfig())
    c = dqmlir.compile(m, (torch.randn(4, 48),))
    assert c.ir("dq").count("act symmetric per_row") == 2
    for shape in [(4, 48), (1, 48), (9, 48)]:
        x = torch.randn(*shape) * 3
        with torch.no_grad():
            ref = m(x)
        assert record_parity(c(x), ref) == 0


def test_torchao_bert_close():
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    m = tiny_bert(layers=2, hidden=128, heads=2, intermediate=256, vocab=30522,
                  max_positions=512)
    quantize_(m, Int8DynamicActivationInt8WeightConfig())
    ids = torch.randint(0, 30000, (2, 12))
    c = dqmlir.compile(m, (ids,))
    ids = torch.randint(0, 30000, (3, 20))
    with torch.no_grad():
        ref = m(ids).last_hidden_state
    out = c(ids).last_hidden_state
    assert F.cosine_similarity(out.flatten(), ref.flatten(), dim=0) > 0.9999


def test_mismatched_model_inputs_raise_instead_of_aborting():
    m = tiny_bert(layers=1, hidden=64, heads=2, intermediate=128, vocab=30522,
                  max_positions=512)
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    ids = torch.randint(0, 30000, (2, 16))
    c = dqmlir.compile(q, (ids,), {"attention_mask": torch.ones_like(ids)})
    with pytest.raises(ValueError, match=r"argument 'attention_mask' dim 1 is 9 but must equal "
                                         r"argument 'input_ids' dim 1 \(16\)"):
        c(ids, attention_mask=torch.ones(2, 9, dtype=torch.long))
    with pytest.raises(TypeError, match="missing argument 'attention_mask'"):
        c(ids)
    with pytest.raises(TypeError, match="'attention_mask' must have dtype int64, got float32"):
        c(ids, attention_mask=torch.ones(2, 16))
    out = c(ids[:1], attention_mask=torch.ones(1, 16, dtype=torch.long))  # still usable
    assert out.last_hidden_state.shape == (1, 16, 64)


def test_concurrent_calls_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    _, q = quantized_mlp()
    c = dqmlir.compile(q, (torch.randn(4, 48),))
    xs = [torch.randn(1 + i % 7, 48) * (1 + i) for i in range(64)]
    refs = [q(x) for x in xs]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(c, xs))
    for o, r in zip(outs, refs):
        assert torch.equal(o, r)


def test_compiled_model_outlives_its_source_and_is_freed():
    import gc
    import weakref

    _, q = quantized_mlp()
    x = torch.randn(3, 48)
    ref = q(x)
    c = dqmlir.compile(q, (x,))
    del q
    gc.collect()
    assert torch.equal(c(x), ref)
    library = weakref.ref(c._library)
    del c
    gc.collect()
    assert library() is None  # the library and its weights went with it


def test_input_longer_than_the_model_supports_raises():
    m = tiny_bert(layers=1, hidden=64, heads=2, intermediate=128, vocab=30522,
                  max_positions=64)
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    c = dqmlir.compile(q, (torch.randint(0, 30000, (2, 16)),))
    with pytest.raises(ValueError, match="the model supports at most 64"):
        c(torch.randint(0, 30000, (1, 80)))
    assert c(torch.randint(0, 30000, (1, 64))).last_hidden_state.shape == (1, 64, 64)


class Fp32Linear3d(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q = torch.nn.Linear(16, 32)
        self.f = torch.nn.Linear(32, 8)  # left fp32

    def forward(self, x):
        return self.f(torch.relu(self.q(x)))


def test_fp32_linear_on_dynamic_3d_input():
    # export writes it as view(x, [-1, K]) + mm, which torch-mlir lowered to an
    # unchecked cast of the sequence dim to 1 (wrong results or a crash).
    torch.manual_seed(0)
    ref_q = torch.ao.quantization.quantize_dynamic(Fp32Linear3d().eval(), {"q"}, dtype=torch.qint8)
    c = dqmlir.compile(ref_q, (torch.randn(2, 5, 16),))
    assert c.ir("dq").count("dq.linear_dynamic") == 1
    for shape in [(2, 5, 16), (1, 1, 16), (3, 9, 16)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            ref = ref_q(x)
        assert (c(x) - ref).abs().max() < 1e-5


class Positions(torch.nn.Module):
    """RoBERTa-style position ids: an integer cumsum over the mask."""

    def forward(self, mask):
        return torch.cumsum(mask, dim=1) * mask - 1


def test_integer_cumsum():
    m = Positions().eval()
    c = dqmlir.compile(m, (torch.ones(2, 8, dtype=torch.long),))
    for b, s in [(2, 8), (1, 13)]:
        mask = (torch.rand(b, s) > 0.3).long()
        assert torch.equal(c(mask), m(mask))


class FloatPositions(torch.nn.Module):
    """OPT's position ids without a mask: the cumsum of a float ones tensor,
    and a float cumsum along another dim."""

    def forward(self, x):
        ones = torch.ones(x.shape[0], x.shape[1])
        return (torch.cumsum(ones, dim=1) * ones - 1).long(), torch.cumsum(x, dim=0)


def test_float_cumsum():
    # ATen accumulates float cumsums in double: sums of counts are exact;
    # others may differ by an ulp (the triangle's order of summation).
    m = FloatPositions().eval()
    c = dqmlir.compile(m, (torch.randn(4, 8),))
    for b, s in [(4, 8), (3, 13)]:
        x = torch.randn(b, s)
        pos, sums = c(x)
        ref_pos, ref_sums = m(x)
        assert torch.equal(pos, ref_pos)
        assert torch.allclose(sums, ref_sums, rtol=1e-6, atol=1e-6)
        counts = torch.randint(-5, 5, (b, s)).float()
        assert torch.equal(c(counts)[1], m(counts)[1])


class EosPooling(torch.nn.Module):
    """CLIP's pooled output: each row's hidden state at its largest id, and
    the same through a negative index."""

    def forward(self, hidden, ids):
        b = hidden.shape[0]
        rows = torch.arange(b)
        return hidden[rows, ids.argmax(-1)], hidden[rows, ids.argmax(-1) - ids.shape[1]]


def test_index_with_two_index_tensors():
    m = EosPooling().eval()
    c = dqmlir.compile(m, (torch.randn(2, 5, 8), torch.randint(0, 100, (2, 5))))
    for b, s in [(2, 5), (3, 11)]:
        hidden, ids = torch.randn(b, s, 8), torch.randint(0, 100, (b, s))
        for ours, ref in zip(c(hidden, ids), m(hidden, ids)):
            assert torch.equal(ours, ref)


class PairIndex(torch.nn.Module):
    def forward(self, h, i, j):
        return h[i, j]


def test_two_index_tensors_wrap_and_check_bounds():
    m = PairIndex().eval()
    h = torch.randn(3, 5, 8)
    c = dqmlir.compile(m, (h, torch.tensor([0, 1]), torch.tensor([2, 4])))
    i, j = torch.tensor([2, -1, 0]), torch.tensor([-5, 4, -1])
    assert torch.equal(c(h, i, j), m(h, i, j))
    for i, j in [([0, 3], [1, 1]), ([0, 1], [5, 0]), ([0, 1], [-6, 0])]:
        with pytest.raises(IndexError):
            m(h, torch.tensor(i), torch.tensor(j))
        with pytest.raises(IndexError, match="out of range"):
            c(h, torch.tensor(i), torch.tensor(j))


class FlattenTokens(torch.nn.Module):
    def forward(self, x):
        return x.view(-1, x.shape[-1]).sum(0)


def test_view_merging_two_dynamic_dims_is_refused():
    # Asked for explicitly, both dims stay dynamic: refused. The default
    # makes the second static (test_merged_default_dynamic_dims_become_static).
    from torch.export import Dim
    with pytest.raises(dqmlir.UnsupportedModuleError, match=r"merges the dynamic dims s\d+, s\d+"):
        dqmlir.compile(FlattenTokens().eval(), (torch.randn(2, 5, 8),),
                       dynamic={"x": {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}})
    for dynamic in (False, True):
        c = dqmlir.compile(FlattenTokens().eval(), (torch.randn(2, 5, 8),), dynamic=dynamic)
        x = torch.randn(2, 5, 8)
        assert torch.allclose(c(x), x.view(-1, 8).sum(0), atol=1e-5)


class _SameResultTwice(torch.nn.Module):
    def forward(self, x):
        y = x * 2.0
        return y, x * 2.0, y.view(-1), torch.square(x), torch.pow(x, 2)


def test_results_in_one_buffer_are_separate_tensors():
    # CSE makes y and x * 2.0 (and x², x ** 2) one value, and y.view(-1) is
    # the same buffer: each output must still own its memory (this crashed
    # with a double free).
    m = _SameResultTwice().eval()
    c = dqmlir.compile(m, (torch.randn(4, 8),))
    for _ in range(20):
        x = torch.randn(4, 8)
        got, want = c(x), m(x)
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    got[0].add_(1.0)
    assert torch.equal(got[1], want[1])


class _MatmulScaled(torch.nn.Module):
    def forward(self, a, b):
        return (a @ b) * 2


def test_merged_default_dynamic_dims_become_static(caplog):
    # [B, S, K] @ [K, N] exports as a view to [B*S, K], which torch-mlir lowers
    # wrongly when B and S are both dynamic: the default keeps B dynamic and
    # makes S static, with one warning, instead of refusing the model.
    m = _MatmulScaled().eval()
    with caplog.at_level("WARNING", logger="dqmlir"):
        c = dqmlir.compile(m, (torch.randn(2, 5, 8), torch.randn(8, 3)), cache=False)
    assert "a dim 1" in caplog.text and "merges the dynamic dims" in caplog.text
    for batch in (1, 3, 7):
        a, b = torch.randn(batch, 5, 8), torch.randn(8, 3)
        torch.testing.assert_close(c(a, b), m(a, b), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="dim 1 must be 5"):
        c(torch.randn(2, 7, 8), torch.randn(8, 3))
