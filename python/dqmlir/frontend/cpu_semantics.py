"""Elementwise ops whose torch-mlir lowering gives other results than ATen's
CPU kernels on special values, rewritten (during export's decompositions)
into ops that torch-mlir lowers exactly.

  relu(x)          ATen: max_ps(0, x), so relu(-0) = -0 and relu(NaN) = NaN;
                   torch-mlir gives +0 for -0.
  clamp(x, lo, hi) ATen: min_ps(hi, max_ps(lo, x)): NaN stays NaN; torch-mlir
  clamp_min/_max   gives the bound.
  maximum(a, b),   ATen propagates NaN from either side; torch-mlir's
  minimum(a, b)    lowering returns the other operand.
  pow(x, e)        ATen special-cases e = 0.5 (sqrt), -0.5 (rsqrt), -1 (1/x)
                   and -2 (1/(x*x)), 2 and 3 (products); torch-mlir calls
                   powf (pow(-0, 0.5) = +0 where sqrt gives -0, 1 ulp apart
                   elsewhere).
  reciprocal(x)    torch-mlir asserts x != 0 (a run-time error for 0 or NaN);
                   ATen divides: 1 / x.
  add(a, b, alpha) ATen: fma(b, alpha, a), one rounding (Vectorized fmadd;
  sub(a, b, alpha) the scalar tail is contracted alike; sub is add with
                   -alpha); torch-mlir multiplies, rounds, then adds: 1 ulp
                   off, and inf where b * alpha overflows but the sum does
                   not. Computed in f64 (b * alpha is exact there) with the
                   f64 rounding error kept (TwoSum) to undo the rare double
                   rounding on a tie between two floats. alpha = 1 is a plain
                   add.
  var, std,        ATen (WelfordOps, in f64) divides the sum of squares by
  var_mean,        max(N - correction, 0): NaN for N = 0 or 1 with the
  std_mean         default correction, inf for m2 > 0 over N <= correction;
                   torch-mlir divides by N - correction (-0 for an empty
                   dim) and asserts correction <= N + 1 at run time. Kept
                   torch-mlir's two passes in f64 (what matched ATen so far),
                   with ATen's divisor, and std's sqrt in f64 as ATen takes it.
  linalg_vector_   ATen's norm of a reduction over one element is |x|;
  norm             torch-mlir's squares it first (inf for |x| > 1.8e19, so
                   F.normalize of a 1e30 gave -0 for PyTorch's -1). Where
                   the reduced dims may hold one element, that case is
                   selected at run time.

Integer and other non-float inputs keep the given decompositions.
"""
from __future__ import annotations

import struct
import threading
from typing import Dict

import torch

aten = torch.ops.aten


def _float(*xs) -> bool:
    return all(isinstance(x, torch.Tensor) and x.dtype == torch.float32 for x in xs)


def _relu(x):
    if not _float(x):
        return NotImplemented
    return torch.where(x < 0, 0.0, x)


def _clamp(x, lo=None, hi=None):
    if not _float(x) or not all(isinstance(b, (int, float, type(None))) for b in (lo, hi)):
        return NotImplemented
    if lo is not None:
        x = torch.where(x < lo, float(lo), x)     # max_ps(lo, x)
    if hi is not None:
        x = torch.where(x > hi, float(hi), x)     # min_ps(hi, x)
    return x


def _clamp_min(x, lo):
    return _clamp(x, lo, None)


def _clamp_max(x, hi):
    return _clamp(x, None, hi)


def _extremum(greater: bool):
    def decomp(a, b):
        if not _float(a, b):
            return NotImplemented
        pick = torch.where(a > b if greater else a < b, a, b)
        # a + b is NaN where either is.
        return torch.where(a.isnan() | b.isnan(), a + b, pick)
    return decomp


def _reciprocal(x):
    if not _float(x):
        return NotImplemented
    return torch.div(torch.ones((), dtype=x.dtype), x)


def _pow_scalar(fallback):
    def decomp(x, exponent):
        if not _float(x) or not isinstance(exponent, (int, float)):
            return fallback(x, exponent) if fallback else NotImplemented
        e = float(exponent)
        if e == 2.0:
            return x * x
        if e == 3.0:
            return x * x * x
        if e == 0.5:
            return torch.sqrt(x)
        if e == -0.5:
            return torch.rsqrt(x)
        if e == -1.0:
            return _reciprocal(x)
        if e == -2.0:
            return _reciprocal(x * x)
        return fallback(x, exponent) if fallback else NotImplemented
    return decomp


def _fma_f32(b, alpha: float, a):
    """fma(b, alpha, a) of f32 tensors, correctly rounded, with f64 ops only."""
    a64, p = a.double(), b.double() * alpha         # p exact: 24 x 24 bits
    s = a64 + p
    bp = s - a64                                    # TwoSum: a + p == s + err
    err = (a64 - (s - bp)) + (p - bp)
    hi = s.float()
    # s.float() is wrong only where s is the midpoint between hi and the next
    # float `other` and err points away from hi: the exact sum is then nearer
    # to `other`.
    d = s - hi.double()
    other = hi.double() + 2 * d
    tie = (d != 0) & (other.float().double() == other) & (hi.abs() < float("inf"))
    away = torch.where(d > 0, err > 0, err < 0)
    return torch.where(tie & away, other.float(), hi)


_HALF = (torch.bfloat16, torch.float16)


