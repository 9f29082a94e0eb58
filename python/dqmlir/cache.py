"""The persistent compile cache: a compiled model directory per key.

A second `dqmlir.compile` of the same model (in any process) opens the
directory the first one stored instead of compiling. The key is the traced
program (program_key): compile runs torch.export's trace (about a second),
hashes the graph, its constants and the quantized weights with the options,
versions and the dqmlir build, and only on a miss goes on to decomposition,
import and code generation. Anything that changes what the model computes
(code, config, attention implementation, a global read while tracing)
changes the graph and so the key. A lone torch.ao Linear (compiled without
export) is keyed by its weights (linear_key).

The cache entry hinted for the model (cache_ahead.py) is opened, and the
model's tensors are hashed, on another thread while the trace runs.

Entries are written to a temporary directory and renamed into place, so two
processes compiling the same model at once both end with a whole entry. The
cache keeps at most DQMLIR_CACHE_MB (default 8192) MiB, least recently used
entries going first. DQMLIR_CACHE_DIR sets its place (default
$XDG_CACHE_HOME/dqmlir or ~/.cache/dqmlir); an empty value turns it off.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import pathlib
import shutil
import tempfile
from typing import Any, Optional

import numpy as np
import torch
from torch.utils import _pytree as pytree

from ._version import __version__

# cache_ahead's hints (fingerprint -> key), beside the entries (whose names
# are 40 hex digits).
HINTS = "hints"


def directory() -> Optional[pathlib.Path]:
    """Where the cache lives, or None when it is turned off."""
    value = os.environ.get("DQMLIR_CACHE_DIR")
    if value is not None:
        return pathlib.Path(value) if value else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "dqmlir"


def _versions() -> dict:
    """The installed distributions' versions, read the same way whether or
    not they are imported yet (torch_mlir has no __version__: read off the
    module once imported, the key changed after a process's first compile)."""
    global _VERSIONS
    if _VERSIONS is None:
        from importlib.metadata import PackageNotFoundError, version
        _VERSIONS = {"dqmlir": __version__, "torch": torch.__version__}
        for name in ("torch-mlir", "transformers", "torchao"):
            try:
                _VERSIONS[name.replace("-", "_")] = version(name)
            except PackageNotFoundError:
                _VERSIONS[name.replace("-", "_")] = None
    return dict(_VERSIONS)


_VERSIONS: Optional[dict] = None


def _hash_value(h, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        _hash_tensor(h, value)
    elif isinstance(value, (list, tuple)):
        h.update(f"seq{len(value)}".encode())
        for v in value:
            _hash_value(h, v)
    elif isinstance(value, dict):
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _hash_value(h, value[k])
    elif isinstance(value, torch.ScriptObject):
        _hash_script_object(h, value)
    else:
        h.update(repr(value).encode())


def value_digest(value: Any) -> bytes:
    """SHA-256 of what _hash_value feeds (a tensor: dtype, shape, data)."""
    h = hashlib.sha256()
    _hash_value(h, value)
    return h.digest()


def _hash_script_object(h, obj) -> None:
    """A torchbind object by its state (its repr holds an address, which
    would miss the cache every time): __obj_flatten__ where the class has
    it, else its pickled state; failing both, a key that never matches."""
    h.update(str(obj._type().qualified_name()).encode())
    for method in ("__obj_flatten__", "__getstate__"):
        if obj._has_method(method):
            _hash_value(h, getattr(obj, method)())
            return
    h.update(os.urandom(16))


def _hash_tensor(h, t: torch.Tensor) -> None:
    t = t.detach()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.is_quantized:
        _hash_tensor(h, t.int_repr())
        if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            h.update(f"{t.q_scale()}:{t.q_zero_point()}".encode())
        else:
            _hash_tensor(h, t.q_per_channel_scales())
            _hash_tensor(h, t.q_per_channel_zero_points())
        return
    if type(t) is not torch.Tensor and hasattr(t, "__tensor_flatten__"):
        names, ctx = t.__tensor_flatten__()          # e.g. torchao's Int8Tensor
        h.update(repr(ctx).encode())
        for n in names:
            _hash_value(h, getattr(t, n))
        return
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype == torch.bfloat16 or t.dtype == torch.float16:
        t = t.view(torch.int16)
    if t.numel():
        # The array's buffer, not a copy: hashlib reads it without the GIL.
        h.update(t.contiguous().numpy().reshape(-1).view(np.uint8))


def linear_key(model: torch.nn.Module, example_args, options: dict) -> str:
    """The cache key of a lone torch.ao dynamic Linear (compiled without
    export): what the compile reads off it (from_dynamic_linear: weights,
    qparams, bias, reduce_range from its version), the example's rank, the
    options and versions."""
    from .frontend.quantized_linear import from_dynamic_linear
    h = hashlib.sha256(settings_text(options).encode())
    _hash_linears(h, [from_dynamic_linear(model)])
    for leaf in example_args:
        h.update(f"T{getattr(leaf, 'dtype', type(leaf))}{getattr(leaf, 'ndim', '')}".encode())
    return h.hexdigest()[:40]


def settings_text(options: dict) -> str:
    """The options, the versions of dqmlir and the libraries it uses, and the
    build: what every key starts with."""
    return json.dumps({"options": options, "versions": _versions(), "build": _build_id()},
                      sort_keys=True, default=str)


def _hash_linears(h, linears) -> None:
    for ql in linears:
        h.update(ql.digest())


def program_key(ep, linears, model: torch.nn.Module, options: dict, digests=None) -> str:
    """The cache key of a model by its traced program (torch.export, before
    decomposition): the graph's code and every placeholder's symbolic shape
    and dtype, the range constraints, the call structure, every constant
    (parameters, buffers, lifted constants), the quantized linears' weights
    and qparams, and the compile options and versions. Whatever changes what
    the model computes (its code, its config, an attention implementation,
    global flags read while tracing) changes the graph, so a cached library
    is only ever used for the program it was compiled from. `digests`
    (cache_ahead.TensorDigests): tensor digests computed meanwhile."""
    h = hashlib.sha256(settings_text(options).encode())
    h.update(ep.graph_module.code.encode())
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            val = node.meta.get("val")
            h.update(f"{node.name}:{getattr(val, 'dtype', '')}:{getattr(val, 'shape', val)}"
                     .encode())
    h.update(str(sorted((str(k), str(v)) for k, v in ep.range_constraints.items())).encode())
    h.update(pytree.treespec_dumps(ep.call_spec.in_spec).encode())
    h.update(pytree.treespec_dumps(ep.call_spec.out_spec).encode())
    h.update(str(ep.graph_signature).encode())
    # forward's parameters and defaults make the call signature.
    try:
        h.update(str(inspect.signature(model.forward)).encode())
    except (TypeError, ValueError):
        pass
    h.update(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    for store in (ep.state_dict, ep.constants):
        for name in sorted(store):
            h.update(name.encode())
            value = store[name]
            digest = digests.get(value) if digests is not None else None
            h.update(digest if digest is not None else value_digest(value))
    _hash_linears(h, linears)
    return h.hexdigest()[:40]


def _build_id() -> str:
    """What identifies this dqmlir beyond its version: its Python sources and
    the dq-compile binary (a development tree changes without a new
    version)."""
    global _BUILD_ID
    if _BUILD_ID is None:
        h = hashlib.sha256()
        here = pathlib.Path(__file__).resolve().parent
        for f in sorted(here.rglob("*.py")):
            h.update(str(f.relative_to(here)).encode())
            h.update(f.read_bytes())
        from . import backend
        try:
            st = backend.tool("dq-compile").stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        except Exception:  # noqa: BLE001 - no tool: compiling fails later
            pass
        _BUILD_ID = h.hexdigest()[:16]
    return _BUILD_ID


_BUILD_ID: Optional[str] = None


def peek(key: str) -> Optional[pathlib.Path]:
    """The entry's directory if the cache has it (not marked as used)."""
    root = directory()
    if root is None:
        return None
    entry = root / key
    return entry if (entry / "manifest.json").exists() else None


def lookup(key: str) -> Optional[pathlib.Path]:
    """The entry's directory if the cache has it (marked as just used)."""
    entry = peek(key)
    if entry is not None:
        try:
            os.utime(entry / "manifest.json")
        except OSError:
            pass
    return entry


def store(key: str, model_dir: pathlib.Path) -> Optional[pathlib.Path]:
    """Copies a model directory in as `key`; returns the entry (an existing
    whole entry if another process stored it first)."""
    root = directory()
    if root is None:
        return None
    root.mkdir(parents=True, exist_ok=True)
    entry = root / key
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        for f in model_dir.iterdir():
            if f.is_file():
                shutil.copyfile(f, tmp / f.name)
        try:
            os.rename(tmp, entry)
        except OSError:          # another process stored it first: keep theirs
            if not (entry / "manifest.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _evict(root)
    return entry


def forget(key: str) -> None:
    root = directory()
    if root is not None:
        shutil.rmtree(root / key, ignore_errors=True)


def _evict(root: pathlib.Path) -> None:
    limit = int(os.environ.get("DQMLIR_CACHE_MB") or 8192) << 20
    entries = []
    for e in root.iterdir():
        m = e / "manifest.json"
        if e.is_dir() and not e.name.startswith(".") and m.exists():
            size = sum(f.stat().st_size for f in e.iterdir() if f.is_file())
            entries.append((m.stat().st_mtime, size, e))
    total = sum(s for _, s, _ in entries)
    for _, size, e in sorted(entries):
        if total <= limit:
            break
        shutil.rmtree(e, ignore_errors=True)
        total -= size
    hints = root / HINTS               # cache_ahead's, of entries gone
    if hints.is_dir():
        for hint in hints.iterdir():
            try:
                if not (root / hint.read_text().strip() / "manifest.json").exists():
                    hint.unlink()
            except (OSError, ValueError):
                pass
