"""Decomposition of an exported program, one node at a time.

`ExportedProgram.run_decompositions` re-traces the whole program through AOT
autograd: a metadata pass and a tracing pass, each dispatching every op with
symbolic shapes, functionalizing as it goes. For an encoder most nodes are
already in the form torch-mlir takes (views, adds, the quantized linears'
custom ops); MiniLM's 174 nodes cost 4.6 s that way. Here only the nodes
whose op the table (or a CompositeImplicitAutograd kernel) decomposes are
traced, each on its own inputs' fake values with make_fx, once per distinct
op and input metadata (an encoder's layers repeat them), and the traced ops
are spliced in where each node was: the same ops, in a fraction of the time.

It applies where node-by-node tracing means the same as the whole-program
one; anything else falls back to run_decompositions:
- a graph with mutating ops (other than the in-place ops on fresh tensors,
  made functional first), sub-graphs (higher-order ops) or opaque objects
  (functionalization and nested tracing are what the re-trace is for);
- a decomposition that specializes a symbol, narrows its range or defers a
  run-time assert (the re-trace records those in the program);
- a decomposition that produces constants (they would need lifting), reads a
  dynamic stride (torch-mlir imports sizes, not strides) or raises.
"""
from __future__ import annotations

import logging
import operator
from typing import Any, Callable, Dict, List, Tuple

import torch
from torch.utils import _pytree as pytree

log = logging.getLogger("dqmlir")

# Node metadata a decomposed node's ops inherit: where the op came from in the
# user's model (nn_module_stack names the module in errors and profiles).
_INHERITED_META = ("nn_module_stack", "source_fn_stack", "torch_fn", "stack_trace", "custom")


class _NotLocal(Exception):
    """The program needs the whole-program re-trace."""


def decompose(ep, table: Dict[Any, Callable]):
    """`ep` with `table`'s decompositions (and ATen's composite ops)
    applied; the program is changed in place where that is possible."""
    _functionalize_fresh(ep.graph_module)
    try:
        traced = _trace_nodes(ep, table)
    except _NotLocal as e:
        log.debug("dqmlir: whole-program decomposition (%s)", e)
        return ep.run_decompositions(table)
    _splice(ep, traced)
    return ep


def _functionalize_fresh(gm: torch.fx.GraphModule) -> int:
    """Replaces an in-place op by its functional form where nothing else can
    see the mutation: its operand is a fresh tensor (an op's result that
    aliases nothing) that only the in-place op reads, and the functional
    form gives the same shape and dtype (T5's `scores += position_bias`;
    DeBERTa's `detach_` of a tensor it has just made). Returns how many."""
    from torch._subclasses.fake_tensor import FakeTensor

    changed = 0
    for node in list(gm.graph.nodes):
        target = node.target
        if target is torch.ops.aten.lift_fresh_copy.default:
            # A tensor made in forward() (torch.tensor(...)): a copy of a
            # constant, what functionalization makes of it.
            node.target = torch.ops.aten.clone.default
            changed += 1
            continue
        if (node.op != "call_function" or not isinstance(target, torch._ops.OpOverload)
                or not target._schema.is_mutable or not node.args):
            continue
        operand = node.args[0]
        if (not isinstance(operand, torch.fx.Node) or operand.op != "call_function"
                or len(operand.users) != 1 or not _fresh(operand)):
            continue
        functional = _functional_form(target)
        if functional is None:
            continue
        val, result = operand.meta.get("val"), node.meta.get("val")
        if not (isinstance(val, FakeTensor) and isinstance(result, FakeTensor)):
            continue
        args, kwargs = pytree.tree_map(
            lambda a: a.meta["val"] if isinstance(a, torch.fx.Node) else a,
            (node.args, node.kwargs))
        try:
            with val.fake_mode:
                out = functional(*args, **kwargs)
        except Exception:  # noqa: BLE001 - not this op's functional form then
            continue
        if not (isinstance(out, torch.Tensor) and out.dtype == result.dtype
                and out.shape == result.shape):
            continue
        node.target = functional
        changed += 1
    if changed:
        gm.graph.lint()
        gm.recompile()
    return changed


def _fresh(node: torch.fx.Node) -> bool:
    """Whether `node`'s result is a new tensor: its op returns no alias."""
    target = node.target
    return (isinstance(target, torch._ops.OpOverload)
            and len(target._schema.returns) == 1
            and target._schema.returns[0].alias_info is None
            and not target._schema.is_mutable)


def _functional_form(target: torch._ops.OpOverload):
    """aten.add_.Tensor -> aten.add.Tensor (the same overload without the
    trailing underscore), if it exists and mutates nothing."""
    name = target._schema.name.split("::")[-1]
    if not name.endswith("_") or name.endswith("__"):
        return None
    packet = getattr(torch.ops.aten, name[:-1], None)
    overload = getattr(packet, target._overloadname, None) if packet is not None else None
    if overload is None or overload._schema.is_mutable:
        return None
    return overload


