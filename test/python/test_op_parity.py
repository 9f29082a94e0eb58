"""Every aten op the frontend accepts, compiled alone, against PyTorch eager.

The ops are those of the exported graphs of the models dqmlir supports (tiny
BERT with SDPA and with eager attention, GPT-2 with use_cache=False, the MLPs
of test_models.py) and their relatives. Each group of ops is one module
returning each op's result as its own output (one op from the inputs to each
output), compiled once with every dim dynamic where the op allows, then
called at several shapes (sizes 1 and non-multiples of 16) on random data,
values spread over the whole f32 range (denormals to 1e38) and special
values (±0, ±inf, NaN, denormals, huge and tiny). The default is bit
equality (NaN equals NaN, signed zeros must match).

Ops that cannot be bit-exact, why, and the tolerance they are tested with
(measured on this machine; also in docs/semantics.md):

  op                         tolerance           why
  exp, log, sigmoid,         1-2 ulp             ATen runs MKL's VML (vsExp, vsLn,
  erf, sqrt                                      vsErf, vsSqrt: closed source,
                                                 dispatched by CPU and, for sqrt, by
                                                 size: tensors under ~1000 elements
                                                 get the exact vector sqrt); compiled
                                                 code calls glibc (erff, logf)
                                                 or SLEEF's exp, or sqrt (exact)
  gelu(approximate="tanh")   2 ulp of tanh       the tanh above, inside the formula
  pow(x, y)                  1 ulp               ATen: SLEEF powf_u10 on vectors, its
                                                 scalar tail std::pow; compiled: libm
  pow(x, 1.7)                1 ulp; tail lanes   ATen: SLEEF powf(x, 1.7f) on vectors of
                             1 + |ln x| |1.7 -   32, but std::pow(x, 1.7 as double) on
                             1.7f| 2^24 ulp      the last numel % 32 (measured: 39 ulp
                                                 there on wide values); compiled: powf
                                                 with 1.7f everywhere
  sum, mean (float)          4 n eps sum|x|      ATen's cascade sum (SumKernel.cpp:
                                                 4-way interleaved accumulators, levels
                                                 of partial sums) vs. a sequential sum
  amax, amin, max            signed zero         ATen's reduction picks -0 or +0 of
                                                 equal zeros by its order
  matmul, bmm, mm            4 k eps |a||b|      MKL's sgemm kernel and blocking differ
                                                 by shape; compiled: one fma chain
                                                 along k (bit-exact where MKL's is too,
                                                 as in attention with head dim 32/64)
  fp32 linear, Conv1D        4 k eps |x||w|      the same (MKL sgemm)
  SDPA, causal               4 eps (P (1 + S))   PyTorch's flash kernel shortens rows
                             @ |v|, P weights,   per query block; compiled: the MATH
                             S = |q||k|^T/√d     formulation (dq.flash_softmax is exact
                             (measured 1.7)      for non-causal attention only). Not ulps:
                                                 outputs near 0 after cancellation were
                                                 24000 ulp off, 1.7e-7 of the bound's scale
  SDPA, head dim 64, L % 32  2 eps (P (1 + S))   MKL's sgemm takes another kernel for
  == 1 (incl. L = 1)         @ |v| (measured     a last query block of one row; the
                             0.40)               dq.flash_*_fixup ops reproduce it at
                                                 head dim 32 only (other L bit-exact)
  to(int) of NaN, ±inf,      not compared        undefined in C++; ATen gives x86's
  out-of-range floats                            "integer indefinite", LLVM poison

Everything else here is bit-exact: elementwise arithmetic with scalars and
broadcasts, add/sub with alpha (ATen's fma(b, alpha, a): cpu_semantics.py), comparisons, where/masked_fill, relu, clamp, maximum/minimum
(NaN propagated, as ATen), pow with ATen's special exponents (2, 3, 0.5,
-0.5, -1, -2), rsqrt, reciprocal, the shape and copy ops, conversions,
embedding/index/gather, integer sums and cumsum, softmax and log_softmax
(dq.softmax), layer_norm (dq.layer_norm), exact GELU (dq.gelu), non-causal
SDPA (dq.flash_softmax), and quantized linears (dq.linear_dynamic).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import pytest
import torch
import torch.nn.functional as F
from conftest import MKL_INTEL_KERNELS, record_parity
from torch.export import Dim

import dqmlir

INF, NAN = float("inf"), float("nan")
EPS = torch.finfo(torch.float32).eps
SPECIAL = torch.tensor([0.0, -0.0, INF, -INF, NAN, 1e-45, -1e-45, 1e-40, -1e-39, 3e38, -3e38,
                        1e-30, 1.0, -1.0, 0.5, -0.5, 2.0, 10.0, -10.0, 88.7, -87.5, 1e10, -1e10,
                        3.0, 1e-7])
# Reductions: no values that overflow in one summation order and not another.
SPECIAL_SUM = SPECIAL[SPECIAL.abs() < 1e30]


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------
def floats(shape, kind: str, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = math.prod(shape)
    if kind == "randn":
        return torch.randn(shape, generator=g) * 3
    if kind == "wide":  # |x| from 1e-44 to 1e38, both signs
        mag = torch.pow(10.0, torch.rand(shape, generator=g) * 82 - 44)
        sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
        return (mag.double() * sign).float()
    if kind == "moderate":  # |x| from 1e-6 to 1e6: no overflow, no int overflow
        mag = torch.pow(10.0, torch.rand(shape, generator=g) * 12 - 6)
        return mag * torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
    values = SPECIAL if kind == "special" else SPECIAL_SUM
    return values[torch.randint(0, len(values), (n,), generator=g)].reshape(shape)


# ---------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------
def _ordered(t: torch.Tensor) -> torch.Tensor:
    """f32 bit patterns on a line where adjacent floats differ by 1."""
    i = t.contiguous().view(torch.int32).to(torch.int64)
    return torch.where(i < 0, -(i & 0x7FFFFFFF), i)


def _nonfinite_match(got, want):
    return bool(((got.isnan() == want.isnan()) & (got.isinf() == want.isinf())
                 & torch.where(got.isinf() & want.isinf(), got == want, True)).all())


def exact(got, want, inputs) -> Optional[str]:
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"{got.dtype}{list(got.shape)} != {want.dtype}{list(want.shape)}"
    if not got.is_floating_point():
        return None if torch.equal(got, want) else f"{int((got != want).sum())} differ"
    bits = torch.int32 if got.dtype == torch.float32 else torch.int64
    same = (got.view(bits) == want.view(bits)) | (got.isnan() & want.isnan())
    if bool(same.all()):
        if got.dtype == torch.float32:  # NaNs (payloads may differ) left out
            keep = ~want.isnan()
            record_parity(got[keep], want[keep])
        return None
    bad = ~same
    return (f"{int(bad.sum())} of {same.numel()} differ, e.g. got {got[bad][:3].tolist()} "
            f"want {want[bad][:3].tolist()}")


def ulp(k: int, subnormal: int = 0):
    """Finite results within k ulps (`subnormal` ulps where PyTorch's result
    is subnormal); non-finite ones equal."""
    def check(got, want, inputs):
        if exact(got, want, inputs) is None:
            return None
        if not _nonfinite_match(got, want):
            return "non-finite results differ"
        fin = got.isfinite() & want.isfinite()
        dist = (_ordered(got[fin]) - _ordered(want[fin])).abs()
        allowed = torch.where(want[fin].abs() < torch.finfo(torch.float32).tiny,
                              max(k, subnormal), k)
        over = dist > allowed
        return None if not bool(over.any()) else f"{int(dist[over].max())} ulp > {k}"
    return check


def pow_scalar_check(exponent: float, tail_slack: float = 1.0):
    """ATen's pow(x, e) for a non-special Python float e (PowKernel.cpp,
    pow_tensor_scalar_optimized_kernel): Vectorized<float>::pow with e
    rounded to f32 (SLEEF powf_u10) on 32 elements at a time, and on the
    last numel % 32 elements (contiguous input, one chunk) the scalar
    std::pow(float, double e), i.e. x ** e in f64, rounded. Compiled: powf(x,
    f32 e) everywhere (libm). So: 1 ulp on the vector lanes; on the tail
    lanes 1 ulp plus x^(e - f32(e)) - 1 in ulps, at most
    |ln x| |e - f32(e)| 2^24 (83 ulp for e = 1.7 over the f32 range)."""
    e32 = struct.unpack("f", struct.pack("f", exponent))[0]
    vector = ulp(1)

    def check(got, want, inputs):
        if exact(got, want, inputs) is None:
            return None
        x = inputs[0].reshape(-1)
        got, want = got.reshape(-1), want.reshape(-1)
        n = x.numel()
        tail = n - n % 32
        problem = vector(got[:tail], want[:tail], None) if tail else None
        if problem:
            return f"vector lanes: {problem}"
        g, w, xt = got[tail:], want[tail:], x[tail:]
        if not _nonfinite_match(g, w):
            return "tail lanes: non-finite results differ"
        fin = g.isfinite() & w.isfinite()
        dist = (_ordered(g[fin]) - _ordered(w[fin])).abs().double()
        allowed = tail_slack + xt[fin].double().abs().log().abs() * abs(exponent - e32) * 2 ** 24
        over = dist > allowed
        return None if not bool(over.any()) else (
            f"tail lanes: {int(over.sum())} beyond, worst {int(dist[over].max())} ulp")
    return check


def signed_zero(got, want, inputs):
    """Equal values; a zero's sign may differ."""
    if exact(got, want, inputs) is None:
        return None
    same = (got == want) | (got.isnan() & want.isnan())
    return None if bool(same.all()) else f"{int((~same).sum())} differ beyond the sign of 0"


