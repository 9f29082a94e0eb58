"""The persistent compile cache: a compiled model directory per key.

A second `dqmlir.compile` of the same model (in any process) opens the
directory the first one stored instead of compiling. The key is computed
without exporting the model (export alone takes seconds): a hash of
- every submodule's path and class, the source file that defines the class
  (its forward and the helpers next to it), its extra_repr, its plain
  attributes (numbers, strings, flags and their containers; configs through
  their to_dict) and its hooks;
- every parameter, buffer and state_dict entry: name, dtype, shape, bytes
  (quantized weights through their integer values and scales);
- the example arguments' structure, dtypes and shapes (not their values);
- the compile options, the target CPU level and its features, and the
  versions of dqmlir, torch, torch-mlir and transformers.

Entries are written to a temporary directory and renamed into place, so two
processes compiling the same model at once both end with a whole entry. The
cache keeps at most DQMLIR_CACHE_MB (default 8192) MiB, least recently used
entries going first. DQMLIR_CACHE_DIR sets its place (default
$XDG_CACHE_HOME/dqmlir or ~/.cache/dqmlir); an empty value turns it off.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import pathlib
import shutil
import sys
import tempfile
import types
from typing import Any, Optional

import torch
from torch.utils import _pytree as pytree

from ._version import __version__

_FILE_HASHES: dict = {}


def directory() -> Optional[pathlib.Path]:
    """Where the cache lives, or None when it is turned off."""
    value = os.environ.get("DQMLIR_CACHE_DIR")
    if value is not None:
        return pathlib.Path(value) if value else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "dqmlir"


def _versions() -> dict:
    out = {"dqmlir": __version__, "torch": torch.__version__}
    for name in ("torch_mlir", "transformers", "torchao"):
        mod = sys.modules.get(name)
        if mod is None:
            try:
                from importlib.metadata import version
                out[name] = version(name.replace("_", "-"))
            except Exception:
                out[name] = None
        else:
            out[name] = getattr(mod, "__version__", None)
    return out


def _source_hash(cls) -> str:
    try:
        path = inspect.getsourcefile(cls)
    except (TypeError, OSError):
        path = None
    if not path:
        return cls.__module__ + "." + cls.__qualname__
    if path not in _FILE_HASHES:
        try:
            _FILE_HASHES[path] = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
        except OSError:
            _FILE_HASHES[path] = path
    return _FILE_HASHES[path]


_MODULE_INTERNALS = {"_parameters", "_buffers", "_modules", "_non_persistent_buffers_set",
                     "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                     "_load_state_dict_post_hooks", "training"}


def _plain(v, depth: int = 0):
    """A repr of `v` if it is plain data (what a forward branches on), else
    its type's name."""
    if v is None or isinstance(v, (bool, int, float, str, torch.dtype)):
        return repr(v)
    if depth < 3 and isinstance(v, (list, tuple, set, frozenset)):
        items = sorted(v, key=repr) if isinstance(v, (set, frozenset)) else v
        return "[" + ",".join(_plain(x, depth + 1) for x in items) + "]"
    if depth < 3 and isinstance(v, dict):
        return "{" + ",".join(f"{k!r}:{_plain(x, depth + 1)}"
                              for k, x in sorted(v.items(), key=lambda kv: repr(kv[0]))) + "}"
    if depth < 2 and hasattr(v, "to_dict") and callable(v.to_dict):   # HF configs
        try:
            return _plain(v.to_dict(), depth + 1)
        except Exception:
            pass
    if isinstance(v, types.FunctionType):
        return _function(v, depth)
    if isinstance(v, types.MethodType):
        return f"method({type(v.__self__).__qualname__},{_plain(v.__func__, depth)})"
    if isinstance(v, functools.partial):
        return (f"partial({_plain(v.func, depth)},{_plain(v.args, depth + 1)},"
                f"{_plain(v.keywords, depth + 1)})")
    if isinstance(v, (types.BuiltinFunctionType, type)) or callable(v) and \
            not hasattr(v, "__dict__"):
        return f"{getattr(v, '__module__', '')}.{getattr(v, '__qualname__', type(v).__name__)}"
    if depth < 3 and hasattr(v, "__dict__"):
        # Any other object (a callable class, a config without to_dict): its
        # class and what it holds, so that two objects that differ key apart.
        return f"{type(v).__module__}.{type(v).__qualname__}({_plain(vars(v), depth + 1)})"
    return type(v).__qualname__


