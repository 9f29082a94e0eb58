"""PyTorch -> linalg-on-tensors MLIR text bridge for dynamically quantized models.

Flow (DESIGN.md §4):
  1. swap every quantized linear for a module calling the custom op
     ``dqmlir::linear_dynamic`` (weights stay on the Python side, the op only
     carries the activation and a layer id), ``torch.export`` with ``Dim``s,
     restore the user's modules;
  2. FX-import the program with torch-mlir (raw torch dialect); big constants
     become ``dense_resource`` blobs that we name and keep as numpy arrays;
  3. rewrite each ``torch.operator "torch.dqmlir.linear_dynamic"`` into a
     ``func.call`` of a private declaration carrying ``dq.*`` attributes;
  4. run torch-mlir's torch->linalg-on-tensors pipelines minus the final
     backend-contract verifier (it rejects tensor ``func.call``s);
  5. check that no torch-dialect op survived, print generic text with the
     resource section left out (the consumer re-creates the blobs).
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import re
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.utils import _pytree as pytree

from . import attention as _attention
from . import gelu as _gelu
from . import layer_norm as _layer_norm
from .fx_checks import check_dynamic_collapses
from .fx_cleanup import drop_noop_expands
from .quantized_linear import (QuantizedLinear, UnsupportedModuleError, from_dynamic_linear,
                               from_torchao_linear, is_torchao_linear)

OP_NAME = "dqmlir::linear_dynamic"
_MLIR_OP_NAME = "torch.dqmlir.linear_dynamic"
_DECL_PREFIX = "dq_linear_"
F32_OP_NAME = "dqmlir::linear_f32"
_F32_MLIR_OP_NAME = "torch.dqmlir.linear_f32"
_F32_DECL_PREFIX = "dq_f32_linear_"
# Tensors smaller than this stay inline as dense<...> (splats, tiny vectors).
RESOURCE_MIN_BYTES = 64


# --------------------------------------------------------------------------
# Custom op standing for one quantized linear.
# --------------------------------------------------------------------------
# Layer id -> fbgemm packed weights; only populated while import_model runs
# (the reference implementation is usable for eager checks inside that window).
_ACTIVE: Dict[int, Any] = {}


@torch.library.custom_op(OP_NAME, mutates_args=())
def linear_dynamic(x: torch.Tensor, layer: int, out_features: int,
                   reduce_range: bool, has_bias: bool) -> torch.Tensor:
    """y = dequant(quant_dyn(x) @ W_q[layer]^T) + b. Reference: the quantized
    module itself (PyTorch's quantized::linear_dynamic, or torchao's linear)."""
    return _ACTIVE[layer](x)


@linear_dynamic.register_fake
def _(x, layer, out_features, reduce_range, has_bias):
    return x.new_empty((*x.shape[:-1], out_features))


class _DQLinearStub(nn.Module):
    """Exportable stand-in: no parameters, so no weight reaches the graph."""

    def __init__(self, layer: int, out_features: int, reduce_range: bool, has_bias: bool):
        super().__init__()
        self.layer, self.out_features = layer, out_features
        self.reduce_range, self.has_bias = reduce_range, has_bias

    def forward(self, x):
        return torch.ops.dqmlir.linear_dynamic(
            x, self.layer, self.out_features, self.reduce_range, self.has_bias)


@torch.library.custom_op(F32_OP_NAME, mutates_args=())
def linear_f32(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
               weight_kn: bool) -> torch.Tensor:
    """An fp32 linear layer kept whole through export (see fp32_linear.py):
    x @ W + b with W [K, N] (HF Conv1D) or [N, K] (nn.Linear)."""
    y = x @ weight if weight_kn else x @ weight.t()
    return y if bias is None else y + bias


@linear_f32.register_fake
def _(x, weight, bias, weight_kn):
    return x.new_empty((*x.shape[:-1], weight.shape[1] if weight_kn else weight.shape[0]))


class _F32LinearStub(nn.Module):
    """Stand-in for an fp32 nn.Linear / Conv1D; shares the layer's parameters
    (tied weights stay one constant)."""

    def __init__(self, orig: nn.Module, weight_kn: bool):
        super().__init__()
        self.weight, self.bias, self.weight_kn = orig.weight, orig.bias, weight_kn

    def forward(self, x):
        return torch.ops.dqmlir.linear_f32(x, self.weight, self.bias, self.weight_kn)


def _f32_stub(m: nn.Module) -> Optional[nn.Module]:
    if type(m) is nn.Linear:
        return _F32LinearStub(m, weight_kn=False)
    if type(m).__name__ == "Conv1D" and type(m).__module__.startswith("transformers"):
        return _F32LinearStub(m, weight_kn=True)
    return None


# --------------------------------------------------------------------------
# Quantized linears: read with quantized_linear.from_dynamic_linear.
# --------------------------------------------------------------------------
def _is_dynamic_qlinear(m: nn.Module) -> bool:
    import torch.ao.nn.quantized.dynamic as nnqd
    return isinstance(m, nnqd.Linear)


def _as_linear(m: nn.Module) -> Optional[nn.Linear]:
    """nn.Linear itself, or HF's Conv1D (GPT-2: y = x @ W + b, W [in, out]) as
    an equivalent nn.Linear; None for anything else."""
    if type(m) is nn.Linear:
        return m
    if type(m).__name__ == "Conv1D" and type(m).__module__.startswith("transformers"):
        lin = nn.Linear(m.weight.shape[0], m.weight.shape[1], bias=m.bias is not None)
        with torch.no_grad():
            lin.weight.copy_(m.weight.t())
            if m.bias is not None:
                lin.bias.copy_(m.bias)
        return lin
    return None


def _quantize_fp32_linear(lin: nn.Linear, qconfig):
    """fp32 nn.Linear -> torch.ao dynamic quantized Linear, via the same
    observer quantize_dynamic would use (bit-identical weights and scales)."""
    import torch.ao.nn.quantized.dynamic as nnqd
    lin.qconfig = qconfig
    try:
        return nnqd.Linear.from_float(lin)
    finally:
        del lin.qconfig


# --------------------------------------------------------------------------
# Module swapping (user model restored afterwards).
# --------------------------------------------------------------------------
def _set_submodule(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, new)


@contextlib.contextmanager
def _swapped(model: nn.Module, quantize: Any, qconfig, reduce_range: bool,
             act_granularity: str = "per_tensor") -> Any:
    """Yield the QuantizedLinear list while every (to be) quantized linear of `model`
    is replaced by a _DQLinearStub. `quantize`: True = every nn.Linear of an
    fp32 model, or a collection of qualified names; None = only modules that
    are already torch.ao dynamic quantized."""
    chosen, fp32 = [], []
    for path, m in model.named_modules():
        if not path:
            continue
        if _is_dynamic_qlinear(m) or is_torchao_linear(m):
            chosen.append((path, m, m))
        elif _as_linear(m) is not None and (quantize is True or
                                             (quantize and path in quantize)):
            chosen.append((path, m, _quantize_fp32_linear(_as_linear(m), qconfig)))
        elif _f32_stub(m) is not None:
            fp32.append((path, m))
    linears, originals = [], []
    for i, (path, orig, qmod) in enumerate(chosen):
        ql = (from_torchao_linear(qmod, path) if is_torchao_linear(qmod)
              else from_dynamic_linear(qmod, path))
        if orig is not qmod:          # fp32 linear quantized on the caller's request
            ql.reduce_range = reduce_range
            ql.act_granularity = act_granularity
        linears.append(ql)
        originals.append((path, orig))
        _ACTIVE[i] = qmod
    originals += fp32
    try:
        for i, ql in enumerate(linears):
            _set_submodule(model, ql.path, _DQLinearStub(
                i, ql.out_features, ql.reduce_range, ql.bias is not None))
        for path, m in fp32:
            _set_submodule(model, path, _f32_stub(m))
        yield linears
    finally:
        for path, orig in originals:
            _set_submodule(model, path, orig)
        _ACTIVE.clear()


# --------------------------------------------------------------------------
# torch-mlir import hooks: named resources, module-path locations.
# --------------------------------------------------------------------------
def _make_hooks(resources: Dict[str, np.ndarray]):
    from torch_mlir.extras.fx_importer import FxImporterHooks
    from torch_mlir import ir

    class Hooks(FxImporterHooks):
        """Import tensors as dense_resource blobs named dq_r<n>, from a zero-copy
        numpy view (torch-mlir's default goes through tensor.tolist(), which takes
        minutes on BERT-base), and remember them for the consumer."""

        def __init__(self):
            self._by_id: Dict[int, ir.Attribute] = {}

        def resolve_literal(self, gni, literal, info):
            if not isinstance(literal, torch.Tensor) or literal.dtype == torch.bfloat16:
                return None
            if literal.nbytes < RESOURCE_MIN_BYTES:
                # torch-mlir's default would make it an unnamed resource too.
                if literal.numel() <= 1 or literal.dtype not in (torch.float32, torch.int64, torch.int32):
                    return None
                arr = literal.detach().cpu().contiguous().numpy()
                ttype = ir.RankedTensorType.get(list(literal.shape), gni._cc.dtype_to_type(literal.dtype))
                return ir.Operation.create(
                    "torch.vtensor.literal", results=[gni._cc.tensor_to_vtensor_type(literal)],
                    attributes={"value": ir.DenseElementsAttr.get(arr, type=ttype)}).result
            attr = self._by_id.get(id(literal))
            vtype = gni._cc.tensor_to_vtensor_type(literal)
            if attr is None:
                arr = literal.detach().cpu().contiguous().numpy()
                key = f"dq_r{len(resources)}"
                resources[key] = arr
                ttype = ir.RankedTensorType.get(
                    list(literal.shape), gni._cc.dtype_to_type(literal.dtype))
                attr = ir.DenseResourceElementsAttr.get_from_buffer(arr, key, ttype)
                self._by_id[id(literal)] = attr
            return ir.Operation.create("torch.vtensor.literal", results=[vtype],
                                       attributes={"value": attr}).result

    return Hooks()


def _install_module_path_locations(importer, node_paths: Dict[str, str]):
    """Wrap node locations in NameLoc("<module path>|<fx node>") so diagnostics
    and leftover ops can be traced back to the user's module."""
    from torch_mlir import ir
    base = importer._cc

    class CC(type(base)):
        def get_node_location(self, node):
            loc = super().get_node_location(node) or ir.Location.unknown(self._c)
            return ir.Location.name(f"{node_paths.get(node.name, '')}|{node.name}",
                                    childLoc=loc, context=self._c)

    importer._cc = CC(importer._c, py_attr_tracker=importer._py_attr_tracker)


