"""oneDNN's AVX2 erf GELU (jit_uni_eltwise_injector_f32<avx2>::
gelu_erf_compute_vector_fwd, oneDNN 3.12 as PyTorch 2.13 bundles it) in numpy,
operation for operation, as read off its JIT dump: the reference for code
compiled for x86-64-v3 on any CPU (on AVX2-only CPUs torch's own GELU is)."""
import numpy as np

F32, U32 = np.float32, np.uint32


def _c(bits):
    return np.array([bits], dtype=U32).view(F32)[0]


def fma32(a, b, c):
    """float32 fma with one rounding: the float64 product is exact; a float64
    sum that lands on a float32 midpoint is resolved by its exact residual."""
    a, b, c = (np.asarray(v, F32).astype(np.float64) for v in (a, b, c))
    p = a * b
    with np.errstate(invalid="ignore", over="ignore"):
        s = p + c
        bb = s - p
        err = (p - (s - bb)) + (c - bb)
        r = s.astype(F32)
        rd = r.astype(np.float64)
        other = np.nextafter(r, np.where(s > rd, F32(np.inf), F32(-np.inf)).astype(F32))
        mid = (rd + other.astype(np.float64)) * 0.5
        fix = ((s != rd) & (s == mid) & np.isfinite(err) & (err != 0) & np.isfinite(other)
               & (np.sign(err) == np.sign(other.astype(np.float64) - rd)))
        return np.where(fix, other, r).astype(F32)


def _bits(v):
    return np.asarray(v, F32).view(U32)


def _float(v):
    return np.asarray(v, U32).view(F32)


def _exp(z):
    lo, hi = _c(0xC2AEAC50), _c(0x42B17218)
    tiny = z < lo
    z = np.where(z < hi, z, hi)                  # minps: NaN -> hi
    z = np.where(z > lo, z, lo)                  # maxps
    f = ((z * _c(0x3FB8AA3B)).astype(F32) + F32(0.5)).astype(F32)
    n = np.floor(f).astype(F32)
    r = fma32(-n, _c(0x3F317218), z)
    k = (n - F32(1)).astype(F32).astype(np.int32)
    scale = _float((k + np.int32(0x7F)).astype(np.int32).view(U32) << U32(23))
    scale = np.where(tiny, F32(0), scale).astype(F32)
    q = np.full_like(z, _c(0x3C07CFCE))
    for c in (0x3D2B9D0D, 0x3E2AAD40, 0x3EFFFEE3, 0x3F7FFFFB, 0x3F800000):
        q = fma32(q, r, _c(c))
    return ((q * scale).astype(F32) * F32(2)).astype(F32)


def gelu_avx2(x):
    x = np.ascontiguousarray(x, dtype=F32)
    with np.errstate(all="ignore"):
        s = (x * _c(0x3F3504F3)).astype(F32)
        a = _float(_bits(s) & U32(0x7FFFFFFF))
        t = (F32(1) / fma32(_c(0x3EA7BA05), a, F32(1))).astype(F32)
        z = _float(_bits((s * s).astype(F32)) ^ U32(0x80000000))
        u = (_float(_bits(_exp(z)) ^ U32(0x80000000)) * t).astype(F32)
        p = np.full_like(x, _c(0x3F87DC22))
        for c in (0xBFBA00E3, 0x3FB5F0E3, 0xBE91A98E, 0x3E827906):
            p = fma32(p, t, _c(c))
        erf = _float(_bits(fma32(u, p, F32(1))) ^ (_bits(x) & U32(0x80000000)))
        half = (x * F32(0.5)).astype(F32)
        return fma32(erf, half, half)
