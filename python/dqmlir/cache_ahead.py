"""The compile cache's work done on another thread while torch.export traces.

A cached compile costs the trace (the key is the traced program:
cache.program_key), hashing the weights and opening the entry: on BERT-base
about 1.5 s, 0.15 s and 0.2-0.45 s (the C runtime reads and checks 180 MB of
weights, and fresh memory is slow to fault in on virtual machines). The last
two need the GIL only between their steps, so they run on the compile's
second thread (compiler._compile_model) while the trace holds the first: the
entry that the last compile with the same fingerprint stored (a hint file,
fingerprint -> key) is opened, and the model's tensors are hashed (hashlib
releases the GIL). The fingerprint is cheap and may be wrong (the model's
class, the options, the inputs' shapes and dtypes, every tensor's name,
shape, dtype and first and last bytes); the key decides: the opened entry is
used only where its key is the one the trace gives.
"""
from __future__ import annotations

import hashlib
import logging
import os
import pathlib
import tempfile
import time
from concurrent.futures import Executor
from typing import Dict, Optional

import torch
from torch.utils import _pytree as pytree

from . import cache

log = logging.getLogger("dqmlir")


def fingerprint(model: torch.nn.Module, example_args, example_kwargs, options: dict) -> str:
    h = hashlib.sha256(cache.settings_text(options).encode())
    h.update(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    for name, t in (*model.named_parameters(), *model.named_buffers()):
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(_ends(t))
    for name, m in model.named_modules():
        packed = getattr(m, "_packed_params", None)      # torch.ao's quantized layers
        if packed is not None:
            h.update(f"{name}:{type(m).__name__}:{getattr(m, 'in_features', '')}:"
                     f"{getattr(m, 'out_features', '')}".encode())
    leaves, spec = pytree.tree_flatten((tuple(example_args), dict(example_kwargs or {})))
    h.update(str(spec).encode())
    for leaf in leaves:
        h.update(f"{getattr(leaf, 'dtype', type(leaf))}{getattr(leaf, 'shape', leaf)}".encode())
    return h.hexdigest()[:40]


def _ends(t: torch.Tensor) -> bytes:
    """The first and last 64 bytes of a plain CPU tensor's data."""
    if (type(t) not in (torch.Tensor, torch.nn.Parameter) or t.device.type != "cpu"
            or t.is_quantized or not t.numel()):
        return b""
    flat = t.detach().reshape(-1)
    n = max(1, 64 // flat.element_size())
    ends = torch.cat([flat[:n], flat[-n:]])
    if ends.dtype in (torch.bfloat16, torch.float16):
        ends = ends.view(torch.int16)
    return ends.numpy().tobytes()


class TensorDigests:
    """SHA-256 of each tensor (cache.value_digest), looked up by the tensor
    object (held, so that its id is not reused) and its version counter:
    the eager check of the example inputs runs meanwhile, and a tensor it
    changes in place (a cache kept in a buffer) is hashed again by the
    caller. Tensors without a version counter (made under inference_mode),
    and any that fails to hash here (it may not even be in the exported
    program), are left to the caller."""

    def __init__(self, tensors):
        self._by_id: Dict[int, tuple] = {}
        for t in tensors:
            version = _version(t)
            if version is None or id(t) in self._by_id:
                continue
            try:
                self._by_id[id(t)] = (t, version, cache.value_digest(t))
            except Exception as e:  # noqa: BLE001 - the caller's hashing decides
                log.debug("dqmlir: %s tensor not hashed ahead: %s", tuple(t.shape), e)

    def get(self, t) -> Optional[bytes]:
        entry = self._by_id.get(id(t))
        if entry is None or entry[0] is not t or entry[1] != _version(t):
            return None
        return entry[2]


def _version(t: torch.Tensor) -> Optional[int]:
    try:
        return t._version
    except RuntimeError:           # an inference tensor
        return None


class Ahead:
    """On `executor`: opens the entry hinted for the model's fingerprint,
    then hashes its tensors."""

    def __init__(self, executor: Executor, model: torch.nn.Module, example_args,
                 example_kwargs, options: dict):
        self.fingerprint = fingerprint(model, example_args, example_kwargs, options)
        self.hinted = _read_hint(self.fingerprint)
        self.seconds: Optional[float] = None   # from here to the entry opened
        self._opened = executor.submit(self._open, time.perf_counter()) if self.hinted else None
        self._digests = executor.submit(TensorDigests, [
            t for _, t in (*model.named_parameters(), *model.named_buffers())])

    def digests(self) -> TensorDigests:
        return self._digests.result()

    def _open(self, t0: float):
        from .compiled import CompiledModule
        try:
            entry = cache.peek(self.hinted)
            if entry is None:
                return None
            opened = CompiledModule(entry)
            self.seconds = time.perf_counter() - t0
            return opened
        except Exception as e:  # noqa: BLE001 - a guess: the key decides
            log.debug("dqmlir: the compile cache's hinted entry did not open: %s", e)
            return None

    def take(self, key: str):
        """The hinted entry, opened (waiting for the open to finish), if
        `key` is its key; else None."""
        if self._opened is None or self.hinted != key:
            return None
        opened = self._opened.result()
        if opened is not None:
            cache.lookup(key)                 # marks it used
        return opened

    def remember(self, key: str) -> None:
        """Hints `key` for the next compile with this fingerprint."""
        if key == self.hinted:
            return
        try:
            _write_hint(self.fingerprint, key)
        except OSError as e:                  # a hint is optional
            log.debug("dqmlir: no compile cache hint written: %s", e)


def _hint_path(fingerprint: str) -> Optional[pathlib.Path]:
    root = cache.directory()
    return None if root is None else root / cache.HINTS / fingerprint


def _read_hint(fingerprint: str) -> Optional[str]:
    path = _hint_path(fingerprint)
    try:
        key = path.read_text().strip() if path is not None else None
    except OSError:
        return None
    return key if key and all(c in "0123456789abcdef" for c in key) else None


def _write_hint(fingerprint: str, key: str) -> None:
    path = _hint_path(fingerprint)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp.")
    with os.fdopen(fd, "w") as f:
        f.write(key)
    os.replace(tmp, path)            # atomic: a reader sees the old or the new key
