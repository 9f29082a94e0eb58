"""PyTorch module -> a decomposed, checked torch.export program.

The linear layers are swapped for exportable stand-ins (stubs.py), the model
is exported with dynamic batch and sequence dims, decomposed with
torch-mlir's table plus dqmlir's (numerics-preserving custom ops for layer
norm, GELU, softmax and attention; ATen's special-value semantics for a few
elementwise ops), cleaned, and checked for what torch-mlir would mishandle.
The call signature (signature.py) is read off the program here.
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import re
import time
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.nn as nn
from torch.utils import _pytree as pytree

from ..errors import CompileError, UnsupportedModuleError
from ..signature import _SPECIALIZATION_BOUND, Signature
from . import attention as _attention  # noqa: F401  (registers its custom ops)
from . import cpu_semantics as _cpu_semantics
from . import gelu as _gelu
from . import int_div as _int_div
from . import layer_norm as _layer_norm
from . import softmax as _softmax
from . import tanh as _tanh
from .decompose import decompose
from .fx_checks import MergedDynamicDims, check_data_dependent, check_dynamic_collapses
from .fold_weights import fold_parametrizations, fold_weight_layouts
from .fx_cleanup import drop_eval_dropouts, drop_noop_expands
from .merged_rows import unmerge_row_views
from .quantized_linear import QuantizedLinear
from .size_probe import min_sizes
from .stubs import swapped

log = logging.getLogger("dqmlir")


@dataclasses.dataclass
class Exported:
    program: Any                        # torch.export.ExportedProgram, decomposed
    linears: List[QuantizedLinear]      # indexed by the stubs' layer ids
    _signature: Signature               # without min_sizes until probe_sizes()
    node_paths: Dict[str, str]          # fx node name -> the user's module path
    timings: Dict[str, float]
    # (result, argument) of the imported function: the program's result
    # `result` is the new value of the input it mutated in place, argument
    # `argument` (a KV cache's slots: kv_cache.py).
    state: List[tuple] = dataclasses.field(default_factory=list)
    # Computes the signature's min_sizes (size_probe.py), None once done.
    _size_probe: Optional[Callable[[], Dict[str, dict]]] = None

    def probe_sizes(self) -> None:
        """Completes the signature with the sizes below 2 the program is
        valid for: fake-tensor runs of the whole program (about a second
        for BERT-base), which compile runs while the import's child
        process works."""
        if self._size_probe is not None:
            t0 = time.perf_counter()
            self._signature.min_sizes = self._size_probe()
            self._size_probe = None
            self.timings["size_probe"] = time.perf_counter() - t0

    @property
    def signature(self) -> Signature:
        self.probe_sizes()
        return self._signature


def export_model(model: nn.Module, example_args, example_kwargs=None, dynamic: Any = True,
                 quantize: Any = None, qconfig=None, reduce_range: bool = True,
                 act_granularity: str = "per_tensor", after_trace=None,
                 executor=None) -> Optional[Exported]:
    """Exports `model` called with the example arguments.

    quantize: None -> the quantized linears are the torch.ao dynamic quantized
      (or torchao) modules already in `model`; True -> every nn.Linear of an
      fp32 model; a set of qualified names -> those nn.Linear modules.
    qconfig: for fp32 linears (default torch.ao default_dynamic_qconfig).
    reduce_range: activation range 0..127 for fp32 linears quantized here.
    dynamic: True -> batch/sequence dims dynamic where export can keep them
      (see _dynamic_shapes), False -> static, or a torch.export dynamic_shapes
      spec.
    after_trace: called with (the traced program, the quantized linears)
      before decomposition; if it returns True, export stops and returns None
      (the compile cache has the model).
    executor: where the quantized linears unpack while the model traces.
    A view that merges two default-dynamic dims (which torch-mlir lowers
    wrongly) makes all but the first of them static, with a warning, and
    the export is redone.
    """

    from .recurrent import is_quantized_recurrent, refuse_packed_sequences, root_wrapper
    refuse_packed_sequences(example_args, example_kwargs)
    if is_quantized_recurrent(model):
        model = root_wrapper(model)
    if model.training:
        raise ValueError("call model.eval() first (export would record training-mode ops)")
    if qconfig is None:
        qconfig = torch.ao.quantization.default_dynamic_qconfig
    _run_in_pytorch(model, tuple(example_args), dict(example_kwargs or {}))
    dyn = (dynamic if not isinstance(dynamic, bool)
           else _dynamic_shapes(model, tuple(example_args), dict(example_kwargs or {}), dynamic))
    made_static: List[str] = []
    while True:
        try:
            return _export_once(model, example_args, example_kwargs, dynamic, dyn, quantize,
                                qconfig, reduce_range, act_granularity, after_trace,
                                executor)
        except MergedDynamicDims as e:
            # The default dynamic dims: keep the first merged one dynamic
            # (the batch, as a rule) and retry with the others static.
            if dynamic is not True or len(made_static) > 8:
                raise
            where = {loc for s in e.symbols[1:] for loc in e.locations.get(s, ())}
            dropped = _drop_dynamic(model, example_args, example_kwargs, dyn, where)
            if not dropped:
                raise
            made_static += dropped
            log.warning("dqmlir: %s: %s; these dims are static in the compiled code: %s "
                        "(pass dynamic=... to choose)", type(model).__name__, e.what,
                        ", ".join(dropped))
        except (UnsupportedModuleError, CompileError):
            raise
        except Exception as e:
            # Export ran on examples whose size-1 dynamic dims were widened to
            # 2 (_widen_examples); a model that requires one of them to be 1
            # (an RNN's hidden state of one layer) fails on that. Those dims
            # become static as given, once, with a warning.
            if dynamic is not True or "size-1" in made_static:
                raise
            where = _size_one_dims(model, example_args, example_kwargs, dyn)
            dropped = _drop_dynamic(model, example_args, example_kwargs, dyn, where)
            if not dropped:
                raise
            made_static += dropped + ["size-1"]
            log.warning("dqmlir: %s: export failed with these dims dynamic (%s: %s); they are "
                        "static in the compiled code: %s (pass dynamic=... to choose)",
                        type(model).__name__, type(e).__name__, str(e).splitlines()[0][:200],
                        ", ".join(dropped))


def decompositions() -> Dict:
    """torch-mlir's decomposition table with dqmlir's: numerics-preserving
    custom ops and ATen's special-value semantics."""
    from .decompositions import decomposition_table
    table = decomposition_table()
    for numerics in (_cpu_semantics, _int_div, _layer_norm, _gelu, _softmax, _tanh):
        table = numerics.decompositions(table)
    return table