def _needs_decomposition(target, table) -> bool:
    return isinstance(target, torch._ops.OpOverload) and (
        target in table or torch._C._dispatch_has_kernel_for_dispatch_key(
            target.name(), "CompositeImplicitAutograd"))


def _check_graph(graph: torch.fx.Graph) -> None:
    for node in graph.nodes:
        if node.op == "placeholder":
            val = node.meta.get("val")
            if not (val is None or isinstance(val, (torch.Tensor, torch.SymInt, int, float, bool))):
                raise _NotLocal(f"input {node.name} is a {type(val).__name__}")
        elif _beyond_local(node):
            raise _NotLocal(f"{_beyond_local(node)} ({node.name})")


def _beyond_local(node: torch.fx.Node) -> str:
    """Why `node` needs the whole-program path, or ""."""
    if node.op in ("get_attr", "call_module", "call_method"):
        return f"a {node.op} node (a constant or sub-module)"
    if node.op == "call_function":
        if isinstance(node.target, torch._ops.HigherOrderOperator):
            return f"the higher-order op {node.target}"
        if isinstance(node.target, torch._ops.OpOverload) and node.target._schema.is_mutable:
            return f"the mutating op {node.target}"
    return ""


def _shape_state(shape_env) -> Tuple:
    """What of the shape environment the whole-program re-trace carries into
    the program: specialized symbols and ranges (its range constraints) and
    deferred asserts (assert nodes). Other guards it drops, as we do."""
    if shape_env is None:
        return ()
    return (dict(shape_env.replacements), dict(shape_env.var_to_range),
            sum(len(v) for v in shape_env.deferred_runtime_asserts.values()))


def _trace_nodes(ep, table) -> List[Tuple[torch.fx.Node, torch.fx.GraphModule, List[int], Any]]:
    """(node, its decomposition traced, the positions of its node arguments
    in its flattened (args, kwargs), that flattening's spec) for each node to
    decompose. Changes nothing in `ep`."""
    from torch._guards import detect_fake_mode
    from torch.fx.experimental.proxy_tensor import make_fx

    graph = ep.graph_module.graph
    _check_graph(graph)
    todo = [n for n in graph.nodes
            if n.op == "call_function" and _needs_decomposition(n.target, table)]
    if not todo:
        return []
    fake_mode = detect_fake_mode([n.meta.get("val") for n in graph.nodes
                                  if n.op == "placeholder"])
    if fake_mode is None:
        raise _NotLocal("no fake inputs")
    before = _shape_state(fake_mode.shape_env)
    # Nodes a program output reads: they must stay ops' results.
    outputs = set(graph.output_node().all_input_nodes)
    traced = []
    # A decomposition is a function of its op, its constant arguments and
    # its inputs' metadata: the layers of an encoder, whose nodes have the
    # same shapes, share one trace per op (BERT-base: 12 times fewer).
    cache: Dict[Any, torch.fx.GraphModule] = {}
    for node in todo:
        flat, spec = pytree.tree_flatten((node.args, node.kwargs))
        positions = [i for i, a in enumerate(flat) if isinstance(a, torch.fx.Node)]
        if any("val" not in flat[i].meta for i in positions):
            raise _NotLocal(f"an input of {node.name} has no value")
        key = _key(node.target, flat, spec)
        sub = cache.get(key)
        if sub is None:
            sub = cache[key] = _trace_one(make_fx, fake_mode, node.target, table, flat, spec,
                                          positions)
            _check_traced(node.target, sub)
        _check_outputs(node, sub, outputs)
        traced.append((node, sub, positions, flat))
    if _shape_state(fake_mode.shape_env) != before:
        raise _NotLocal("a decomposition specializes or bounds a dynamic size")
    return traced


def _key(target, flat, spec) -> Tuple:
    """What a node's decomposition depends on: the op, the arguments'
    structure, constants, and for each input its shape, strides, dtype and
    device (symbolic sizes as expressions) and which arguments are the same
    value."""
    first: Dict[torch.fx.Node, int] = {}
    parts = []
    for a in flat:
        if isinstance(a, torch.fx.Node):
            parts.append(("input", first.setdefault(a, len(first)), _meta_key(a.meta["val"])))
        else:
            parts.append(("constant", type(a).__name__, repr(a)))
    return (str(target), str(spec), tuple(parts))


def _meta_key(val) -> Tuple:
    if isinstance(val, torch.Tensor):
        return ("tensor", tuple(str(d) for d in val.shape), tuple(str(d) for d in val.stride()),
                str(val.storage_offset()), str(val.dtype), str(val.device))
    if isinstance(val, torch.SymInt):
        return ("symint", str(val.node.expr))
    return (type(val).__name__, repr(val))


