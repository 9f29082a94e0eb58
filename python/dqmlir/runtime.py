"""Runs LLVM-dialect modules with MLIR's ExecutionEngine, on torch tensors.

Arguments are passed as memref descriptors that point into the torch tensors
(no copies); results are buffers the compiled code allocated from the buffer
cache (lib/Runtime/BufferCache.h) or with malloc, which
become torch tensors that free them when they die. Calls check rank, shape,
dtype and device first and raise on a mismatch: bad input never reaches the
machine code.
"""
from __future__ import annotations

import ctypes
import functools
import mmap
import os
from dataclasses import dataclass

import numpy as np
import torch
from mlir import ir
from mlir.execution_engine import ExecutionEngine

from ._mlir_libs import _dqmlir
from .errors import CompileError, UnsupportedModuleError

# The compiled code allocates through lib/Runtime/BufferCache (dq-cpu-pipeline
# {buffer-cache}); results it returns are freed into the same cache.
_BUFFER_SYMBOLS = _dqmlir.buffer_cache_symbols()


def buffer_cache_stats() -> dict:
    """hits, misses, cached_bytes and limit_bytes of the buffer cache that
    compiled code allocates from (one per process)."""
    return _dqmlir.buffer_cache_stats()


def trim_buffer_cache(limit_bytes: int | None = None) -> None:
    """Frees every buffer the cache holds; with `limit_bytes`, also sets the
    most it may keep from now on (default 512 MiB, or DQMLIR_BUFFER_CACHE_MB)."""
    if limit_bytes is not None:
        if limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0, got {limit_bytes}")
        _dqmlir.set_buffer_cache_limit(int(limit_bytes))
    _dqmlir.buffer_cache_trim()

_TORCH_DTYPES = {
    "f32": torch.float32,
    "f64": torch.float64,
    "f16": torch.float16,
    "bf16": torch.bfloat16,
    "i64": torch.int64,
    "i32": torch.int32,
    "i16": torch.int16,
    "i8": torch.int8,
    "ui8": torch.uint8,
    "si8": torch.int8,
    "i1": torch.bool,
}
# DLPack (code, bits) of result dtypes; code 0 int, 1 uint, 2 float, 4 bfloat, 6 bool.
_DLPACK_DTYPES = {
    torch.float32: (2, 32),
    torch.float64: (2, 64),
    torch.float16: (2, 16),
    torch.bfloat16: (4, 16),
    torch.int64: (0, 64),
    torch.int32: (0, 32),
    torch.int16: (0, 16),
    torch.int8: (0, 8),
    torch.uint8: (1, 8),
    torch.bool: (6, 8),
}
# What the invoker returns for arguments that do not fit the signature.
_MISMATCH = object()


def _load_torch_mlir_first() -> None:
    """torch-mlir bundles its own LLVM; if it loads after an ExecutionEngine has
    registered LLVM's codegen options, LLVM aborts the process ("Option
    'print-inst-addrs' registered more than once"). Loading it before the first
    engine is safe, so do that whenever it is installed."""
    try:
        import torch_mlir.ir  # noqa: F401
    except ImportError:
        pass


