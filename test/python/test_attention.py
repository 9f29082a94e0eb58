"""Attention is bit-exact to PyTorch's CPU flash attention (the kernel
F.scaled_dot_product_attention runs on f32 CPU tensors): q @ k^T, scale and
mask by fma, exp_u20 on 16 columns at a time and libm's double exp on the
rest, lane-wise row sums, (e @ v) * (1 / sum); see dq.flash_softmax. Rows
MKL computes with other kernels (dq.flash_scores_fixup / _output_fixup) are
checked at the lengths that select them."""
import pytest
import torch
import torch.nn.functional as F

from conftest import MKL_INTEL_KERNELS, tiny_bert

import dqmlir
from dqmlir.frontend import attention


def _heads(x, h):
    b, l, _ = x.shape
    return x.view(b, l, h, -1).transpose(1, 2)


class _Attention(torch.nn.Module):
    """HF's layout: [B, L, H*D] inputs split into heads; `mask` a [B, L]
    keep-mask made [B, 1, L, L] (`full`), [B, 1, 1, L], additive, or none."""

    def __init__(self, heads, mask):
        super().__init__()
        self.h, self.mask = heads, mask

    def forward(self, x, y, z, keep):
        q, k, v = _heads(x, self.h), _heads(y, self.h), _heads(z, self.h)
        m = keep[:, None, None, :].bool()
        if self.mask == "full":
            m = m.expand(-1, -1, x.shape[1], -1)
        elif self.mask == "additive":
            m = (keep[:, None, None, :].float() - 1) * 3.0 + 0.25 * x[:, None, :, :1]
        elif self.mask == "none":
            m = None
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m)


def _inputs(b, l, width, seed):
    g = torch.Generator().manual_seed(seed)
    x, y, z = (torch.randn(b, l, width, generator=g) * 2 for _ in range(3))
    keep = (torch.rand(b, l, generator=g) > 0.3).long()
    keep[:, 0] = 1
    return x, y, z, keep


@pytest.mark.parametrize("mask", ["full", "row", "additive", "none"])
@pytest.mark.parametrize("heads,width", [(12, 384), (2, 128)])
def test_sdpa_bit_exact(mask, heads, width):
    model = _Attention(heads, mask).eval()
    c = dqmlir.compile(model, _inputs(2, 20, width, 0))
    lengths = [4, 15, 16, 17, 31, 32, 47, 64, 100, 128]
    if width // heads == 32:
        # MKL's other kernels (dq.flash_*_fixup): one query in the last
        # block of 32 (64 from 192 on), and 2 or 3 tokens.
        lengths += [2, 3, 33, 65, 97, 129, 161, 257]
    for l in lengths:
        args = _inputs(2, l, width, l)
        got, want = c(*args), model(*args)
        if MKL_INTEL_KERNELS:
            assert torch.equal(got, want), (l, (got != want).sum().item())
        else:   # see conftest.MKL_INTEL_KERNELS
            # 4 eps * |scores| (about 20 here) * |v| (up to 8): 4e-5;
            # measured on an AMD EPYC: 3.4e-6 in one element of 50,000.
            torch.testing.assert_close(got, want, rtol=0, atol=4e-5)



@pytest.mark.parametrize("mask", ["full", "row", "additive", "none"])
@pytest.mark.parametrize("width", [128, 64])
def test_blocked_attention_is_the_whole_computation(mask, width, monkeypatch):
    """Attention runs per head and block of queries (an scf.forall,
    emit._blocked_attention; head dim 32: all queries in one block, with
    the MKL fixups): the same bits as the whole [B, H, L, L] computation,
    at lengths that end blocks early, exactly or late, with 1 and 2
    threads."""
    from dqmlir.frontend import emit
    model = _Attention(2, mask).eval()
    example = _inputs(2, 20, width, 0)
    blocked = [dqmlir.compile(model, example, threads=t, cache=False, verbose=False)
               for t in (1, 2)]

    def whole(q, k, kt, v, m, scale, fixups):
        return emit._attend(q, kt, v, m, scale, fixups=(k, v) if fixups else None)

    monkeypatch.setattr(emit, "_blocked_attention", whole)
    whole = dqmlir.compile(model, example, cache=False, verbose=False)
    assert "scf.forall" in blocked[0].ir("dq") and "scf.forall" not in whole.ir("dq")
    block = emit.QUERY_BLOCK
    for l in (1, 2, 3, 5, 33, block - 1, block, block + 1, 2 * block, 2 * block + 7):
        args = _inputs(2, l, width, l)
        want = whole(*args)
        for c in blocked:
            assert torch.equal(c(*args), want), l

