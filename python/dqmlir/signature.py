"""The call signature of a compiled model: what a call may pass, and how its
results are put back together.

It is derived from the exported program (torch.export): the Python signature
of the model's `forward` (to bind positional and keyword arguments the way a
call of the model would), the pytree structure of the exported inputs and
outputs, and for every tensor input its dtype and sizes, each size a
constant, one of export's symbols, or an expression of them, with the
symbols' ranges. A call is checked against all of that before any compiled
code runs, so the code only ever sees inputs it was compiled for: sizes that
export tied together are equal, derived sizes match, and dims stay within
the ranges export proved the program valid for. Mistakes raise the exception
Python or PyTorch would raise for them (TypeError for the call's form and
dtypes, ValueError for sizes), naming the argument.

The whole signature is plain data (`to_json` / `from_json`): a saved model
carries it in its manifest, and the C runtime reads the same description.
"""
from __future__ import annotations

import builtins
import importlib
import inspect
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch.utils import _pytree as pytree

_MISSING = object()

# Integer dtypes a call may pass where export saw a wider one: the values
# convert exactly, and embedding lookups and masks (what takes int64 in the
# models dqmlir compiles) give PyTorch's result for either.
_WIDENS_TO = {
    torch.int64: (torch.int32, torch.int16, torch.int8, torch.uint8),
    torch.int32: (torch.int16, torch.int8, torch.uint8),
}
_DTYPES = {str(d).replace("torch.", ""): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool)}

# Export assumes every dynamic size is at least 2 (sizes 0 and 1 would be
# specialized); the compiled code is general, so such a bound is not one the
# model has. Larger lower bounds (from the model or the user) are kept.
_SPECIALIZATION_BOUND = 2


def _dtype_name(d: torch.dtype) -> str:
    return str(d).replace("torch.", "")


# ---------------------------------------------------------------------------
# Sizes: ints, symbols, and expression trees over them (JSON lists).
# ---------------------------------------------------------------------------
def size_spec(size) -> Any:
    """An int, a symbol name, an expression tree (["+", a, b], ["*", ...],
    ["//", a, b], ["%", a, b], ["max", ...], ["min", ...]) or None when
    export's expression is none of these (then the size is left to the
    compiled code's own checks)."""
    if isinstance(size, int):
        return size
    return _expr_tree(size.node.expr)


def _expr_tree(e) -> Any:
    import sympy
    from torch.utils._sympy.functions import FloorDiv, Mod, PythonMod

    if e.is_Integer:
        return int(e)
    if e.is_Symbol:
        return str(e)
    ops = {sympy.Add: "+", sympy.Mul: "*", FloorDiv: "//", Mod: "%", PythonMod: "%",
           sympy.Max: "max", sympy.Min: "min"}
    op = ops.get(type(e))
    if op is None:
        return None
    args = [_expr_tree(a) for a in e.args]
    return None if any(a is None for a in args) else [op, *args]


def _symbols(tree) -> set:
    if isinstance(tree, str):
        return {tree}
    if isinstance(tree, list):
        return set().union(*(_symbols(a) for a in tree[1:]))
    return set()


def evaluate(tree, env: Dict[str, int]) -> int:
    """Value of a size spec with the symbols in `env`."""
    if isinstance(tree, int):
        return tree
    if isinstance(tree, str):
        return env[tree]
    op, args = tree[0], [evaluate(a, env) for a in tree[1:]]
    if op == "+":
        return sum(args)
    if op == "*":
        out = 1
        for a in args:
            out *= a
        return out
    if op == "//":
        return args[0] // args[1] if args[1] else 0
    if op == "%":
        return args[0] % args[1] if args[1] else 0
    if op == "max":
        return max(args)
    if op == "min":
        return min(args)
    raise ValueError(f"unknown size operator {op!r}")