def bounded(bound: Callable):
    """|got - want| <= bound(inputs) elementwise (finite results; non-finite
    ones equal)."""
    def check(got, want, inputs):
        if exact(got, want, inputs) is None:
            return None
        if not _nonfinite_match(got, want):
            return "non-finite results differ"
        fin = got.isfinite() & want.isfinite()
        err = (got.double() - want.double()).abs()
        limit = bound(*inputs).double().expand_as(err) + 1e-44
        over = fin & (err > limit)
        return None if not bool(over.any()) else (
            f"{int(over.sum())} beyond the bound, worst ratio "
            f"{float((err[fin] / limit[fin]).max()):.3g}")
    return check


def sum_bound(dims, k=4.0, mean=False, keepdim=False):
    def bound(x, *rest):
        ax = x.double().abs()
        n = math.prod(x.shape[d] for d in dims) if dims else x.numel()
        s = ax.sum(dims, keepdim=keepdim) if dims else ax.sum()
        return k * n * EPS * s / (n if mean else 1)
    return bounded(bound)


def matmul_bound(a_of, b_of, k=4.0):
    def bound(*inputs):
        a, b = a_of(*inputs).double().abs(), b_of(*inputs).double().abs()
        return k * a.shape[-1] * EPS * (a @ b)
    return bounded(bound)