def test_layers_with_blocked_attention_are_one_function():
    """dq-outline-layers still finds the layers equal (their size checks
    read sizes through the forall, dq-runtime-checks' DimOfForall): one
    function, called per layer, not three inlined copies."""
    m = tiny_bert(layers=3, hidden=128, heads=2, intermediate=256)
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    ids = torch.randint(0, 100, (2, 16))
    c = dqmlir.compile(q, (ids,), {"attention_mask": torch.ones_like(ids)},
                       cache=False, verbose=False)
    llvm = c.ir("llvm")
    assert "scf.forall" in c.ir("dq")
    assert llvm.count("llvm.call @dq_layer_0(") == 3, llvm.count("@dq_layer")


class _Sdpa(torch.nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("head_dim", [32, 64])
def test_sdpa_with_dynamic_batch_and_heads(head_dim):
    """q, k, v taken as they are: batch and heads both dynamic (dq-compile
    crashed in expand-strided-metadata on the [B x H] collapse of the whole
    computation; per head there is none)."""
    g = torch.Generator().manual_seed(head_dim)
    example = tuple(torch.randn(1, 2, 8, head_dim, generator=g) for _ in range(3))
    c = dqmlir.compile(_Sdpa().eval(), example, verbose=False, cache=False)
    for b, h in [(1, 2), (3, 5), (2, 1)]:
        args = tuple(torch.randn(b, h, 8, head_dim, generator=g) for _ in range(3))
        got, want = c(*args), _Sdpa()(*args)
        if MKL_INTEL_KERNELS:
            assert torch.equal(got, want), (b, h)
        else:
            torch.testing.assert_close(got, want, rtol=0, atol=4e-5)

def test_fully_masked_row_is_zero():
    # PyTorch's kernel gives 0 for a query that sees no key (MATH: NaN).
    model = _Attention(12, "full").eval()
    x, y, z, keep = _inputs(2, 20, 384, 1)
    c = dqmlir.compile(model, (x, y, z, keep))
    keep[1] = 0
    got, want = c(x, y, z, keep), model(x, y, z, keep)
    assert torch.equal(got, want) and bool((got[1] == 0).all())


@pytest.mark.parametrize("l", [4, 16, 29, 64, 128])
def test_reference_matches_pytorch(l):
    torch.manual_seed(l)
    q, k, v = (torch.randn(2, 12, l, 32) * 2 for _ in range(3))
    for m in (None, torch.rand(2, 1, 1, l) > 0.2, torch.randn(2, 1, l, l)):
        want = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        got = attention.flash_attention(q, k, v, m)
        if MKL_INTEL_KERNELS:
            assert torch.equal(got, want)
        else:   # MKL's sgemm sums small blocks in another order there
            torch.testing.assert_close(got, want, rtol=0, atol=4e-5)


def test_bert_padded_batch_bit_exact():
    m = tiny_bert(layers=2, hidden=384, heads=12, intermediate=512, vocab=30522,
                  max_positions=512)
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    ids = torch.randint(0, 30000, (2, 16))
    c = dqmlir.compile(q, (ids,), {"attention_mask": torch.ones(2, 16, dtype=torch.long)})
    for b, s in [(4, 15), (3, 40), (1, 128), (2, 33), (1, 3)]:
        ids = torch.randint(0, 30000, (b, s))
        mask = torch.ones(b, s, dtype=torch.long)
        for i in range(1, b):
            mask[i, s - 3 * i:] = 0
        with torch.no_grad():
            a, r = c(ids, attention_mask=mask), q(ids, attention_mask=mask)
        a, r = a.last_hidden_state, r.last_hidden_state
        if MKL_INTEL_KERNELS:
            assert torch.equal(a, r), (b, s)
        else:
            # An attention weight one ulp off can move the next linear's
            # per-tensor qparams (conftest.MKL_INTEL_KERNELS).
            cos = F.cosine_similarity(a.flatten(0, 1), r.flatten(0, 1), dim=-1)
            assert cos.min().item() >= 0.999, (b, s, cos.min().item())