def _export_once(model, example_args, example_kwargs, dynamic, dyn, quantize, qconfig,
                 reduce_range, act_granularity, after_trace,
                 executor) -> Optional[Exported]:
    kwargs = dict(example_kwargs or {})
    args = tuple(example_args)
    timings = {}
    t0 = time.perf_counter()
    if dynamic is True:
        args, kwargs = _widen_examples(model, args, kwargs, dyn)
    with swapped(model, quantize, qconfig, reduce_range, act_granularity, executor) as linears:
        ep = _export(model, args, kwargs, dyn)
    for ql in linears:
        ql.arrays()                  # what unpacking raised, raised here
    timings["export"] = time.perf_counter() - t0
    if after_trace is not None and after_trace(ep, linears):
        return None
    if dynamic is True:
        _warn_static_dims(model, ep, args, kwargs, dyn)

    t0 = time.perf_counter()
    drop_eval_dropouts(ep.graph_module)
    fold_parametrizations(ep)
    with _without_stack_traces():
        ep = decompose(ep, decompositions())
    # Non-persistent buffers (HF position_ids, token_type_ids) live in
    # ep.constants, but the frozen importer looks every buffer up in state_dict.
    for name in ep.graph_signature.non_persistent_buffers:
        ep.state_dict[name] = ep.constants[name]
    const_inputs = _drop_constant_inputs(ep)
    drop_noop_expands(ep.graph_module)
    unmerge_row_views(ep.graph_module)
    fold_weight_layouts(ep)
    node_paths = {n.name: _module_path(n) for n in ep.graph.nodes}
    check_data_dependent(ep.graph_module, node_paths)
    try:
        check_dynamic_collapses(ep.graph_module, node_paths)
    except MergedDynamicDims as e:
        e.locations = _symbol_locations(model, ep, args, kwargs)
        raise
    signature = Signature.from_export(model, ep, args, kwargs, const_inputs)
    timings["decompose"] = time.perf_counter() - t0
    probe = (lambda: min_sizes(ep, _SPECIALIZATION_BOUND)) if dynamic is not False else None
    return Exported(ep, linears, signature, node_paths, timings, _mutated_inputs(ep), probe)