# ---------------------------------------------------------------------------
# Groups: one compiled module each
# ---------------------------------------------------------------------------
@dataclass
class Op:
    name: str
    fn: Callable
    check: Callable = exact
    kinds: Optional[Sequence[str]] = None  # data kinds, default the group's


@dataclass
class Group:
    name: str
    ops: List[Op]
    example: Callable             # () -> example inputs
    make: Callable                # (shape, kind, seed) -> inputs
    shapes: Sequence
    kinds: Sequence[str] = ("randn", "wide", "special")
    dynamic: Optional[Callable] = None   # (example) -> dynamic_shapes
    params: Optional[Callable] = None    # () -> nn.Module holding parameters
    quantize: bool = False


class _Module(torch.nn.Module):
    def __init__(self, ops, params):
        super().__init__()
        self.fns = [op.fn for op in ops]
        self.p = params() if params else torch.nn.Module()

    def forward(self, *args):
        return tuple(fn(self.p, *args) for fn in self.fns)


def all_dynamic(example):
    return {"args": tuple({d: Dim.DYNAMIC for d in range(t.dim())} for t in example)}


def leading_dynamic(example):
    """Every dim but the last (a feature size that weights fix)."""
    return {"args": tuple({d: Dim.DYNAMIC for d in range(t.dim() - 1)} for t in example)}


SHAPES3 = [(1, 1, 1), (2, 3, 17), (3, 5, 16), (1, 4, 33), (2, 2, 100)]


def one(shape_kind_seed_fn):
    return shape_kind_seed_fn


def x_only(shape, kind, seed):
    return (floats(shape, kind, seed),)


def x_and_y(shape, kind, seed):
    return floats(shape, kind, seed), floats(shape, kind, seed + 1)


