"""Scaled dot product attention as PyTorch's CPU flash attention rounds it.

`F.scaled_dot_product_attention` on f32 CPU tensors runs ATen's
cpu_flash_attention, not the textbook (MATH) formulation that
torch._decomp's decomposition spells out: the scale is applied to q @ k^T
(not sqrt(scale) to q and k), the mask is added by a fused multiply-add, the
exponentials are Vectorized<float>::exp_u20 on 16 columns at a time and libm's
double exp on the N % 16 last ones, the row sum is taken lane by lane, and
the output is (e @ v) * (1 / sum). Per-tensor dynamic quantization amplifies
any last-ulp difference (the next linear's zero point follows the minimum),
so the decomposition keeps q @ k^T and e @ v as matmuls (whose linalg
lowering is the fma chain MKL's sgemm computes) and hands the part in
between to the custom op ``dqmlir::flash_softmax``, which `to_dq` makes
`dq.flash_softmax` (see LowerFlashSoftmax.cpp for the operation order).

Through export the whole computation is one op, ``dqmlir::flash_attention``
(emit.flash_attention writes the same ops in MLIR): traced op by op, its
products and reshapes cost about 0.2 s of symbolic shape arithmetic per
layer. Attention whose batch and head dims are not provably equal
(broadcast) keeps the traced ops.

Where MKL's sgemm switches kernels inside the flash kernel (a last block of
one query, L % 32 == 1; 2 or 3 tokens), ``dqmlir::flash_scores_fixup`` and
``dqmlir::flash_output_fixup`` recompute those rows in MKL's order (head dim
32 only). Exact for one kv block, i.e. up to 512 keys; not for causal attention
(whose kernel shortens rows per block of queries), which keeps the MATH
decomposition.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch

from . import registry

OP_NAME = "dqmlir::flash_softmax"
LANES = 16          # MKL's blocks (the fixups)
# Vectorized<float> of the ATen build this CPU runs: its softmax steps.
ATEN_LANES = 16 if torch.backends.cpu.get_cpu_capability() == "AVX512" else 8


def _fma(a, b, c):
    """f32 fma through f64 (the product is exact; the sum is rounded twice,
    which differs from one rounding only in very rare ties)."""
    return (a.double() * b.double() + c.double()).float()


def _f32(bits: int) -> torch.Tensor:
    bits = bits - (1 << 32) if bits >= 1 << 31 else bits
    return torch.tensor([bits], dtype=torch.int32).view(torch.float32)[0]


def exp_u20(x: torch.Tensor) -> torch.Tensor:
    """Vectorized<float>::exp_u20 (AVX-512) of an f32 tensor."""
    ln_min, ln_max = _f32(0xc2aeac50), _f32(0x42b17218)
    less = x < ln_min
    src = torch.where(x < ln_max, x, ln_max)
    src = torch.where(src > ln_min, src, ln_min)
    fx = torch.floor(_fma(src, _f32(0x3fb8aa3b), torch.tensor(0.5)))
    r = _fma(-fx, _f32(0x3f317218), src)
    p = _fma(r, _f32(0x3c07cfce), _f32(0x3d2b9d0d))
    for c in (0x3e2aad40, 0x3efffee3, 0x3f7ffffb, 0x3f800000):
        p = _fma(r, p, _f32(c))
    n = (fx - 1).to(torch.int32)
    pow2 = ((n + 127) << 23).view(torch.float32)
    pow2 = torch.where(less, torch.zeros_like(pow2), pow2)
    y = p * pow2
    return y + y


def flash_softmax_reference(scores: torch.Tensor, mask: torch.Tensor,
                            scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """What dq.flash_softmax computes: (e, 1 / sum) per row of `scores`."""
    s32 = torch.tensor(scale, dtype=torch.float32)
    if mask.dim() == 0:
        t = scores * s32
    else:
        t = _fma(scores, s32, mask.expand_as(scores))
    mx = t.amax(-1, keepdim=True)
    dead = mx == float("-inf")
    x = t - mx
    n = t.shape[-1]
    nv = n - n % ATEN_LANES
    e = torch.empty_like(t)
    e[..., :nv] = exp_u20(x[..., :nv])
    e[..., nv:] = x[..., nv:].double().exp().float()
    e = torch.where(dead, torch.zeros_like(e), e)
    lanes = torch.zeros(t.shape[:-1] + (ATEN_LANES,), dtype=torch.float32)
    for c in range(0, nv, ATEN_LANES):
        lanes = lanes + e[..., c:c + ATEN_LANES]
    lanes = _butterfly(lanes)
    total = lanes[..., :1]
    for j in range(nv, n):
        total = total + e[..., j:j + 1]
    total = torch.where(total == 0, torch.ones_like(total), total)
    return e, 1 / total


def _butterfly(v):
    """vec_reduce_all's sums: lanes l and l ^ s for s = lanes/2, ..., 1."""
    idx = torch.arange(v.shape[-1])
    s = v.shape[-1] // 2
    while s:
        v = v + v[..., idx ^ s]
        s //= 2
    return v


