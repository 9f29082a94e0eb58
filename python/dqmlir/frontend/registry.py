"""The custom torch ops that carry dq operations through torch.export and
torch-mlir, and the dq op each becomes.

A model reaches MLIR through torch-mlir, which cannot lower what it does not
know (and lowers some ops with other roundings than PyTorch's CPU kernels).
So the frontend replaces such parts by custom ops (`dqmlir::<name>`, defined
next to their reference implementation: quantized linears in stubs.py, layer
norm, GELU, softmax, attention). torch-mlir passes each through as an opaque
`torch.operator`; `rewrite_to_calls` turns it into a `func.call` of a private
declaration tagged `dq.op = "<name>"` (its constant operands as `dq.<attr>`
attributes), which torch-mlir's pipelines carry to linalg on tensors; there
`lower_calls` (MLIR 22) replaces each call by the op's `emit`.

One entry per op: adding an op means adding a `CustomOp` here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

NAMESPACE = "dqmlir"
TAG = "dq.op"
_NONE = "dq.none"     # operand positions that were None (omitted from the call)


@dataclass(frozen=True)
class CustomOp:
    """`name`: the op is `dqmlir::<name>`. `attrs`: its trailing non-tensor
    operands (int, bool or float constants), in order. `emit(ctx, operands,
    attrs, result_types)` builds its dq/linalg replacement (MLIR 22 Python
    bindings) and returns the result values; `operands` has None where the
    torch op got None."""

    name: str
    attrs: Tuple[str, ...]
    emit: Callable

    @property
    def mlir_name(self) -> str:
        return f"torch.{NAMESPACE}.{self.name}"


_REGISTRY: Dict[str, CustomOp] = {}


def register(name: str, attrs: Sequence[str] = ()):
    """Decorator registering `emit` for the custom op `dqmlir::<name>`."""
    def wrap(emit: Callable) -> Callable:
        _REGISTRY[name] = CustomOp(name, tuple(attrs), emit)
        return emit
    return wrap


def ops() -> List[CustomOp]:
    _load_all()
    return list(_REGISTRY.values())


def _load_all() -> None:
    # The modules that register ops (importing them defines the torch ops too).
    from . import (attention, embedding, gelu, int_div, layer_norm, recurrent,  # noqa: F401
                   softmax, stubs, tanh)


# ---------------------------------------------------------------------------
# torch-mlir side: torch.operator -> func.call of a tagged declaration.
# ---------------------------------------------------------------------------
def rewrite_to_calls(module) -> None:
    """Every registered op's `torch.operator`s in `module` (torch-mlir's IR)
    become calls of private declarations, one per op, signature and
    constants."""
    from torch_mlir import ir
    from torch_mlir.dialects import func as func_d

    by_name = {op.mlir_name: op for op in ops()}
    found = []

    def collect(op):
        if op.name == "torch.operator":
            entry = by_name.get(ir.StringAttr(op.attributes["name"]).value)
            if entry is not None:
                found.append((op, entry))
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    ctx = module.context
    declared: Dict[tuple, str] = {}
    counts: Dict[str, int] = {}
    for op, entry in found:
        operands = list(op.operands)
        n_tensors = len(operands) - len(entry.attrs)
        tensors, none_at = [], []
        for i, v in enumerate(operands[:n_tensors]):
            if _producer(v) == "torch.constant.none":
                none_at.append(i)
            else:
                tensors.append(v)
        values = [_constant(v, entry, name) for name, v in zip(entry.attrs, operands[n_tensors:])]
        result_types = [r.type for r in op.results]
        ftype = ir.FunctionType.get([t.type for t in tensors], result_types, ctx)
        key = (entry.name, str(ftype), tuple(values), tuple(none_at))
        sym = declared.get(key)
        if sym is None:
            n = counts.get(entry.name, 0)
            counts[entry.name] = n + 1
            sym = f"dq_{entry.name}_{n}"
            with ir.InsertionPoint.at_block_begin(module.body), ir.Location.unknown(ctx):
                f = func_d.FuncOp(sym, ftype, visibility="private")
            attrs = f.operation.attributes
            attrs[TAG] = ir.StringAttr.get(entry.name, ctx)
            for name, value in zip(entry.attrs, values):
                attrs[f"dq.{name}"] = _attr(ir, ctx, value)
            if none_at:
                attrs[_NONE] = ir.ArrayAttr.get(
                    [ir.IntegerAttr.get(ir.IntegerType.get_signless(64, ctx), i) for i in none_at],
                    context=ctx)
            declared[key] = sym
        with ir.InsertionPoint(op), op.location:
            call = func_d.CallOp(result_types, ir.FlatSymbolRefAttr.get(sym, ctx), tensors)
        for old, new in zip(op.results, call.results):
            old.replace_all_uses_with(new)
        op.erase()


def _producer(v) -> str:
    """Name of the op defining `v` ("" for a block argument)."""
    owner = v.owner
    return getattr(owner, "name", "") if not hasattr(owner, "arguments") else ""


def _constant(v, entry: CustomOp, name: str):
    from torch_mlir import ir
    kind = _producer(v)
    if kind == "torch.constant.int":
        return int(ir.IntegerAttr(v.owner.attributes["value"]).value)
    if kind == "torch.constant.bool":
        return bool(ir.IntegerAttr(v.owner.attributes["value"]).value)
    if kind == "torch.constant.float":
        return float(ir.FloatAttr(v.owner.attributes["value"]).value)
    raise ValueError(f"{entry.mlir_name}: operand '{name}' must be a constant, got {kind}")


def _attr(ir, ctx, value):
    if isinstance(value, bool):
        return ir.BoolAttr.get(value, ctx)
    if isinstance(value, int):
        return ir.IntegerAttr.get(ir.IntegerType.get_signless(64, ctx), value)
    return ir.FloatAttr.get_f64(value, ctx)


# ---------------------------------------------------------------------------
# MLIR 22 side: calls of tagged declarations -> the ops' emitters.
# ---------------------------------------------------------------------------
def lower_calls(module, emit_context) -> None:
    """Replaces each call of a tagged declaration in `module` (upstream MLIR
    22) by its op's `emit`, and erases the declarations."""
    from mlir import ir

    by_name = {op.name: op for op in ops()}
    decls = {}
    for op in module.body.operations:
        if op.operation.name == "func.func" and TAG in op.attributes:
            decls[ir.StringAttr(op.attributes["sym_name"]).value] = op
    calls = []

    def visit(op):
        if op.name == "func.call" and ir.FlatSymbolRefAttr(op.attributes["callee"]).value in decls:
            calls.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    for call in calls:
        decl = decls[ir.FlatSymbolRefAttr(call.attributes["callee"]).value]
        entry = by_name[ir.StringAttr(decl.attributes[TAG]).value]
        attrs = {name: _py(decl.attributes[f"dq.{name}"]) for name in entry.attrs}
        operands = list(call.operands)
        if _NONE in decl.attributes:
            for i in sorted(ir.IntegerAttr(a).value for a in ir.ArrayAttr(decl.attributes[_NONE])):
                operands.insert(i, None)
        with ir.InsertionPoint(call), call.location:
            results = entry.emit(emit_context, operands, attrs, [r.type for r in call.results])
        results = results if isinstance(results, (list, tuple)) else [results]
        for old, new in zip(call.results, results):
            old.replace_all_uses_with(new)
        call.erase()
    for decl in decls.values():
        decl.operation.erase()


def _py(attr):
    from mlir import ir
    if isinstance(attr, ir.BoolAttr) or str(attr) in ("true", "false"):
        return ir.BoolAttr(attr).value
    if str(attr.type).startswith("i"):
        return ir.IntegerAttr(attr).value
    return ir.FloatAttr(attr).value