UNARY = Group("unary", [
    Op("relu", lambda p, x: torch.relu(x)),
    Op("neg", lambda p, x: -x),
    Op("abs", lambda p, x: x.abs()),
    Op("rsqrt", lambda p, x: torch.rsqrt(x)),
    Op("reciprocal", lambda p, x: torch.reciprocal(x)),
    Op("square", lambda p, x: torch.square(x)),
    Op("pow_2", lambda p, x: x ** 2),
    Op("pow_3", lambda p, x: torch.pow(x, 3.0)),
    Op("pow_0.5", lambda p, x: x ** 0.5, ulp(1)),
    Op("pow_-0.5", lambda p, x: x ** -0.5),
    Op("pow_-1", lambda p, x: x ** -1),
    Op("pow_-2", lambda p, x: x ** -2),
    Op("mul_scalar", lambda p, x: x * 0.125),
    Op("div_scalar", lambda p, x: x / 8.0),
    Op("div_scalar_inexact", lambda p, x: x / 3.0),
    Op("add_scalar", lambda p, x: x + 1.5),
    Op("rsub_scalar", lambda p, x: 1.0 - x),
    Op("clamp", lambda p, x: torch.clamp(x, -1.0, 2.0)),
    Op("clamp_min", lambda p, x: x.clamp(min=0.25)),
    Op("where_scalar", lambda p, x: torch.where(x > 0, x, 0.0)),
    Op("masked_fill_-inf", lambda p, x: x.masked_fill(x < -1, -INF)),
    Op("gelu", lambda p, x: F.gelu(x)),
    Op("exp", lambda p, x: torch.exp(x), ulp(1)),
    Op("log", lambda p, x: torch.log(x), ulp(1)),
    Op("tanh", lambda p, x: torch.tanh(x)),
    Op("sigmoid", lambda p, x: torch.sigmoid(x), ulp(2)),
    Op("erf", lambda p, x: torch.erf(x), ulp(2)),
    Op("sqrt", lambda p, x: torch.sqrt(x), ulp(1)),
    Op("gelu_tanh", lambda p, x: F.gelu(x, approximate="tanh"),
       bounded(lambda x: 4 * EPS * x.abs())),
    Op("pow_1.7", lambda p, x: x ** 1.7, pow_scalar_check(1.7)),
], example=lambda: (torch.randn(2, 3, 4),), make=x_only, shapes=SHAPES3, dynamic=all_dynamic)

BINARY = Group("binary", [
    Op("add", lambda p, x, y: x + y),
    Op("sub", lambda p, x, y: x - y),
    Op("mul", lambda p, x, y: x * y),
    Op("div", lambda p, x, y: x / y),
    Op("add_alpha", lambda p, x, y: torch.add(x, y, alpha=2.0)),
    Op("add_alpha_3", lambda p, x, y: torch.add(x, y, alpha=3.0)),
    Op("sub_alpha", lambda p, x, y: torch.sub(x, y, alpha=0.1)),
    Op("add_broadcast", lambda p, x, y: x + y[:, :1]),
    Op("mul_broadcast", lambda p, x, y: x * y[:1, :, :1]),
    Op("maximum", lambda p, x, y: torch.maximum(x, y)),
    Op("minimum", lambda p, x, y: torch.minimum(x, y)),
    Op("where", lambda p, x, y: torch.where(x > y, x, y)),
    Op("masked_fill", lambda p, x, y: x.masked_fill(y > 0, -3.0)),
    Op("gt", lambda p, x, y: x > y),
    Op("ge", lambda p, x, y: x >= y),
    Op("lt", lambda p, x, y: x < y),
    Op("le", lambda p, x, y: x <= y),
    Op("eq", lambda p, x, y: x == y),
    Op("ne", lambda p, x, y: x != y),
    Op("ge_scalar", lambda p, x, y: x >= 0.5),
    Op("and", lambda p, x, y: (x > 0) & (y > 0)),
    Op("or", lambda p, x, y: (x > 0) | (y > 0)),
    Op("not", lambda p, x, y: ~(x > y)),
    Op("pow", lambda p, x, y: torch.pow(x, y), ulp(1)),
], example=lambda: (torch.randn(2, 3, 4), torch.randn(2, 3, 4)), make=x_and_y, shapes=SHAPES3,
    dynamic=all_dynamic)

