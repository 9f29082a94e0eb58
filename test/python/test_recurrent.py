"""Quantized LSTM, GRU and cells (quantize_dynamic) against PyTorch, bit for
bit: every configuration, dynamic sequence length and batch, with and
without initial states; the word-level LSTM language model of PyTorch's
dynamic quantization tutorial; saved and loaded; the gates' ops alone
(dq.sigmoid, dq.tanh) on edge values."""
import warnings

import pytest
import torch
import torch.nn as nn
from torch.utils._pytree import tree_leaves

import dqmlir
from conftest import record_parity

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning)


class Wrap(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x, hx=None):
        return self.m(x, hx)


def quantized(m, kinds):
    torch.manual_seed(0)
    return torch.ao.quantization.quantize_dynamic(Wrap(m).eval(), kinds, dtype=torch.qint8)


def assert_same(compiled, model, *args):
    ours, ref = compiled(*args), model(*args)
    a, b = tree_leaves(ours), tree_leaves(ref)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        record_parity(x, y)
        assert torch.equal(x, y), float((x - y).abs().max())


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("layers,bidirectional,batch_first,hidden", [
    (1, False, False, 32), (2, True, False, 35), (2, False, True, 64), (3, True, True, 19)])
def test_sequence_modules(kind, layers, bidirectional, batch_first, hidden):
    torch.manual_seed(1)
    model = quantized(kind(12, hidden, num_layers=layers, bidirectional=bidirectional,
                           batch_first=batch_first), {kind})
    dirs = 2 if bidirectional else 1

    def x(t, b, scale=1.0):
        return torch.randn(b, t, 12) * scale if batch_first else torch.randn(t, b, 12) * scale

    def states(b):
        h = torch.randn(layers * dirs, b, hidden)
        return (h, torch.randn_like(h)) if kind is nn.LSTM else h

    c = dqmlir.compile(model, (x(6, 3),), cache=False, verbose=False)
    for t, b, scale in ((6, 3, 1.0), (1, 1, 1.0), (17, 5, 4.0), (2, 8, 0.01)):
        assert_same(c, model, x(t, b, scale))
    c = dqmlir.compile(model, (x(6, 3), states(3)), cache=False, verbose=False)
    for t, b in ((6, 3), (9, 2), (1, 1)):
        assert_same(c, model, x(t, b), states(b))


@pytest.mark.parametrize("cell", ["LSTMCell", "GRUCell", "RNNCell", "RNNCell-relu"])
@pytest.mark.parametrize("hidden", [33, 64])
def test_cells(cell, hidden):
    torch.manual_seed(2)
    if cell == "RNNCell-relu":
        m, kind = nn.RNNCell(10, hidden, nonlinearity="relu"), nn.RNNCell
    else:
        kind = getattr(nn, cell)
        m = kind(10, hidden)
    model = quantized(m, {kind})

    def hx(b):
        h = torch.randn(b, hidden)
        return (h, torch.randn_like(h)) if cell == "LSTMCell" else h

    c = dqmlir.compile(model, (torch.randn(3, 10), hx(3)), cache=False, verbose=False)
    for b, scale in ((3, 1.0), (1, 1.0), (9, 5.0)):
        assert_same(c, model, torch.randn(b, 10) * scale, hx(b))


class WordLM(nn.Module):
    """PyTorch's dynamic quantization tutorial model: embedding, 2-layer LSTM,
    linear decoder."""

    def __init__(self, ntoken=50, ninp=16, nhid=24, nlayers=2):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input, hidden):
        emb = self.encoder(input)
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(output), hidden


def test_word_language_model(tmp_path):
    torch.manual_seed(3)
    model = torch.ao.quantization.quantize_dynamic(WordLM().eval(), {nn.LSTM, nn.Linear},
                                                   dtype=torch.qint8)

    def hidden(b):
        return (torch.zeros(2, b, 24), torch.zeros(2, b, 24))

    ids = torch.randint(0, 50, (10, 2))
    c = dqmlir.compile(model, (ids, hidden(2)), cache=False, verbose=False)
    for t, b in ((10, 2), (35, 1), (3, 4)):
        ids = torch.randint(0, 50, (t, b))
        state = (torch.randn(2, b, 24), torch.randn(2, b, 24))
        assert_same(c, model, ids, state)
    c.save(tmp_path / "lm")
    loaded = dqmlir.load(tmp_path / "lm")
    ids = torch.randint(0, 50, (7, 3))
    assert_same(loaded, model, ids, hidden(3))
    # The C runtime (dq-run): the same bits, without Python.
    import os
    import pathlib
    import subprocess

    import numpy as np
    build = pathlib.Path(os.environ.get("DQMLIR_BUILD_DIR") or
                         pathlib.Path(__file__).resolve().parents[2] / "build")
    state = (torch.randn(2, 3, 24), torch.randn(2, 3, 24))
    for name, t in (("ids", ids), ("h", state[0]), ("c", state[1])):
        np.save(tmp_path / f"{name}.npy", t.numpy())
    r = subprocess.run([str(build / "bin" / "dq-run"), str(tmp_path / "lm"),
                        "--input", f"input={tmp_path / 'ids.npy'}",
                        "--input", f"hidden[0]={tmp_path / 'h.npy'}",
                        "--input", f"hidden[1]={tmp_path / 'c.npy'}",
                        "--output", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    logits, (h, c_) = model(ids, state)
    for name, ref in (("0", logits), ("1.0", h), ("1.1", c_)):
        assert torch.equal(torch.from_numpy(np.load(tmp_path / "out" / f"{name}.npy")), ref), name


class PacksInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 8)

    def forward(self, x):
        packed = nn.utils.rnn.pack_padded_sequence(x, [x.shape[0]] * x.shape[1])
        return self.rnn(packed)[1][0]


def test_packed_sequence_is_refused():
    model = quantized(nn.LSTM(4, 8), {nn.LSTM})
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(5, 2, 4), [5, 3])
    with pytest.raises(dqmlir.UnsupportedModuleError, match="PackedSequence"):
        dqmlir.compile(model, (packed,), cache=False, verbose=False)
    inside = torch.ao.quantization.quantize_dynamic(PacksInside().eval(), {nn.LSTM},
                                                    dtype=torch.qint8)
    with pytest.raises(dqmlir.UnsupportedModuleError, match="module 'rnn'.*PackedSequence"):
        dqmlir.compile(inside, (torch.randn(5, 2, 4),), cache=False, verbose=False)