def _solve(tree, value: int, env: Dict[str, int]) -> Optional[tuple]:
    """(symbol, its value) if `tree` has one symbol not in `env` and is
    a * s + b in it with integer a != 0; None otherwise."""
    unknown = _symbols(tree) - set(env)
    if len(unknown) != 1:
        return None
    s = unknown.pop()
    try:
        b = evaluate(tree, {**env, s: 0})
        a = evaluate(tree, {**env, s: 1}) - b
        if a == 0 or evaluate(tree, {**env, s: 2}) != 2 * a + b:
            return None
    except (KeyError, ZeroDivisionError):
        return None
    if (value - b) % a:
        return (s, None)
    return (s, (value - b) // a)


# ---------------------------------------------------------------------------
# The signature.
# ---------------------------------------------------------------------------
@dataclass
class Leaf:
    """One flat input: a tensor (dtype, sizes) or a constant export baked in."""

    path: str                    # e.g. "input_ids", "past_key_values[0][1]"
    kind: str                    # "tensor" | "const"
    dtype: Optional[str] = None  # torch dtype name, tensors only
    dims: Optional[list] = None  # size specs, tensors only
    value: Any = None            # constants only

    def describe(self) -> str:
        dims = ", ".join("?" if not isinstance(d, int) else str(d) for d in self.dims)
        return f"{self.dtype}[{dims}]"


class Signature:
    """See the module docstring. Build with `from_export`; call `bind` on the
    arguments of each call and `outputs` on the compiled code's results."""

    def __init__(self, name: str, params: Optional[list], sources: list, kw_names: list,
                 in_spec: str, out_spec: str, leaves: List[Leaf], out_leaves: list,
                 ranges: Dict[str, list], min_sizes: Optional[Dict[str, dict]] = None):
        self.name = name
        # forward's parameters [name, kind, default kind, default], or None;
        # default kind: "none" (required), "value" (a plain constant), "opaque".
        self.params = params
        self.sources = sources          # exported positional args: [name] or [varargs, j]
        self.kw_names = kw_names        # exported keyword args
        self.in_spec_json, self.out_spec_json = in_spec, out_spec
        self.in_spec = _loads(in_spec)
        self.out_spec = _loads(out_spec)
        self.leaves = leaves
        self.out_leaves = out_leaves    # per output leaf: ["tensor", i] or ["const", v]
        self.ranges = {k: list(v) for k, v in ranges.items()}
        # Set when the runtime checks ranks and sizes itself (a saved
        # model's C runtime, lib/Runtime/InputChecks.cpp, same rules).
        self.sizes_checked_elsewhere = False
        # Symbols export assumed >= 2 for: the smallest size the program is
        # valid for and what a smaller one raises (frontend/size_probe.py);
        # others take any size >= 0.
        self.min_sizes = dict(min_sizes or {})
        self._prepare()

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_export(cls, model: torch.nn.Module, ep, example_args, example_kwargs,
                    const_inputs: Dict[int, Any],
                    min_sizes: Optional[Dict[str, dict]] = None) -> "Signature":
        """From the exported program `ep` of `model` called with the example
        arguments (as given to torch.export); `const_inputs`: flat input index
        -> the value export baked in; `min_sizes`: see size_probe.py."""
        from torch.export.graph_signature import InputKind, TensorArgument

        params, sources = None, [[f"arg{i}"] for i in range(len(example_args))]
        try:
            sig = inspect.signature(model.forward)
        except (TypeError, ValueError):
            sig = None
        if sig is not None:
            params = [[p.name, int(p.kind), *_default(p)] for p in sig.parameters.values()]
            positional = [p.name for p in sig.parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            varargs = next((p.name for p in sig.parameters.values()
                            if p.kind == p.VAR_POSITIONAL), None)
            sources = []
            for i in range(len(example_args)):
                if i < len(positional):
                    sources.append([positional[i]])
                elif varargs is not None:
                    sources.append([varargs, i - len(positional)])
                else:
                    sources.append([f"arg{i}"])
        placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
        flat_paths = [_path_str(p, sources) for p, _ in
                      pytree.tree_flatten_with_path((tuple(example_args), dict(example_kwargs)))[0]]
        leaves, user_i = [], 0
        for spec in ep.graph_signature.input_specs:
            if spec.kind != InputKind.USER_INPUT:
                continue
            path = flat_paths[user_i] if user_i < len(flat_paths) else f"input {user_i}"
            if user_i in const_inputs:
                leaves.append(Leaf(path, "const", value=const_inputs[user_i]))
            elif isinstance(spec.arg, TensorArgument):
                val = placeholders[spec.arg.name].meta["val"]
                leaves.append(Leaf(path, "tensor", _dtype_name(val.dtype),
                                   [size_spec(s) for s in val.shape]))
            else:  # a SymInt or other non-tensor input export kept: not supported
                raise TypeError(f"{type(model).__name__}: input '{path}' is a "
                                f"{type(spec.arg).__name__}; dqmlir compiles tensor inputs "
                                "and constants only")
            user_i += 1
        out_leaves, tensor_i = [], 0
        from torch.export.graph_signature import OutputKind
        for spec in ep.graph_signature.output_specs:
            if spec.kind != OutputKind.USER_OUTPUT:
                continue
            if isinstance(spec.arg, TensorArgument):
                out_leaves.append(["tensor", tensor_i])
                tensor_i += 1
            else:
                out_leaves.append(["const", getattr(spec.arg, "value", None)])
        ranges = {str(k): [_int_or_none(v.lower), _int_or_none(v.upper)]
                  for k, v in ep.range_constraints.items()}
        return cls(type(model).__name__, params, sources, list(example_kwargs),
                   pytree.treespec_dumps(ep.call_spec.in_spec),
                   pytree.treespec_dumps(ep.call_spec.out_spec), leaves, out_leaves, ranges,
                   min_sizes)

    @classmethod
    def for_tensors(cls, name: str, specs: Sequence[tuple], n_outputs: int,
                    names: Optional[Sequence[str]] = None) -> "Signature":
        """A function of positional tensors: specs [(dtype, dims)] with None
        for a dynamic size (each its own symbol); a tuple of n_outputs results
        (a single result when 1). `names`: the arguments' names."""
        names = list(names or [f"arg{i}" for i in range(len(specs))])
        leaves, ranges = [], {}
        for i, (dtype, dims) in enumerate(specs):
            named = []
            for d, size in enumerate(dims):
                if size is None:
                    sym = f"a{i}d{d}"
                    ranges[sym] = [0, None]
                    named.append(sym)
                else:
                    named.append(int(size))
            leaves.append(Leaf(names[i], "tensor", _dtype_name(dtype), named))
        n = len(specs)
        in_spec = pytree.tree_flatten(((0,) * n, {}))[1]
        out_spec = pytree.tree_flatten(0 if n_outputs == 1 else (0,) * n_outputs)[1]
        params = [[nm, int(inspect.Parameter.POSITIONAL_OR_KEYWORD), "none", None]
                  for nm in names]
        return cls(name, params, [[nm] for nm in names], [],
                   pytree.treespec_dumps(in_spec), pytree.treespec_dumps(out_spec), leaves,
                   [["tensor", i] for i in range(n_outputs)], ranges)

    def _prepare(self) -> None:
        self.tensor_leaves = [l for l in self.leaves if l.kind == "tensor"]
        self._tensor_index = [i for i, l in enumerate(self.leaves) if l.kind == "tensor"]
        self._const_index = [(i, l) for i, l in enumerate(self.leaves) if l.kind == "const"]
        self._dtypes = [_DTYPES[l.dtype] for l in self.tensor_leaves]
        names = [s[0] if len(s) == 1 else f"*{s[0]}" for s in self.sources] + self.kw_names
        self.expected = ", ".join(dict.fromkeys(names))
        # Calls of exactly the exported positional tensors skip binding and
        # pytree (their cost exceeds a small model's kernels).
        n = len(self.sources)
        self._positional_only = (not self.kw_names and not self._const_index
                                 and len(self.tensor_leaves) == n
                                 and self.in_spec == pytree.tree_flatten(((0,) * n, {}))[1])
        self._sig = None
        if self.params is not None:
            self._sig = inspect.Signature([
                inspect.Parameter(name, inspect._ParameterKind(kind),
                                  default=inspect.Parameter.empty if dk == "none" else default)
                for name, kind, dk, default in self.params])
            self._defaults = {name: (dk, default) for name, _, dk, default in self.params}
        self._single_output = self.out_spec.is_leaf() and self.out_leaves == [["tensor", 0]]
        # Size checks: the first occurrence of each symbol binds it, every
        # later one must agree; expression sizes are evaluated afterwards.
        self._exprs = [(li, d, spec) for li, l in enumerate(self.tensor_leaves)
                       for d, spec in enumerate(l.dims) if isinstance(spec, list)]

    # -- calls ----------------------------------------------------------------
    def bind(self, args: tuple, kwargs: dict) -> List[torch.Tensor]:
        """The flat tensors to call the compiled code with, checked (and
        int-widened) against the signature; raises TypeError/ValueError."""
        if self._positional_only and not kwargs and len(args) == len(self.sources):
            return self.check_tensors(args)
        ex_args, ex_kwargs = self._exported_form(args, kwargs)
        flat, spec = pytree.tree_flatten((ex_args, ex_kwargs))
        if spec != self.in_spec:
            self._raise_structure(ex_args, ex_kwargs)
        for i, leaf in self._const_index:
            if not _same_constant(flat[i], leaf.value):
                raise ValueError(f"{self.name}: argument '{leaf.path}' was compiled as the "
                                 f"constant {leaf.value!r}, got {_short(flat[i])}; compile "
                                 "again to pass another value")
        return self.check_tensors([flat[i] for i in self._tensor_index])

    def _exported_form(self, args: tuple, kwargs: dict) -> tuple:
        """(args, kwargs) split as the example arguments of the export were."""
        if self._sig is None:
            return tuple(args), dict(kwargs)
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.name}() {e}; expected {self.expected}") from None
        given = dict(bound.arguments)
        used = set()
        var_kw = next((p[0] for p in self.params if p[1] == inspect.Parameter.VAR_KEYWORD), None)
        # A misspelled keyword lands in **kwargs: name it before what is missing.
        extra = [x for x in given.get(var_kw, {}) if x not in self.kw_names] if var_kw else []
        if extra:
            raise TypeError(f"{self.name}() got an unexpected keyword argument '{extra[0]}'; "
                            f"expected {self.expected}")

        def take(src):
            if len(src) == 1:
                used.add(src[0])
                return given.get(src[0], _MISSING)
            var = given.get(src[0], ())
            used.add(src[0])
            return var[src[1]] if src[1] < len(var) else _MISSING

        ex_args = []
        for src in self.sources:
            v = take(src)
            if v is _MISSING:
                raise TypeError(f"{self.name}() missing argument '{_src_name(src)}'; "
                                f"expected {self.expected}")
            ex_args.append(v)
        ex_kwargs = {}
        for k in self.kw_names:
            if k in given and k != var_kw:
                v = given[k]
                used.add(k)
            else:
                v = given.get(var_kw, {}).get(k, _MISSING) if var_kw else _MISSING
            if v is _MISSING:
                raise TypeError(f"{self.name}() missing argument '{k}'; expected {self.expected}")
            ex_kwargs[k] = v
        for k, v in given.items():
            if k in used:
                continue
            if k == var_kw:
                continue
            if self._sig.parameters[k].kind == inspect.Parameter.VAR_POSITIONAL:
                n = sum(1 for s in self.sources if len(s) == 2)
                if len(v) > n:
                    raise TypeError(f"{self.name}() takes {len(self.sources)} positional "
                                    f"arguments but {len(self.sources) - n + len(v)} were given")
            elif not (v is None or (self._defaults[k][0] == "value"
                                    and _same_constant(v, self._defaults[k][1]))):
                raise TypeError(f"{self.name}(): argument '{k}' was not passed when the model "
                                f"was compiled, so the compiled model does not take it; pass it "
                                f"in dqmlir.compile's example arguments to use it (expected "
                                f"{self.expected})")
        return tuple(ex_args), ex_kwargs

    def _raise_structure(self, ex_args, ex_kwargs) -> None:
        """A precise error for arguments whose nesting differs from export's."""
        want_args, want_kwargs = self.in_spec.children()
        for i, (v, want) in enumerate(zip(ex_args, want_args.children())):
            got = pytree.tree_flatten(v)[1]
            if got != want:
                raise TypeError(f"{self.name}(): argument '{_src_name(self.sources[i])}' must be "
                                f"{_describe_spec(want)}, got {_short(v)}")
        for k, want in zip(self.kw_names, want_kwargs.children()):
            got = pytree.tree_flatten(ex_kwargs[k])[1]
            if got != want:
                raise TypeError(f"{self.name}(): argument '{k}' must be {_describe_spec(want)}, "
                                f"got {_short(ex_kwargs[k])}")
        raise TypeError(f"{self.name}(): arguments differ from the compiled structure "
                        f"{self.in_spec}")

    def check_tensors(self, tensors: Sequence[Any]) -> List[torch.Tensor]:
        """Type, device, dtype and sizes of each flat tensor input."""
        out = list(tensors)
        env: Dict[str, tuple] = {}
        for i, (leaf, want) in enumerate(zip(self.tensor_leaves, self._dtypes)):
            t = out[i]
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{self.name}(): argument '{leaf.path}' must be a Tensor "
                                f"({leaf.describe()}), got {type(t).__name__}")
            if t.dtype is not want:
                if t.dtype in _WIDENS_TO.get(want, ()):
                    t = out[i] = t.to(want)
                else:
                    raise TypeError(f"{self.name}(): argument '{leaf.path}' must have dtype "
                                    f"{leaf.dtype}, got {_dtype_name(t.dtype)}")
            if t.device.type != "cpu":
                raise ValueError(f"{self.name}(): argument '{leaf.path}' must be a CPU tensor, "
                                 f"got device {t.device}")
            if self.sizes_checked_elsewhere:
                continue
            shape = t.shape
            if len(shape) != len(leaf.dims):
                raise ValueError(f"{self.name}(): argument '{leaf.path}' must have "
                                 f"{len(leaf.dims)} dims ({leaf.describe()}), got shape "
                                 f"{list(shape)}")
            for d, spec in enumerate(leaf.dims):
                got = shape[d]
                if isinstance(spec, int):
                    if got != spec:
                        raise ValueError(f"{self.name}(): argument '{leaf.path}' dim {d} must "
                                         f"be {spec}, got {got} (shape {list(shape)})")
                elif isinstance(spec, str):
                    seen = env.get(spec)
                    if seen is None:
                        self._check_range(spec, got, leaf.path, d)
                        env[spec] = (got, leaf.path, d)
                    elif seen[0] != got:
                        raise ValueError(
                            f"{self.name}(): argument '{leaf.path}' dim {d} is {got} but must "
                            f"equal argument '{seen[1]}' dim {seen[2]} ({seen[0]}), as in the "
                            f"exported model")
        if self._exprs and not self.sizes_checked_elsewhere:
            self._check_expressions(out, {k: v[0] for k, v in env.items()})
        return out

    def _check_range(self, sym: str, got: int, path: str, d: int) -> None:
        lo, hi = self.ranges.get(sym, (None, None))
        if hi is not None and got > hi:
            raise ValueError(f"{self.name}(): argument '{path}' dim {d} is {got}; the model "
                             f"supports at most {hi} there")
        least = self.min_sizes.get(sym)
        if least and got < least["min"] and not (lo is not None and lo > _SPECIALIZATION_BOUND):
            if least["error"]:
                cls = getattr(builtins, least["error"], RuntimeError)
                raise cls(f"{self.name}(): argument '{path}' dim {d} is {got}: the exported "
                          f"program raises {least['error']} at this size ({least['why']})")
            raise ValueError(f"{self.name}(): argument '{path}' dim {d} is {got}; the compiled "
                             f"model needs at least {least['min']} there (torch.export's program "
                             f"assumes larger sizes: {least['why']})")
        if lo is not None and lo > _SPECIALIZATION_BOUND and got < lo:
            raise ValueError(f"{self.name}(): argument '{path}' dim {d} is {got}; the model "
                             f"needs at least {lo} there")

    def _check_expressions(self, tensors, env: Dict[str, int]) -> None:
        pending = list(self._exprs)
        while pending:
            progress, rest = False, []
            for li, d, spec in pending:
                leaf, got = self.tensor_leaves[li], tensors[li].shape[d]
                if _symbols(spec) <= set(env):
                    want = evaluate(spec, env)
                    if want != got:
                        raise ValueError(f"{self.name}(): argument '{leaf.path}' dim {d} is "
                                         f"{got} but the exported model needs {want} there "
                                         f"({_show(spec)} with {_show_env(spec, env)})")
                    progress = True
                    continue
                solved = _solve(spec, got, env)
                if solved is None:
                    rest.append((li, d, spec))
                    continue
                sym, value = solved
                if value is None:
                    raise ValueError(f"{self.name}(): argument '{leaf.path}' dim {d} is {got}, "
                                     f"which is not of the form {_show(spec)}")
                self._check_range(sym, value, leaf.path, d)
                env[sym] = value
                progress = True
            if not progress:
                return  # left to the compiled code's checks
            pending = rest

    def outputs(self, flat: Sequence[Any]) -> Any:
        """The compiled code's results in the model's output structure."""
        if self._single_output:
            return flat[0]
        leaves = [flat[i] if kind == "tensor" else i for kind, i in self.out_leaves]
        return pytree.tree_unflatten(leaves, self.out_spec)

    # -- serialization --------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "name": self.name, "params": self.params, "sources": self.sources,
            "kw_names": self.kw_names, "in_spec": self.in_spec_json,
            "out_spec": self.out_spec_json,
            "inputs": [vars(l) for l in self.leaves], "outputs": self.out_leaves,
            "ranges": self.ranges, "min_sizes": self.min_sizes,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Signature":
        return cls(d["name"], d["params"], d["sources"], d["kw_names"], d["in_spec"],
                   d["out_spec"], [Leaf(**l) for l in d["inputs"]], d["outputs"], d["ranges"],
                   d.get("min_sizes"))

    def __repr__(self) -> str:
        return (f"{self.name}(" + ", ".join(f"{l.path}: {l.describe()}"
                                             for l in self.tensor_leaves) + ")")