def _halving(v):
    return _butterfly(v)[..., 0]


def _q_split(length: int) -> int:
    return 32 if length < 192 else 64 if length < 768 else 256


def _single_query_block(length: int) -> bool:
    return length > 1 and length % _q_split(length) == 1


def scores_fixup_reference(scores, query, key):
    """What dq.flash_scores_fixup computes (MKL's gemv and small-matrix
    kernels where cpu_flash_attention's sgemm takes them; head dim 32)."""
    scores = scores.clone()
    if query.shape[-1] != 32:
        return scores
    length, keys = query.shape[-2], key.shape[-2]
    if _single_query_block(length):
        q = query[..., -1:, :].expand(key.shape)
        init = torch.zeros_like(q[..., :LANES])
        init[..., 0] = q[..., 0] * key[..., 0]
        t = _halving(_fma(q[..., 1:17], key[..., 1:17], init))
        init = torch.zeros_like(init)
        init[..., 0] = t
        pad = torch.zeros_like(q[..., :1])
        hi_q, hi_k = torch.cat([q[..., 17:], pad], -1), torch.cat([key[..., 17:], pad], -1)
        scores[..., -1, :] = _halving(_fma(hi_q, hi_k, init))
        if keys % 8 == 1:  # MKL's remainder column
            rest = _halving(_fma(hi_q[..., -1, :], hi_k[..., -1, :],
                                 q[..., -1, 1:17] * key[..., -1, 1:17]))
            scores[..., -1, -1] = q[..., -1, 0] * key[..., -1, 0] + rest
    if length == keys and length in (2, 3):
        q, k = query[..., :, None, :], key[..., None, :, :]
        lo = q[..., :16] * k[..., :16]
        fused = _fma(q[..., 16:], k[..., 16:], lo)
        apart = lo + q[..., 16:] * k[..., 16:]
        odd = (torch.arange(length) % 2 == 1)[:, None, None]
        scores = _halving(torch.where(odd, fused, apart))
    return scores


def output_fixup_reference(out, e, value):
    """What dq.flash_output_fixup computes (MKL's gemv order for the row of a
    single-query last block; head dim 32)."""
    length, keys = e.shape[-2], e.shape[-1]
    out = out.clone()
    if out.shape[-1] != 32 or not _single_query_block(length) or keys < 8:
        return out
    p = e[..., -1, :]
    x = lambda j: (p[..., j:j + 1], value[..., j, :])
    pair = lambda i, j: _fma(*x(i), x(j)[0] * x(j)[1])
    quad = lambda o: pair(o, o + 2) + pair(o + 1, o + 3)
    acc = quad(0) + quad(4)
    blocks = keys // 8
    for b in range(1, blocks):
        o = 8 * b
        acc = _fma(*x(o + 6), acc)
        acc = _fma(*x(o + 4), acc)
        acc = acc + pair(o + 5, o + 7)
        acc = acc + quad(o)
    for j in range(8 * blocks, keys):
        acc = _fma(*x(j), acc)
    out[..., -1, :] = acc
    return out


@torch.library.custom_op("dqmlir::flash_scores_fixup", mutates_args=())
def flash_scores_fixup(scores: torch.Tensor, query: torch.Tensor,
                       key: torch.Tensor) -> torch.Tensor:
    """q @ k^T rows that MKL computes with other kernels (dq.flash_scores_fixup)."""
    return scores_fixup_reference(scores, query, key)


@flash_scores_fixup.register_fake
def _(scores, query, key):
    return torch.empty_like(scores)


@torch.library.custom_op("dqmlir::flash_output_fixup", mutates_args=())
def flash_output_fixup(out: torch.Tensor, e: torch.Tensor,
                       value: torch.Tensor) -> torch.Tensor:
    """e @ v rows that MKL computes with gemv (dq.flash_output_fixup)."""
    return output_fixup_reference(out, e, value)


@flash_output_fixup.register_fake
def _(out, e, value):
    return torch.empty_like(out)


