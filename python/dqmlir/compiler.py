"""`dqmlir.compile`: PyTorch module -> dq -> linalg -> LLVM -> JIT callable.

Stages (each printable with `compiled.ir(stage)`):
  torch  - torch-mlir's import (torch dialect), quantized linears as calls
  dq     - upstream MLIR 22 module: torch-mlir's linalg + dq.linear_dynamic
  linalg - dq lowered to linalg (convert-dq-to-linalg), computed on request
  llvm   - LLVM dialect after dq-cpu-pipeline, what the JIT compiles
Set DQMLIR_DUMP_DIR to write every stage there with the dq-opt command lines
that reproduce each step.
"""
from __future__ import annotations

import logging
import os
import pathlib
import time

import torch
from mlir import ir
from mlir.dialects import func

from . import ir as dqir
from .frontend import emit
from .errors import UnsupportedModuleError
from .frontend.quantized_linear import from_dynamic_linear
from .runtime import JitFunction, TensorSpec
from .signature import Signature
from .threads import get_num_threads

log = logging.getLogger("dqmlir")

STAGES = ("torch", "dq", "linalg", "llvm")
LINALG_PIPELINE = "builtin.module(convert-dq-to-linalg,canonicalize,cse)"
# Quantization schemes for fp32 models (compile(..., quantize=...)).
SCHEMES = {
    # Exactly what torch.ao.quantization.quantize_dynamic does: per-tensor int8
    # weights, per-tensor uint8 activations with reduce_range.
    "pytorch": dict(per_channel=False, reduce_range=True, act_granularity="per_tensor"),
    # Per-channel int8 weights, per-token (per-row) full-range uint8 activations.
    "accurate": dict(per_channel=True, reduce_range=False, act_granularity="per_row"),
}


def _text(module: ir.Module) -> str:
    # Big weights print as `dense_resource<...>` without their hex data.
    return module.operation.get_asm(large_resource_limit=64, large_elements_limit=64)


class CompiledModule:
    """A compiled model: call it like the model; `.ir(stage)` shows each stage.

    Calls are checked against `signature` (signature.py) before the compiled
    code runs: wrong arguments raise TypeError/ValueError naming them."""

    def __init__(self, fn: JitFunction, stages: dict, timings: dict, source: str,
                 signature: Signature, threads: int = 1):
        self._fn = fn
        self.threads = threads
        self._stages = stages
        self.signature = signature
        self.timings = timings
        self.source = source

    def __call__(self, *args, **kwargs):
        tensors = self.signature.bind(args, kwargs)
        out = self._fn(*tensors)
        return self.signature.outputs(out if isinstance(out, tuple) else (out,))

    def ir(self, stage: str = "dq") -> str:
        """The module's MLIR at `stage` (one of STAGES), weights elided."""
        if stage == "linalg" and "linalg" not in self._stages and "dq" in self._stages:
            self._stages["linalg"] = _lower_text(self._stages["dq"], LINALG_PIPELINE)
        if stage not in self._stages:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(self._stages)}")
        return self._stages[stage]

    def __repr__(self) -> str:
        return f"<dqmlir.CompiledModule {self.signature!r}>"


def _lower_text(text: str, pipeline: str) -> str:
    with dqir.make_context():
        module = ir.Module.parse(text)
        dqir.run_pipeline(module, pipeline)
        return _text(module)


def _signature(module: ir.Module, name: str):
    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
            ftype = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
            return ([TensorSpec.from_type(t) for t in ftype.inputs],
                    [TensorSpec.from_type(t) for t in ftype.results])
    raise ValueError(f"no func.func @{name} in the module")


def _dump(stages: dict, module_for_dump: ir.Module | None) -> None:
    """DQMLIR_DUMP_DIR: every stage, and how to reproduce each step."""
    out = os.environ.get("DQMLIR_DUMP_DIR")
    if not out:
        return
    d = pathlib.Path(out)
    d.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(STAGES):
        if s in stages:
            (d / f"{i}-{s}.mlir").write_text(stages[s])
    if module_for_dump is not None:  # with the weights, so dq-opt can run it
        (d / "1-dq.full.mlir").write_text(str(module_for_dump))
    (d / "REPRODUCE.sh").write_text(
        "# dq-opt reproduces each step from 1-dq.full.mlir (weights included):\n"
        "dq-opt 1-dq.full.mlir --convert-dq-to-linalg --canonicalize --cse > 2-linalg.mlir\n"
        "dq-opt 1-dq.full.mlir --dq-cpu-pipeline > 3-llvm.mlir\n"
        "mlir-translate --mlir-to-llvmir 3-llvm.mlir > 3-llvm.ll\n")
    log.info("dqmlir: stages dumped to %s", d)


def _finish(module: ir.Module, name: str, stages: dict, timings: dict, source: str, threads: int,
            signature: Signature | None = None, keepalive=(), arg_names=None) -> CompiledModule:
    """dq module -> LLVM -> JIT, the kernels on `threads` threads."""
    checks = _add_runtime_checks(module, name)
    specs, result_specs = _signature(module, name)
    if checks:
        result_specs = result_specs[:-1]
    stages["dq"] = _text(module)
    _dump(stages, module if os.environ.get("DQMLIR_DUMP_DIR") else None)
    log.info("dqmlir: lowering %s (dq-cpu-pipeline)", source)
    timings["lower"] = dqir.run_pipeline(module, dqir.cpu_pipeline(threads))
    stages["llvm"] = _text(module)
    if os.environ.get("DQMLIR_DUMP_DIR"):
        _dump(stages, None)
    log.info("dqmlir: JIT-compiling %s", source)
    start = time.perf_counter()
    fn = JitFunction(module, name, specs, result_specs + ([_STATUS] if checks else []),
                     keepalive=keepalive, async_runtime=threads > 1, checks=checks)
    timings["jit"] = time.perf_counter() - start
    if signature is None:
        signature = Signature.for_tensors(source, [(s.dtype, s.shape) for s in specs],
                                          len(result_specs), arg_names)
    return CompiledModule(fn, stages, timings, source, signature, threads)


