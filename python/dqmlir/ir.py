"""MLIR contexts with the dq dialect, and pass pipelines, on upstream MLIR 22.

dqmlir adds to the prebuilt upstream `mlir` Python package instead of shipping
a second copy of MLIR: the `_dqmlir` extension registers the dq dialect into an
upstream `mlir.ir.Context` and the dq passes into the process-wide registry.
"""
from __future__ import annotations

import os
import time

from mlir import ir
from mlir.passmanager import PassManager

from . import amx
from ._mlir_libs import _dqmlir
from .errors import CompileError

_dqmlir.register_passes()

# The CPU pipeline of lib/Pipelines/CPUPipeline.cpp; the JIT binds the
# buffer cache's allocation functions (runtime.py).
CPU_PIPELINE = "builtin.module(dq-cpu-pipeline{buffer-cache=true})"


def cpu_pipeline(threads: int) -> str:
    """CPU_PIPELINE with dq-cpu-pipeline's `threads` option set (if > 1).

    Its kernel=auto uses AMX tiles only when this process holds Linux's
    permission for them: the permission is asked for here, when code is about
    to be compiled for (and run in) this process, not on import
    (DQMLIR_NO_AMX=1 opts out)."""
    if not os.environ.get("DQMLIR_NO_AMX"):
        amx.request_amx_permission()
    if threads <= 1:
        return CPU_PIPELINE
    return CPU_PIPELINE.replace("dq-cpu-pipeline{", f"dq-cpu-pipeline{{threads={threads} ", 1)


def make_context() -> ir.Context:
    """A context with every upstream dialect and dq loaded."""
    ctx = ir.Context()
    _dqmlir.register_dialect(ctx)
    return ctx


def run_pipeline(module: ir.Module, pipeline: str) -> float:
    """Runs `pipeline` on `module` in place; returns the seconds it took."""
    start = time.perf_counter()
    with module.context:
        pm = PassManager.parse(pipeline)
        try:
            module.operation.verify()
            pm.run(module.operation)
        except ir.MLIRError as e:
            raise CompileError(f"{pipeline} failed:\n{e}", stage="lowering") from None
    return time.perf_counter() - start
