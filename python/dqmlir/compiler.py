"""`dqmlir.compile`: PyTorch module -> dq -> saved model library -> callable.

Stages, each timed in `compiled.timings` and printable with `compiled.ir`:
  export  - torch.export of the model with exportable stand-ins for its
            linears (frontend/export.py); the call signature
  torch   - torch-mlir's import and lowering to linalg (frontend/importer.py,
            in a child process)
  dq      - the upstream MLIR 22 module: torch-mlir's linalg + dq ops
            (frontend/to_dq.py)
  linalg  - dq lowered to linalg (convert-dq-to-linalg), on request
  llvm    - the LLVM dialect after dq-cpu-pipeline, on request
  backend - dq-compile (in a child process): lowering, code generation for
            the target CPU level, model.so + weights.bin (backend.py)
The result is a model directory (compiled.py); a second compile of the same
model opens the one the persistent cache kept (cache.py). Set
DQMLIR_DUMP_DIR to write every stage there with a REPRODUCE.sh that redoes
the backend step.
"""
from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import torch
from torch.utils import _pytree as pytree

from . import backend
from . import cache as compile_cache
from .cache_ahead import Ahead
from .compiled import CompiledModule
from .errors import CompileError, UnsupportedModuleError
from .threads import get_num_threads

# Quantization schemes for fp32 models (compile(..., quantize=...)).
SCHEMES = {
    # Exactly what torch.ao.quantization.quantize_dynamic does: per-tensor int8
    # weights, per-tensor uint8 activations with reduce_range.
    "pytorch": dict(per_channel=False, reduce_range=True, act_granularity="per_tensor"),
    # Per-channel int8 weights, per-token (per-row) full-range uint8 activations.
    "accurate": dict(per_channel=True, reduce_range=False, act_granularity="per_row"),
}


class _Progress:
    """Timings of the stages; for compiles longer than a second, one line
    per stage on stderr (verbose=False silences it)."""

    def __init__(self, source: str, verbose: bool):
        self.source, self.verbose = source, verbose
        self.start = time.perf_counter()
        self.timings: dict = {}

    def stage(self, name: str, what: str):
        progress = self

        class Stage:
            def __enter__(self):
                self.t0 = time.perf_counter()
                if progress.verbose and self.t0 - progress.start >= 1.0:
                    print(f"dqmlir: {progress.source}: {what} "
                          f"({self.t0 - progress.start:.1f} s so far)", file=sys.stderr,
                          flush=True)

            def __exit__(self, *exc):
                progress.timings[name] = time.perf_counter() - self.t0

        return Stage()

    def done(self) -> dict:
        self.timings["total"] = time.perf_counter() - self.start
        if self.verbose and self.timings["total"] >= 1.0:
            print(f"dqmlir: {self.source}: compiled in {self.timings['total']:.1f} s",
                  file=sys.stderr, flush=True)
        return self.timings


def _threads(threads) -> int:
    threads = get_num_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return threads


def _host_flags() -> str:
    """The CPU's feature flags (part of the cache key of target="host")."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return ""


def _output_names(signature) -> list:
    """Names of the flat tensor outputs from their pytree paths
    ("last_hidden_state", "past_key_values.0.1"; "output" for a lone one)."""
    leaves = [object() for _ in signature.out_leaves]   # (None would be an empty node)
    tree = pytree.tree_unflatten(leaves, signature.out_spec)
    paths = [p for p, _ in pytree.tree_flatten_with_path(tree)[0]]
    names = []
    for (kind, _), path in zip(signature.out_leaves, paths):
        if kind != "tensor":
            continue
        parts = []
        for k in path:
            parts.append(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))))
        names.append(".".join(parts) or "output")
    return names


def _interface(signature) -> dict:
    """What dq-compile puts in interface.json besides outputs and checks."""
    return {
        "name": signature.name,
        "inputs": [{"name": l.path, "dtype": l.dtype, "dims": l.dims}
                   for l in signature.tensor_leaves],
        "ranges": signature.ranges,
        "min_sizes": signature.min_sizes,
        "output_names": _output_names(signature),
        "signature": signature.to_json(),
    }


def _write_dump(dump: pathlib.Path, stages: dict, bytecode: pathlib.Path,
                interface: dict) -> None:
    """DQMLIR_DUMP_DIR: the stages and the backend's input."""
    dump.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(("torch", "dq")):
        if name in stages:
            (dump / f"{i}-{name}.mlir").write_text(stages[name])
    (dump / "1-dq.mlirbc").write_bytes(bytecode.read_bytes())
    (dump / "interface.partial.json").write_text(json.dumps(interface))


