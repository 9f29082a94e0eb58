"""A dq module -> a saved model directory, by the `dq-compile` tool.

The module (dq and linalg on tensors, weights as resources) is written as
MLIR bytecode (binary weights, no hex text) with the partial interface the
Python side knows (argument names, symbolic sizes, ranges, the call
signature); `dq-compile` lowers it (dq-runtime-checks, dq-cpu-pipeline),
moves the weights to weights.bin, generates code for the target CPU level
and links model.so (tools/dq-compile/dq-compile.cpp). It runs as a child
process: an assertion in MLIR or LLVM becomes a CompileError here, with the
stage and its diagnostics, and the caller's process survives.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time

from .errors import CompileError

_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Targets dq-compile knows (lib/Target/ModelLibrary/TargetLevels.cpp).
TARGETS = ("host", "amx", "avx512-vnni", "x86-64-v3")


def tool(name: str) -> pathlib.Path:
    """A tool of the build (build/bin/<name>), or from $DQMLIR_BUILD_DIR."""
    build = pathlib.Path(os.environ.get("DQMLIR_BUILD_DIR") or _ROOT / "build")
    path = build / "bin" / name
    if not path.exists():
        raise CompileError(f"{path} is not built (run `make build`)", stage="setup")
    return path


def compile_module(bytecode: pathlib.Path, out_dir: pathlib.Path, interface: dict,
                   target: str = "host", threads: int = 1, kernel: str | None = None,
                   entry: str = "main", dump_dir: pathlib.Path | None = None,
                   timeout: float | None = None, profile: bool = False) -> dict:
    """Runs dq-compile on `bytecode`; returns the manifest it wrote."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    out_dir = pathlib.Path(out_dir)
    iface_path = bytecode.with_suffix(".interface.json")
    iface_path.write_text(json.dumps(interface))
    cmd = [str(tool("dq-compile")), str(bytecode), "-o", str(out_dir), f"--target={target}",
           f"--num-threads={threads}", f"--entry-point={entry}", f"--interface={iface_path}"]
    if kernel:
        cmd.append(f"--kernel={kernel}")
    if profile:
        cmd.append("--profile")
    if dump_dir is not None:
        cmd += [f"--emit-llvm-dialect={dump_dir / '3-llvm.mlir'}",
                f"--emit-llvm-ir={dump_dir / '4-llvm.ll'}"]
    timeout = timeout or float(os.environ.get("DQMLIR_COMPILE_TIMEOUT_S") or 1800)
    start = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CompileError(f"dq-compile did not finish within {timeout:.0f} s", "dq-compile") from None
    if r.returncode != 0:
        how = (f"signal {-r.returncode}" if r.returncode < 0 else f"exit status {r.returncode}")
        tail = r.stderr.strip()[-4000:]
        raise CompileError(f"dq-compile failed ({how}):\n{tail}\ncommand: {' '.join(cmd)}",
                           "dq-compile")
    manifest = json.loads((out_dir / "manifest.json").read_text())
    manifest.setdefault("compile_seconds", {})["dq-compile"] = time.perf_counter() - start
    return manifest