def _loads(spec_json: str):
    """treespec_loads, importing the modules of the node types it names
    (transformers' ModelOutput classes register themselves on import)."""
    for name in set(_type_names(json.loads(spec_json))):
        module = name.rpartition(".")[0]
        if module and module != "builtins":
            try:
                importlib.import_module(module)
            except ImportError:
                pass
    return pytree.treespec_loads(spec_json)


def _type_names(node):
    if isinstance(node, list):
        for x in node:
            yield from _type_names(x)
    elif isinstance(node, dict):
        if isinstance(node.get("type"), str):
            yield node["type"]
        for x in node.get("children_spec", []):
            yield from _type_names(x)


def _path_str(path, sources) -> str:
    """'input_ids', 'past_key_values[0][1]' for a key path into (args, kwargs)."""
    top, rest = path[0].idx, path[1:]
    if top == 0:
        name = _src_name(sources[rest[0].idx]) if rest[0].idx < len(sources) else f"arg{rest[0].idx}"
    else:
        name = str(rest[0].key)
    return name + pytree.keystr(rest[1:])


def _default(p: inspect.Parameter) -> list:
    if p.default is inspect.Parameter.empty:
        return ["none", None]
    if p.default is None or isinstance(p.default, (bool, int, float, str)):
        return ["value", p.default]
    return ["opaque", None]