def _write_reproducer(dump: pathlib.Path, target: str, kernel: str, threads: int,
                      entry: str, profile: bool = False) -> None:
    """DQMLIR_DUMP_DIR/REPRODUCE.sh: the backend step, runnable from anywhere."""
    compile_cmd = [str(backend.tool("dq-compile")), "1-dq.mlirbc", "-o", "model",
                   f"--target={target}", f"--num-threads={threads}", f"--entry-point={entry}",
                   "--interface=interface.partial.json"] + (["--profile"] if profile else [])
    opt = str(backend.tool("dq-opt"))
    (dump / "REPRODUCE.sh").write_text(
        "#!/bin/sh\n"
        "# Redoes the backend step of the compile that wrote this directory:\n"
        "# 1-dq.mlirbc (dq + linalg, weights included) -> model/ (a saved model).\n"
        "set -e\ncd \"$(dirname \"$0\")\"\n"
        + " ".join(shlex.quote(c) for c in compile_cmd) + "\n"
        "# The intermediate stages, for reading:\n"
        f"{shlex.quote(opt)} 1-dq.mlirbc --convert-dq-to-linalg --canonicalize --cse "
        "-o 2-linalg.mlir\n"
        f"{shlex.quote(opt)} 1-dq.mlirbc "
        f"'--dq-cpu-pipeline=kernel={kernel} threads={threads} buffer-cache=true"
        f"{' profile=true' if profile else ''}' "
        "-o 3-llvm.mlir\n")
    os.chmod(dump / "REPRODUCE.sh", 0o755)


def _module_text(module) -> str:
    """The module's text, weights elided, printed op by op: printing the
    module itself hex-encodes every resource blob before eliding it (MLIR
    22's printer), 1.3-1.6 s for MiniLM's 180 MB against 0.03 s for the
    200 KB of text. A nested op prints its attributes inline (no #map
    aliases) and no resource section; the text parses as the module does."""
    body = "\n".join(op.operation.get_asm(large_elements_limit=64)
                     for op in module.body.operations)
    attrs = module.operation.attributes
    head = "module"
    if len(attrs):
        head += " attributes {" + ", ".join(f"{a.name} = {a.attr}" for a in attrs) + "}"
    return head + " {\n" + textwrap.indent(body, "  ") + "\n}\n"


def _on_request(bytecode: pathlib.Path, args: list):
    """A stage computed when asked for, by dq-opt on the dq module."""
    def run() -> str:
        r = subprocess.run([str(backend.tool("dq-opt")), str(bytecode), *args,
                            "--mlir-elide-elementsattrs-if-larger=64",
                            "--mlir-elide-resource-strings-if-larger=64"],
                           capture_output=True, text=True)
        if r.returncode:
            raise CompileError(f"dq-opt {' '.join(args)} failed:\n{r.stderr[-4000:]}", "ir")
        return r.stdout
    return run


