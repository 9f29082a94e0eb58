"""Quantized Embedding / EmbeddingBag (quantize_dynamic with
float_qparams_weight_only_qconfig, 8-bit, and 4-bit for EmbeddingBag)
against PyTorch eager, bit for bit (torch.equal), on random data and edge
cases; ids out of range raise IndexError, bad offsets RuntimeError.

PyTorch's quantized EmbeddingBag sums its bags whatever its mode (the module
passes mode=0 to the op) and ignores padding_idx; the compiled model does the
same, and these tests compare with what eager returns.
"""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
from torch.ao.quantization import (default_dynamic_qconfig, float_qparams_weight_only_qconfig,
                                   float_qparams_weight_only_qconfig_4bit)

import dqmlir

N, D = 37, 24
QCONFIG = {8: float_qparams_weight_only_qconfig, 4: float_qparams_weight_only_qconfig_4bit}


def _quantize(model, cls, bits=8, extra=None):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, cls):
                m.weight.normal_().mul_(2.5)      # rows of different ranges
    spec = {cls: QCONFIG[bits], **(extra or {})}
    return torch.ao.quantization.quantize_dynamic(model.eval(), spec)


class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(N, D)

    def forward(self, ids):
        return self.emb(ids)


class Bag(nn.Module):
    def __init__(self, mode="sum", last=False):
        super().__init__()
        self.bag = nn.EmbeddingBag(N, D, mode=mode, include_last_offset=last)

    def forward(self, ids, offsets=None, per_sample_weights=None):
        return self.bag(ids, offsets, per_sample_weights=per_sample_weights)


def _offsets(n_idx, n_bags, gen, last):
    """Sorted offsets starting at 0 (empty bags, bags of one and one long
    bag all likely); with `last`, n_idx appended."""
    cuts = torch.sort(torch.randint(0, n_idx + 1, (n_bags - 1,), generator=gen)).values
    offs = torch.cat([torch.zeros(1, dtype=torch.long), cuts])
    return torch.cat([offs, torch.tensor([n_idx])]) if last else offs


def _ids(shape, gen):
    ids = torch.randint(0, N, shape, generator=gen)
    if ids.numel():
        ids.view(-1)[0] = N - 1                   # the last row
    if ids.numel() > 2:
        ids.view(-1)[1] = ids.view(-1)[2]         # a repeated id
    return ids


def _same(ours, ref):
    assert ours.shape == ref.shape
    assert torch.equal(ours, ref), f"max |diff| {(ours - ref).abs().max()}"


# --- Embedding --------------------------------------------------------------

@pytest.fixture(scope="module")
def lookup():
    torch.manual_seed(0)
    q = _quantize(Lookup(), nn.Embedding)
    gen = torch.Generator().manual_seed(1)
    c1 = dqmlir.compile(q, (_ids((9,), gen),), verbose=False)
    c2 = dqmlir.compile(q, (_ids((3, 7), gen),), verbose=False)
    return q, c1, c2


@pytest.mark.parametrize("shape", [(1,), (9,), (101,), (0,), (1, 1), (3, 7), (5, 33), (2, 0)])
def test_embedding_lookup(lookup, shape):
    q, c1, c2 = lookup
    ids = _ids(shape, torch.Generator().manual_seed(sum(shape) + 7))
    _same((c1 if len(shape) == 1 else c2)(ids), q(ids))


def test_embedding_int32_ids(lookup):
    q, c1, _ = lookup
    ids = _ids((13,), torch.Generator().manual_seed(3)).int()
    _same(c1(ids), q(ids))


@pytest.mark.parametrize("bad", [N, N + 1000, -1])
def test_embedding_index_error(lookup, bad):
    q, c1, c2 = lookup
    with pytest.raises(RuntimeError, match="out of bounds"):
        q(torch.tensor([1, bad]))                    # PyTorch: a RuntimeError
    with pytest.raises(IndexError, match="index out of range in 'emb'"):
        c1(torch.tensor([1, bad]))
    with pytest.raises(IndexError, match="index out of range in 'emb'"):
        c2(torch.tensor([[1, 2], [bad, 0]]))