def _trace_one(make_fx, fake_mode, target, table, flat, spec, positions) -> torch.fx.GraphModule:
    def call(*values):
        args = list(flat)
        for i, v in zip(positions, values):
            args[i] = v
        a, k = pytree.tree_unflatten(args, spec)
        # The table's entry first, as run_decompositions overrides composite
        # ops with it: left to the dispatcher, a composite op (layer_norm)
        # decomposes into its parts before the table sees it.
        impl = table.get(target)
        if impl is not None:
            out = impl(*a, **k)
            if out is not NotImplemented:
                return out
        return target(*a, **k)

    from torch._dispatch.python import enable_python_dispatcher
    try:
        # The Python dispatcher, as the whole-program trace runs: composite
        # kernels see symbolic sizes instead of specializing them.
        with fake_mode, enable_python_dispatcher():
            values = [_specialized(flat[i].meta["val"]) for i in positions]
            return make_fx(call, decomposition_table=table)(*values)
    except Exception as e:
        raise _NotLocal(f"{target}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def _specialized(value):
    """`value` with the sizes export has since fixed (a symbol the shape
    environment replaced by a number) as ints, as the whole-program re-trace
    sees them: decompositions that want a static size (dq.layer_norm's
    normalized dim) then apply."""
    def concrete(s):
        if isinstance(s, torch.SymInt):
            expr = s.node.shape_env.replace(s.node.expr)
            if expr.is_number:
                return int(expr)
        return s
    if isinstance(value, torch.SymInt):
        return concrete(value)
    if not isinstance(value, torch.Tensor):
        return value
    sizes = [concrete(d) for d in value.shape]
    strides = [concrete(d) for d in value.stride()]
    if not any(isinstance(a, torch.SymInt) and not isinstance(b, torch.SymInt)
               for a, b in zip(list(value.shape) + list(value.stride()), sizes + strides)):
        return value
    return torch.empty_strided(sizes, strides, dtype=value.dtype, device=value.device)


def _check_traced(target, sub: torch.fx.GraphModule) -> None:
    """The ops `target`'s decomposition made are ones a splice can take."""
    for s in sub.graph.nodes:
        if _beyond_local(s):
            raise _NotLocal(f"{target} makes {_beyond_local(s)}")
        if s.target is torch.ops.aten.sym_stride.int:
            # A stride the decomposition computes with (dq.gelu's layout
            # checks): read off an input here, which torch-mlir cannot
            # import; the re-trace computes it from sizes.
            raise _NotLocal(f"{target} reads a dynamic stride")


def _check_outputs(node, sub: torch.fx.GraphModule, outputs) -> None:
    """A program output (of `outputs`, the nodes the output node reads)
    that `node` is, or reads through getitem, must stay an op's result in
    its decomposition `sub` (the signature names it)."""
    result = sub.graph.output_node().args[0]
    returned = []
    if node in outputs:
        returned = pytree.tree_leaves(result)
    elif isinstance(result, (tuple, list)):
        returned = [result[u.args[1]] for u in node.users
                    if u.target is operator.getitem and u in outputs]
    if not all(isinstance(x, torch.fx.Node) and x.op == "call_function" for x in returned):
        raise _NotLocal(f"{node.name}, an output, decomposes to an input or a constant")


def _splice(ep, traced) -> None:
    graph = ep.graph_module.graph
    output = graph.output_node()
    # Node -> what replaced it: a later node's arguments, recorded before
    # the splicing, may be nodes spliced out since.
    replaced: Dict[torch.fx.Node, Any] = {}
    for node, sub, positions, flat in traced:
        env: Dict[torch.fx.Node, Any] = {}
        placeholders = [s for s in sub.graph.nodes if s.op == "placeholder"]
        for ph, i in zip(placeholders, positions):
            env[ph] = replaced.get(flat[i], flat[i])
        result = None
        with graph.inserting_before(node):
            for s in sub.graph.nodes:
                if s.op == "placeholder":
                    continue
                if s.op == "output":
                    result = pytree.tree_map(
                        lambda x: env[x] if isinstance(x, torch.fx.Node) else x, s.args[0])
                    continue
                new = graph.node_copy(s, lambda x: env[x])
                for key in _INHERITED_META:
                    if key in node.meta:
                        new.meta[key] = node.meta[key]
                env[s] = new
        _replace(graph, node, result, replaced)
    graph.eliminate_dead_code()
    graph.lint()
    ep.graph_module.recompile()
    # Outputs that were decomposed are new nodes: the signature names them.
    for spec, arg in zip(ep.graph_signature.output_specs, output.args[0]):
        if isinstance(arg, torch.fx.Node) and hasattr(spec.arg, "name"):
            spec.arg.name = arg.name


def _replace(graph: torch.fx.Graph, node: torch.fx.Node, result, replaced) -> None:
    """Uses of `node` become uses of `result` (a node, a constant, or a
    tuple of them for a multi-result op, read through getitem nodes)."""
    replaced[node] = result
    if isinstance(result, (tuple, list)):
        for user in list(node.users):
            if user.op == "call_function" and user.target is operator.getitem:
                _replace(graph, user, result[user.args[1]], replaced)
            else:
                _substitute(user, node, result)
    else:
        for user in list(node.users):
            _substitute(user, node, result)
    graph.erase_node(node)


def _substitute(user: torch.fx.Node, node: torch.fx.Node, value) -> None:
    user.args, user.kwargs = pytree.tree_map(
        lambda x: value if x is node else x, (user.args, user.kwargs))