def _build(module_fn, source: str, signature_fn, progress: _Progress, threads: int,
           target: str, entry: str, stages: dict, key: str | None,
           kernel: str | None = None, profile: bool = False) -> CompiledModule:
    """Runs `module_fn` (-> an MLIR 22 module, in the caller's context) and
    the backend; returns the compiled model (stored in the cache under
    `key`)."""
    from mlir import ir

    from . import ir as dqir

    work = tempfile.TemporaryDirectory(prefix="dqmlir-")
    bytecode = pathlib.Path(work.name) / "model.mlirbc"
    with dqir.make_context(), ir.Location.unknown():
        with progress.stage("to_dq", "building the dq module"):
            module = module_fn()
            stages["dq"] = _module_text(module)
            with open(bytecode, "wb") as f:
                module.operation.write_bytecode(f)
        del module
    interface = signature_fn()
    dump = os.environ.get("DQMLIR_DUMP_DIR")
    if dump:
        _write_dump(pathlib.Path(dump), stages, bytecode, interface)
    out_dir = pathlib.Path(work.name) / "model"
    with progress.stage("backend", "lowering and code generation (dq-compile)"):
        manifest = backend.compile_module(
            bytecode, out_dir, interface, target=target, threads=threads, kernel=kernel,
            entry=entry, dump_dir=pathlib.Path(dump) if dump else None, profile=profile)
    for k, v in manifest.get("compile_seconds", {}).items():
        progress.timings[f"backend.{k}"] = v
    kernel = manifest["target"]["kernel"]
    if dump:
        _write_reproducer(pathlib.Path(dump), target, kernel, threads, entry, profile)
    stages["linalg"] = _on_request(bytecode, ["--convert-dq-to-linalg", "--canonicalize",
                                              "--cse"])
    stages["llvm"] = _on_request(bytecode, [
        f"--dq-cpu-pipeline=kernel={kernel} threads={threads} buffer-cache=true"])
    for name in ("torch", "dq"):         # small (weights elided): kept with the entry
        if name in stages:
            (out_dir / f"stage-{name}.mlir").write_text(stages[name])
    where = out_dir
    if key is not None:
        with progress.stage("cache_store", "storing in the compile cache"):
            stored = compile_cache.store(key, out_dir)
            where = stored or out_dir
    return CompiledModule(where, stages=stages, timings=progress.done(), keep=work)


def _lookup(key: str | None, progress: _Progress, ahead: Ahead | None = None
            ) -> CompiledModule | None:
    """The cached model of `key`: the entry `ahead` opened beside the trace
    where it is that one, else the entry opened here."""
    if key is None:
        return None
    compiled = None
    if ahead is not None:
        with progress.stage("cache_load", "loading from the compile cache"):
            compiled = ahead.take(key)
        if compiled is not None:
            progress.timings["cache_load.ahead"] = ahead.seconds
    if compiled is None:
        entry = compile_cache.lookup(key)
        if entry is None:
            return None
        from .errors import ModelFormatError
        try:
            with progress.stage("cache_load", "loading from the compile cache"):
                compiled = CompiledModule(entry)
        except ModelFormatError:
            compile_cache.forget(key)  # damaged or from another machine: compile again
            return None
    compiled.timings = progress.done()
    compiled.timings["cached"] = True
    return compiled


def compile_mlir(source: str, name: str = "forward", threads: int | None = None,
                 target: str = "host", *, kernel: str | None = None) -> CompiledModule:
    """Compiles MLIR text (dq, linalg, ... on tensors); the result calls
    function `name` with positional tensors (`arg0`, `arg1`, ...). `kernel`
    overrides the target level's int8 kernel ("amx", "vnni", "avx2", or
    "generic": the linalg path), to compare kernels with each other."""
    from mlir import ir

    threads = _threads(threads)
    progress = _Progress(f"@{name}", verbose=False)

    def module_fn():
        try:
            module = ir.Module.parse(source)
        except ir.MLIRError as e:
            raise CompileError(f"cannot parse the module:\n{e}", "parse") from None
        return module

    return _build(module_fn, f"@{name}", lambda: {"name": name}, progress, threads, target,
                  name, {}, key=None, kernel=kernel)


