"""A Python model of ATen's CPU softmax and log_softmax (PyTorch 2.13,
aten/src/ATen/native/cpu/SoftMaxKernel.cpp and LogSoftmaxKernelImpl.h,
AVX-512 build, or the AVX2 one on CPUs without AVX-512: Vectorized<float>
of 8 lanes, one thread), operation for operation on f32 tensors: what
dq.softmax reproduces (LowerSoftmax.cpp). test_softmax.py checks it against
torch itself, which pins down the kernels' order of operations.

  sleef_exp / sleef_log   Vectorized<float>::exp / ::log: SLEEF's
                          expf_u10 / logf_u10, AVX-512 variants (fma,
                          getexp/getmant)
  libm_expf               std::exp(float) in the kernels' scalar tails
  reduce_all              vec::reduce_all: lane-wise over vectors of 16,
                          tail lanes merged by Vec::set, then lanes l^8, l^4,
                          l^2, l^1; a row under 16 folds its lanes in turn
"""
import ctypes

import numpy as np
import torch

F32 = torch.float32
# Vectorized<float> of the ATen build this CPU runs (8 in the AVX2 one).
LANES = 16 if torch.backends.cpu.get_cpu_capability() == "AVX512" else 8
_libm = ctypes.CDLL("libm.so.6")
_libm.expf.restype = ctypes.c_float
_libm.expf.argtypes = [ctypes.c_float]


def _c(v):
    return torch.tensor(v, dtype=F32)


def _fma(a, b, c):
    """f32 fma through f64 (exact product; a double rounding of the sum
    differs from one rounding only in rare ties)."""
    return (a.double() * b.double() + torch.as_tensor(c).double()).float()


def sleef_exp(d):
    isnan = d.isnan()
    xc = torch.where(d < -105, _c(-105.0), d)
    xc = torch.where(xc > 101, _c(101.0), xc)
    xc = torch.where(isnan, _c(0.0), xc)
    qf = torch.round(xc * _c(1.442695040888963407359924681))
    s = _fma(qf, _c(-0.693145751953125), xc)
    s = _fma(qf, _c(-1.428606765330187045e-06), s)
    u = _c(0.000198527617612853646278381)
    for k in (0.00139304355252534151077271, 0.00833336077630519866943359,
              0.0416664853692054748535156, 0.166666671633720397949219, 0.5):
        u = _fma(u, s, _c(k))
    u = _c(1.0) + _fma(s * s, u, s)
    q = qf.to(torch.int32)
    half = q >> 1

    def pow2(k):
        return ((k + 127) << 23).view(F32)

    u = u * pow2(half) * pow2(q - half)
    u = torch.where(d < -104, _c(0.0), u)
    u = torch.where(d > 100, _c(float("inf")), u)
    return torch.where(isnan, d, u)


def _getexp(x):
    """_mm512_getexp_ps for finite x != 0."""
    bits = x.view(torch.int32)
    field = (bits >> 23) & 0xFF
    out = (field - 127).to(F32)
    sub = field == 0
    if bool(sub.any()):
        out = torch.where(sub, torch.floor(torch.log2(x.double().abs())).float(), out)
    return out


def _getmant(x):
    """_mm512_getmant_ps(x, p75_1p5, sign_nan) for normal x > 0."""
    mant = x.view(torch.int32) & 0x7FFFFF
    exp = torch.where((mant & 0x400000) != 0, torch.tensor(126, dtype=torch.int32),
                      torch.tensor(127, dtype=torch.int32))
    return ((exp << 23) | mant).view(F32)


