"""torch-mlir's decomposition table with fixes for layouts the export graph relies on."""
from __future__ import annotations

import itertools

import torch

aten = torch.ops.aten


def _sdpa_flash_cpu(query, key, value, dropout_p=0.0, is_causal=False, *, attn_mask=None,
                    scale=None):
    """cpu_flash_attention's numerics where attention.supported (see attention.py),
    else PyTorch's decomposition; the output laid out like `query`, as the op's
    meta (empty_like(query)) promises. PyTorch's lays it out for nn.MultiheadAttention
    (L, N, H, E); after HF's transpose(1, 2) that layout makes the untraced no-op
    `.contiguous()` matter and a later `view` (GPT-2's Conv1D) fails at re-trace
    (pytorch/pytorch#136543). Strides do not exist past torch-mlir: no cost."""
    from torch._decomp.decompositions import scaled_dot_product_flash_attention_for_cpu
    from torch._prims_common import compute_elementwise_output_logical_to_physical_perm
    from . import attention

    if attention.supported(query, key, value, dropout_p, is_causal, attn_mask):
        # PyTorch's kernel numerics (dq.flash_softmax), not the MATH formulation.
        # The logsumexp output is for backward, dead in inference graphs: an
        # empty tensor of its shape. (Tracing the MATH formulation only to
        # discard it cost about 0.2 s of symbolic shape arithmetic per layer.)
        out = attention.flash_attention(query, key, value, attn_mask, scale)
        lse = query.new_empty(query.shape[:-1])
    else:
        out, lse = scaled_dot_product_flash_attention_for_cpu(
            query, key, value, dropout_p, is_causal, attn_mask=attn_mask, scale=scale)
    perm, _ = compute_elementwise_output_logical_to_physical_perm(query)
    inverse = [perm.index(i) for i in range(len(perm))]
    return out.permute(perm).contiguous().permute(inverse), lse


def _cumsum(x, dim, *, dtype=None):
    """cumsum (HF mask and position-id code: GPT-2's packed-sequence check,
    RoBERTa's and OPT's position ids) as a masked sum over a [n, n] triangle:
    torch-mlir lowers aten.cumsum to tm_tensor.scan, which upstream MLIR cannot
    take. O(n^2) in the scanned dim, which is a sequence of tokens here.
    Integers sum in their type; floats in float64, as ATen's CPU kernel
    accumulates them, then rounded once: the same bits whenever the partial
    sums are exact in float64 (masks, counts), else possibly an ulp off (the
    sum's order differs)."""
    out_dtype = dtype or (torch.int64 if not x.is_floating_point() and not x.is_complex()
                          else x.dtype)
    if x.is_complex() or out_dtype.is_complex or x.dim() == 0:
        return NotImplemented
    acc = torch.float64 if out_dtype.is_floating_point else out_dtype
    xt = x.movedim(dim, -1).to(acc)
    n = xt.shape[-1]
    idx = torch.arange(n, device=x.device)
    upto = idx.unsqueeze(0) <= idx.unsqueeze(1)            # [i, j]: j <= i
    out = torch.where(upto, xt.unsqueeze(-2), 0).sum(-1, dtype=acc).to(out_dtype)
    return out.movedim(-1, dim)


def _index_tensor(x, indices):
    """x[i0, i1, ...] with two or more 1-d index tensors on the leading dims
    (CLIP's pooled output: hidden[arange(B), ids.argmax(-1)]) as an
    index_select on dim 0 and a gather per further index: torch-mlir's
    aten.index.Tensor lowering takes one index tensor, not several zipped.
    Negative indices wrap as in PyTorch; others out of range are the
    run-time checks' IndexError. Other forms keep PyTorch's decomposition."""
    if (len(indices) < 2 or any(i is None for i in indices)
            or any(i.dim() != 1 or i.dtype not in (torch.int64, torch.int32) for i in indices)):
        return NotImplemented
    indices = torch.broadcast_tensors(*indices)
    k = indices[0].shape[0]

    def wrapped(i, d):
        i = i.to(torch.int64)
        return torch.where(i < 0, i + x.shape[d], i)

    y = torch.index_select(x, 0, wrapped(indices[0], 0))   # [k, d1, d2, ...]
    for d, i in enumerate(indices[1:], start=1):
        rest = list(y.shape[2:])
        at = wrapped(i, d).reshape([k, 1] + [1] * len(rest)).expand([k, 1] + rest)
        y = torch.gather(y, 1, at).squeeze(1)               # [k, d_{d+1}, ...]
    return y


def _reciprocal(x):
    """1 / x as a division: torch-mlir lowers aten.reciprocal with an assert
    that no element is 0 ("unimplemented: tensor with zero element"), which
    also fails on NaN; PyTorch gives inf and NaN there. ATen's reciprocal is
    the IEEE division 1 / x, so the bits are the same."""
    if not x.is_floating_point():
        return NotImplemented
    return torch.ops.aten.div.Tensor(x.new_ones(()), x)


def _group_norm(x, weight, bias, n, c, hxw, group, eps):
    """native_group_norm through reshapes: PyTorch's decomposition returns its
    mean and rstd through aten.as_strided with a dynamic batch size, which
    torch-mlir refuses ("size must be a static int list"); Wav2Vec2's feature
    extractor has one. Statistics in f32 like ATen's (its RowwiseMoments
    sums in another order: last-bit differences)."""
    if not x.is_floating_point():
        return NotImplemented
    grouped = x.reshape(n, group, -1)
    mean = grouped.mean(-1, keepdim=True)
    centered = grouped - mean
    rstd = torch.rsqrt((centered * centered).mean(-1, keepdim=True) + eps)
    out = (centered * rstd).reshape(x.shape)
    affine = [1, c] + [1] * (x.dim() - 2)
    if weight is not None:
        out = out * weight.reshape(affine)
    if bias is not None:
        out = out + bias.reshape(affine)
    return out, mean.reshape(n, group), rstd.reshape(n, group)