def _mlir_lib(name: str) -> str:
    import mlir

    for d in mlir.__path__:
        p = os.path.join(d, "lib", name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{name} not found in the mlir package")


def _runner_utils() -> str:
    return _mlir_lib("libmlir_c_runner_utils.so")


@functools.cache
def _async_runtime() -> dict:
    """Addresses of the async runtime functions that convert-async-to-llvm
    calls (threads > 1): dq's implementation of mlir/ExecutionEngine/
    AsyncRuntime.h, whose threads spin between the parallel regions of a
    call (lib/Runtime/AsyncRuntime.cpp). They are bound to each engine by
    name and live as long as the process."""
    return {name: ctypes.c_void_p(address) for name, address in _dqmlir.async_runtime_symbols().items()}


@dataclass(frozen=True)
class TensorSpec:
    """What a function argument or result is: shape (None = dynamic), dtype."""

    shape: tuple
    dtype: torch.dtype

    @staticmethod
    def from_type(t: ir.Type) -> "TensorSpec":
        t = ir.ShapedType(t)
        shape = tuple(None if t.is_dynamic_dim(i) else t.shape[i] for i in range(t.rank))
        dtype = _TORCH_DTYPES.get(str(t.element_type))
        if dtype is None:
            raise UnsupportedModuleError(f"an argument or result of element type "
                                         f"{t.element_type}, which dqmlir cannot pass")
        return TensorSpec(shape, dtype)

    def __str__(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{str(self.dtype).replace('torch.', '')}[{dims}]"


# Constant globals at least this big are bound at load time, not JIT-compiled.
_BIND_MIN_BYTES = 4096
_HUGE_MIN_BYTES = 4 << 20


class _Bound:
    """The address the JIT binds an external global to (`.value`), owning the
    aligned copy of its bytes for as long as the engine lives."""

    def __init__(self, data: bytes):
        raw = np.empty(len(data) + 64, dtype=np.uint8)
        offset = -raw.ctypes.data % 64
        self.array = raw[offset:offset + len(data)]
        self.array[:] = np.frombuffer(data, dtype=np.uint8)
        self.value = self.array.ctypes.data


class _HugeArena:
    """One anonymous mapping, 2 MiB aligned and advised for transparent huge
    pages, holding all bound globals of an engine at 64-byte aligned offsets.

    Weights are read once per call, one layer after another; whatever else
    ran in between (on this VM: other tenants) evicts their 4 KiB page
    translations, and a cold page walk per 4 KiB made a cold sum of 1 MiB
    take 10x as long as on 2 MiB pages (benchmarks/cold.py)."""

    HUGE = 2 << 20

    def __init__(self, total: int):
        self.map = mmap.mmap(-1, total + self.HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        raw = np.frombuffer(self.map, dtype=np.uint8)
        start = -raw.ctypes.data % self.HUGE
        self.array = raw[start:start + total]
        if hasattr(mmap, "MADV_HUGEPAGE"):
            try:
                self.map.madvise(mmap.MADV_HUGEPAGE, start, len(self.map) - start)
            except OSError:  # no THP on this kernel: 4 KiB pages, as with _Bound
                pass
        self.used = 0

    def place(self, data: bytes) -> ctypes.c_void_p:
        """Copies `data` in; its address, as the JIT binds it."""
        at = self.used
        self.array[at:at + len(data)] = np.frombuffer(data, dtype=np.uint8)
        self.used = _round64(at + len(data))
        return ctypes.c_void_p(self.array.ctypes.data + at)


def _round64(n: int) -> int:
    return (n + 63) // 64 * 64


_CHECK_ERRORS = {"IndexError": IndexError, "ZeroDivisionError": ZeroDivisionError,
                 "ValueError": ValueError, "RuntimeError": RuntimeError}


def check_error(messages, code: int) -> Exception:
    """The exception for a failed run-time check (dq-runtime-checks): its
    message says which class ("IndexError: ...")."""
    if not 0 < code <= len(messages):
        return RuntimeError(f"compiled code reported an unknown check failure ({code})")
    kind, _, text = messages[code - 1].partition(": ")
    return _CHECK_ERRORS.get(kind, RuntimeError)(text or kind)


def _engine(module: ir.Module, opt_level: int) -> ExecutionEngine:
    """The ExecutionEngine of `module`; a module the LLVM translation or
    backend refuses raises CompileError with MLIR's diagnostics (the engine
    itself only says that it failed)."""
    diagnostics = []

    def collect(d):
        diagnostics.append(f"{d.location}: {d.message}")
        return True

    handler = module.context.attach_diagnostic_handler(collect)
    try:
        return ExecutionEngine(module, opt_level=opt_level, shared_libs=[_runner_utils()])
    except RuntimeError as e:
        raise CompileError(f"LLVM code generation failed: {e}" +
                           "".join("\n  " + d for d in diagnostics[:10]), stage="jit") from None
    finally:
        handler.detach()


class JitFunction:
    """A function of a lowered (LLVM dialect) module, callable on tensors.

    `specs` and `result_specs` describe the tensor-level signature (taken
    before lowering); the function must carry `llvm.emit_c_interface`.
    `async_runtime`: the module calls the MLIR async runtime (threads > 1).
    """

    def __init__(self, module: ir.Module, name: str, specs, result_specs, opt_level: int = 2,
                 keepalive=(), async_runtime: bool = False, checks=()):
        self.name = name
        # dq-runtime-checks' messages; the function's last result is then
        # its status (python/Invoke.cpp reads it).
        self.checks = list(checks)
        self.specs = list(specs)
        self.result_specs = list(result_specs)
        self._keepalive = keepalive
        _load_torch_mlir_first()
        # Weights are not compiled into the code: their globals become external
        # and are bound to (64-byte aligned) buffers before the code is linked.
        detached = _dqmlir.detach_large_globals(module, _BIND_MIN_BYTES)
        self._engine = _engine(module, opt_level)
        self.bound_bytes = 0
        for symbol, address in _BUFFER_SYMBOLS.items():
            self._engine.raw_register_runtime(symbol, ctypes.c_void_p(address))
        # Weights of a model (at least _HUGE_MIN_BYTES) share one huge-page
        # arena; a small module keeps its own buffers (an arena rounds up to
        # 2 MiB).
        total = sum(_round64(len(data)) for _, data in detached)
        self._arena = _HugeArena(total) if total >= _HUGE_MIN_BYTES else None
        for symbol, data in detached:
            self._engine.raw_register_runtime(
                symbol, self._arena.place(data) if self._arena else _Bound(data))
            self.bound_bytes += len(data)
        if async_runtime:
            for symbol, address in _async_runtime().items():
                self._engine.raw_register_runtime(symbol, address)
        self._engine.initialize()
        address = self._engine.raw_lookup("_mlir_ciface_" + name)
        if not address:
            raise RuntimeError(f"no function {name} with a C interface in the module")
        self._invoke = _dqmlir.Invoker(
            address, [(s.dtype, [-1 if d is None else d for d in s.shape]) for s in self.specs],
            [(s.dtype, *_DLPACK_DTYPES[s.dtype], len(s.shape)) for s in self.result_specs], _MISMATCH,
            wake=async_runtime, status=bool(self.checks))

    def _check(self, i: int, t, spec: TensorSpec) -> None:
        where = f"{self.name}: argument {i}"
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{where}: expected a torch.Tensor {spec}, got {type(t).__name__}")
        if t.device.type != "cpu":
            raise ValueError(f"{where}: expected a CPU tensor, got device {t.device}")
        if t.dtype != spec.dtype:
            raise TypeError(f"{where}: expected dtype {spec.dtype}, got {t.dtype}")
        if t.dim() != len(spec.shape) or any(
                d is not None and d != s for d, s in zip(spec.shape, t.shape)):
            raise ValueError(f"{where}: expected shape {spec}, got {list(t.shape)}")

    def _raise_mismatch(self, args) -> None:
        """The precise error for arguments the invoker turned down."""
        if len(args) != len(self.specs):
            raise TypeError(f"{self.name}: expected {len(self.specs)} arguments "
                            f"({', '.join(map(str, self.specs))}), got {len(args)}")
        for i, (t, s) in enumerate(zip(args, self.specs)):
            self._check(i, t, s)
        raise RuntimeError(f"{self.name}: the invoker turned down arguments that fit the signature")

    def __call__(self, *args):
        # python/Invoke.cpp: descriptors, the call without the GIL, and results
        # as tensors that free their buffers into the cache when they die.
        out = self._invoke(*args)
        if out is _MISMATCH:
            self._raise_mismatch(args)
        if type(out) is tuple and out and out[0] is _MISMATCH:
            raise check_error(self.checks, out[1])
        return out