def sleef_log(d):
    """SLEEF's xlogf_u1 for normal inputs, and its fixups (0 -> -inf, inf,
    negative -> NaN)."""
    e = _getexp(d * _c(1.0 / 0.75))
    m = _getmant(d)
    s = _c(0.69314718246459960938) * e
    sy = _fma(_c(-1.904654323148236017e-09), e, _fma(_c(0.69314718246459960938), e, -s))

    def add2(x, y):
        t = x + y
        v = t - x
        return t, (x - (t - v)) + (y - v)

    nx, ny = add2(_c(-1.0), m)
    dx, dy = add2(_c(1.0), m)
    t = _c(1.0) / dx
    q = nx * t
    u = _fma(t, nx, -q)
    w = _fma(-dy, t, _fma(-dx, t, _c(1.0)))
    xx, xy = q, _fma(q, w, _fma(ny, t, u))
    x2 = xx * xx
    p = _fma(_fma(_c(0.3027294874), x2, _c(0.3996108174)), x2, _c(0.6666694880))
    hi = s + xx * 2
    lo = (((s - hi) + xx * 2) + sy) + xy * 2
    cube = x2 * xx * p
    hi2 = hi + cube
    r = hi2 + (((hi - hi2) + cube) + lo)
    r = torch.where(d == 0, _c(float("-inf")), r)
    r = torch.where(d == float("inf"), _c(float("inf")), r)
    r = torch.where(d < 0, _c(float("nan")), r)
    return torch.where(d.isnan(), d, r)


def libm_expf(x):
    return torch.tensor([_libm.expf(v) for v in x.reshape(-1).tolist()],
                        dtype=F32).reshape(x.shape)


def maximum(a, b):
    """vec::maximum: _mm512_max_ps(a, b) (b unless a > b), NaN propagated."""
    return torch.where(a.isnan() | b.isnan(), _c(float("nan")), torch.where(a > b, a, b))


def _add(a, b):
    return a + b


def reduce_all(x, op):
    """vec::reduce_all over the last dim."""
    n = x.shape[-1]
    if n < LANES:
        acc = x[..., 0]
        for i in range(1, n):
            acc = op(acc, x[..., i])
        return acc
    acc = x[..., :LANES]
    d = LANES
    while d + LANES <= n:
        acc = op(acc, x[..., d:d + LANES])
        d += LANES
    if d < n:
        merged = op(acc[..., :n - d], x[..., d:])
        acc = torch.cat([merged, acc[..., n - d:]], -1)
    idx = torch.arange(LANES)
    s = LANES // 2
    while s:
        acc = op(acc, acc[..., idx ^ s])
        s //= 2
    return acc[..., 0]


def _last_dim(x, log):
    m = reduce_all(x, maximum).unsqueeze(-1)
    e = sleef_exp(x - m)
    s = reduce_all(e, _add).unsqueeze(-1)
    return (x - m) - sleef_log(s) if log else e * (_c(1.0) / s)


def _other_dim(x, dim, log):
    """x as [outer, N, inner]; the inner % 16 last positions run scalar code."""
    shape = x.shape
    outer, n, inner = int(np.prod(shape[:dim])), shape[dim], int(np.prod(shape[dim + 1:]))
    x3 = x.reshape(outer, n, inner)
    out = torch.empty_like(x3)
    nv = inner - inner % LANES
    for lo, hi, vector in ((0, nv, True), (nv, inner, False)):
        if lo == hi:
            continue
        v = x3[:, :, lo:hi]
        exp = sleef_exp if vector else libm_expf
        if log:
            m = torch.full_like(v[:, 0], float("-inf"))
            for d in range(n):
                m = torch.where(v[:, d] > m, v[:, d], m)
            s = torch.zeros_like(m)
            for d in range(n):
                s = s + exp(v[:, d] - m)
            out[:, :, lo:hi] = (v - m[:, None]) - sleef_log(s)[:, None]
            continue
        m = v[:, 0]
        for d in range(1, n):
            m = maximum(m, v[:, d]) if vector else torch.where(m < v[:, d], v[:, d], m)
        e = exp(v - m[:, None])
        s = torch.zeros_like(m)
        for d in range(n):
            s = s + e[:, d]
        out[:, :, lo:hi] = e / s[:, None]
    return out.reshape(shape)


def softmax(x, dim, log=False):
    """torch.softmax(x, dim) (log_softmax with `log`) as ATen computes it."""
    dim = dim % x.dim()
    return _last_dim(x, log) if dim == x.dim() - 1 else _other_dim(x, dim, log)