@torch.library.custom_op(OP_NAME, mutates_args=())
def flash_softmax(scores: torch.Tensor, mask: torch.Tensor,
                  scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """exp(scores * scale + mask - rowmax) and 1 / rowsum, rounded as PyTorch's
    CPU flash attention rounds them (mask rank 0: none)."""
    return flash_softmax_reference(scores, mask, scale)


@flash_softmax.register_fake
def _(scores, mask, scale):
    return torch.empty_like(scores), scores.new_empty(scores.shape[:-1] + (1,))


def supported(query, key, value, dropout_p, is_causal, attn_mask) -> bool:
    return (query.dtype == key.dtype == value.dtype == torch.float32
            and query.dim() == 4 and key.dim() == 4 and value.dim() == 4
            and dropout_p == 0.0 and not is_causal
            and query.shape[1] == key.shape[1]  # no GQA
            and (attn_mask is None or attn_mask.dim() <= 4))


def _batched_matmul(a, b):
    """a [B, H, M, K] @ b [B, H, K, N] as one bmm over B x H, the batched
    contraction torch.matmul's decomposition also ends in: that decomposition
    broadcasts and reshapes through symbolic sizes, 0.1 s of export time per
    product with dynamic shapes. Batch dims not provably equal (broadcast)
    keep torch.matmul."""
    from torch.fx.experimental.symbolic_shapes import statically_known_true
    if not all(statically_known_true(x == y) for x, y in zip(a.shape[:2], b.shape[:2])):
        return torch.matmul(a, b)
    return torch.bmm(a.flatten(0, 1), b.flatten(0, 1)).unflatten(0, a.shape[:2])


@torch.library.custom_op("dqmlir::flash_attention", mutates_args=())
def flash_attention_op(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                       mask: torch.Tensor, scale: float) -> torch.Tensor:
    """The whole of flash_attention's arithmetic as one op through export
    (emit.flash_attention spells it out in MLIR): traced op by op, its
    products, reshapes and fixups cost about 0.2 s of export's symbolic
    shape arithmetic per layer. `mask` as dqmlir::flash_softmax takes it."""
    return _flash_math(query, key, value, mask, scale)


@flash_attention_op.register_fake
def _(query, key, value, mask, scale):
    return query.new_empty((*query.shape[:-1], value.shape[-1]))


def _flash_math(query, key, value, mask, scale) -> torch.Tensor:
    scores = _batched_matmul(query, key.transpose(-2, -1))
    scores = torch.ops.dqmlir.flash_scores_fixup(scores, query, key)
    e, inv = torch.ops.dqmlir.flash_softmax(scores, mask, float(scale))
    out = torch.ops.dqmlir.flash_output_fixup(_batched_matmul(e, value), e, value)
    return out * inv


def flash_attention(query, key, value, attn_mask=None, scale=None) -> torch.Tensor:
    """[B, H, L, D] output of SDPA as cpu_flash_attention computes it."""
    from torch.fx.experimental.symbolic_shapes import statically_known_true
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    if attn_mask is None:
        mask = query.new_zeros(())
    else:
        mask = attn_mask
        if mask.dtype == torch.bool:
            # convert_boolean_attn_mask_cpu: 0 where kept, -inf elsewhere.
            mask = torch.zeros(mask.shape, dtype=torch.float32).masked_fill(
                mask.logical_not(), float("-inf"))
        else:
            mask = mask.to(torch.float32)
        while mask.dim() < 4:
            mask = mask.unsqueeze(0)
        if isinstance(mask.shape[-1], int) and mask.shape[-1] == 1:
            mask = mask.expand(*mask.shape[:-1], key.shape[-2])
    if all(statically_known_true(a == b) and statically_known_true(b == c)
           for a, b, c in zip(query.shape[:2], key.shape[:2], value.shape[:2])):
        return torch.ops.dqmlir.flash_attention(query, key, value, mask, float(scale))
    return _flash_math(query, key, value, mask, scale)


@registry.register("flash_attention", attrs=("scale",))
def _emit_attention(ctx, operands, attrs, result_types):
    from . import emit
    return emit.flash_attention(*operands, attrs["scale"])


@registry.register("flash_softmax", attrs=("scale",))
def _emit_softmax(ctx, operands, attrs, result_types):
    from . import emit
    return emit.flash_softmax(operands[0], operands[1], attrs["scale"], result_types)


@registry.register("flash_scores_fixup")
def _emit_scores_fixup(ctx, operands, attrs, result_types):
    from . import emit
    return emit.flash_fixup("flash_scores_fixup", *operands)


@registry.register("flash_output_fixup")
def _emit_output_fixup(ctx, operands, attrs, result_types):
    from . import emit
    return emit.flash_fixup("flash_output_fixup", *operands)
