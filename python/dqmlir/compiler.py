"""`dqmlir.compile`: PyTorch module -> dq -> linalg -> LLVM -> JIT callable."""
from __future__ import annotations

import time

import torch
from mlir import ir
from mlir.dialects import func

from . import ir as dqir
from .frontend import emit
from .frontend.quantized_linear import UnsupportedModuleError, from_dynamic_linear
from .runtime import JitFunction, TensorSpec

STAGES = ("dq", "llvm")


class CompiledModule:
    """A compiled model: call it like the model; `.ir(stage)` shows each stage."""

    def __init__(self, fn: JitFunction, stages: dict, timings: dict, source: str):
        self._fn = fn
        self._stages = stages
        self.timings = timings
        self.source = source

    def __call__(self, *args):
        return self._fn(*args)

    def ir(self, stage: str = "dq") -> str:
        """The module's MLIR at `stage` (one of STAGES)."""
        if stage not in self._stages:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(self._stages)}")
        return self._stages[stage]

    def __repr__(self) -> str:
        sig = ", ".join(map(str, self._fn.specs))
        return f"<dqmlir.CompiledModule {self.source}({sig})>"


def _entry(module: ir.Module, name: str, arg_types, build) -> None:
    with ir.InsertionPoint(module.body):
        f = func.FuncOp(name, ir.FunctionType.get(arg_types, []))
        f.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        block = f.add_entry_block()
        with ir.InsertionPoint(block):
            results = build(*block.arguments)
            func.ReturnOp(results)
        f.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get(arg_types, [r.type for r in results]))


def compile_mlir(source: str, name: str = "forward", pipeline: str = dqir.CPU_PIPELINE) -> CompiledModule:
    """Compiles MLIR text (dq, linalg, ... on tensors) and JITs function `name`.

    The function's signature (before lowering) defines what the callable takes
    and returns.
    """
    timings = {}
    ctx = dqir.make_context()
    with ctx, ir.Location.unknown():
        start = time.perf_counter()
        module = ir.Module.parse(source)
        timings["parse"] = time.perf_counter() - start
        fn_op = None
        for op in module.body.operations:
            if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
                fn_op = op
        if fn_op is None:
            raise ValueError(f"no func.func @{name} in the module")
        fn_op.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        func_type = ir.FunctionType(ir.TypeAttr(fn_op.attributes["function_type"]).value)
        specs = [TensorSpec.from_type(t) for t in func_type.inputs]
        result_specs = [TensorSpec.from_type(t) for t in func_type.results]
        stages = {"input": str(module)}
        timings["lower"] = dqir.run_pipeline(module, pipeline)
        stages["llvm"] = str(module)
        start = time.perf_counter()
        fn = JitFunction(module, name, specs, result_specs)
        timings["jit"] = time.perf_counter() - start
    return CompiledModule(fn, stages, timings, f"@{name}")


def compile(model: torch.nn.Module, example_args, example_kwargs=None, quantize=None) -> CompiledModule:
    """Compiles `model` for this CPU.

    Supported now: `torch.ao.nn.quantized.dynamic.Linear` (what
    `torch.ao.quantization.quantize_dynamic` makes of `nn.Linear`, default or
    per-channel qconfig). The leading dims of the input are dynamic: compile
    once, call with any batch.
    """
    if example_kwargs or quantize is not None:
        raise NotImplementedError("example_kwargs and quantize= need the model frontend")
    if not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    lin = from_dynamic_linear(model)
    if len(example_args) != 1 or not isinstance(example_args[0], torch.Tensor):
        raise TypeError("a quantized Linear takes one tensor argument")
    x = example_args[0]
    if x.dim() < 2 or x.shape[-1] != lin.in_features:
        raise ValueError(f"expected an input of rank >= 2 with last dim {lin.in_features}, got {list(x.shape)}")

    timings = {}
    start = time.perf_counter()
    ctx = dqir.make_context()
    with ctx, ir.Location.unknown():
        module = ir.Module.create()
        dyn = ir.ShapedType.get_dynamic_size()
        xtype = emit.f32_tensor([dyn] * (x.dim() - 1) + [lin.in_features])
        _entry(module, "forward", [xtype], lambda a: [emit.linear_dynamic(a, lin)])
        func_type = ir.FunctionType(ir.TypeAttr(module.body.operations[0].attributes["function_type"]).value)
        specs = [TensorSpec.from_type(t) for t in func_type.inputs]
        result_specs = [TensorSpec.from_type(t) for t in func_type.results]
        stages = {"dq": str(module)}
        timings["frontend"] = time.perf_counter() - start
        timings["lower"] = dqir.run_pipeline(module, dqir.CPU_PIPELINE)
        stages["llvm"] = str(module)
        start = time.perf_counter()
        fn = JitFunction(module, "forward", specs, result_specs, keepalive=(lin,))
        timings["jit"] = time.perf_counter() - start
    return CompiledModule(fn, stages, timings, type(model).__name__)
