"""Layout ops and parametrizations of weights, done once at compile time
instead of on every call.

The exported graph rearranges parameters with ordinary ops: an fp32
nn.Linear's [N, K] weight transposed to the [K, N] its contraction reads
(fp32_linear.py), a convolution's [F, C, *kernel] weight permuted and
reshaped for im2col, sliced per group (decompositions.py). torch-mlir
lowers each to a copy of the weight on every call (MLIR's constant folding
does not read the dense_resource blobs weights become): a 768 x 2304 fp32
linear at M = 1 spent 10 ms of its 10.6 ms copying its weight.

Here every chain of such ops whose inputs are only parameters, buffers or
constants is evaluated by PyTorch once and replaced by a constant input of
the program, and a parameter left without users is dropped. Only ops that
rearrange or select elements, never more of them than their inputs hold,
are folded: the results are the same bits, and the model's size does not
grow (a weight shared with another user stays as well, once). Then the
[K, N] weights of fp32 contractions get their rows padded by a cache line
where the stride would make them collide in the cache (_pad_linear_weights).

Before decomposition, weight parametrizations of constants (weight_norm)
are evaluated by the kernel eager PyTorch runs for them on every call, so
they too give the same bits (fold_parametrizations).
"""
from __future__ import annotations

import collections
import operator
from typing import Dict, Mapping

import torch
from torch.export.graph_signature import InputKind, InputSpec, TensorArgument
from torch.utils import _pytree as pytree

aten = torch.ops.aten

# Ops that only rearrange, select or concatenate elements.
_LAYOUT = {
    aten.permute.default, aten.t.default, aten.transpose.int, aten.view.default,
    aten.reshape.default, aten._unsafe_view.default, aten.clone.default,
    aten.contiguous.default, aten.slice.Tensor, aten.select.int, aten.unsqueeze.default,
    aten.squeeze.dim, aten.squeeze.dims, aten.alias.default, aten.cat.default,
    aten.flip.default, aten.movedim.int, aten.narrow.default, aten.unflatten.int,
    aten.flatten.using_ints,
}


def fold_weight_layouts(ep) -> int:
    """Folds the layout chains on constant inputs of `ep` in place; returns
    how many constants were made."""
    graph = ep.graph
    _transpose_linear_weights(graph)
    specs = ep.graph_signature.input_specs
    known = _constant_inputs(ep)

    folded: Dict[torch.fx.Node, torch.Tensor] = {}
    env = collections.ChainMap(folded, known)
    for node in graph.nodes:
        if node.op != "call_function" or node.target not in _LAYOUT:
            continue
        evaluated = _evaluate(node, env)
        if evaluated is None:
            continue
        out, inputs = evaluated
        if not isinstance(out, torch.Tensor) or out.numel() > sum(env[a].numel() for a in inputs):
            continue
        folded[node] = out
    # torch-mlir's frozen import turns a constant input into a literal in its
    # users' arguments, which it cannot import inside a list (aten.index's
    # indices: Falcon's `fused_qkv[..., [-2]]`): such a node stays an op.
    for node in [n for n in folded if _read_in_a_list(n)]:
        del folded[node]

    # The last folded node of each chain: one that something else reads.
    frontier = [n for n in folded if any(u not in folded for u in n.users)]
    before = _first_user_input(ep)
    made = len(ep.constants)
    for node in frontier:
        ph = _add_constant(ep, specs, before, folded[node].contiguous(), node.meta)
        node.replace_all_uses_with(ph)
    _pad_linear_weights(ep, specs, before)
    graph.eliminate_dead_code()
    # Parameters and buffers nothing reads any more.
    for node in [n for n in graph.nodes if n.op == "placeholder"]:
        if node in known and not node.users:
            spec = next(s for s in specs if isinstance(s.arg, TensorArgument)
                        and s.arg.name == node.name)
            if spec.kind == InputKind.USER_INPUT:
                continue
            specs.remove(spec)
            graph.erase_node(node)
            if spec.target not in {s.target for s in specs}:
                ep.state_dict.pop(spec.target, None)
                ep.constants.pop(spec.target, None)
    ep.graph_module.recompile()
    return len(ep.constants) - made


