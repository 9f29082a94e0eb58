"""An exported program -> linalg-on-tensors MLIR text, with torch-mlir.

Steps (DESIGN.md §4), all in torch-mlir's own (newer) MLIR:
  1. FX-import the program; big constants become `dense_resource` blobs
     named here and kept as the parent's tensors (no hex text, no copy);
     locations name the user's module path of every op;
  2. the custom ops of registry.py become calls of tagged declarations;
  3. torch-mlir's torch -> linalg-on-tensors pipelines, minus the final
     backend-contract verifier (it rejects tensor `func.call`s);
  4. anything not lowered is reported with its module path; the module is
     printed in generic form without its resources.
The whole import runs in a child process (isolate.py): torch-mlir aborts or
loops on some inputs, and must not take the user's process with it.
"""
from __future__ import annotations

import dataclasses
import re
import time
from typing import Any, Dict, List

import numpy as np
import torch

from .. import isolate
from ..errors import UnsupportedModuleError
from . import registry

# Tensors smaller than this stay inline as dense<...> (splats, tiny vectors).
RESOURCE_MIN_BYTES = 64
_VERIFIER = "torch-verify-linalg-on-tensors-backend-contract"
# Dialects that upstream MLIR 22 parses; torch-mlir also emits torch, torch_c
# and tm_tensor (cumsum, sort, topk, scatter, index_put lower to tm_tensor.*).
_UPSTREAM_DIALECTS = {"builtin", "func", "arith", "math", "linalg", "tensor", "cf", "scf",
                      "ml_program", "complex", "affine", "memref", "bufferization"}


@dataclasses.dataclass
class ImportResult:
    text: str                           # generic-form MLIR (no resource section)
    resources: Dict[str, np.ndarray]    # dense_resource key -> data
    torch_text: str                     # the torch-dialect import, weights elided
    func_name: str
    timings: Dict[str, float]

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


def import_program(exported, func_name: str = "main", meanwhile=None) -> ImportResult:
    """torch-mlir import and lowering of `exported` (export.Exported), in a
    child process, while `meanwhile()` (if given) runs here. Big constants
    come back as references to the tensors of this process (the child sees
    the same objects), not as copies."""
    ep = exported.program
    tensors = _candidate_tensors(ep)
    by_id = {id(t): t for t in tensors}

    def child():
        return _import(ep, exported.node_paths, func_name, by_id)

    text, torch_text, refs, timings = isolate.run(child, stage="torch-mlir import",
                                                  meanwhile=meanwhile)
    resources = {}
    for key, ref in refs.items():
        kind, value = ref
        if kind == "id":
            resources[key] = by_id[value].detach().numpy()
        else:
            resources[key] = value
    return ImportResult(text, resources, torch_text, func_name, timings)


def _candidate_tensors(ep) -> List[torch.Tensor]:
    """The tensors torch-mlir's import may meet as literals, made contiguous
    here (no ATen work in the child)."""
    out = []
    for d in (ep.state_dict, ep.constants):
        for name, t in list(d.items()):
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                if not t.is_contiguous():
                    t = d[name] = t.contiguous()
                out.append(t)
    return out


def _constant_input_dims_as_ints(ep) -> None:
    """torch-mlir types every SymInt dim as `?`, even one the export made a
    constant (an input feature dim that a layer norm fixes while a default
    dynamic spec asked for it): the function's argument then loses a static
    dim that ops such as dq.layer_norm need. Such inputs get fake tensors
    with those dims as ints (in the import's child process only)."""
    for node in ep.graph.nodes:
        val = node.meta.get("val") if node.op == "placeholder" else None
        if not isinstance(val, torch.Tensor) or getattr(val, "fake_mode", None) is None:
            continue
        constant = [d.node.maybe_as_int() if isinstance(d, torch.SymInt) else None
                    for d in val.shape]
        if all(c is None for c in constant):
            continue
        shape = [d if c is None else c for d, c in zip(val.shape, constant)]
        with val.fake_mode:
            node.meta["val"] = torch.empty(shape, dtype=val.dtype)
        if "tensor_meta" in node.meta:       # what the importer reads first
            from torch.fx.passes.shape_prop import _extract_tensor_metadata
            node.meta["tensor_meta"] = _extract_tensor_metadata(node.meta["val"])