def _compile_linear(model, example_args, threads, target, progress, key=None,
                    profile: bool = False) -> CompiledModule:
    from mlir import ir
    from mlir.dialects import func

    from .frontend import emit
    from .frontend.quantized_linear import from_dynamic_linear

    lin = from_dynamic_linear(model)
    if len(example_args) != 1 or not isinstance(example_args[0], torch.Tensor):
        raise TypeError("a quantized Linear takes one tensor argument")
    x = example_args[0]
    if x.dim() < 2 or x.shape[-1] != lin.in_features:
        raise ValueError(f"expected an input of rank >= 2 with last dim {lin.in_features}, "
                         f"got {list(x.shape)}")
    rank = x.dim()

    def module_fn():
        module = ir.Module.create()
        dyn = ir.ShapedType.get_dynamic_size()
        xtype = emit.f32_tensor([dyn] * (rank - 1) + [lin.in_features])
        with ir.InsertionPoint(module.body):
            @func.FuncOp.from_py_func(xtype, name="forward")
            def forward(a):
                return emit.linear_dynamic(a, lin)
        return module

    def signature_fn():
        from .signature import Signature
        sig = Signature.for_tensors(type(model).__name__,
                                    [(torch.float32, [None] * (rank - 1) + [lin.in_features])],
                                    1, ["input"])
        return _interface(sig)

    return _build(module_fn, type(model).__name__, signature_fn, progress, threads, target,
                  "forward", {}, key=key, profile=profile)


def compile(model: torch.nn.Module, example_args, example_kwargs=None, quantize=None,
            dynamic=True, threads: int | None = None, target: str = "host",
            verbose: bool = True, cache: bool = True, profile: bool = False) -> CompiledModule:
    """Compiles `model` for an x86 CPU level; returns a callable with the
    model's call signature and output structure (`save(path)` writes it for
    `dqmlir.load` and the C runtime).

    - `torch.ao.nn.quantized.dynamic.Linear`: the layer itself, leading dims dynamic.
    - Any other module (e.g. a `quantize_dynamic`'d transformer): exported with
      torch.export (batch and sequence dims dynamic where the model allows,
      see `dynamic`), imported with torch-mlir, quantized linears as dq ops.
    - `quantize="pytorch"` / `"accurate"`: an fp32 model's nn.Linear layers are
      quantized here (see SCHEMES).
    - `dynamic`: True (default: batch and sequence dims dynamic where the model
      allows, static with one warning where it does not), False (all static),
      or a torch.export `dynamic_shapes` spec.
    - `threads`: threads the code splits its work over, fixed in the code;
      default `dqmlir.get_num_threads()`.
    - `target`: "host" (the best level this CPU runs), "amx", "avx512-vnni" or
      "x86-64-v3"; loading on a CPU that lacks the level is a clear error.
    - `verbose`: progress lines on stderr for compiles over a second.
    - `cache`: use the persistent compile cache (DQMLIR_CACHE_DIR).
    - `profile`: time each op kind of every call (`dqmlir.profile` reads the
      sums); a few hundred clock reads per layer and call.

    An HF causal LM with `use_cache=True` in `example_kwargs` compiles to a
    `CompiledDecoder` (a prefill and a decode step) for `dqmlir.generate`.
    """
    threads = _threads(threads)
    if target not in backend.TARGETS:
        raise ValueError(f"target must be one of {', '.join(backend.TARGETS)}, got {target!r}")
    if not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    if not isinstance(model, torch.nn.Module):
        raise UnsupportedModuleError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if quantize is not None and quantize not in SCHEMES:
        raise ValueError(f"quantize must be one of {sorted(SCHEMES)} or None, got {quantize!r}")
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    if (example_kwargs or {}).get("use_cache") is True:
        if profile:
            raise ValueError("profile=True is for single-step models; compile the decoder "
                             "with use_cache=False to profile its forward")
        # A decoder with a KV cache: its prefill and decode steps (generation.py).
        from .generation import compile_decoder
        return compile_decoder(model, example_args, example_kwargs, quantize=quantize,
                               threads=threads, target=target, verbose=verbose, cache=cache)
    source = type(model).__name__
    progress = _Progress(source, verbose)
    options = None
    if cache and compile_cache.directory() is not None and not os.environ.get("DQMLIR_DUMP_DIR"):
        options = {"quantize": quantize, "dynamic": repr(dynamic), "threads": threads,
                   "target": target, "host": _host_flags() if target == "host" else ""}
        if profile:
            options["profile"] = True

    if isinstance(model, DynamicLinear) and quantize is None and not example_kwargs:
        key = None
        if options is not None:
            # A lone torch.ao Linear: its forward is torch.ao's, its weights
            # and shapes are all there is to key.
            with progress.stage("cache_key", "hashing the model"):
                key = compile_cache.linear_key(model, example_args, options)
            hit = _lookup(key, progress)
            if hit is not None:
                return hit
        return _compile_linear(model, example_args, threads, target, progress, key,
                               profile=profile)
    return _compile_model(model, example_args, example_kwargs, quantize, dynamic, threads,
                          target, progress, options, profile=profile)


