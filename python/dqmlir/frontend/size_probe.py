"""Which sizes below 2 an exported program is valid for.

torch.export traces a dynamic dim as a symbol of at least 2 (sizes 0 and 1
would be specialized) and simplifies with that assumption: `x[:, :1]` has
size 1 (not min(S, 1)), `x[:, 1:]` size S - 1 (not max(S - 1, 0)),
`x[:, -1]` selects index S - 1. The compiled code is general in its sizes,
so calls with a size of 0 or 1 are allowed (a batch of one sentence is the
common call), but only where the program's shapes still hold there: at
S = 0 the slice above would read one row past an empty tensor.

`min_sizes` re-runs the decomposed program on fake tensors with one symbol
at 1, then at 0 (the others at their example sizes), through PyTorch's own
shape rules (its meta kernels, which also raise where eager PyTorch raises,
e.g. a select of index -1 in an empty dim), and compares every node's shape
with the one recorded at export, evaluated at that size. A size where they
differ, or where an op raises, is below the symbol's minimum; calls below it
are refused (signature.py) instead of running code that assumed more: with
the exception PyTorch raised there (a RuntimeError for an ambiguous reshape
of an empty tensor, an IndexError for a select out of range), else a
ValueError.

Not covered: decisions the traced Python made on a size (`if S > 1:`) leave
no trace in the graph; they are as in the example.
"""
from __future__ import annotations

import logging
from typing import Any, Dict

import torch

log = logging.getLogger("dqmlir")


class _Mismatch(Exception):
    pass


def _concrete(x, env: Dict[Any, int]):
    """The value of a size (int, SymInt or sympy expression) in `env`; None
    when it depends on something else (an unbacked size)."""
    if isinstance(x, int):
        return x
    expr = x.node.expr if isinstance(x, torch.SymInt) else x
    value = expr.xreplace(env)
    try:
        return int(value)
    except TypeError:
        return None


def _check(got, want, env, where: str) -> None:
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor) or got.dim() != want.dim():
            raise _Mismatch(where)
        for g, w in zip(got.shape, want.shape):
            w = _concrete(w, env)
            if w is not None and g != w:
                raise _Mismatch(f"{where}: size {list(got.shape)}, exported {list(want.shape)}")
    elif isinstance(want, torch.SymInt):
        w = _concrete(want, env)
        if w is not None and isinstance(got, (int, torch.SymInt)) and int(got) != w:
            raise _Mismatch(f"{where}: {got}, exported {want}")
    elif isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        for i, (g, w) in enumerate(zip(got, want)):
            _check(g, w, env, f"{where}[{i}]")


# Reductions without an identity: ATen raises IndexError on an empty reduced
# dim; their meta functions (what the fake run calls) do not check.
_aten = torch.ops.aten
_NO_IDENTITY = {_aten.max.dim, _aten.min.dim, _aten.amax.default, _aten.amin.default,
                _aten.argmax.default, _aten.argmin.default, _aten.max.default,
                _aten.min.default}


def _check_reduced_size(n, env) -> None:
    x = env.get(n.args[0]) if n.args else None
    if not isinstance(x, torch.Tensor):
        return
    if n.target in (_aten.max.default, _aten.min.default):
        if x.numel() == 0:
            raise IndexError(f"{n.target}: the operation does not have an identity "
                             "and the tensor is empty")
        return
    dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
    if dims is None:
        if x.numel() == 0:
            raise IndexError(f"{n.target}: the reduced tensor is empty")
        return
    for d in ([dims] if isinstance(dims, int) else list(dims)):
        if x.dim() and x.shape[d] == 0:
            raise IndexError(f"{n.target}: Expected reduction dim {d % x.dim()} to have "
                             "non-zero size.")


def _valid_at(ep, env: Dict[Any, int]) -> tuple:
    """("", "") if every node of `ep` has its exported shape at the sizes of
    `env` (symbol -> size), else (what differs or raised, the exception
    class PyTorch raised there or "")."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.export.graph_signature import InputKind

    gm = ep.graph_module
    placeholders = {n.name: n for n in gm.graph.nodes if n.op == "placeholder"}
    tensors = {**ep.state_dict, **ep.constants}
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    args = []
    with mode:
        for spec in ep.graph_signature.input_specs:
            node = placeholders.get(getattr(spec.arg, "name", None))
            if node is None:          # a constant input, dropped from the graph
                continue
            val = node.meta.get("val")
            if spec.kind == InputKind.USER_INPUT:
                if not isinstance(val, torch.Tensor):
                    args.append(_concrete(val, env) if isinstance(val, torch.SymInt) else val)
                    continue
                shape = [_concrete(s, env) for s in val.shape]
                if any(s is None for s in shape):
                    return "", ""     # not decidable here
                args.append(torch.empty(shape, dtype=val.dtype))
            else:
                args.append(mode.from_tensor(tensors[spec.target]) if spec.target in tensors
                            else val)

    class Checker(torch.fx.Interpreter):
        def run_node(self, n):
            if n.op == "call_function" and n.target in _NO_IDENTITY:
                _check_reduced_size(n, self.env)
            out = super().run_node(n)
            if n.op == "call_function":
                _check(out, n.meta.get("val"), env, f"{n.target} (fx node {n.name})")
            return out

    try:
        with mode:
            Checker(gm).run(*args)
    except _Mismatch as e:
        return str(e), ""
    except Exception as e:  # noqa: BLE001 - PyTorch refuses the size: so must the call
        lines = str(e).strip().splitlines()
        kind = type(e).__name__ if type(e).__name__ in _ERRORS else "RuntimeError"
        return (lines[0] if lines else type(e).__name__), kind
    return "", ""


# Exceptions a refused call raises as PyTorch did (others: RuntimeError).
_ERRORS = ("RuntimeError", "IndexError", "ValueError", "TypeError", "ZeroDivisionError")


def min_sizes(ep, assumed: int = 2) -> Dict[str, dict]:
    """symbol name -> {"min": the smallest size (0, 1 or 2) its program is
    valid for, "error": the exception class PyTorch raised below it ("" if
    its shapes differ instead), "why": what differed or PyTorch's message},
    for each symbol export gave the lower bound `assumed`."""
    import sympy

    hints: Dict[Any, int] = {}
    for node in ep.graph.nodes:
        if node.op != "placeholder":
            continue
        val = node.meta.get("val")
        shape = val.shape if isinstance(val, torch.Tensor) else ()
        for s in shape:
            if isinstance(s, torch.SymInt) and isinstance(s.node.expr, sympy.Symbol):
                hints.setdefault(s.node.expr, s.node.hint)
    out = {}
    for sym, rng in ep.range_constraints.items():
        if not isinstance(sym, sympy.Symbol) or rng.lower != assumed or sym not in hints:
            continue
        env = {k: v for k, v in hints.items() if v is not None}
        entry = {"min": 0, "error": "", "why": ""}
        for size in (1, 0):
            why, kind = _valid_at(ep, {**env, sym: size})
            if why:
                entry = {"min": size + 1, "error": kind, "why": why[:300]}
                log.info("dqmlir: %s = %d is refused: %s", sym, size, why)
                break
        out[str(sym)] = entry
    return out