REDUCE = Group("reduce", [
    Op("sum_last", lambda p, x: x.sum(-1), sum_bound([-1])),
    Op("sum_mid", lambda p, x: x.sum(1, keepdim=True), sum_bound([1], keepdim=True)),
    Op("sum_all", lambda p, x: x.sum(), sum_bound([])),
    Op("mean_last", lambda p, x: x.mean(-1), sum_bound([-1], mean=True)),
    Op("mean_mid", lambda p, x: x.mean(1), sum_bound([1], mean=True)),
    Op("amax_last", lambda p, x: x.amax(-1), signed_zero),
    Op("amax_first", lambda p, x: x.amax(0), signed_zero),
    Op("amin_last", lambda p, x: x.amin(-1), signed_zero),
    Op("max_values", lambda p, x: x.max(-1).values, signed_zero),
    Op("sum_int", lambda p, x: (x > 0).long().sum(-1)),
    Op("argmax", lambda p, x: x.argmax(-1), kinds=("randn", "moderate")),
    Op("var_last", lambda p, x: x.var(-1)),
    Op("std_mid", lambda p, x: x.std(1, correction=0, keepdim=True)),
    Op("var_mean_all", lambda p, x: torch.stack(torch.var_mean(x))),
], example=lambda: (torch.randn(2, 3, 4),), make=x_only,
    shapes=SHAPES3 + [(2, 3, 1000)], kinds=("randn", "moderate", "special_sum"),
    dynamic=all_dynamic)


def _heads(x):
    return x.view(x.shape[0], x.shape[1], 4, 6).transpose(1, 2)


SHAPE = Group("shape", [
    Op("cat_last", lambda p, x, y: torch.cat([x, y], -1)),
    Op("cat_first", lambda p, x, y: torch.cat([x, y], 0)),
    Op("stack", lambda p, x, y: torch.stack([x, y], 1)),
    Op("slice", lambda p, x, y: x[:, 1:]),
    Op("slice_step", lambda p, x, y: x[:, :, ::2]),
    Op("narrow", lambda p, x, y: x[..., 3:10]),
    Op("select", lambda p, x, y: x[:, 0]),
    Op("select_last", lambda p, x, y: x[:, -1]),
    Op("split", lambda p, x, y: x.split(8, -1)[1]),
    Op("permute", lambda p, x, y: x.permute(2, 0, 1).contiguous()),
    Op("transpose", lambda p, x, y: x.transpose(0, 1).contiguous()),
    Op("view_heads", lambda p, x, y: _heads(x).contiguous()),
    Op("merge_heads", lambda p, x, y: _heads(x).transpose(1, 2).reshape(x.shape)),
    Op("unsqueeze", lambda p, x, y: x.unsqueeze(1) + 0.0),
    Op("expand", lambda p, x, y: x[:, :1].expand(-1, 3, -1).contiguous()),
    Op("clone", lambda p, x, y: x.clone()),
    Op("flip", lambda p, x, y: x.flip(-1)),
    Op("squeeze", lambda p, x, y: x[:, :, :1].squeeze(-1)),
], example=lambda: (torch.randn(2, 3, 24), torch.randn(2, 3, 24)), make=x_and_y,
    shapes=[(1, 1, 24), (2, 3, 24), (3, 17, 24)], dynamic=leading_dynamic)

CONVERT = Group("convert", [
    Op("to_int64", lambda p, x: x.to(torch.int64)),
    Op("to_int32", lambda p, x: x.int()),
    Op("to_float64", lambda p, x: x.double()),
    Op("int_to_float", lambda p, x: (x * 1000).long().float()),
    Op("bool_to_float", lambda p, x: (x > 0).float()),
    Op("bool_to_long", lambda p, x: (x > 0).long()),
    Op("zeros_like", lambda p, x: torch.zeros_like(x)),
    Op("ones_like", lambda p, x: torch.ones_like(x)),
    Op("full_like", lambda p, x: torch.full_like(x, 2.5)),
    Op("arange", lambda p, x: torch.arange(x.shape[-1]) * x),
    Op("arange_float", lambda p, x: torch.arange(x.shape[-1], dtype=torch.float32) + x),
], example=lambda: (torch.randn(2, 3, 4),), make=x_only, shapes=SHAPES3,
    kinds=("randn", "moderate"), dynamic=all_dynamic)


def _ids_inputs(shape, kind, seed):
    b, s = shape
    g = torch.Generator().manual_seed(seed)
    return floats((b, s, 24), kind, seed), torch.randint(0, s, (b, s), generator=g)


