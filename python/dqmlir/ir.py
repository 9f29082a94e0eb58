"""MLIR contexts with the dq dialects, on upstream MLIR 22's Python bindings.

dqmlir adds to the prebuilt upstream `mlir` Python package instead of shipping
a second copy of MLIR: the `_dqmlir` extension registers the dq and dqx86
dialects into an upstream `mlir.ir.Context` and the dq passes into the
process-wide registry. The frontend builds dq modules with it; lowering and
code generation run in `dq-compile` (backend.py).
"""
from __future__ import annotations

from mlir import ir

from ._mlir_libs import _dqmlir

_dqmlir.register_passes()


def make_context() -> ir.Context:
    """A context with every upstream dialect and dq's loaded."""
    ctx = ir.Context()
    _dqmlir.register_dialect(ctx)
    return ctx