# --- EmbeddingBag with offsets ----------------------------------------------

_BAG_CASES = [(8, False, True), (8, True, True), (4, False, True), (4, True, True),
              (8, False, False), (4, True, False)]


@pytest.fixture(scope="module", params=_BAG_CASES, ids=lambda p: f"{p[0]}bit-last{p[1]}-w{p[2]}")
def offset_bag(request):
    bits, last, weighted = request.param
    torch.manual_seed(bits + 2 * last)
    q = _quantize(Bag(mode="sum", last=last), nn.EmbeddingBag, bits)
    gen = torch.Generator().manual_seed(2)
    ids = _ids((20,), gen)
    args = (ids, _offsets(20, 5, gen, last)) + ((torch.randn(20),) if weighted else ())
    return q, dqmlir.compile(q, args, verbose=False), request.param


@pytest.mark.parametrize("n_idx,n_bags", [(1, 1), (2, 2), (7, 3), (50, 11), (300, 17), (5, 9),
                                          (0, 2), (64, 1)])
def test_offset_bags(offset_bag, n_idx, n_bags):
    q, c, (bits, last, weighted) = offset_bag
    gen = torch.Generator().manual_seed(n_idx * 31 + n_bags)
    args = (_ids((n_idx,), gen), _offsets(n_idx, n_bags, gen, last))
    if weighted:
        args += (torch.randn(n_idx, generator=gen) * 3,)
    _same(c(*args), q(*args))


def test_offset_bags_int32(offset_bag):
    q, c, (bits, last, weighted) = offset_bag
    gen = torch.Generator().manual_seed(5)
    args = (_ids((30,), gen).int(), _offsets(30, 6, gen, last).int())
    if weighted:
        args += (torch.randn(30, generator=gen),)
    _same(c(*args), q(*args))


def test_offset_bag_errors(offset_bag):
    q, c, (bits, last, weighted) = offset_bag
    w = (torch.ones(3),) if weighted else ()
    tail = [3] if last else []
    with pytest.raises(IndexError, match="index out of range in 'bag'"):
        c(torch.tensor([1, N, 2]), torch.tensor([0, 1] + tail), *w)
    with pytest.raises(IndexError, match="index out of range in 'bag'"):
        c(torch.tensor([1, 2, -3]), torch.tensor([0, 2] + tail), *w)
    for offs in ([1, 2], [0, 3, 2], [0, 4]):
        with pytest.raises(RuntimeError, match="offsets must start at 0"):
            c(torch.tensor([1, 2, 3]), torch.tensor(offs + tail), *w)


def test_per_sample_weights_shape_checked(offset_bag):
    q, c, (bits, last, weighted) = offset_bag
    if not weighted:
        pytest.skip("no per_sample_weights")
    # PyTorch reads past a shorter weights tensor; the compiled model refuses.
    with pytest.raises(ValueError):
        c(torch.tensor([1, 2, 3]), torch.tensor([0, 1] + ([3] if last else [])), torch.ones(2))


_SCRIPT = textwrap.dedent("""
    import sys, torch, dqmlir
    c = dqmlir.load(sys.argv[1])
    for ids in ([1, 2, 10**12], [-(2**62), 3, 4], [2**40]):
        try:
            c(torch.tensor(ids), torch.tensor([0, 1]))
        except IndexError as e:
            print("IndexError", e)
        else:
            print("no error")
""")


def test_offset_bag_index_error_in_child(tmp_path):
    """Far out-of-range ids: the gather clamps, the bag loop clamps; the
    child process neither crashes nor returns."""
    torch.manual_seed(0)
    q = _quantize(Bag(mode="sum"), nn.EmbeddingBag, 8)
    c = dqmlir.compile(q, (_ids((6,), torch.Generator()), torch.tensor([0, 2])), verbose=False)
    c.save(tmp_path / "m")
    r = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "m")], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("IndexError index out of range in 'bag'") == 3, r.stdout