def _code(c: types.CodeType) -> str:
    consts = ",".join(_code(x) if isinstance(x, types.CodeType) else repr(x)
                      for x in c.co_consts)
    return f"code({c.co_qualname}:{c.co_code.hex()}:{consts}:{c.co_names})"


def _function(f: types.FunctionType, depth: int) -> str:
    """A function by its code, defaults and the values it closes over (a
    lambda stored on a module keys by what it computes, not its name)."""
    cells = []
    for cell in f.__closure__ or ():
        try:
            cells.append(_plain(cell.cell_contents, depth + 1))
        except ValueError:          # an empty cell
            cells.append("<empty>")
    # Plain globals it reads (a constant of the defining script).
    plain = (bool, int, float, str, tuple, list, dict, type(None))
    names = _names(f.__code__)
    read = {n: f.__globals__[n] for n in sorted(names) if n in f.__globals__
            and isinstance(f.__globals__[n], plain)}
    return (f"fn({f.__module__}.{_code(f.__code__)};{_plain(f.__defaults__, depth + 1)};"
            f"{_plain(f.__kwdefaults__, depth + 1)};{','.join(cells)};"
            f"{_plain(read, depth + 1)})")


def _names(c: types.CodeType) -> set:
    out = set(c.co_names)
    for x in c.co_consts:
        if isinstance(x, types.CodeType):
            out |= _names(x)
    return out


def _attributes(m: torch.nn.Module) -> str:
    """A module's own attributes a forward may depend on, and its hooks."""
    out = []
    for k, v in sorted(vars(m).items()):
        if k in _MODULE_INTERNALS or isinstance(v, (torch.Tensor, torch.nn.Module)):
            continue
        out.append(f"{k}={_plain(v)}")
    return ";".join(out)


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
    else:
        h.update(repr(value).encode())


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
    h.update(t.contiguous().numpy().tobytes() if t.numel() else b"")


def model_key(model: torch.nn.Module, example_args, example_kwargs, options: dict) -> str:
    """The cache key of compiling `model` with these arguments and options."""
    h = hashlib.sha256()
    h.update(json.dumps({"options": options, "versions": _versions()}, sort_keys=True,
                        default=str).encode())
    for name, m in model.named_modules():
        cls = type(m)
        h.update(f"|{name}|{cls.__module__}.{cls.__qualname__}|{_source_hash(cls)}|"
                 f"{m.extra_repr()}|{m.training}|{_attributes(m)}".encode())
    seen = set()
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        seen.add(name)
        h.update(name.encode())
        _hash_tensor(h, t)
    for name, v in model.state_dict().items():
        if name not in seen:
            h.update(name.encode())
            _hash_value(h, v)
    flat, spec = pytree.tree_flatten((tuple(example_args), dict(example_kwargs or {})))
    h.update(str(spec).encode())
    for leaf in flat:
        if isinstance(leaf, torch.Tensor):
            h.update(f"T{leaf.dtype}{tuple(leaf.shape)}".encode())
        else:
            h.update(repr(leaf).encode())
    return h.hexdigest()[:40]


def lookup(key: str) -> Optional[pathlib.Path]:
    """The entry's directory if the cache has it (marked as just used)."""
    root = directory()
    if root is None:
        return None
    entry = root / key
    if (entry / "manifest.json").exists():
        try:
            os.utime(entry / "manifest.json")
        except OSError:
            pass
        return entry
    return None


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
