"""Custom torch ops that torch-mlir passes through as opaque `torch.operator`s
and `to_dq` turns into dq ops (layer norm, GELU, attention softmax): each becomes a `func.call`
of a private declaration tagged with the dq op's name."""
from __future__ import annotations

from typing import Dict, Sequence


def rewrite_to_calls(module, mlir_op_name: str, decl_prefix: str, tag: str,
                     float_attrs: Sequence[str] = ()) -> None:
    """Each `torch.operator "<mlir_op_name>"` -> `func.call @<decl_prefix>N`,
    the declaration tagged `<tag>`. The op's trailing operands, one per name in
    `float_attrs`, must be float constants; they become `dq.<name>` attributes
    of the declaration (one declaration per signature and constants)."""
    from torch_mlir import ir
    from torch_mlir.dialects import func as func_d

    found = []

    def collect(op):
        if (op.name == "torch.operator"
                and ir.StringAttr(op.attributes["name"]).value == mlir_op_name):
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    ctx = module.context
    declared: Dict[tuple, str] = {}
    for op in found:
        operands = list(op.operands)
        n_tensors = len(operands) - len(float_attrs)
        tensors, consts = operands[:n_tensors], operands[n_tensors:]
        values = []
        for name, v in zip(float_attrs, consts):
            if v.owner.name != "torch.constant.float":
                raise ValueError(f"{mlir_op_name} {name} must be a constant, got {v.owner.name}")
            values.append(ir.FloatAttr(v.owner.attributes["value"]).value)
        result_types = [r.type for r in op.results]
        ftype = ir.FunctionType.get([t.type for t in tensors], result_types, ctx)
        key = (str(ftype), tuple(values))
        sym = declared.get(key)
        if sym is None:
            sym = f"{decl_prefix}{len(declared)}"
            with ir.InsertionPoint.at_block_begin(module.body), ir.Location.unknown(ctx):
                f = func_d.FuncOp(sym, ftype, visibility="private")
            f.operation.attributes[tag] = ir.UnitAttr.get(ctx)
            for name, value in zip(float_attrs, values):
                f.operation.attributes[f"dq.{name}"] = ir.FloatAttr.get_f64(value, ctx)
            declared[key] = sym
        with ir.InsertionPoint(op), op.location:
            call = func_d.CallOp(result_types, ir.FlatSymbolRefAttr.get(sym, ctx), tensors)
        for old, new in zip(op.results, call.results):
            old.replace_all_uses_with(new)
        op.erase()