# --- EmbeddingBag with 2-d input (fixed bags) ---------------------------------

@pytest.mark.parametrize("bits,last,weighted,mode", [
    (8, False, False, "sum"), (8, False, True, "sum"), (4, False, True, "sum"),
    (4, False, False, "max"), (8, True, False, "mean")])
def test_fixed_bags(bits, last, weighted, mode):
    torch.manual_seed(bits)
    q = _quantize(Bag(mode=mode, last=last), nn.EmbeddingBag, bits)
    gen = torch.Generator().manual_seed(4)

    def args(b, s):
        return (_ids((b, s), gen),) + ((None, torch.randn(b, s, generator=gen)) if weighted else ())
    c = dqmlir.compile(q, args(4, 6), verbose=False)
    for b, s in [(1, 1), (1, 9), (3, 1), (5, 4), (17, 13)]:
        a = args(b, s)
        _same(c(*a), q(*a))
    with pytest.raises(IndexError, match="index out of range in 'bag'"):
        c(*((torch.tensor([[1, N], [2, 0]]),) + a[1:2] + ((torch.ones(2, 2),) if weighted else ())))


def test_modes_are_summed_as_in_pytorch():
    """quantized EmbeddingBag(mode='mean'/'max') sums, in eager and here."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    ids, offs = _ids((12,), gen), torch.tensor([0, 5, 5, 9])
    for mode in ("mean", "max"):
        q = _quantize(Bag(mode=mode), nn.EmbeddingBag, 8)
        table = q.bag.weight().dequantize()
        sums = torch.stack([table[ids[s:e]].sum(0) for s, e in zip([0, 5, 5, 9], [5, 5, 9, 12])])
        assert (q(ids, offs) - sums).abs().max() < 1e-5


# --- refused variants ---------------------------------------------------------

def test_4bit_embedding_refused():
    # quantize_dynamic's 4-bit Embedding calls the 8-bit kernel on 4-bit rows.
    q = _quantize(Lookup(), nn.Embedding, 4)
    with pytest.raises((dqmlir.UnsupportedModuleError, RuntimeError)) as e:
        dqmlir.compile(q, (torch.tensor([1, 2, 3]),), verbose=False)
    if isinstance(e.value, dqmlir.UnsupportedModuleError):
        assert "'emb'" in str(e.value)


# --- a small model end to end ---------------------------------------------------

class TextClassifier(nn.Module):
    """PyTorch's text classification tutorial (EmbeddingBag + Linear) plus a
    token Embedding averaged over the sequence, then two quantized linears.
    The fp32 mean is ATen's order at these lengths (<= 16); longer ones may
    differ in the last bit (docs/semantics.md: sum/mean)."""

    def __init__(self):
        super().__init__()
        self.bag = nn.EmbeddingBag(N, 32, mode="sum")
        self.emb = nn.Embedding(N, 32)
        self.fc = nn.Linear(32, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, text, offsets, tokens):
        pooled = self.bag(text, offsets) + self.emb(tokens).mean(1)
        return self.head(torch.relu(self.fc(pooled)))


def test_text_classifier_end_to_end():
    torch.manual_seed(0)
    model = TextClassifier().eval()
    q = torch.ao.quantization.quantize_dynamic(
        model, {nn.EmbeddingBag: float_qparams_weight_only_qconfig,
                nn.Embedding: float_qparams_weight_only_qconfig,
                nn.Linear: default_dynamic_qconfig})
    gen = torch.Generator().manual_seed(0)

    def args(b, n, s):
        return (_ids((n,), gen), _offsets(n, b, gen, False), _ids((b, s), gen))
    c = dqmlir.compile(q, args(3, 20, 8), verbose=False)
    for b, n, s in [(1, 1, 1), (3, 20, 8), (7, 41, 5), (16, 200, 16)]:
        a = args(b, n, s)
        _same(c(*a), q(*a))
