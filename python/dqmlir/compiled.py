"""A compiled model: a saved model directory, opened, with its call signature.

`dqmlir.compile` makes one (its directory lives in the compile cache or a
temporary directory); `dqmlir.load(path)` opens one that `save` wrote. Both
behave the same: the same code, checks, errors and output types.

A model directory (lib/Runtime/Model.h): manifest.json, interface.json
(the entry point's inputs and outputs, the run-time check messages and the
Python call signature), model.so and weights.bin.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile

from . import errors
from .runtime import Library
from .signature import Signature

FILES = ("manifest.json", "interface.json", "model.so", "weights.bin")


def write_directory(path, write, marker: str, what: str) -> None:
    """Makes `path` a directory that `write(tmp)` fills, replacing an
    existing one as a whole (rename: a reader sees the old or the new one,
    never a mix) but never a directory without `marker` that holds files."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(tmp)
        if path.exists():
            if not (path / marker).exists() and any(path.iterdir()):
                raise FileExistsError(f"{path} exists and is not a dqmlir {what} directory")
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class CompiledModule:
    """Call it like the model. `save(path)` writes a directory that
    `dqmlir.load` (or the C runtime, or `dq-run`) opens without compiling."""

    def __init__(self, path, verify: bool = True, stages: dict | None = None,
                 timings: dict | None = None, keep=None):
        self.path = pathlib.Path(path)
        try:
            self.manifest = json.loads((self.path / "manifest.json").read_text())
        except FileNotFoundError:
            raise errors.ModelFormatError(f"{self.path}/manifest.json: no such file (not a "
                                          "saved dqmlir model?)") from None
        except json.JSONDecodeError as e:
            raise errors.ModelFormatError(f"{self.path}/manifest.json: {e}") from None
        self.threads = int(self.manifest.get("threads", 1))
        self.target = self.manifest.get("target", {}).get("name", "")
        self._library = Library(self.path, verify=verify, threaded=self.threads > 1)
        interface = json.loads((self.path / "interface.json").read_text())
        if "signature" in interface:
            self.signature = Signature.from_json(interface["signature"])
        else:
            import torch
            dtypes = {str(d).replace("torch.", ""): d for d in (
                torch.float32, torch.float64, torch.int64, torch.int32, torch.int16,
                torch.int8, torch.uint8, torch.bool)}
            self.signature = Signature.for_tensors(
                interface.get("name", "model"),
                [(dtypes[i["dtype"]], [d if isinstance(d, int) else None for d in i["dims"]])
                 for i in interface["inputs"]],
                len(interface["outputs"]), [i["name"] for i in interface["inputs"]])
        # The runtime checks sizes (the same rules, in C): Python binds,
        # widens integer dtypes and checks what only Python can see.
        self.signature.sizes_checked_elsewhere = True
        self.source = self.signature.name
        self._stages = dict(stages or {})
        for name in ("torch", "dq"):         # a compile's own stages (compile cache)
            stage = self.path / f"stage-{name}.mlir"
            if name not in self._stages and stage.exists():
                self._stages[name] = stage.read_text()
        self.timings = dict(timings or {})
        self._keep = keep  # a temporary directory that must outlive the library

    def __call__(self, *args, **kwargs):
        tensors = self.signature.bind(args, kwargs)
        return self.signature.outputs(self._library(*tensors))

    def save(self, path) -> None:
        """Writes the model directory to `path` (created; an existing model
        directory there is replaced as a whole)."""
        def write(tmp: pathlib.Path) -> None:
            for name in FILES:
                shutil.copyfile(self.path / name, tmp / name)
        write_directory(path, write, "manifest.json", "model")

    def ir(self, stage: str = "dq") -> str:
        """The module's MLIR at a stage of the compile that made it
        ("torch", "dq", "linalg", "llvm"), weights elided; a loaded model
        has none."""
        if stage in self._stages:
            value = self._stages[stage]
            return value() if callable(value) else value
        have = ", ".join(self._stages) or "none (a loaded model)"
        more = ("; the linalg and llvm stages exist after a compile that did not come "
                "from the compile cache (compile(..., cache=False))"
                if stage in ("linalg", "llvm") else "")
        raise ValueError(f"unknown stage {stage!r}; stages: {have}{more}")

    def __repr__(self) -> str:
        return f"<dqmlir.CompiledModule {self.signature!r} target={self.target}>"


def load(path, verify: bool = True) -> CompiledModule:
    """Opens a model directory written by `CompiledModule.save` (or
    dq-compile). `verify=False` skips the weights' checksum. Raises
    dqmlir.ModelFormatError for a missing, truncated or changed file,
    another dqmlir version, or a CPU that lacks what the code needs. A
    decoder saved from a `use_cache=True` compile loads as a
    `CompiledDecoder` (for `dqmlir.generate`)."""
    from . import generation
    if generation.is_decoder_dir(path):
        return generation.load_decoder(path, verify=verify)
    return CompiledModule(path, verify=verify)
