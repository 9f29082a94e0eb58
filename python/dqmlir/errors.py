"""Every exception dqmlir raises on purpose, in one place.

They subclass the built-in exception a Python user would expect for the same
mistake (a wrong call is a TypeError/ValueError/IndexError as in PyTorch), so
`except TypeError` keeps working where code already handles PyTorch's errors.
"""
from __future__ import annotations


class UnsupportedModuleError(TypeError):
    """A module or op dqmlir cannot compile; the message names it and its
    path in the model."""


class CompileError(RuntimeError):
    """A compile stage failed (a pass pipeline, torch-mlir, the LLVM backend,
    or a compile process that crashed, ran out of memory or time).

    `stage` names the stage; the message carries its diagnostics."""

    def __init__(self, message: str, stage: str = ""):
        super().__init__(message)
        self.stage = stage


class ModelFormatError(ValueError):
    """A saved model directory that cannot be loaded: missing, truncated or
    changed files, another dqmlir version, or a CPU that lacks what the code
    needs. The message names the file and the problem."""