def _mutated_inputs(ep) -> List[tuple]:
    """(result, argument) pairs of the inputs the program mutates: the
    importer makes the user inputs left in the graph the function's
    arguments, in order, and every graph output a result."""
    from torch.export.graph_signature import InputKind, OutputKind, TensorArgument
    placeholders = {n.name for n in ep.graph.nodes if n.op == "placeholder"}
    args = [s.arg.name for s in ep.graph_signature.input_specs
            if s.kind == InputKind.USER_INPUT and isinstance(s.arg, TensorArgument)
            and s.arg.name in placeholders]
    state = []
    for i, spec in enumerate(ep.graph_signature.output_specs):
        if spec.kind == OutputKind.BUFFER_MUTATION:
            raise UnsupportedModuleError(
                f"the model updates its buffer '{spec.target}' in place; dqmlir compiles "
                "models whose buffers are constants (a KV cache: see dqmlir.generate)")
        if spec.kind == OutputKind.USER_INPUT_MUTATION:
            state.append((i, args.index(spec.target)))
    return state


def _dynamic_leaves(model, example_args, example_kwargs, dyn):
    """(argument, leaf index, number of leaves, tensor, its dims spec) for
    every example tensor whose `dyn` spec is a dict of dims."""
    bound = inspect.signature(model.forward).bind(*example_args, **(example_kwargs or {}))
    for name, value in bound.arguments.items():
        leaves = pytree.tree_leaves(value)
        specs = pytree.tree_leaves(dyn.get(name), is_leaf=lambda x: x is None or isinstance(x, dict))
        if len(leaves) != len(specs):
            continue
        for i, (t, sp) in enumerate(zip(leaves, specs)):
            if isinstance(t, torch.Tensor) and isinstance(sp, dict):
                yield name, i, len(leaves), t, sp


def _size_one_dims(model, example_args, example_kwargs, dyn) -> set:
    """The (argument, leaf index, dim) dynamic dims whose example size is 1."""
    return {(name, i, d)
            for name, i, _, t, sp in _dynamic_leaves(model, example_args, example_kwargs, dyn)
            for d in sp if t.shape[d] == 1}


def _drop_dynamic(model, example_args, example_kwargs, dyn, where) -> List[str]:
    """Removes from `dyn` (in place) the input dims in `where` ((argument,
    leaf index, dim) triples); returns them as "argument dim d"."""
    dropped = []
    for name, i, n, _, sp in _dynamic_leaves(model, example_args, example_kwargs, dyn):
        for d in list(sp):
            if (name, i, d) in where:
                del sp[d]
                dropped.append(f"{name}{'' if n == 1 else f'[{i}]'} dim {d}")
    return dropped


def _symbol_locations(model, ep, args, kwargs) -> Dict[str, list]:
    """Symbol name -> the (argument, leaf index, dim) input dims it sizes."""
    from torch.export.graph_signature import InputKind, TensorArgument
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    vals = iter([placeholders[s.arg.name].meta["val"] for s in ep.graph_signature.input_specs
                 if s.kind == InputKind.USER_INPUT and isinstance(s.arg, TensorArgument)])
    out: Dict[str, list] = {}
    bound = inspect.signature(model.forward).bind(*args, **kwargs)
    for name, value in bound.arguments.items():
        for i, leaf in enumerate(pytree.tree_leaves(value)):
            if not isinstance(leaf, torch.Tensor):
                continue
            val = next(vals, None)
            if val is None:
                return out
            for d, size in enumerate(val.shape):
                if isinstance(size, torch.SymInt) and not size.node.is_constant():
                    out.setdefault(str(size.node.expr), []).append((name, i, d))
    return out