def _module_path(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path, _ = list(stack.values())[-1]
    return path


# --------------------------------------------------------------------------
# Raw-module rewrite: torch.operator -> func.call of a dq declaration.
# --------------------------------------------------------------------------
def _const_value(v):
    op = v.owner
    name = op.name
    if name == "torch.constant.int":
        return int(ir_int(op.attributes["value"]))
    if name == "torch.constant.bool":
        return bool(ir_int(op.attributes["value"]))
    raise ValueError(f"expected a torch constant, got {name}")


def ir_int(attr):
    from torch_mlir import ir
    return ir.IntegerAttr(attr).value


def _rewrite_custom_ops(module, linears: List[QuantizedLinear]) -> None:
    from torch_mlir import ir
    from torch_mlir.dialects import func as func_d

    found, f32 = [], []

    def collect(op):
        if op.name == "torch.operator":
            name = ir.StringAttr(op.attributes["name"]).value
            if name == _MLIR_OP_NAME:
                found.append(op)
            elif name == _F32_MLIR_OP_NAME:
                f32.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    ctx = module.context
    _rewrite_f32_linears(module, f32)
    declared: Dict[tuple, str] = {}
    i64 = ir.IntegerType.get_signless(64, ctx)
    for op in found:
        x = op.operands[0]
        layer, out_features, reduce_range, has_bias = (_const_value(v) for v in op.operands[1:5])
        ql = linears[layer]
        # One declaration per (layer, signature): a layer applied to inputs of
        # different ranks gets dq_linear_<id>, dq_linear_<id>_1, ...
        ftype = ir.FunctionType.get([x.type], [op.results[0].type], ctx)
        sym = declared.get((layer, str(ftype)))
        if sym is None:
            n = sum(1 for k in declared if k[0] == layer)
            sym = f"{_DECL_PREFIX}{layer}" + (f"_{n}" if n else "")
            with ir.InsertionPoint.at_block_begin(module.body), ir.Location.unknown(ctx):
                f = func_d.FuncOp(sym, ftype, visibility="private")
            attrs = f.operation.attributes
            attrs["dq.layer"] = ir.IntegerAttr.get(i64, layer)
            attrs["dq.in_features"] = ir.IntegerAttr.get(i64, ql.in_features)
            attrs["dq.out_features"] = ir.IntegerAttr.get(i64, out_features)
            attrs["dq.reduce_range"] = ir.BoolAttr.get(bool(reduce_range), ctx)
            attrs["dq.has_bias"] = ir.BoolAttr.get(bool(has_bias), ctx)
            attrs["dq.per_channel"] = ir.BoolAttr.get(ql.weight_scale.ndim == 1, ctx)
            attrs["dq.module"] = ir.StringAttr.get(ql.path, ctx)
            declared[(layer, str(ftype))] = sym
        with ir.InsertionPoint(op), op.location:
            call = func_d.CallOp([op.results[0].type], ir.FlatSymbolRefAttr.get(sym, ctx), [x])
        op.results[0].replace_all_uses_with(call.result)
        op.erase()


def _rewrite_f32_linears(module, ops) -> None:
    """torch.operator "dqmlir.linear_f32"(x, W, b|none, weight_kn) -> func.call
    @dq_f32_linear_<i>(x, W[, b]) of a private declaration tagged dq.f32_linear;
    to_dq emits the contraction (fp32_linear.py)."""
    from torch_mlir import ir
    from torch_mlir.dialects import func as func_d

    ctx = module.context
    for i, op in enumerate(ops):
        x, w, b, kn = op.operands
        operands = [x, w] + ([] if b.owner.name == "torch.constant.none" else [b])
        ftype = ir.FunctionType.get([v.type for v in operands], [op.results[0].type], ctx)
        sym = f"{_F32_DECL_PREFIX}{i}"
        with ir.InsertionPoint.at_block_begin(module.body), ir.Location.unknown(ctx):
            f = func_d.FuncOp(sym, ftype, visibility="private")
        f.operation.attributes["dq.f32_linear"] = ir.UnitAttr.get(ctx)
        f.operation.attributes["dq.weight_kn"] = ir.BoolAttr.get(_const_value(kn), ctx)
        m = re.search(r'"([^"|]*)\|', str(op.location))
        f.operation.attributes["dq.module"] = ir.StringAttr.get(m.group(1) if m else "", ctx)
        with ir.InsertionPoint(op), op.location:
            call = func_d.CallOp([op.results[0].type], ir.FlatSymbolRefAttr.get(sym, ctx), operands)
        op.results[0].replace_all_uses_with(call.result)
        op.erase()


# --------------------------------------------------------------------------
# Pipelines.
# --------------------------------------------------------------------------
_VERIFIER = "torch-verify-linalg-on-tensors-backend-contract"


def _split_top(pipeline: str) -> List[str]:
    """'builtin.module(a,b{x,y},c(d))' -> ['a', 'b{x,y}', 'c(d)']."""
    inner = pipeline[pipeline.index("(") + 1: pipeline.rindex(")")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def _linalg_pipeline_without_verifier(ctx) -> str:
    from torch_mlir.passmanager import PassManager
    with ctx:
        pm = PassManager.parse("builtin.module(torch-backend-to-linalg-on-tensors-backend-pipeline"
                               "{allow-non-finites=true})")
    passes = _split_top(str(pm))
    # The dropped pass must be exactly the contract verifier, nothing else.
    assert passes[-1].strip() == _VERIFIER, passes[-1]
    return "builtin.module(" + ",".join(passes[:-1]) + ")"


def _run(module, pipeline: str, what: str):
    from torch_mlir.passmanager import PassManager
    with module.context:
        pm = PassManager.parse(pipeline)
        try:
            pm.run(module.operation)
        except Exception as e:
            raise RuntimeError(f"torch-mlir {what} failed: {e}") from None


# Dialects that upstream MLIR 22 parses; torch-mlir also emits torch, torch_c
# and tm_tensor (cumsum, sort, topk, scatter, index_put lower to tm_tensor.*).
_UPSTREAM_DIALECTS = {"builtin", "func", "arith", "math", "linalg", "tensor", "cf", "scf",
                      "ml_program", "complex", "affine", "memref", "bufferization"}


def _torch_ops(module, only_unknown: bool = False) -> List[str]:
    """Describe ops in `module` that MLIR 22 cannot take (all of them, or only
    the opaque torch.operator ones) with the user's module path from our NameLocs."""
    from torch_mlir import ir
    found = []

    def visit(op):
        name = op.name
        if name == "torch.operator":
            name = f'torch.operator "{ir.StringAttr(op.attributes["name"]).value}"'
        elif (only_unknown or name.split(".")[0] in _UPSTREAM_DIALECTS
              or name.endswith(".yield")):          # terminators: report the parent only
            return ir.WalkResult.ADVANCE
        m = re.search(r'"([^"|]*)\|([^"]*)"', str(op.location))
        where = f" in module '{m.group(1) or '<root>'}' (fx node {m.group(2)})" if m else ""
        found.append(name + where)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def _fail_on(ops: List[str], what: str):
    if ops:
        raise UnsupportedModuleError(f"{what}:\n  " + "\n  ".join(ops[:20])
                                  + (f"\n  ... {len(ops) - 20} more" if len(ops) > 20 else ""))


# --------------------------------------------------------------------------
# Public API.
# --------------------------------------------------------------------------
@dataclasses.dataclass
class ImportResult:
    text: str                           # generic-form MLIR (no resource section)
    linears: List[QuantizedLinear]      # indexed by dq.layer
    resources: Dict[str, np.ndarray]    # dense_resource key -> data
    in_spec: Any                        # pytree spec of (args, kwargs)
    out_spec: Any                       # pytree spec of the outputs
    const_inputs: Dict[int, Any]        # flat input index -> value baked in by export
    dim_ranges: Dict[str, tuple]        # export's symbolic dims -> (min, max or None)
    func_name: str = "main"
    timings: Dict[str, float] = dataclasses.field(default_factory=dict)
    torch_text: str = ""                # the torch-dialect import, weights elided
    # Per flat tensor input: (name, dims), each dim an int (static) or the name
    # of export's symbol for it (equal symbols must get equal sizes).
    input_dims: List[tuple] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        # Calls on exactly the exported positional tensors skip pytree, whose
        # flatten and compare cost more than a small model's kernel.
        n = len(self.input_dims)
        self._positional_only = not self.const_inputs and self.in_spec == pytree.tree_flatten(
            (tuple(object() for _ in range(n)), {}))[1]
        self._single_output = self.out_spec.is_leaf()

    def flatten_inputs(self, args, kwargs=None) -> List[Any]:
        if (self._positional_only and not kwargs and len(args) == len(self.input_dims)
                and all(isinstance(a, torch.Tensor) for a in args)):
            self._check_dims(args)
            return list(args)
        flat, spec = pytree.tree_flatten((tuple(args), kwargs or {}))
        if spec != self.in_spec:
            raise ValueError(f"input structure {spec} differs from exported {self.in_spec}")
        for i, v in self.const_inputs.items():
            if flat[i] != v:
                raise ValueError(f"input {i} was exported as the constant {v!r}, got {flat[i]!r}")
        tensors = [x for i, x in enumerate(flat) if i not in self.const_inputs]
        self._check_dims(tensors)
        return tensors

    def _check_dims(self, tensors: Sequence[Any]) -> None:
        """Sizes that export tied together must agree; the compiled code would
        otherwise stop the process in one of torch-mlir's runtime asserts."""
        seen: Dict[str, tuple] = {}
        for t, (name, dims) in zip(tensors, self.input_dims):
            if not isinstance(t, torch.Tensor) or t.dim() != len(dims):
                continue  # rank, dtype and device are checked by the runtime
            for d, (want, got) in enumerate(zip(dims, t.shape)):
                if isinstance(want, int):
                    if want != got:
                        raise ValueError(f"input '{name}' dim {d} must be {want}, got {got}")
                elif (self.dim_ranges.get(want, (None, None))[1] or got) < got:
                    raise ValueError(f"input '{name}' dim {d} is {got}; the model supports at most "
                                     f"{self.dim_ranges[want][1]} there")
                elif want in seen and seen[want][2] != got:
                    other, od, size = seen[want]
                    raise ValueError(f"input '{name}' dim {d} is {got} but must equal input "
                                     f"'{other}' dim {od} ({size})")
                else:
                    seen.setdefault(want, (name, d, got))

    def unflatten_outputs(self, flat: Sequence[Any]) -> Any:
        if self._single_output:
            return flat[0]
        return pytree.tree_unflatten(list(flat), self.out_spec)

    def text_with_resources(self) -> str:
        """Text with the hex blobs inline (slow and big; for mlir-opt/debug)."""
        lines = []
        for key in sorted(self.resources):
            data = np.ascontiguousarray(self.resources[key])
            # MLIR blob encoding: 4-byte little-endian alignment, then raw bytes.
            lines.append(f'      {key}: "0x{(data.dtype.alignment).to_bytes(4, "little").hex()}'
                         f'{data.tobytes().hex()}"')
        return (self.text + "\n{-#\n  dialect_resources: {\n    builtin: {\n"
                + ",\n".join(lines) + "\n    }\n  }\n#-}\n")


def _dynamic_shapes(model, args, kwargs, dynamic):
    """Batch (dim 0) and sequence (dim 1) dynamic. Dim.DYNAMIC lets torch.export
    infer the ranges (HF BERT bounds seq by max_position_embeddings) and unify
    equal dims across inputs, but fails loudly if a dim gets specialized."""
    if not dynamic:
        return None
    from torch.export import Dim
    batch = seq = Dim.DYNAMIC

    def spec(t):
        if not isinstance(t, torch.Tensor):
            return None
        if t.dim() == 0:
            return None
        if t.dim() == 1:
            return {0: batch}
        return {0: batch, 1: seq} if t.dim() >= 3 or _looks_like_tokens(t) else {0: batch}

    # torch.export wants the spec keyed by forward()'s parameter names.
    bound = inspect.signature(model.forward).bind(*args, **kwargs)
    return {k: pytree.tree_map(spec, v) for k, v in bound.arguments.items()}


def _widen_examples(model, args, kwargs, dyn):
    """torch.export specializes dims of size 0 and 1 even when asked for a
    dynamic dim. Repeat such example tensors to size 2 along their dynamic
    dims (values do not matter for export); the compiled code takes any size."""
    if not dyn:
        return args, kwargs
    bound = inspect.signature(model.forward).bind(*args, **kwargs)
    for name, value in list(bound.arguments.items()):
        specs = dyn.get(name)
        flat, tree = pytree.tree_flatten(value)
        flat_specs = pytree.tree_leaves(specs, is_leaf=lambda x: x is None or isinstance(x, dict))
        if len(flat_specs) != len(flat):
            continue
        for i, (t, sp) in enumerate(zip(flat, flat_specs)):
            if isinstance(t, torch.Tensor) and sp:
                reps = [2 if d in sp and t.shape[d] == 1 else 1 for d in range(t.dim())]
                if any(r > 1 for r in reps):
                    flat[i] = t.repeat(*reps)
        bound.arguments[name] = pytree.tree_unflatten(flat, tree)
    # Same positional/keyword split as given: it is part of the exported spec.
    # A `*args` parameter binds all the rest positionally, as one tuple.
    if any(p.kind is p.VAR_POSITIONAL for p in bound.signature.parameters.values()):
        return bound.args, bound.kwargs
    names = list(bound.arguments)
    return (tuple(bound.arguments[n] for n in names[:len(args)]),
            {k: bound.arguments[k] for k in kwargs})


def _looks_like_tokens(t: torch.Tensor) -> bool:
    # [batch, seq] integer/bool inputs (input_ids, attention_mask) get a dynamic
    # sequence; a [batch, features] float input of an MLP does not.
    return not t.is_floating_point()


def import_model(model: nn.Module, example_args: Sequence[Any], example_kwargs=None,
                 dynamic: Any = True, quantize: Any = None, qconfig=None,
                 reduce_range: bool = True, act_granularity: str = "per_tensor",
                 func_name: str = "main",
                 inline_resources: bool = False) -> ImportResult:
    """Export `model` and lower it to linalg-on-tensors text with dq calls.

    quantize: None -> quantized linears are the torch.ao dynamic quantized
      modules already in `model` (quantize_dynamic); True -> every nn.Linear of
      an fp32 model; a set of qualified names -> those nn.Linear modules.
    qconfig: for fp32 linears (default torch.ao default_dynamic_qconfig;
      per_channel_dynamic_qconfig for per-channel weights).
    reduce_range: activation range 0..127 (PyTorch eager) for fp32 linears
      quantized here; modules from quantize_dynamic always use True.
    inline_resources: torch-mlir's default literal import and hex blobs kept in
      the text (slow; for comparison and for feeding mlir-opt directly).
    dynamic: True -> batch/seq Dims (see _dynamic_shapes), False -> static, or an
      explicit torch.export dynamic_shapes spec.
    """
    from torch_mlir import ir
    from torch_mlir.dialects import torch as torch_d
    from torch_mlir.extras.fx_importer import FxImporter
    from .decompositions import decomposition_table

    if qconfig is None:
        qconfig = torch.ao.quantization.default_dynamic_qconfig
    kwargs = dict(example_kwargs or {})
    args = tuple(example_args)
    t = {}
    t0 = time.perf_counter()
    dyn = dynamic if not isinstance(dynamic, bool) else _dynamic_shapes(model, args, kwargs, dynamic)
    if dynamic is True:
        args, kwargs = _widen_examples(model, args, kwargs, dyn)
    if model.training:
        raise ValueError("call model.eval() first (export would record training-mode ops)")
    with _swapped(model, quantize, qconfig, reduce_range, act_granularity) as linears:
        ep = _export(model, args, kwargs, dyn)
    t["export"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ep = ep.run_decompositions(
        _gelu.decompositions(_layer_norm.decompositions(decomposition_table())))
    in_spec, out_spec = ep.call_spec.in_spec, ep.call_spec.out_spec
    # Non-persistent buffers (HF position_ids, token_type_ids) live in
    # ep.constants, but the frozen importer looks every buffer up in state_dict.
    for name in ep.graph_signature.non_persistent_buffers:
        ep.state_dict[name] = ep.constants[name]
    const_inputs = _drop_constant_inputs(ep)
    input_dims = _input_dims(ep)
    drop_noop_expands(ep.graph_module)
    node_paths = {n.name: _module_path(n) for n in ep.graph.nodes}
    check_dynamic_collapses(ep.graph_module, node_paths)
    t["decompose"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    resources: Dict[str, np.ndarray] = {}
    ctx = ir.Context()
    torch_d.register_dialect(ctx)
    importer = FxImporter(context=ctx, hooks=None if inline_resources else _make_hooks(resources))
    _install_module_path_locations(importer, node_paths)
    importer.import_frozen_program(ep, func_name=func_name)
    module = importer.module
    _rewrite_custom_ops(module, linears)
    _layer_norm.rewrite_custom_ops(module)
    _gelu.rewrite_custom_ops(module)
    _attention.rewrite_custom_ops(module)
    torch_text = module.operation.get_asm(large_resource_limit=0, large_elements_limit=64)
    # Ops without a torch-mlir definition can never lower: say so up front.
    _fail_on(_torch_ops(module, only_unknown=True), "ops unknown to torch-mlir")
    t["fx_import"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _run(module, "builtin.module(func.func(torch-match-quantized-custom-ops),"
                 "torchdynamo-export-to-torch-backend-pipeline{ extra-library=})",
         "torchdynamo-export-to-torch-backend-pipeline")
    t["torch_backend"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _run(module, _linalg_pipeline_without_verifier(ctx),
         "torch-backend-to-linalg-on-tensors-backend-pipeline")
    t["linalg"] = time.perf_counter() - t0

    _fail_on(_torch_ops(module), "ops left after lowering to linalg (unsupported)")

    t0 = time.perf_counter()
    text = (module.operation.get_asm(print_generic_op_form=True) if inline_resources
            else _print_without_resources(module))
    t["print"] = time.perf_counter() - t0
    used = set(re.findall(r"dense_resource<([\w.$-]+)>", text))
    resources = {k: v for k, v in resources.items() if k in used}
    missing = used - set(resources)
    if missing and not inline_resources:
        raise RuntimeError(f"resources created inside the pipeline, not from the model: {missing}")
    ranges = {str(k): (_int_or_none(v.lower), _int_or_none(v.upper))
              for k, v in ep.range_constraints.items()}
    return ImportResult(text, linears, resources, in_spec, out_spec, const_inputs, ranges,
                        func_name, t, torch_text, input_dims)


def _export(model, args, kwargs, dyn):
    try:
        return torch.export.export(model, args, kwargs, dynamic_shapes=dyn, strict=False)
    except RuntimeError as e:
        # A KV cache object (HF GPT-2's default use_cache=True) in the outputs.
        m = re.search(r"Found <class '([\w.]+)'> in output", str(e))
        if m is None:
            raise
        hint = ("; pass use_cache=False (in example_kwargs and on every call)"
                if "cache" in m.group(1).lower() else "")
        raise UnsupportedModuleError(f"{type(model).__name__} returns a {m.group(1)}, which "
                                     f"dqmlir cannot return{hint}") from None


def _int_or_none(x) -> Optional[int]:
    import sympy
    return int(x) if isinstance(x, (int, sympy.Integer)) else None   # oo / int_oo -> None


def _input_dims(ep) -> List[tuple]:
    """(name, dims) of each tensor user input: static sizes as ints, dynamic
    ones as export's symbol names (only plain symbols; others are left open)."""
    from torch.export.graph_signature import InputKind, TensorArgument
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    out = []
    for spec in ep.graph_signature.input_specs:
        if spec.kind != InputKind.USER_INPUT or not isinstance(spec.arg, TensorArgument):
            continue
        val = placeholders[spec.arg.name].meta.get("val")
        dims = []
        for size in getattr(val, "shape", ()):
            if isinstance(size, int):
                dims.append(size)
            else:
                expr = size.node.expr
                dims.append(str(expr) if expr.is_Symbol else f"?{id(size)}")
        out.append((spec.arg.name, tuple(dims)))
    return out


def _drop_constant_inputs(ep) -> Dict[int, Any]:
    """Non-tensor user inputs (use_cache=False, ints) are specialized by export
    but still appear as placeholders, which torch-mlir would turn into function
    arguments (an i1 for a bool). Remove unused ones; return {flat input index:
    exported value} so callers can check and skip them."""
    from torch.export.graph_signature import ConstantArgument, InputKind
    consts, user_i = {}, 0
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    for spec in ep.graph_signature.input_specs:
        if spec.kind != InputKind.USER_INPUT:
            continue
        if isinstance(spec.arg, ConstantArgument):
            node = placeholders.get(spec.arg.name)
            if node is not None and not node.users:
                ep.graph.erase_node(node)
            consts[user_i] = spec.arg.value
        user_i += 1
    return consts


def _print_without_resources(module) -> str:
    # Elide every blob (limit 0) and drop the trailing {-# dialect_resources #-}
    # section: the consumer attaches the data from ImportResult.resources.
    text = module.operation.get_asm(print_generic_op_form=True, large_resource_limit=0,
                                    enable_debug_info=False)
    cut = text.find("\n{-#")
    return text if cut < 0 else text[:cut + 1]
