"""torch-mlir's linalg text -> an upstream MLIR 22 module with dq ops.

The importer leaves every custom op of registry.py as a `func.call` of a
tagged declaration, and big constants as `dense_resource<key>` references
without data. Here the data is attached from the numpy arrays (no hex text)
and each call becomes its dq op (`registry.lower_calls`), e.g.
`dq.linear_dynamic` with the layer's weights as constants.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np
from mlir import ir

from ..errors import CompileError
from . import registry
from .quantized_linear import QuantizedLinear


@dataclass
class EmitContext:
    """What the registry's emitters may need besides the call's operands."""

    linears: List[QuantizedLinear]


def _attach_resources(module: ir.Module, resources: Dict[str, np.ndarray]) -> None:
    cache = {}

    def visit(op):
        for i in range(len(op.attributes)):
            named = op.attributes[i]
            a = named.attr
            # The bindings do not downcast to DenseResourceElementsAttr.
            if str(a).startswith("dense_resource<"):
                key = str(a)[len("dense_resource<"):].split(">")[0]
                if key in resources:
                    if key not in cache:
                        arr = np.ascontiguousarray(resources[key])
                        cache[key] = ir.DenseResourceElementsAttr.get_from_buffer(
                            memoryview(arr), key, ir.ShapedType(a.type))
                    op.attributes[named.name] = cache[key]
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)


def _mark_state(main, state) -> None:
    """Results that are the new value of an argument (an input the program
    mutates: a KV cache) get `dq.state = <argument>`, and those arguments
    `bufferization.writable`: the step updates them in place
    (dq-bind-state) and does not return them."""
    if not state:
        return
    ftype = ir.FunctionType(ir.TypeAttr(main.attributes["function_type"]).value)
    i64 = ir.IntegerType.get_signless(64)
    res = [{} for _ in ftype.results]
    args = [{} for _ in ftype.inputs]
    for result, arg in state:
        res[result]["dq.state"] = ir.IntegerAttr.get(i64, arg)
        args[arg]["bufferization.writable"] = ir.BoolAttr.get(True)
    main.attributes["res_attrs"] = ir.ArrayAttr.get([ir.DictAttr.get(d) for d in res])
    main.attributes["arg_attrs"] = ir.ArrayAttr.get([ir.DictAttr.get(d) for d in args])


def to_dq(text: str, resources: Dict[str, np.ndarray], linears: List[QuantizedLinear],
          func_name: str, ctx: ir.Context, state=()) -> ir.Module:
    """Parses the importer's text into `ctx` and makes its custom-op calls dq
    ops; `state`: (result, argument) pairs of inputs updated in place."""
    with ctx, ir.Location.unknown():
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as e:
            raise CompileError(f"MLIR 22 cannot parse torch-mlir's output:\n{e}",
                               stage="to_dq") from None
        _attach_resources(module, resources)
        registry.lower_calls(module, EmitContext(linears))
        main = next(op for op in module.body.operations if op.operation.name == "func.func"
                    and ir.StringAttr(op.attributes["sym_name"]).value == func_name)
        main.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        _mark_state(main, state)
        try:
            module.operation.verify()
        except ir.MLIRError as e:
            # torch-mlir's (newer) MLIR accepts some IR that MLIR 22's verifiers refuse.
            raise CompileError(f"torch-mlir's output does not verify in MLIR 22:\n{e}",
                               stage="to_dq") from None
    return module