def _read_in_a_list(node: torch.fx.Node) -> bool:
    return any(isinstance(a, (list, tuple)) and node in a
               for user in node.users for a in (*user.args, *user.kwargs.values()))


# Weight parametrizations: functions of parameters alone that eager PyTorch
# recomputes on every call. weight_norm (Wav2Vec2's, HuBERT's positional
# convolution) decomposes into a norm, a division and a product over the
# whole weight: 12 ms of a Wav2Vec2-base call, and rounded otherwise than
# eager's fused kernel (_weight_norm_interface).
_PARAMETRIZATIONS = {aten._weight_norm.default, aten._weight_norm_interface.default}


def fold_parametrizations(ep) -> int:
    """Before decomposition: a weight parametrization of constant inputs
    becomes a constant, computed by the kernel eager PyTorch runs for it
    (the same bits); returns how many. The inputs it leaves without users
    are dropped with the layout chains' (fold_weight_layouts)."""
    known = _constant_inputs(ep)
    specs = ep.graph_signature.input_specs
    before = _first_user_input(ep)
    made = 0
    for node in list(ep.graph.nodes):
        if node.op != "call_function" or node.target not in _PARAMETRIZATIONS:
            continue
        evaluated = _evaluate(node, known)
        if evaluated is None:
            continue
        out = evaluated[0]
        if node.target is aten._weight_norm_interface.default:
            # (w, norms): only a use of the weight can be folded.
            outs = {u.args[1]: u for u in node.users
                    if u.target is operator.getitem}
            if set(outs) != {0}:
                continue
            node, out = outs[0], out[0]
        ph = _add_constant(ep, specs, before, out.detach().contiguous(), node.meta)
        node.replace_all_uses_with(ph)
        made += 1
    if made:
        ep.graph.eliminate_dead_code()
        ep.graph_module.recompile()
    return made


def _evaluate(node: torch.fx.Node, env: Mapping):
    """(`node`'s op run by PyTorch on `env`'s values of its inputs, those
    inputs); None where it has none or one is not in `env`."""
    inputs = [a for a in pytree.tree_leaves((node.args, node.kwargs))
              if isinstance(a, torch.fx.Node)]
    if not inputs or not all(a in env for a in inputs):
        return None
    args, kwargs = pytree.tree_map_only(torch.fx.Node, env.__getitem__,
                                        (node.args, node.kwargs))
    with torch.no_grad():
        return node.target(*args, **kwargs), inputs


def _first_user_input(ep) -> torch.fx.Node:
    """Where new constants go: before the first user input, as export orders
    them (a non-tensor one may have lost its placeholder: export.py's
    _drop_constant_inputs)."""
    specs = ep.graph_signature.input_specs
    users = {s.arg.name for s in specs if s.kind == InputKind.USER_INPUT}
    nodes = ep.graph.nodes
    return next((n for n in nodes if n.op == "placeholder" and n.name in users),
                None) or next(n for n in nodes if n.op != "placeholder")


def _constant_inputs(ep) -> Dict[torch.fx.Node, torch.Tensor]:
    """placeholder -> value, for the program's parameters, buffers and
    constants (non-persistent buffers live in ep.constants)."""
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    out = {}
    for spec in ep.graph_signature.input_specs:
        if (spec.kind not in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR)
                or not isinstance(spec.arg, TensorArgument)
                or spec.arg.name not in placeholders):
            continue
        value = ep.state_dict.get(spec.target)
        if value is None:
            value = ep.constants.get(spec.target)
        if isinstance(value, torch.Tensor):
            out[placeholders[spec.arg.name]] = value
    return out