_STATUS = TensorSpec((), torch.int32)


def _add_runtime_checks(module: ir.Module, name: str) -> list:
    """dq-runtime-checks on the entry function; its messages (the function
    then returns a status last)."""
    dqir.run_pipeline(module, "builtin.module(dq-runtime-checks)")
    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
            if "dq.checks" in op.attributes:
                return [ir.StringAttr(a).value for a in ir.ArrayAttr(op.attributes["dq.checks"])]
    return []


def _threads(threads) -> int:
    threads = get_num_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return threads


def compile_mlir(source: str, name: str = "forward", threads: int | None = None) -> CompiledModule:
    """Compiles MLIR text (dq, linalg, ... on tensors) and JITs function `name`.

    The function's signature (before lowering) defines what the callable takes
    and returns. `threads`: see `compile`.
    """
    threads = _threads(threads)
    timings = {}
    with dqir.make_context(), ir.Location.unknown():
        start = time.perf_counter()
        module = ir.Module.parse(source)
        timings["parse"] = time.perf_counter() - start
        _signature(module, name)
        for op in module.body.operations:
            if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
                op.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        return _finish(module, name, {}, timings, f"@{name}", threads)


def _compile_linear(model, example_args, threads) -> CompiledModule:
    lin = from_dynamic_linear(model)
    if len(example_args) != 1 or not isinstance(example_args[0], torch.Tensor):
        raise TypeError("a quantized Linear takes one tensor argument")
    x = example_args[0]
    if x.dim() < 2 or x.shape[-1] != lin.in_features:
        raise ValueError(f"expected an input of rank >= 2 with last dim {lin.in_features}, got {list(x.shape)}")
    timings = {}
    start = time.perf_counter()
    with dqir.make_context(), ir.Location.unknown():
        module = ir.Module.create()
        dyn = ir.ShapedType.get_dynamic_size()
        xtype = emit.f32_tensor([dyn] * (x.dim() - 1) + [lin.in_features])
        with ir.InsertionPoint(module.body):
            @func.FuncOp.from_py_func(xtype, name="forward")
            def forward(a):
                return emit.linear_dynamic(a, lin)
        forward.func_op.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        timings["frontend"] = time.perf_counter() - start
        return _finish(module, "forward", {}, timings, type(model).__name__, threads,
                       keepalive=(lin,), arg_names=["input"])


def _compile_model(model, example_args, example_kwargs, quantize, dynamic, threads) -> CompiledModule:
    from .frontend.export import export_model
    from .frontend.importer import import_program
    from .frontend.to_dq import to_dq

    kwargs = {}
    if quantize is not None:
        if quantize not in SCHEMES:
            raise ValueError(f"quantize must be one of {sorted(SCHEMES)} or None, got {quantize!r}")
        scheme = SCHEMES[quantize]
        qconfig = (torch.ao.quantization.per_channel_dynamic_qconfig if scheme["per_channel"]
                   else torch.ao.quantization.default_dynamic_qconfig)
        kwargs = dict(quantize=True, qconfig=qconfig, reduce_range=scheme["reduce_range"],
                      act_granularity=scheme["act_granularity"])
    source = type(model).__name__
    log.info("dqmlir: exporting %s", source)
    exported = export_model(model, example_args, example_kwargs, dynamic=dynamic, **kwargs)
    if not exported.linears:
        log.warning("dqmlir: %s has no quantized linear layers", source)
    log.info("dqmlir: importing %s with torch-mlir", source)
    start = time.perf_counter()
    imported = import_program(exported)
    timings = dict(exported.timings)
    timings["import"] = time.perf_counter() - start
    stages = {"torch": imported.torch_text} if imported.torch_text else {}
    with dqir.make_context(), ir.Location.unknown():
        start = time.perf_counter()
        module = to_dq(imported.text, imported.resources, exported.linears, imported.func_name,
                       ir.Context.current)
        timings["to_dq"] = time.perf_counter() - start
        return _finish(module, imported.func_name, stages, timings, source, threads,
                       signature=exported.signature, keepalive=(imported, exported.linears))


def compile(model: torch.nn.Module, example_args, example_kwargs=None, quantize=None,
            dynamic=True, threads: int | None = None) -> CompiledModule:
    """Compiles `model` for this CPU; returns a callable with the model's call
    signature and output structure.

    - `torch.ao.nn.quantized.dynamic.Linear`: the layer itself, leading dims dynamic.
    - Any other module (e.g. a `quantize_dynamic`'d transformer): exported with
      torch.export (batch and sequence dims dynamic), imported with torch-mlir,
      quantized linears as dq ops.
    - `quantize="pytorch"` / `"accurate"`: an fp32 model's nn.Linear layers are
      quantized here (see SCHEMES).
    - `threads`: threads of the quantized linear kernels, fixed in the code;
      default `dqmlir.get_num_threads()` (see dqmlir.threads).
    """
    threads = _threads(threads)
    if not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    if isinstance(model, DynamicLinear) and quantize is None and not example_kwargs:
        return _compile_linear(model, example_args, threads)
    if not isinstance(model, torch.nn.Module):
        raise UnsupportedModuleError(f"expected a torch.nn.Module, got {type(model).__name__}")
    return _compile_model(model, example_args, example_kwargs, quantize, dynamic, threads)