def _half_with_scalar(a, b) -> bool:
    return (isinstance(a, torch.Tensor) and a.dtype in _HALF
            and isinstance(b, (int, float)) and not isinstance(b, bool))


def _half_scalar(op, fallback):
    """A half-type tensor with a Python number: ATen computes in float with
    the number as a float and rounds once; torch-mlir would first round the
    number to the half type (x / 2.4495 in bf16 divided by 2.453125)."""
    def decomp(a, b, *args, **kwargs):
        if _half_with_scalar(a, b) and not args and not kwargs:
            return op(a.float(), float(b)).to(a.dtype)
        return fallback(a, b, *args, **kwargs) if fallback else NotImplemented
    return decomp


def _add_alpha(sign: float):
    def decomp(a, b, alpha=1):
        if _half_with_scalar(a, b) and isinstance(alpha, (int, float)):
            return torch.add(a.float(), sign * float(alpha) * float(b)).to(a.dtype)
        if not _float(a, b) or not isinstance(alpha, (int, float)) or float(alpha) == 1.0:
            return NotImplemented
        # ATen rounds alpha to the tensors' dtype.
        alpha32 = struct.unpack("f", struct.pack("f", float(alpha)))[0]
        return _fma_f32(b, sign * alpha32, a)
    return decomp


def _half_matmul(op):
    """bf16/f16 mm and bmm accumulate in f32 and round once, as oneDNN's
    kernels that ATen runs for them; the generic contraction would round
    every product and partial sum to the half type."""
    def decomp(a, b):
        if a.dtype not in (torch.bfloat16, torch.float16) or b.dtype != a.dtype:
            return NotImplemented
        return op(a.float(), b.float()).to(a.dtype)
    return decomp


def _reduced(x, dim):
    """The dims a reduction over `dim` (None or [] = all) covers, and how many
    elements each reduced group holds (an int or a SymInt)."""
    dims = list(range(x.dim())) if dim is None or len(dim) == 0 else \
        [d % max(x.dim(), 1) for d in dim]
    count = 1
    for d in dims:
        count = count * x.shape[d]
    return dims, count


def _variance(take_sqrt: bool, with_mean: bool):
    def decomp(x, dim=None, *, correction=None, keepdim=False):
        if x.dtype not in (torch.float32, torch.float64):
            return NotImplemented
        c = 1.0 if correction is None else float(correction)
        dims, n = _reduced(x, dim)
        xd = x.to(torch.float64)
        count = torch.scalar_tensor(n, dtype=torch.float64)
        mean = torch.sum(xd, dims, keepdim=True) / count
        centered = xd - mean
        m2 = torch.sum(centered * centered, dims, keepdim=keepdim)
        out = m2 / torch.clamp(count - c, min=0.0)
        if take_sqrt:
            out = torch.sqrt(out)
        out = out.to(x.dtype)
        if not with_mean:
            return out
        if not keepdim:
            mean = mean.squeeze(dims) if dims else mean
        return out, mean.to(x.dtype)
    return decomp


_NORM_INSIDE = threading.local()


def _vector_norm():
    def decomp(x, ord=2, dim=None, keepdim=False, *, dtype=None):
        if getattr(_NORM_INSIDE, "active", False) or dtype is not None or ord == 0 \
                or x.dtype not in (torch.float32, torch.float64) or x.dim() == 0:
            return NotImplemented      # the op as it is (for torch-mlir)
        _NORM_INSIDE.active = True
        try:
            out = aten.linalg_vector_norm.default(x, ord, dim, keepdim)
        finally:
            _NORM_INSIDE.active = False
        dims, count = _reduced(x, dim)
        sizes = [x.shape[d] for d in dims]
        if any(isinstance(s, int) and s != 1 for s in sizes):
            return out
        single = torch.sum(torch.abs(x), dims, keepdim=keepdim)
        if all(isinstance(s, int) for s in sizes):
            return single
        return torch.where(torch.scalar_tensor(count, dtype=torch.int64) == 1, single, out)
    return decomp


def decompositions(table: Dict) -> Dict:
    """`table` with the ops above rewritten for f32 tensors (and half-type
    matmuls accumulated in f32)."""
    table = dict(table)
    table[aten.relu.default] = _relu
    table[aten.clamp.default] = _clamp
    table[aten.clamp_min.default] = _clamp_min
    table[aten.clamp_max.default] = _clamp_max
    table[aten.maximum.default] = _extremum(True)
    table[aten.minimum.default] = _extremum(False)
    table[aten.reciprocal.default] = _reciprocal
    table[aten.add.Tensor] = _add_alpha(1.0)
    table[aten.sub.Tensor] = _add_alpha(-1.0)
    table[aten.pow.Tensor_Scalar] = _pow_scalar(table.get(aten.pow.Tensor_Scalar))
    table[aten.mul.Tensor] = _half_scalar(aten.mul.Tensor, table.get(aten.mul.Tensor))
    table[aten.div.Tensor] = _half_scalar(aten.div.Tensor, table.get(aten.div.Tensor))
    table[aten.mm.default] = _half_matmul(aten.mm.default)
    table[aten.bmm.default] = _half_matmul(aten.bmm.default)
    table[aten.var.correction] = _variance(False, False)
    table[aten.std.correction] = _variance(True, False)
    table[aten.var_mean.correction] = _variance(False, True)
    table[aten.std_mean.correction] = _variance(True, True)
    table[aten.linalg_vector_norm.default] = _vector_norm()
    return table