def _add_constant(ep, specs, before, value: torch.Tensor, meta) -> torch.fx.Node:
    """A new constant input of `ep` holding `value`, placed before the user
    inputs (`before`: the first of them), as export orders them."""
    graph = ep.graph
    names = {n.name for n in graph.nodes}
    i = 0
    while f"_dq_folded_{i}" in ep.constants or f"_dq_folded_{i}" in names:
        i += 1
    name = f"_dq_folded_{i}"
    with graph.inserting_before(before):
        ph = graph.placeholder(name)
    ph.meta["val"] = _like(meta.get("val"), value)
    if "tensor_meta" in meta:
        from torch.fx.passes.shape_prop import _extract_tensor_metadata
        ph.meta["tensor_meta"] = _extract_tensor_metadata(ph.meta["val"])
    ep.constants[name] = value
    at = next((i for i, s in enumerate(specs) if s.kind == InputKind.USER_INPUT), len(specs))
    specs.insert(at, InputSpec(InputKind.CONSTANT_TENSOR, TensorArgument(ph.name), name))
    return ph


# Rows of a [K, N] weight whose stride is an even number of cache lines map
# to a fraction of the L1 sets (a 4 KiB multiple, N = 3072: all to one), and
# the [K, 16] strips an f32 contraction reads through evict one another:
# 128 x 768 x 3072 ran at 46 GFLOP/s, with rows of 3088 floats at 61 (2304:
# 53; 2320: 69). One more cache line per row makes the stride odd.
_LINE = 16          # floats in a 64-byte cache line


def _pad_linear_weights(ep, specs, before) -> None:
    """dqmlir::linear_f32 of a constant [K, N] weight with an even number of
    cache lines per row becomes linear_f32_padded of its rows padded by one
    cache line (same products, same sums: the padding is never read)."""
    linear_f32 = getattr(torch.ops.dqmlir, "linear_f32", None)
    padded = getattr(torch.ops.dqmlir, "linear_f32_padded", None)
    if linear_f32 is None or padded is None:
        return
    values = _constant_inputs(ep)      # the folded constants included
    done = {}
    for node in list(ep.graph.nodes):
        if (node.op != "call_function" or node.target is not linear_f32.default
                or node.args[3] is not True or node.args[1] not in values):
            continue
        w = values[node.args[1]]
        if w.dim() != 2 or w.dtype != torch.float32 or (w.shape[1] // _LINE) % 2 \
                or w.shape[1] % _LINE:
            continue
        if node.args[1] not in done:
            wp = torch.nn.functional.pad(w.detach(), (0, _LINE)).contiguous()
            done[node.args[1]] = _add_constant(ep, specs, before, wp, node.args[1].meta)
        with ep.graph.inserting_before(node):
            new = ep.graph.call_function(
                padded.default, (node.args[0], done[node.args[1]], node.args[2], w.shape[1]))
        new.meta.update(node.meta)
        node.replace_all_uses_with(new)
        ep.graph.erase_node(node)


def _transpose_linear_weights(graph) -> None:
    """dqmlir::linear_f32 of an [N, K] weight (nn.Linear) reads it as [K, N]
    (fp32_linear.py): the transpose becomes a node of the graph, which the
    folding then does once where the weight is a constant."""
    linear_f32 = getattr(torch.ops.dqmlir, "linear_f32", None)
    if linear_f32 is None:
        return
    for node in list(graph.nodes):
        if (node.op != "call_function" or node.target is not linear_f32.default
                or node.args[3] is not False):
            continue
        weight = node.args[1]
        with graph.inserting_before(node):
            t = graph.call_function(aten.t.default, (weight,))
        val = weight.meta.get("val")
        mode = getattr(val, "fake_mode", None)
        if mode is not None:
            with mode:
                t.meta["val"] = val.t()
        node.args = (node.args[0], t, node.args[2], True)


def _like(fake, value: torch.Tensor):
    """A contiguous fake tensor of `value`'s shape in `fake`'s mode (the
    folded node's own fake may carry a permutation's strides)."""
    mode = getattr(fake, "fake_mode", None)
    if mode is None:
        return value
    with mode:
        return torch.empty(value.shape, dtype=value.dtype)
