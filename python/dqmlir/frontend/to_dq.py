"""torch-mlir's linalg text -> an upstream MLIR 22 module with dq ops.

The bridge (torch_bridge.py) leaves every quantized linear as a `func.call` to
a private declaration tagged `dq.layer = <id>`, and big constants as
`dense_resource<key>` references without data. Here the data is attached from
the numpy arrays (no hex text) and each call becomes `dq.linear_dynamic` with
the layer's weights as constants; each call of a `dq.layer_norm` declaration
becomes `dq.layer_norm` (and of a `dq.gelu` one, `dq.gelu`; of a
`dq.flash_softmax` one, `dq.flash_softmax`).
"""
from __future__ import annotations

import numpy as np
from mlir import ir

from . import emit
from .fp32_linear import linear_f32
from .torch_bridge import ImportResult


def _attach_resources(module: ir.Module, resources: dict) -> None:
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


def to_dq(result: ImportResult, ctx: ir.Context) -> ir.Module:
    """Parses the bridge's text into `ctx` and makes its quantized linears dq ops."""
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(result.text)
        _attach_resources(module, result.resources)
        decls = {}
        for op in module.body.operations:
            if op.operation.name == "func.func" and ("dq.layer" in op.attributes
                                                     or "dq.layer_norm" in op.attributes
                                                     or "dq.gelu" in op.attributes
                                                     or "dq.flash_softmax" in op.attributes
                                                     or "dq.flash_scores_fixup" in op.attributes
                                                     or "dq.flash_output_fixup" in op.attributes
                                                     or "dq.f32_linear" in op.attributes):
                decls[ir.StringAttr(op.attributes["sym_name"]).value] = op
        calls = []

        def visit(op):
            if op.name == "func.call" and ir.FlatSymbolRefAttr(op.attributes["callee"]).value in decls:
                calls.append(op)
            return ir.WalkResult.ADVANCE

        module.operation.walk(visit)
        for call in calls:
            decl = decls[ir.FlatSymbolRefAttr(call.attributes["callee"]).value]
            with ir.InsertionPoint(call), call.location:
                if "dq.layer_norm" in decl.attributes:
                    eps = ir.FloatAttr(decl.attributes["dq.eps"]).value
                    y = emit.layer_norm(*call.operands, eps)
                elif "dq.gelu" in decl.attributes:
                    y = emit.gelu(call.operands[0])
                elif "dq.flash_softmax" in decl.attributes:
                    scale = ir.FloatAttr(decl.attributes["dq.scale"]).value
                    y = emit.flash_softmax(call.operands[0], call.operands[1], scale,
                                           [r.type for r in call.results])
                elif "dq.flash_scores_fixup" in decl.attributes:
                    y = emit.flash_fixup("flash_scores_fixup", *call.operands)
                elif "dq.flash_output_fixup" in decl.attributes:
                    y = emit.flash_fixup("flash_output_fixup", *call.operands)
                elif "dq.f32_linear" in decl.attributes:
                    ops = list(call.operands)
                    y = linear_f32(ops[0], ops[1], ops[2] if len(ops) > 2 else None,
                                   ir.BoolAttr(decl.attributes["dq.weight_kn"]).value)
                else:
                    layer = ir.IntegerAttr(decl.attributes["dq.layer"]).value
                    y = emit.linear_dynamic(call.operands[0], result.linears[layer], name=f"w{layer}")
            for old, new in zip(call.results, y if isinstance(y, list) else [y]):
                old.replace_all_uses_with(new)
            call.erase()
        for decl in decls.values():
            decl.operation.erase()
        main = next(op for op in module.body.operations if op.operation.name == "func.func"
                    and ir.StringAttr(op.attributes["sym_name"]).value == result.func_name)
        main.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        module.operation.verify()
    return module
