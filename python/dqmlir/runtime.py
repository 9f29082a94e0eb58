"""Runs saved model libraries on torch tensors (the `_runtime` extension over
the C runtime, include/dqmlir/runtime.h).

Arguments are passed as memref descriptors that point into the torch tensors
(no copies); results are buffers the compiled code allocated from the
runtime's buffer cache, which become torch tensors that return them to the
cache when they die. The runtime checks every call against the model's
interface (dtype, rank, sizes, ranges) before the code runs, and the code
reports its own run-time checks (dq-runtime-checks); both come back here as
the Python exception they name. This module imports neither MLIR nor
torch-mlir.
"""
from __future__ import annotations

import torch

from . import errors

_rt = None


def _ext():
    """The `_runtime` extension, set up on first use."""
    global _rt
    if _rt is None:
        from ._mlir_libs import _runtime
        _runtime.set_dtypes([torch.float32, torch.float64, torch.int64, torch.int32,
                             torch.int16, torch.int8, torch.uint8, torch.bool,
                             torch.float16, torch.bfloat16])
        _rt = _runtime
    return _rt


# include/dqmlir/runtime.h's dqmlir_status -> the exception to raise.
_ERRORS = {1: TypeError, 2: ValueError, 3: IndexError, 4: ZeroDivisionError, 5: RuntimeError,
           6: errors.ModelFormatError, 7: errors.ModelFormatError, 8: MemoryError}


def error(status: int, message: str) -> Exception:
    return _ERRORS.get(status, RuntimeError)(message)


class Library:
    """An opened model directory: call it with the flat input tensors."""

    def __init__(self, path, verify: bool = True, threaded: bool = False):
        model, status, message = _ext().open(str(path), verify, threaded)
        if model is None:
            raise error(status, message)
        self._model = model
        self.path = str(path)

    @property
    def inputs(self) -> list:
        """[(name, dtype name, dims with -1 for dynamic)]."""
        return self._model.inputs

    @property
    def outputs(self) -> list:
        """[(name, dtype name, rank)]."""
        return self._model.outputs

    @property
    def manifest_text(self) -> str:
        return self._model.manifest

    def __call__(self, *tensors) -> list:
        out = self._model(*tensors)
        if type(out) is tuple:
            raise error(*out)
        return out


def crc32c(data: bytes) -> int:
    return _ext().crc32c(data)


def buffer_cache_stats() -> dict:
    """hits, misses, cached_bytes, limit_bytes, live_bytes and
    peak_live_bytes of the buffer cache compiled code allocates from (one
    per process). What it keeps is bounded by twice the peak of live bytes
    (the largest working set seen) and by limit_bytes."""
    return _ext().buffer_cache_stats()


def trim_buffer_cache(limit_bytes: int | None = None) -> None:
    """Frees every buffer the cache holds; with `limit_bytes`, also sets the
    most it may keep from now on (default 512 MiB, or DQMLIR_BUFFER_CACHE_MB)."""
    if limit_bytes is not None:
        if limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0, got {limit_bytes}")
        _ext().set_buffer_cache_limit(int(limit_bytes))
    _ext().buffer_cache_trim()


def set_pool_threads(threads: int) -> None:
    """Threads of the pool that models compiled with threads > 1 run on
    (counting the caller)."""
    status, message = _ext().set_num_threads(int(threads))
    if status:
        raise error(status, message)