class _IndexParams(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(50, 24)


INDEX = Group("index", [
    Op("embedding", lambda p, x, i: p.emb(i)),
    Op("embedding_f", lambda p, x, i: F.embedding(i, x[0])),
    Op("gather", lambda p, x, i: x.gather(1, i[..., None].expand(-1, -1, 24))),
    Op("index", lambda p, x, i: x[:, i[0]]),
    Op("index_select", lambda p, x, i: x.index_select(1, i[0])),
    Op("masked_fill_ids", lambda p, x, i: x.masked_fill((i == 0)[..., None], 0.0)),
    Op("cumsum_int", lambda p, x, i: i.cumsum(-1)),
    Op("ne_scalar", lambda p, x, i: i.ne(1).long()),
    Op("position_ids", lambda p, x, i: (torch.cumsum((i != 0).int(), 1) * (i != 0).int()).long()),
], example=lambda: (torch.randn(2, 3, 24), torch.randint(0, 3, (2, 3))), make=_ids_inputs,
    shapes=[(1, 1), (2, 5), (3, 17), (2, 40)], params=_IndexParams,
    # x: [batch, seq, 24] (24 fixed by the embedding), ids: [batch, seq].
    dynamic=lambda ex: {"args": ({0: Dim.DYNAMIC, 1: Dim.DYNAMIC}, {0: Dim.DYNAMIC, 1: Dim.DYNAMIC})})


def _mm_inputs(shape, kind, seed):
    b, m, k, n = shape
    return (floats((b, m, k), kind, seed), floats((b, k, n), kind, seed + 1),
            floats((b, 4, m, k), kind, seed + 2), floats((b, 4, n, k), kind, seed + 3))


MATMUL = Group("matmul", [
    Op("bmm", lambda p, a, b, q, k: torch.bmm(a, b), matmul_bound(lambda a, b, q, k: a,
                                                                   lambda a, b, q, k: b)),
    Op("matmul_qk", lambda p, a, b, q, k: q @ k.transpose(-1, -2),
       matmul_bound(lambda a, b, q, k: q, lambda a, b, q, k: k.transpose(-1, -2))),
    # [4, m, k] @ [k, n]: matmul folds the leading dims into one ([4 m, k]);
    # with a dynamic batch as well that view merges two dynamic dims, which
    # dqmlir refuses (test_matmul_merging_dynamic_dims_refused).
    Op("matmul_3d_2d", lambda p, a, b, q, k: q[0] @ b[0],
       matmul_bound(lambda a, b, q, k: q[0], lambda a, b, q, k: b[0])),
], example=lambda: _mm_inputs((2, 3, 32, 5), "randn", 0), make=_mm_inputs,
    shapes=[(1, 1, 32, 1), (2, 7, 32, 7), (2, 33, 32, 33), (1, 128, 32, 128), (1, 5, 64, 16),
            (2, 20, 64, 20)],
    kinds=("randn", "moderate"),
    # Every dim dynamic but the 4 heads of q and k (q @ k^T folds batch and
    # heads into one dim: both dynamic would be refused).
    dynamic=lambda ex: {"args": ({0: Dim.DYNAMIC, 1: Dim.DYNAMIC, 2: Dim.DYNAMIC},
                                 {0: Dim.DYNAMIC, 1: Dim.DYNAMIC, 2: Dim.DYNAMIC},
                                 {0: Dim.DYNAMIC, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC},
                                 {0: Dim.DYNAMIC, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC})})


class _LinearParams(torch.nn.Module):
    def __init__(self):
        super().__init__()
        from transformers.pytorch_utils import Conv1D
        torch.manual_seed(0)
        self.fp32 = torch.nn.Linear(48, 40)
        self.conv1d = Conv1D(40, 48)
        self.q = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(torch.nn.Linear(48, 40)), {torch.nn.Linear}, dtype=torch.qint8)[0]
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        self.qc = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(torch.nn.Linear(48, 37)), {torch.nn.Linear: qconfig},
            dtype=torch.qint8)[0]


def _linear_bound(w_of):
    def bound(x):
        return 4 * 48 * EPS * (x.double().abs() @ w_of().double().abs())
    return bound


_LP: Dict[str, torch.nn.Module] = {}


def _lp():
    if "p" not in _LP:
        _LP["p"] = _LinearParams()
    return _LP["p"]