def _src_name(src) -> str:
    return src[0] if len(src) == 1 else f"{src[0]}[{src[1]}]"


def _same_constant(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False
    try:
        return type(a) is type(b) and bool(a == b) or (a is None and b is None)
    except Exception:
        return False


def _short(v) -> str:
    if isinstance(v, torch.Tensor):
        return f"a tensor of shape {list(v.shape)}"
    if isinstance(v, (list, tuple)):
        return f"a {type(v).__name__} of {len(v)}"
    if isinstance(v, dict):
        return f"a dict with keys {list(v)}"
    return repr(v) if len(repr(v)) < 40 else type(v).__name__


def _describe_spec(spec) -> str:
    if spec.is_leaf():
        return "a tensor"
    t = getattr(spec.type, "__name__", str(spec.type))
    if spec.type is type(None):
        return "None"
    if spec.type is dict:
        return f"a dict with keys {spec.context}"
    return f"a {t} of {spec.num_children}"


def _show(tree) -> str:
    if isinstance(tree, (int, str)):
        return str(tree)
    op, args = tree[0], [_show(a) for a in tree[1:]]
    if op in ("max", "min"):
        return f"{op}({', '.join(args)})"
    return "(" + f" {op} ".join(args) + ")"


def _show_env(tree, env) -> str:
    return ", ".join(f"{s} = {env[s]}" for s in sorted(_symbols(tree)))


def _int_or_none(x) -> Optional[int]:
    import sympy
    return int(x) if isinstance(x, (int, sympy.Integer)) else None   # oo / int_oo -> None