def _convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding,
                 groups):
    """1-d and 2-d f32 convolutions (ViT's patch embedding, Whisper's and
    Wav2Vec2's front ends) as one contraction: torch-mlir makes them
    linalg.conv_*, which dq-vectorize-linalg leaves as scalar loops (a
    Wav2Vec2-base call took 14x PyTorch's time). The input's windows, one
    strided slice per kernel position concatenated along the channels
    (im2col), become the leading dims of a dqmlir::linear_f32 against the
    weight as [kernel positions x C, F]; its contraction vectorizes like a
    linear's. Sums run over (position, channel) in order, not oneDNN's:
    fp32 rounding differences, as before. Grouped ones: _grouped_convolution.
    Transposed ones keep PyTorch's decomposition."""
    from . import stubs  # noqa: F401  (defines dqmlir::linear_f32)

    spatial = x.dim() - 2
    if (transposed or spatial not in (1, 2) or x.dtype != torch.float32
            or weight.dtype != torch.float32):
        return NotImplemented
    if groups > _MAX_GROUPS:
        return NotImplemented
    if any(p != 0 for p in padding):
        pads = []
        for p in reversed(padding):
            pads += [p, p]
        x = torch.nn.functional.pad(x, pads)
    if groups != 1:
        return _grouped_convolution(x, weight, bias, stride, dilation, groups)
    kernel = weight.shape[2:]
    cols = _windows(x, kernel, stride, dilation)
    # weight [F, C, *kernel] -> [positions x C, F], positions in the same
    # order; F innermost, the contraction's vectors (rows of B).
    w = weight.permute(*range(2, 2 + spatial), 1, 0).reshape(-1, weight.shape[0])
    y = torch.ops.dqmlir.linear_f32(cols, w, bias, True)
    return y.movedim(-1, 1)


# One contraction per group: Wav2Vec2's (and HuBERT's, WavLM's) positional
# convolution has 16. Depthwise convolutions (a group per channel) would be
# hundreds of tiny contractions; they keep PyTorch's decomposition.
_MAX_GROUPS = 64


def _windows(x, kernel, stride, dilation):
    """[N, *out, positions x C] from x [N, C, *in] (padded): the input
    channels-last once, then one strided slice per kernel position,
    concatenated along the channels (im2col)."""
    spatial = x.dim() - 2
    sizes = [(x.shape[2 + d] - dilation[d] * (kernel[d] - 1) - 1) // stride[d] + 1
             for d in range(spatial)]
    # Channels last once ([N, *in, C]): each window is then rows of C
    # contiguous floats, concatenated along C into [N, *out, positions x C].
    x = x.movedim(1, -1)
    windows = []
    for at in itertools.product(*(range(k) for k in kernel)):
        window = x
        for d in range(spatial):
            window = window.narrow(1 + d, at[d] * dilation[d], stride[d] * (sizes[d] - 1) + 1)
            if stride[d] != 1:
                window = window[(slice(None),) * (1 + d) + (slice(None, None, stride[d]),)]
        windows.append(window)
    return torch.cat(windows, dim=-1) if len(windows) > 1 else windows[0]


def _grouped_convolution(x, weight, bias, stride, dilation, groups):
    """A grouped convolution (x already padded) as one contraction per group.
    The windows come from one unfold per spatial dim ([N, C, *out, *kernel],
    one strided copy in linalg), not from _windows' slice per kernel
    position: Wav2Vec2's positional convolution has 128 positions, and 128
    slices and their concatenation took three times as long to run (and
    seconds to trace). Group g contracts its channels' windows, flattened
    (channel, *kernel) as its weight rows [F/G, C/G, *kernel] are, against
    those rows transposed; the groups' outputs are concatenated along F."""
    spatial = x.dim() - 2
    kernel = weight.shape[2:]
    cols = x
    for d in range(spatial):
        span = dilation[d] * (kernel[d] - 1) + 1
        cols = cols.unfold(2 + d, span, stride[d])           # a window dim, last
        if dilation[d] != 1:
            cols = cols[..., ::dilation[d]]
    # [N, C, *out, *kernel] -> [N, *out, G, C/G x kernel]
    per_group = weight[0].numel()
    cols = cols.unflatten(1, (groups, -1))
    cols = cols.permute(0, *range(3, 3 + spatial), 1, 2, *range(3 + spatial, 3 + 2 * spatial))
    cols = cols.flatten(-1 - spatial)
    f = weight.shape[0] // groups
    outs = []
    for g in range(groups):
        w = weight[g * f:(g + 1) * f].reshape(f, per_group).t()
        b = None if bias is None else bias[g * f:(g + 1) * f]
        outs.append(torch.ops.dqmlir.linear_f32(cols[..., g, :], w, b, True))
    return torch.cat(outs, dim=-1).movedim(-1, 1)


def decomposition_table() -> dict:
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    table = get_decomposition_table()
    table[aten._scaled_dot_product_flash_attention_for_cpu.default] = _sdpa_flash_cpu
    table[aten.cumsum.default] = _cumsum
    table[aten.index.Tensor] = _index_tensor
    table[aten.convolution.default] = _convolution
    table[aten.reciprocal.default] = _reciprocal
    table[aten.native_group_norm.default] = _group_norm
    return table