def _import(ep, node_paths, func_name: str, by_id: Dict[int, torch.Tensor]):
    """The child's work: returns (text, torch_text, {key: ("id", id) | ("data",
    array)}, timings)."""
    from torch_mlir import ir
    from torch_mlir.dialects import torch as torch_d
    from torch_mlir.extras.fx_importer import FxImporter

    t = {}
    t0 = time.perf_counter()
    refs: Dict[str, tuple] = {}
    ctx = ir.Context()
    torch_d.register_dialect(ctx)
    importer = FxImporter(context=ctx, hooks=_make_hooks(refs, by_id))
    _install_module_path_locations(importer, node_paths)
    _constant_input_dims_as_ints(ep)
    importer.import_frozen_program(ep, func_name=func_name)
    module = importer.module
    registry.rewrite_to_calls(module)
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
    text = _print_without_resources(module)
    t["print"] = time.perf_counter() - t0
    used = set(re.findall(r"dense_resource<([\w.$-]+)>", text))
    missing = used - set(refs)
    if missing:
        raise RuntimeError(f"resources created inside the pipeline, not from the model: {missing}")
    return text, torch_text, {k: v for k, v in refs.items() if k in used}, t


def _make_hooks(refs: Dict[str, tuple], by_id: Dict[int, torch.Tensor]):
    from torch_mlir import ir
    from torch_mlir.extras.fx_importer import FxImporterHooks

    class Hooks(FxImporterHooks):
        """Import tensors as dense_resource blobs named dq_r<n>, from a zero-copy
        numpy view (torch-mlir's default goes through tensor.tolist(), which takes
        minutes on BERT-base), and remember which tensor each is."""

        def __init__(self):
            self._by_id: Dict[int, ir.Attribute] = {}

        def resolve_literal(self, gni, literal, info):
            if not isinstance(literal, torch.Tensor) or literal.dtype == torch.bfloat16:
                return None
            if literal.nbytes < RESOURCE_MIN_BYTES:
                # torch-mlir's default would make it an unnamed resource too.
                if literal.numel() <= 1 or literal.dtype not in (torch.float32, torch.int64,
                                                                 torch.int32):
                    return None
                arr = literal.detach().cpu().contiguous().numpy()
                ttype = ir.RankedTensorType.get(list(literal.shape),
                                                gni._cc.dtype_to_type(literal.dtype))
                return ir.Operation.create(
                    "torch.vtensor.literal", results=[gni._cc.tensor_to_vtensor_type(literal)],
                    attributes={"value": ir.DenseElementsAttr.get(arr, type=ttype)}).result
            attr = self._by_id.get(id(literal))
            vtype = gni._cc.tensor_to_vtensor_type(literal)
            if attr is None:
                arr = literal.detach().cpu().contiguous().numpy()
                key = f"dq_r{len(refs)}"
                known = by_id.get(id(literal))
                refs[key] = ("id", id(literal)) if known is literal else ("data", arr)
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
            # Only the module path and node: the source file and line of
            # every op would double the text for no use downstream.
            return ir.Location.name(f"{node_paths.get(node.name, '')}|{node.name}",
                                    context=self._c)

    importer._cc = CC(importer._c, py_attr_tracker=importer._py_attr_tracker)


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
    if passes[-1].strip() != _VERIFIER:
        raise RuntimeError(f"torch-mlir's pipeline no longer ends in {_VERIFIER}: {passes[-1]}")
    return "builtin.module(" + ",".join(passes[:-1]) + ")"


def _run(module, pipeline: str, what: str):
    from torch_mlir.passmanager import PassManager
    with module.context:
        pm = PassManager.parse(pipeline)
        try:
            pm.run(module.operation)
        except Exception as e:
            # An op torch-mlir has no lowering for (in this form): the model
            # uses something dqmlir cannot compile, named with its module.
            m = re.search(r'error: "([^"|]*)\|([^"]*)": failed to legalize operation '
                          r"'(torch\.[\w.]+)'", str(e))
            if m:
                raise UnsupportedModuleError(
                    f"torch-mlir cannot lower {m.group(3)} in module '{m.group(1) or '<root>'}' "
                    f"(fx node {m.group(2)}) as it is used there") from None
            raise RuntimeError(f"torch-mlir {what} failed: {e}") from None


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


def _print_without_resources(module) -> str:
    # Elide every blob (limit 0) and drop the trailing {-# dialect_resources #-}
    # section: the consumer attaches the data from ImportResult.resources.
    # With locations: diagnostics and run-time check messages name the
    # user's module path.
    text = module.operation.get_asm(print_generic_op_form=True, large_resource_limit=0,
                                    enable_debug_info=True)
    cut = text.find("\n{-#")
    return text if cut < 0 else text[:cut + 1]