def _run_in_pytorch(model, args, kwargs) -> None:
    """Calls `model` on the example inputs once. torch.export traces with
    PyTorch's shape rules only, so a model whose kernels refuse the inputs
    (a float32 layer norm weight on a float64 input: "mixed dtype") would
    export and compile, and the compiled model would return a result where
    PyTorch raises. Such errors are raised here, as PyTorch raised them."""
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    except Exception as e:
        e.add_note(f"dqmlir.compile: {type(model).__name__} raised this in PyTorch on the "
                   "example inputs; dqmlir compiles models that run there")
        raise


@contextlib.contextmanager
def _without_stack_traces():
    """torch.fx records every node's Python stack trace (a traceback
    extraction and symbolization per node: 15% of BERT-base's trace). Nothing
    here reads them: the importer names locations by module path."""
    config = torch.fx.config
    saved = config.do_not_emit_stack_traces
    config.do_not_emit_stack_traces = True
    try:
        yield
    finally:
        config.do_not_emit_stack_traces = saved


def _export(model, args, kwargs, dyn):
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode
    try:
        with _without_stack_traces():
            return torch.export.export(model, args, kwargs, dynamic_shapes=dyn, strict=False)
    except GuardOnDataDependentSymNode as e:
        first = str(e).strip().splitlines()[0]
        raise UnsupportedModuleError(
            f"{type(model).__name__}: control flow or a shape depends on tensor values "
            f"({first}); dqmlir compiles programs whose shapes follow from the input shapes "
            "only") from None
    except RuntimeError as e:
        # A KV cache object (HF GPT-2's default use_cache=True) in the outputs.
        m = re.search(r"Found <class '([\w.]+)'> in output", str(e))
        if m is None:
            raise
        hint = ("; pass use_cache=False (in example_kwargs and on every call), or, to "
                "generate, use_cache=True in example_kwargs and dqmlir.generate"
                if "cache" in m.group(1).lower() else "")
        raise UnsupportedModuleError(f"{type(model).__name__} returns a {m.group(1)}, which "
                                     f"dqmlir cannot return{hint}") from None


def _module_path(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path, _ = list(stack.values())[-1]
    return path


def _dynamic_shapes(model, args, kwargs, dynamic):
    """Batch (dim 0) and sequence (dim 1) dims as Dim.AUTO: dynamic where the
    program allows it (export infers ranges, e.g. HF BERT bounds the sequence
    by max_position_embeddings, and ties equal dims across inputs), static
    where the model fixes them (ViT's channels, Whisper's mel bins); the
    latter get one warning (_warn_static_dims), except the feature dim of a
    [batch, features] float input, which linears fix as a rule (an MLP's
    input; a waveform's samples stay dynamic)."""
    if not dynamic:
        return None
    from torch.export import Dim
    auto = Dim.AUTO

    def spec(t):
        if not isinstance(t, torch.Tensor) or t.dim() == 0:
            return None
        if t.dim() == 1:
            return {0: auto}
        if t.dim() == 2 and t.is_floating_point() and t.shape[1] < 2:
            return {0: auto}      # a size-1 feature dim: widening it would break the model
        return {0: auto, 1: auto}

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


def _warn_static_dims(model, ep, args, kwargs, dyn) -> None:
    """One warning naming the dims asked to be dynamic that export fixed."""
    from torch.export.graph_signature import InputKind, TensorArgument
    bound = inspect.signature(model.forward).bind(*args, **kwargs)
    asked = []
    for name, value in bound.arguments.items():
        for path, sp in pytree.tree_flatten_with_path(
                dyn.get(name), is_leaf=lambda x: x is None or isinstance(x, dict))[0]:
            asked.append((name + pytree.keystr(path), sorted(sp) if sp else []))
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    tensors = [placeholders[s.arg.name].meta["val"] for s in ep.graph_signature.input_specs
               if s.kind == InputKind.USER_INPUT and isinstance(s.arg, TensorArgument)]
    fixed = []
    for (name, dims), val in zip(asked, tensors):
        for d in dims:
            if d == 1 and val.dim() == 2 and val.is_floating_point():
                continue          # [batch, features]: expected to be fixed
            if d < val.dim() and isinstance(val.shape[d], int):
                fixed.append(f"{name} dim {d} = {val.shape[d]}")
    if fixed:
        log.warning("dqmlir: %s: the model fixes these dims, which are static in the compiled "
                    "code: %s (pass dynamic=... to choose)", type(model).__name__,
                    ", ".join(fixed))


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