def test_wrong_state_shape_raises():
    model = quantized(nn.GRU(4, 8), {nn.GRU})
    c = dqmlir.compile(model, (torch.randn(5, 2, 4), torch.randn(1, 2, 8)), cache=False,
                       verbose=False)
    with pytest.raises((ValueError, RuntimeError)):
        c(torch.randn(5, 2, 4), torch.randn(1, 3, 8))
    with pytest.raises((ValueError, RuntimeError, TypeError)):
        c(torch.randn(5, 2, 5), torch.randn(1, 2, 8))


_EDGES = [0.0, -0.0, 1e-30, -1e-30, 1e-8, 0.5, -0.5, 9.0, 10.0, -10.0, 20.0, 88.0, 89.0, -87.0,
          -104.0, -105.0, 1e30, -1e30, float("inf"), float("-inf"), float("nan")]


@pytest.mark.parametrize("width", [1, 31, 32, 45, 64, 100])
def test_sigmoid_and_tanh_ops(width):
    """dq.sigmoid along rows of `width` (ATen's vector body and scalar tail)
    and dq.tanh (MKL) against torch on the same rows."""
    torch.manual_seed(4)
    text = f"""
    func.func @forward(%x: tensor<?x{width}xf32>) -> (tensor<?x{width}xf32>, tensor<?x{width}xf32>) {{
      %s = dq.sigmoid %x : tensor<?x{width}xf32>
      %t = dq.tanh %x : tensor<?x{width}xf32>
      return %s, %t : tensor<?x{width}xf32>, tensor<?x{width}xf32>
    }}"""
    c = dqmlir.compile_mlir(text)
    x = torch.randn(40, width) * 6
    flat = x.view(-1)
    flat[:len(_EDGES)] = torch.tensor(_EDGES[:flat.numel()])
    s, t = c(x)
    # PyTorch's cells take sigmoid_ of a column chunk: rows of `width`.
    wide = torch.cat([x, torch.zeros(40, 7)], 1)
    for ours, ref in ((s, wide[:, :width].sigmoid_()), (t, torch.tanh(x))):
        nan = ref.isnan()
        assert torch.equal(ours.isnan(), nan)
        assert torch.equal(ours[~nan].view(torch.int32), ref[~nan].view(torch.int32))


_LOAD_WITHOUT_MKL = """
import sys, dqmlir
try:
    dqmlir.load(sys.argv[1])
except Exception as e:
    print(type(e).__name__, e)
"""


def test_model_needing_mkl_refused_without_it(tmp_path):
    """Where MKL cannot be loaded, a model with tanh does not open (a clear
    error, in a child process: the runtime loads MKL once per process)."""
    import subprocess
    import sys
    model = quantized(nn.GRUCell(6, 8), {nn.GRUCell})
    dqmlir.compile(model, (torch.randn(2, 6), torch.randn(2, 8)), cache=False,
                   verbose=False).save(tmp_path / "cell")
    env = {**__import__("os").environ, "DQMLIR_MKL_LIBRARY": str(tmp_path / "nothing.so")}
    r = subprocess.run([sys.executable, "-c", _LOAD_WITHOUT_MKL, str(tmp_path / "cell")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "MKL" in r.stdout and "nothing.so" in r.stdout, r.stdout


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU])
def test_empty_sequence_raises_like_pytorch(kind):
    model = quantized(kind(4, 8), {kind})
    c = dqmlir.compile(model, (torch.randn(5, 2, 4),), cache=False, verbose=False)
    x = torch.randn(0, 2, 4)
    with pytest.raises(RuntimeError, match="sequence length to be larger than 0"):
        model(x)
    with pytest.raises(RuntimeError, match="sequence length to be larger than 0"):
        c(x)