def _compile_model(model, example_args, example_kwargs, quantize, dynamic, threads, target,
                   progress, cache_options, profile: bool = False) -> CompiledModule:
    from .frontend.export import export_model
    from .frontend.importer import import_program

    kwargs = {}
    if quantize is not None:
        scheme = SCHEMES[quantize]
        qconfig = (torch.ao.quantization.per_channel_dynamic_qconfig if scheme["per_channel"]
                   else torch.ao.quantization.default_dynamic_qconfig)
        kwargs = dict(quantize=True, qconfig=qconfig, reduce_range=scheme["reduce_range"],
                      act_granularity=scheme["act_granularity"])
    key, hit, ahead = None, None, None
    # While torch.export traces (Python holding this thread), one more thread
    # unpacks the quantized linears (fbgemm's unpack and the weights' hash)
    # and, with the compile cache, opens the entry that a compile with this
    # model's fingerprint stored last and hashes the model's tensors
    # (cache_ahead.py). Each of its steps releases the GIL and then waits for
    # it; a switch interval of 0.25 ms instead of 5 lets them go on without
    # slowing the trace (BERT-base's 73 linears unpack in 0.3 s beside it,
    # 1.4 s at 5 ms).
    executor = ThreadPoolExecutor(1, thread_name_prefix="dqmlir-compile")
    if cache_options is not None:
        ahead = Ahead(executor, model, example_args, example_kwargs, cache_options)

    def cached(ep, linears) -> bool:
        # The key is the traced program (cache.program_key): known before
        # the slow stages (decomposition, import, code generation).
        nonlocal key, hit
        if cache_options is None:
            return False
        t0 = time.perf_counter()
        key = compile_cache.program_key(ep, linears, model, cache_options,
                                        digests=ahead.digests())
        progress.timings["cache_key"] = time.perf_counter() - t0
        hit = _lookup(key, progress, ahead)
        if hit is not None:
            ahead.remember(key)           # where the hint named another entry, or none
        return hit is not None

    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, 0.00025))
    try:
        with progress.stage("export", "exporting"):
            exported = export_model(model, example_args, example_kwargs, dynamic=dynamic,
                                    after_trace=cached, executor=executor, **kwargs)
    finally:
        sys.setswitchinterval(switch)
        executor.shutdown(wait=False, cancel_futures=True)
    if hit is not None:
        return hit
    for k, v in exported.timings.items():
        progress.timings[f"export.{k}"] = v
    if not exported.linears:
        import logging
        logging.getLogger("dqmlir").warning("dqmlir: %s has no quantized linear layers",
                                            progress.source)
    with progress.stage("import", "importing with torch-mlir"):
        # The size probe (a second of fake-tensor work on BERT-base) runs
        # here while the import's child process works.
        imported = import_program(exported, meanwhile=exported.probe_sizes)
    if "size_probe" in exported.timings:
        progress.timings["import.size_probe"] = exported.timings["size_probe"]
    stages = {"torch": imported.torch_text} if imported.torch_text else {}

    def module_fn():
        from mlir import ir

        from .frontend.to_dq import to_dq
        return to_dq(imported.text, imported.resources, exported.linears, imported.func_name,
                     ir.Context.current, exported.state)

    compiled = _build(module_fn, progress.source, lambda: _interface(exported.signature),
                      progress, threads, target, imported.func_name, stages, key,
                      profile=profile)
    if key is not None and ahead is not None:
        ahead.remember(key)
    return compiled