LINEAR = Group("linear", [
    Op("linear_fp32", lambda p, x: p.fp32(x),
       bounded(_linear_bound(lambda: _lp().fp32.weight.t()))),
    Op("conv1d", lambda p, x: p.conv1d(x), bounded(_linear_bound(lambda: _lp().conv1d.weight))),
    Op("linear_int8", lambda p, x: p.q(x)),
    Op("linear_int8_per_channel", lambda p, x: p.qc(x)),
], example=lambda: (torch.randn(2, 3, 48),), make=x_only,
    shapes=[(1, 1, 48), (2, 7, 48), (3, 33, 48), (1, 128, 48)], kinds=("randn", "moderate"),
    params=_lp, dynamic=leading_dynamic)


class _NormParams(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.ln = torch.nn.LayerNorm(48, eps=1e-12)
        with torch.no_grad():
            self.ln.weight.normal_()
            self.ln.bias.normal_()


NORM = Group("norm", [
    Op("layer_norm", lambda p, x: p.ln(x)),
    Op("softmax", lambda p, x: torch.softmax(x, -1)),
    Op("softmax_dim1", lambda p, x: torch.softmax(x, 1)),
    Op("log_softmax", lambda p, x: torch.log_softmax(x, -1)),
    Op("log_softmax_dim0", lambda p, x: torch.log_softmax(x, 0)),
], example=lambda: (torch.randn(2, 3, 48),), make=x_only,
    shapes=[(1, 1, 48), (2, 3, 48), (3, 17, 48), (2, 40, 48)], params=_NormParams,
    dynamic=leading_dynamic)


def attention_bound(k: float, causal=False, masked=False):
    """|got - want| <= k eps ((P * (1 + S)) @ |v|): P the attention weights,
    S = |q| @ |k|^T / sqrt(d) (f64). A score rounded with relative error
    k eps changes its weight by k eps S relative (exp), a weight or a
    product rounded changes it by k eps. `masked`: keys where m is False
    have weight 0 (the float mask's -1e4 too: exp underflows)."""
    def bound(q, kk, v, m):
        scale = 1 / math.sqrt(q.shape[-1])
        scores = (q.double() @ kk.double().transpose(-1, -2)) * scale
        size = scale * (q.double().abs() @ kk.double().abs().transpose(-1, -2))
        if causal:
            n = scores.shape[-1]
            scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), -INF)
        if masked:
            scores = scores.masked_fill(~m[:, None, None, :], -INF)
        weights = torch.softmax(scores, -1)
        return k * EPS * ((weights * (1 + size)) @ v.double().abs())
    return bounded(bound)


def _sdpa_check(masked: bool):
    """Bit equality where MKL runs its Intel kernels (conftest.MKL_INTEL_KERNELS),
    attention_bound(4) elsewhere."""
    return exact if MKL_INTEL_KERNELS else attention_bound(4.0, masked=masked)


def _attn_inputs(shape, kind, seed):
    b, h, l, d = shape
    g = torch.Generator().manual_seed(seed)
    keep = torch.rand(b, l, generator=g) > 0.3
    keep[:, 0] = True
    return (floats((b, h, l, d), kind, seed), floats((b, h, l, d), kind, seed + 1),
            floats((b, h, l, d), kind, seed + 2), keep)


ATTENTION = Group("attention", [
    Op("sdpa", lambda p, q, k, v, m: F.scaled_dot_product_attention(q, k, v),
       _sdpa_check(False)),
    Op("sdpa_bool_mask", lambda p, q, k, v, m: F.scaled_dot_product_attention(
        q, k, v, attn_mask=m[:, None, None, :]), _sdpa_check(True)),
    Op("sdpa_float_mask", lambda p, q, k, v, m: F.scaled_dot_product_attention(
        q, k, v, attn_mask=(m[:, None, None, :].float() - 1) * 1e4), _sdpa_check(True)),
    Op("sdpa_causal", lambda p, q, k, v, m: F.scaled_dot_product_attention(q, k, v, is_causal=True),
       attention_bound(4.0, causal=True)),
], example=lambda: _attn_inputs((2, 2, 5, 32), "randn", 0), make=_attn_inputs,
    shapes=[(1, 2, 1, 32), (2, 2, 7, 32), (1, 2, 33, 32), (2, 2, 100, 32), (3, 2, 17, 32)],
    kinds=("randn",),
    # Batch and length dynamic. Heads and head dim are static, as models fix
    # them: the attention folds batch and heads into one dim (both dynamic is
    # refused), and the scale 1/sqrt(d) is a constant of dq.flash_softmax.
    dynamic=lambda ex: {"args": tuple({0: Dim.DYNAMIC, 2: Dim.DYNAMIC} for _ in range(3))
                        + ({0: Dim.DYNAMIC, 1: Dim.DYNAMIC},)})

def _exact_but_single_query_block(k: float, masked: bool):
    """Bit equality, but attention_bound(k) where the last query block of
    cpu_flash_attention has one row (L % 32 == 1): MKL's sgemm takes another
    kernel there, which dq.flash_*_fixup reproduce at head dim 32 only."""
    loose = attention_bound(k, masked=masked)

    def check(got, want, inputs):
        return (loose if inputs[0].shape[2] % 32 == 1 else exact)(got, want, inputs)
    return check


# Head dim 64 (GPT-2's, BERT-base's): the non-causal ops bit-exact but where
# L % 32 == 1 (_exact_but_single_query_block: measured k 0.40, tested with 2).
ATTENTION64 = Group("attention64", [
    Op(op.name, op.fn, op.check if op.check is not exact else _exact_but_single_query_block(
        2.0, "mask" in op.name))
    for op in ATTENTION.ops],
                    example=lambda: _attn_inputs((2, 3, 5, 64), "randn", 0), make=_attn_inputs,
                    shapes=[(1, 3, 1, 64), (2, 3, 7, 64), (1, 3, 17, 64), (2, 3, 33, 64)],
                    kinds=("randn",), dynamic=ATTENTION.dynamic)

GROUPS = [UNARY, BINARY, REDUCE, SHAPE, CONVERT, INDEX, MATMUL, LINEAR, NORM, ATTENTION,
          ATTENTION64]
_COMPILED: Dict[str, object] = {}


def compiled(group: Group):
    if group.name not in _COMPILED:
        module = _Module(group.ops, group.params).eval()
        example = group.example()
        dyn = group.dynamic(example) if group.dynamic else None
        try:
            _COMPILED[group.name] = (module, dqmlir.compile(module, example, dynamic=dyn))
        except Exception as e:  # reported by every op of the group
            _COMPILED[group.name] = e
    result = _COMPILED[group.name]
    if isinstance(result, Exception):
        raise result
    return result


CASES = [(g, i) for g in GROUPS for i in range(len(g.ops))]


@pytest.mark.parametrize("group,index", CASES,
                         ids=[f"{g.name}-{g.ops[i].name}" for g, i in CASES])
def test_op(group, index):
    op = group.ops[index]
    module, c = compiled(group)
    failures = []
    for s, shape in enumerate(group.shapes):
        for kind in op.kinds or group.kinds:
            inputs = group.make(shape, kind, 1000 * s + len(kind))
            with torch.no_grad():
                want = op.fn(module.p, *inputs)
            got = c(*inputs)[index]
            problem = op.check(got, want, inputs)
            if problem:
                failures.append(f"{shape} {kind}: {problem}")
    assert not failures, f"{op.name}:\n  " + "\n  ".join(failures[:6])


def test_matmul_merging_dynamic_dims():
    """[b, m, k] @ [k, n] with b and m dynamic is a view [b, m, k] -> [b m, k]
    that torch-mlir lowers wrongly. Read by the mm alone, the view is undone
    (merged_rows.py: an fp32 linear over b and m); read by an op that mixes
    the merged rows, it is refused with a clear error (and compiles with
    one of the two dims static, as matmul_3d_2d)."""
    class MatMul3d2d(torch.nn.Module):
        def forward(self, a, w):
            return a @ w

    class MatMulAndSum(torch.nn.Module):
        def forward(self, a, w):
            flat = a.reshape(-1, a.shape[-1])
            return flat @ w, flat.sum(0)

    example = (torch.randn(2, 3, 32), torch.randn(32, 5))
    dynamic = {"a": {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}, "w": None}
    compiled = dqmlir.compile(MatMul3d2d().eval(), example, cache=False, dynamic=dynamic)
    for b, m in [(1, 1), (3, 7), (5, 40)]:
        a, w = torch.randn(b, m, 32), torch.randn(32, 5)
        torch.testing.assert_close(compiled(a, w), a @ w, rtol=1e-5, atol=1e-5)
    with pytest.raises(dqmlir.UnsupportedModuleError, match="merges the dynamic dims"):
        dqmlir.compile(MatMulAndSum().eval(), example, cache=False, dynamic=dynamic)
