#!/usr/bin/env python3
"""Frontend fuzzer for dqmlir.compile: random small torch modules, called
with good and bad inputs, compared with PyTorch eager.

Every module is a real `torch.nn.Module` whose source is generated from a
grammar of the ops transformer and recurrent models use (linear layers,
layer norm, activations, softmax, matmul, SDPA, reshape/permute/transpose,
embeddings, masks, slicing, concatenation, residual adds, reductions,
gathers, recurrent cells): a random DAG over a few inputs (float
activations of rank 2-4, int64/int32 token ids, int/bool/float masks,
a second sequence for cross attention; some of them keyword arguments,
optional or of another float dtype). The module is then quantized
(`quantize_dynamic`, per tensor or per channel; torchao's int8 dynamic
config), or left fp32, or compiled with quantize="pytorch" / "accurate",
compiled with `dqmlir.compile` (dynamic or static shapes, 1 or 2 threads),
and called with the example inputs, other valid sizes (0, 1, large-ish),
special values, non-contiguous views, and bad inputs (wrong dtype or rank,
mismatched tied dims, a wrong static dim, out-of-range ids, lists, None,
extra/missing/misspelled keyword and positional arguments).

Reference: PyTorch eager on the same quantized module (fbgemm engine, one
thread). "pytorch" compiles are compared with `quantize_dynamic` of the
same fp32 module, "accurate" ones with an emulation of that scheme
(accurate_reference below). Outcomes of each call:

  equal              bit-equal to PyTorch (NaN where PyTorch has NaN)
  close              within tolerance, in a graph with ops dqmlir does not
                     claim bit-exact (INEXACT: named reasons, each measured
                     on its own; reported per reason with the largest
                     relative difference); never counted as equal
  documented         a difference dqmlir documents as deliberate
                     (DOCUMENTED: NaNs reaching a quantized linear, integer
                     widening of inputs, ...), reported per reason
  exception          we raise a clean Python exception and PyTorch raises too
  mismatch_raise     we raise a clean exception, PyTorch returns a result
                     (reported per reason; acceptable only where explained:
                     EXPLAINED)
  silent_difference  we return a result that differs from PyTorch's beyond
                     tolerance, or PyTorch raises and we return a result, or
                     the call changed its inputs or the model
  unclean_exception  we raise something other than TypeError, ValueError,
                     IndexError, RuntimeError, ZeroDivisionError (or their
                     subclasses)
  crash              the worker process died (signal, abnormal exit)
  hang               a step exceeded its time limit (or a compile stage its
                     own, DQMLIR_COMPILE_TIMEOUT_S)

Per module, the compile is one of: compiled, unsupported
(UnsupportedModuleError: a breadth metric), compile_error (CompileError:
a compile stage failed, crashed or timed out in its isolated child),
compile_raise (another clean exception while PyTorch runs the example),
agree_raise (PyTorch fails on the example too), or crash / hang /
unclean_exception; reference_failed when PyTorch (or torchao) could not
quantize the module to begin with.

Modules run in worker processes (`--jobs`), each processing many modules in
turn under an address-space limit; every step is announced to the parent
before it starts, so a crash or a hang is attributed to its module and step,
and the worker is replaced. Everything is a function of --seed and the
module's index, whatever --jobs is. Half the modules run with dqmlir's
buffer cache off (trim_buffer_cache(0)), so that glibc's checks catch a
double free or an overrun at the call that made it. Non-clean outcomes (crash, hang,
silent_difference, unclean_exception, unexplained mismatch_raise,
compile_error) are written to --crash-dir as standalone reproducers
(<class>-<index>-<step>.py + .pt). The exit code is 1 on any crash, hang,
silent_difference or unclean_exception.

    test/fuzz/fuzz_frontend.py --count 2000 --jobs 2      # long run
    test/fuzz/fuzz_frontend.py --count 50 --jobs 2 --time 150  # make check's slice
    test/fuzz/fuzz_frontend.py --show 17                  # print module 17
    test/fuzz/fuzz_frontend.py --replay 17 -v             # run it here
"""
from __future__ import annotations

import argparse
import copy
import json
import linecache
import math
import os
import random
import re
import resource
import selectors
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CLASSES = ("equal", "close", "documented", "exception", "mismatch_raise", "silent_difference",
           "unclean_exception", "crash", "hang")
COMPILE_CLASSES = ("compiled", "unsupported", "compile_error", "compile_raise", "agree_raise",
                   "unclean_exception", "crash", "hang", "reference_failed")
FAILURES = ("crash", "hang", "silent_difference", "unclean_exception")

# ---------------------------------------------------------------------------
# The grammar.
# ---------------------------------------------------------------------------
FEATURES = [1, 2, 3, 4, 5, 8, 8, 16, 16, 17, 24, 32, 32, 48, 64]
HEADS = [1, 2, 4]


@dataclass
class Val:
    """A value of the forward: its variable, shape (ints, or strings naming
    dynamic sizes: "B", "S", "T" or an expression of them) and dtype."""

    name: str
    shape: tuple
    dtype: str                      # "float32", "float64", "int64", "bool", ...
    inexact: bool = False           # computed by an op dqmlir does not claim bit-exact
    uses: int = 0

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith(("float", "bfloat"))


@dataclass
class InputSpec:
    name: str
    kind: str                       # "float" | "ids" | "mask"
    dtype: str
    shape: tuple                    # dims: int or "B"/"S"/"T"
    optional: bool = False          # forward(..., name=None)
    keyword: bool = False           # passed as a keyword in the example
    given: bool = True              # passed in the example call (optional ones may not be)
    vocab: int = 0                  # ids: smallest table they index
    used: bool = False


@dataclass
class Program:
    index: int
    seed: int
    class_name: str
    source: str
    inputs: list
    mode: str                       # "qd" | "qd_channel" | "fp32" | "pytorch" | "accurate" | "torchao"
    dynamic: bool
    threads: int
    example_sizes: dict
    ops: list                       # op kinds used
    inexact: list                   # INEXACT reasons present
    amplified: bool                 # an inexact value feeds a quantized linear
    max_positions: int = 0          # position table size (S beyond it: IndexError)
    weights_seed: int = 0


class Gen:
    """Builds one module's source: __init__ lines, forward lines, inputs."""

    def __init__(self, rng: random.Random, index: int, seed: int):
        self.rng = rng
        self.index, self.seed = index, seed
        self.init: list[str] = []
        self.fwd: list[str] = []
        self.vals: list[Val] = []
        self.inputs: list[InputSpec] = []
        self.n_mods = 0
        self.n_vals = 0
        self.ops: list[str] = []
        self.inexact: set[str] = set()
        self.amplified = False
        self.quantized = True        # set from the mode before ops are generated
        self.max_positions = 0
        self.indent = "        "

    # -- bookkeeping ------------------------------------------------------
    def mod(self, ctor: str, prefix: str = "m") -> str:
        name = f"{prefix}{self.n_mods}"
        self.n_mods += 1
        self.init.append(f"self.{name} = {ctor}")
        return name

    def new(self, expr: str, shape, dtype: str, op: str, inputs=(), inexact: str | None = None,
            lines=None) -> Val:
        name = f"v{self.n_vals}"
        self.n_vals += 1
        for v in inputs:
            v.uses += 1
        if lines:
            self.fwd.extend(lines)
        self.fwd.append(f"{name} = {expr}")
        flag = any(v.inexact for v in inputs)
        if (any(v.dtype in ("float16", "bfloat16") for v in inputs) and not inexact
                and op not in self.HALF_EXACT and not op.startswith(self.HALF_EXACT_PREFIXES)):
            inexact = "half_math"     # e.g. a float16 mean accumulates in float16
        if inexact:
            self.inexact.add(inexact)
            flag = True
        v = Val(name, tuple(shape), dtype, flag)
        self.vals.append(v)
        self.ops.append(op)
        return v

    def pick(self, pred, recent=True) -> Val | None:
        cands = [v for v in self.vals if pred(v)]
        if not cands:
            return None
        if recent and self.rng.random() < 0.6:
            return cands[-1] if self.rng.random() < 0.5 else self.rng.choice(cands[-3:])
        return self.rng.choice(cands)

    def floats(self, rank=None, min_rank=1, static_last=False, f32=True):
        def pred(v):
            if not v.is_float or v.rank < min_rank:
                return False
            if f32 and v.dtype != "float32" and self.rng.random() < 0.9:
                return False
            if rank is not None and v.rank not in (rank if isinstance(rank, tuple) else (rank,)):
                return False
            if static_last and not isinstance(v.shape[-1], int):
                return False
            return True
        return pred

    # -- inputs -----------------------------------------------------------
    def plan_inputs(self):
        r = self.rng
        layout = r.choice(["seq", "seq", "seq", "seq", "flat", "flat", "heads"])
        self.layout = layout
        float_dtype = lambda: r.choices(["float32", "float64", "float16", "bfloat16"],
                                        [88, 6, 3, 3])[0]
        D = r.choice(FEATURES)
        if layout == "seq":
            use_x = r.random() < 0.6
            use_ids = not use_x or r.random() < 0.35
            if use_x:
                self.inputs.append(InputSpec("x", "float", float_dtype(), ("B", "S", D)))
            if use_ids:
                self.inputs.append(InputSpec("input_ids", "ids", r.choice(["int64"] * 3 + ["int32"]),
                                             ("B", "S")))
            if r.random() < 0.45:
                self.inputs.append(InputSpec("attention_mask", "mask",
                                             r.choice(["int64", "int64", "bool", "float32"]),
                                             ("B", "S"), optional=r.random() < 0.5))
            if r.random() < 0.15:
                self.inputs.append(InputSpec("memory", "float", "float32",
                                             ("B", "T", r.choice(FEATURES))))
        elif layout == "flat":
            self.inputs.append(InputSpec("x", "float", float_dtype(), ("B", D)))
            if r.random() < 0.3:
                self.inputs.append(InputSpec("h", "float", "float32", ("B", r.choice(FEATURES)),
                                             optional=r.random() < 0.3))
        else:
            self.inputs.append(InputSpec("x", "float", float_dtype(),
                                         ("B", "S", r.choice(HEADS), r.choice(FEATURES))))
            if r.random() < 0.3:
                self.inputs.append(InputSpec("attention_mask", "mask",
                                             r.choice(["int64", "bool", "float32"]), ("B", "S"),
                                             optional=r.random() < 0.5))
        for inp in self.inputs:
            if inp.optional:
                inp.keyword = True
                inp.given = r.random() < 0.8
            elif inp is not self.inputs[0] and r.random() < 0.3:
                inp.keyword = True
        # Keyword-passed inputs come after the positional ones in forward().
        self.inputs.sort(key=lambda i: (i.optional, i.keyword))

    def input_vals(self):
        r = self.rng
        for inp in self.inputs:
            if inp.optional:
                continue
            if inp.kind == "float":
                v = Val(inp.name, inp.shape, inp.dtype)
                self.vals.append(v)
                if inp.dtype != "float32" and r.random() < 0.75:
                    self.vals.append(self.new(f"{inp.name}.float()", inp.shape, "float32", "cast",
                                              [v]))
            elif inp.kind == "ids":
                self.emb_from_ids(inp)
            elif inp.kind == "mask":
                pass  # used by the mask ops

    def emb_from_ids(self, inp: InputSpec):
        r = self.rng
        V = r.choice([1, 2, 7, 50, 100, 100, 1000])
        D = r.choice(FEATURES)
        pad = f", padding_idx={r.randrange(V)}" if r.random() < 0.2 else ""
        e = self.mod(f"nn.Embedding({V}, {D}{pad})", "emb")
        inp.vocab = V if not inp.vocab else min(inp.vocab, V)
        inp.used = True
        ids = inp.name
        if r.random() < 0.1:  # a clamp keeps every id in range
            ids = f"{inp.name}.clamp(0, {V - 1})"
        v = self.new(f"self.{e}({ids})", ("B", "S", D), "float32", "embedding")
        if r.random() < 0.4:
            P = r.choice([8, 16, 64, 128, 512])
            self.max_positions = P if not self.max_positions else min(P, self.max_positions)
            p = self.mod(f"nn.Embedding({P}, {D})", "pos")
            how = r.random()
            if how < 0.5:
                expr = f"{v.name} + self.{p}(torch.arange({inp.name}.shape[1]))"
            else:
                expr = (f"{v.name} + self.{p}(torch.arange({inp.name}.shape[1])"
                        f".unsqueeze(0).expand({inp.name}.shape[0], -1))")
            v = self.new(expr, v.shape, "float32", "position_embedding", [v])
        if r.random() < 0.3:
            t = self.mod(f"nn.Embedding(2, {D})", "tok")
            v = self.new(f"{v.name} + self.{t}(torch.zeros_like({inp.name}))", v.shape, "float32",
                         "token_type_embedding", [v])
        return v

    def mask_input(self) -> InputSpec | None:
        for inp in self.inputs:
            if inp.kind == "mask":
                return inp
        return None

    # -- ops --------------------------------------------------------------
    def op_linear(self):
        v = self.pick(self.floats(min_rank=2, static_last=True))
        if v is None:
            return False
        r = self.rng
        K = v.shape[-1]
        N = r.choice(FEATURES + [3 * K if K <= 32 else K])
        bias = r.random() < 0.8
        m = self.mod(f"nn.Linear({K}, {N}, bias={bias})", "lin")
        out = self.new(f"self.{m}({v.name})", v.shape[:-1] + (N,), v.dtype, "linear", [v],
                       inexact=None if self.quantized else "fp32_linear")
        if self.quantized and v.inexact:
            self.amplified = True
        if N == 3 * K and K % 1 == 0 and r.random() < 0.7 and v.rank >= 2:
            # GPT-style fused q, k, v
            names = [f"v{self.n_vals + i}" for i in range(3)]
            self.fwd.append(f"{', '.join(names)} = {out.name}.chunk(3, dim=-1)")
            for n in names:
                self.vals.append(Val(n, v.shape[:-1] + (K,), v.dtype, out.inexact))
            self.n_vals += 3
            self.ops.append("chunk")
        return True

    def op_layer_norm(self):
        v = self.pick(self.floats(min_rank=1, static_last=True))
        if v is None:
            return False
        r = self.rng
        D = v.shape[-1]
        affine = r.random() < 0.85
        bias = "" if not affine or r.random() < 0.85 else ", bias=False"
        eps = r.choice(["1e-5", "1e-12", "1e-6", "0.1"])
        m = self.mod(f"nn.LayerNorm({D}, eps={eps}, elementwise_affine={affine}{bias})", "ln")
        if affine:
            self.init.append(f"nn.init.normal_(self.{m}.weight, 1.0, 0.3)")
            if not bias:
                self.init.append(f"nn.init.normal_(self.{m}.bias, 0.0, 0.3)")
        how = r.random()
        if how < 0.8:
            expr = f"self.{m}({v.name})"
        else:
            expr = f"F.layer_norm({v.name}, ({D},), eps={eps})"
            affine = False
        kind = "layer_norm" if affine and not bias else "layer_norm_plain"
        self.new(expr, v.shape, v.dtype, kind, [v])
        return True

    ACTS = {
        "gelu": ("F.gelu({})", None),
        "gelu_tanh": ("F.gelu({}, approximate='tanh')", "gelu_tanh"),
        "relu": ("torch.relu({})", None),
        "tanh": ("torch.tanh({})", "tanh"),
        "sigmoid": ("torch.sigmoid({})", "sigmoid"),
        "silu": ("F.silu({})", "silu"),
        "leaky_relu": ("F.leaky_relu({}, 0.1)", None),
        "elu": ("F.elu({})", "elu"),
        "softplus": ("F.softplus({})", "softplus"),
        "hardtanh": ("F.hardtanh({})", None),
        "neg": ("-{}", None),
        "abs": ("{}.abs()", None),
        "square": ("{0} * {0}", None),
        "scale": ("{} * 0.125", None),
        "affine": ("{} * 2.5 - 1.0", None),
        "div": ("{} / 3.0", None),
        "clamp": ("{}.clamp(-1.5, 2.0)", None),
        "exp": ("torch.exp({}.clamp(max=10.0))", "exp"),
        "sqrt": ("torch.sqrt({}.abs() + 1.0)", "sqrt"),
        "rsqrt": ("torch.rsqrt({}.abs() + 1.0)", None),
        "erf": ("torch.erf({})", "erf"),
        "where": ("torch.where({0} > 0, {0}, {0} * 0.01)", None),
        "dropout": ("F.dropout({}, 0.1, training=self.training)", None),
        "pow": ("{}.pow(2)", None),
        "recip": ("1.0 / ({}.abs() + 0.5)", None),
        "log": ("torch.log({}.abs() + 1e-3)", "log"),
    }

    # Ops on float16/bfloat16 values that give PyTorch's bits (measured);
    # others (rsqrt, sqrt, ...) differ by one 16-bit ulp.
    HALF_EXACT = {"relu", "leaky_relu", "hardtanh", "neg", "abs", "square", "scale", "affine",
                  "div", "clamp", "where", "dropout", "pow", "transpose", "permute", "narrow",
                  "split_heads", "merge_heads", "index_select", "stack", "residual",
                  "broadcast_param", "mask_hidden", "first_token", "last_token", "max",
                  "reduce_amax", "reduce_amin", "compare", "argmax", "chunk", "float16_math",
                  "bfloat16_math", "float64_math"}
    HALF_EXACT_PREFIXES = ("cast", "reshape_", "slice_", "cat_")

    def op_act(self):
        v = self.pick(self.floats(f32=False))
        if v is None:
            return False
        kind = self.rng.choice(list(self.ACTS) + ["gelu", "gelu", "relu", "tanh"])
        fmt, inexact = self.ACTS[kind]
        if kind == "tanh":              # f32: dq.tanh, MKL's vsTanh as in PyTorch
            inexact = {"float32": None, "float64": "f64_math"}.get(v.dtype, inexact)
        if v.dtype in ("float16", "bfloat16") and kind not in self.HALF_EXACT:
            inexact = inexact or "half_math"
        self.new(fmt.format(v.name), v.shape, v.dtype, kind, [v], inexact=inexact)
        return True

    def op_softmax(self):
        v = self.pick(self.floats(min_rank=1))
        if v is None:
            return False
        r = self.rng
        dim = -1 if r.random() < 0.8 else r.randrange(v.rank)
        fn = r.choice(["torch.softmax", "F.softmax", "F.log_softmax", "torch.softmax"])
        kind = "log_softmax" if "log" in fn else "softmax"
        # f32: dq.softmax, bit-exact; half types: "half_math" (set by new()).
        self.new(f"{fn}({v.name}, dim={dim})", v.shape, v.dtype, kind, [v],
                 inexact="f64_softmax" if v.dtype == "float64" else None)
        return True

    def op_residual(self):
        r = self.rng
        v = self.pick(self.floats())
        if v is None:
            return False
        same = [w for w in self.vals if w is not v and w.is_float and w.shape == v.shape]
        if same:
            w = r.choice(same)
            op = r.choice(["+", "+", "+", "-", "*"])
            self.new(f"{v.name} {op} {w.name}", v.shape, v.dtype, "residual", [v, w])
            return True
        # v + f(v) with a shape-preserving linear
        if isinstance(v.shape[-1], int) and v.rank >= 2:
            K = v.shape[-1]
            m = self.mod(f"nn.Linear({K}, {K})", "lin")
            self.new(f"{v.name} + self.{m}({v.name})", v.shape, v.dtype, "linear_residual", [v],
                     inexact=None if self.quantized else "fp32_linear")
            if self.quantized and v.inexact:
                self.amplified = True
            return True
        return False

    def op_broadcast(self):
        """v * / + a parameter or a lower-rank value (bias, gains, a mask)."""
        v = self.pick(self.floats(static_last=True))
        if v is None:
            return False
        r = self.rng
        D = v.shape[-1]
        p = self.mod(f"nn.Parameter(torch.randn({D}))", "p")
        op = r.choice(["+", "*"])
        self.new(f"{v.name} {op} self.{p}", v.shape, v.dtype, "broadcast_param", [v])
        return True

    def op_heads(self):
        """[B, S, D] -> [B, H, S, D/H] (split heads), or back."""
        r = self.rng
        v = self.pick(lambda v: v.is_float and v.rank == 3 and isinstance(v.shape[2], int))
        back = self.pick(lambda v: v.is_float and v.rank == 4 and isinstance(v.shape[1], int)
                         and isinstance(v.shape[3], int))
        if back is not None and (v is None or r.random() < 0.4):
            b0, H, s, Dh = back.shape
            how = r.random()
            if how < 0.4:
                expr = (f"{back.name}.transpose(1, 2).reshape({back.name}.shape[0], "
                        f"{back.name}.shape[2], {H * Dh})")
            elif how < 0.7:
                expr = (f"{back.name}.permute(0, 2, 1, 3).contiguous().view({back.name}.shape[0], "
                        f"{back.name}.shape[2], {H * Dh})")
            else:
                expr = f"{back.name}.transpose(1, 2).flatten(2)"
            self.new(expr, (b0, s, H * Dh), back.dtype, "merge_heads", [back])
            return True
        if v is None:
            return False
        D = v.shape[2]
        hs = [h for h in HEADS + [3, D] if D % h == 0 and h <= D]
        H = r.choice(hs)
        how = r.random()
        if how < 0.4:
            expr = (f"{v.name}.view({v.name}.shape[0], {v.name}.shape[1], {H}, {D // H})"
                    ".transpose(1, 2)")
        elif how < 0.7:
            expr = (f"{v.name}.reshape({v.name}.shape[0], -1, {H}, {D // H})"
                    ".permute(0, 2, 1, 3)")
        else:
            expr = f"{v.name}.unflatten(-1, ({H}, {D // H})).transpose(1, 2)"
        self.new(expr, (v.shape[0], H, v.shape[1], D // H), v.dtype, "split_heads", [v])
        return True

    def op_transpose(self):
        v = self.pick(self.floats(min_rank=2))
        if v is None:
            return False
        r = self.rng
        a, b = r.sample(range(v.rank), 2)
        shape = list(v.shape)
        shape[a], shape[b] = shape[b], shape[a]
        cont = ".contiguous()" if r.random() < 0.3 else ""
        self.new(f"{v.name}.transpose({a}, {b}){cont}", shape, v.dtype, "transpose", [v])
        return True

    def op_permute(self):
        v = self.pick(self.floats(min_rank=3))
        if v is None:
            return False
        perm = list(range(v.rank))
        self.rng.shuffle(perm)
        self.new(f"{v.name}.permute({', '.join(map(str, perm))})",
                 [v.shape[p] for p in perm], v.dtype, "permute", [v])
        return True

    def op_reshape(self):
        """Static-dim reshapes: split the last dim, merge the two last static dims."""
        r = self.rng
        v = self.pick(lambda v: v.is_float and v.rank >= 2)
        if v is None:
            return False
        last = v.shape[-1]
        if v.rank >= 3 and isinstance(v.shape[-2], int) and isinstance(last, int) and r.random() < 0.5:
            lead = ", ".join(f"{v.name}.shape[{i}]" for i in range(v.rank - 2))
            self.new(f"{v.name}.reshape({lead}, {v.shape[-2] * last})",
                     v.shape[:-2] + (v.shape[-2] * last,), v.dtype, "reshape_merge", [v])
            return True
        if isinstance(last, int) and last % 2 == 0:
            self.new(f"{v.name}.unflatten(-1, (2, {last // 2}))", v.shape[:-1] + (2, last // 2),
                     v.dtype, "reshape_split", [v])
            return True
        if v.rank >= 2 and r.random() < 0.3:
            # Merging two dynamic dims: dqmlir refuses it (UnsupportedModuleError) or gets it right.
            dims = [d for d in v.shape[:2]]
            self.new(f"{v.name}.reshape(-1, *{v.name}.shape[2:])",
                     (f"({dims[0]})*({dims[1]})",) + v.shape[2:], v.dtype, "reshape_flatten", [v])
            return True
        return False

    def op_matmul(self):
        r = self.rng
        v = self.pick(lambda v: v.is_float and v.rank >= 3)
        if v is None:
            return False
        same = [w for w in self.vals if w.is_float and w.rank == v.rank and w.shape[:-2] == v.shape[:-2]]
        # scores: v @ w^T (same last dim), output: p @ w (p's last == w's -2)
        kt = [w for w in same if w.shape[-1] == v.shape[-1]]
        pv = [w for w in same if w.shape[-2] == v.shape[-1]]
        if pv and r.random() < 0.5:
            w = r.choice(pv)
            fn = r.choice(["{} @ {}", "torch.matmul({}, {})"] + (["torch.bmm({}, {})"] if v.rank == 3 else []))
            self.new(fn.format(v.name, w.name), v.shape[:-1] + (w.shape[-1],), v.dtype, "matmul",
                     [v, w], inexact="fp32_matmul")
            return True
        if kt:
            w = r.choice(kt)
            scale = r.choice(["", " * 0.125", f" / {math.sqrt(v.shape[-1]) if isinstance(v.shape[-1], int) else 8.0:.4f}"])
            self.new(f"{v.name} @ {w.name}.transpose(-1, -2){scale}", v.shape[:-1] + (w.shape[-2],),
                     v.dtype, "matmul", [v, w], inexact="fp32_matmul")
            return True
        if isinstance(v.shape[-1], int):
            N = r.choice(FEATURES)
            p = self.mod(f"nn.Parameter(torch.randn({v.shape[-1]}, {N}) * 0.2)", "w")
            self.new(f"{v.name} @ self.{p}", v.shape[:-1] + (N,), v.dtype, "matmul_param", [v],
                     inexact="fp32_matmul")
            return True
        return False

    def mask_expr(self, m: InputSpec, rank: int, kind: str) -> str:
        """Mask [B, S] broadcast against [..., S] scores of `rank` dims."""
        idx = "[:, None, None, :]" if rank == 4 else "[:, None, :]" if rank == 3 else ""
        if kind == "bool":
            return f"({m.name}{idx} != 0)" if m.dtype != "bool" else f"{m.name}{idx}"
        if kind == "additive":
            return f"(1.0 - {m.name}{idx}.to(torch.float32)) * -10000.0"
        return f"torch.zeros({m.name}{idx}.shape).masked_fill({m.name}{idx} == 0, float('-inf'))"

    def op_masked_scores(self):
        """Masks on attention scores [B, (H,) S, S]: additive, -inf fill, causal."""
        r = self.rng
        v = self.pick(lambda v: v.is_float and v.rank in (3, 4) and v.shape[-1] == v.shape[-2] == "S")
        if v is None:
            return False
        m = self.mask_input()
        how = r.random()
        if m is not None and how < 0.6:
            m.used = True
            kind = r.choice(["additive", "fill", "bool"])
            if kind == "bool":
                expr = f"{v.name}.masked_fill(~{self.mask_expr(m, v.rank, 'bool')}, float('-inf'))"
            else:
                expr = f"{v.name} + {self.mask_expr(m, v.rank, kind)}"
            if m.optional:
                lines = [f"{v.name}m = {v.name}",
                         f"if {m.name} is not None:",
                         f"    {v.name}m = {expr}"]
                self.new(f"{v.name}m", v.shape, v.dtype, "mask_scores", [v], lines=lines)
            else:
                self.new(expr, v.shape, v.dtype, "mask_scores", [v])
            return True
        s = f"{v.name}.shape[-1]"
        if r.random() < 0.5:
            expr = (f"{v.name}.masked_fill(torch.ones({s}, {s}, dtype=torch.bool).triu(1), "
                    "float('-inf'))")
        else:
            expr = f"{v.name} + torch.full(({s}, {s}), -1e4).triu(1)"
        self.new(expr, v.shape, v.dtype, "causal_mask", [v])
        return True

    def op_sdpa(self):
        r = self.rng
        q = self.pick(lambda v: v.is_float and v.rank == 4 and isinstance(v.shape[3], int))
        if q is None:
            return False
        kv = [w for w in self.vals if w.is_float and w.rank == 4 and w.shape[0] == q.shape[0]
              and w.shape[1] == q.shape[1] and w.shape[3] == q.shape[3]]
        k = r.choice(kv)
        vs = [w for w in self.vals if w.is_float and w.rank == 4 and w.shape[:3] == k.shape[:3]]
        v = r.choice(vs)
        args = [q.name, k.name, v.name]
        m = self.mask_input()
        causal = False
        lines = []
        if m is not None and k.shape[2] == "S" and r.random() < 0.6:
            m.used = True
            kind = r.choice(["bool", "additive", "fill"])
            me = self.mask_expr(m, 4, kind)
            if m.optional:
                lines = [f"am{self.n_vals} = None if {m.name} is None else {me}"]
                args.append(f"attn_mask=am{self.n_vals}")
            else:
                args.append(f"attn_mask={me}")
        elif r.random() < 0.25 and q.shape[2] == k.shape[2]:
            args.append("is_causal=True")
            causal = True
        if r.random() < 0.3:
            args.append(f"scale={r.choice([0.125, 0.5, 1.0])}")
        exact = not causal and q.shape[3] == 32
        self.new(f"F.scaled_dot_product_attention({', '.join(args)})",
                 q.shape[:3] + (v.shape[3],), q.dtype, "sdpa_causal" if causal else "sdpa",
                 [q, k, v], inexact=None if exact else "sdpa_causal" if causal else "sdpa",
                 lines=lines)
        return True

    def op_mha(self):
        """nn.MultiheadAttention (batch_first), self or cross attention."""
        r = self.rng
        v = self.pick(lambda v: v.is_float and v.rank == 3 and isinstance(v.shape[2], int)
                      and v.dtype == "float32")
        if v is None:
            return False
        D = v.shape[2]
        H = r.choice([h for h in HEADS if D % h == 0])
        m = self.mod(f"nn.MultiheadAttention({D}, {H}, batch_first=True)", "mha")
        kvs = [w for w in self.vals if w.is_float and w.rank == 3 and w.shape[0] == v.shape[0]
               and w.shape[2] == D]
        kv = r.choice(kvs)
        mask = ""
        mi = self.mask_input()
        if mi is not None and kv.shape[1] == "S" and not mi.optional and r.random() < 0.5:
            mi.used = True
            mask = f", key_padding_mask={mi.name} == 0"
        self.new(f"self.{m}({v.name}, {kv.name}, {kv.name}, need_weights=False{mask})[0]",
                 v.shape, v.dtype, "multihead_attention", [v, kv], inexact="multihead_attention")
        if self.quantized:
            # quantize_dynamic leaves out_proj (NonDynamicallyQuantizableLinear) fp32.
            self.inexact.add("fp32_linear")
        return True

    def op_mask_hidden(self):
        """hidden [B, S, D] times / filled by the mask [B, S]."""
        r = self.rng
        m = self.mask_input()
        v = self.pick(lambda v: v.is_float and v.rank == 3 and v.shape[:2] == ("B", "S"))
        if m is None or v is None:
            return False
        m.used = True
        how = r.random()
        if how < 0.5:
            expr = f"{v.name} * {m.name}.unsqueeze(-1).to({v.name}.dtype)"
        elif how < 0.8:
            expr = f"{v.name}.masked_fill({m.name}.unsqueeze(-1) == 0, 0.0)"
        else:
            expr = f"torch.where({m.name}[..., None] != 0, {v.name}, torch.zeros_like({v.name}))"
        if m.optional:
            lines = [f"{v.name}h = {v.name}", f"if {m.name} is not None:",
                     f"    {v.name}h = {expr}"]
            self.new(f"{v.name}h", v.shape, v.dtype, "mask_hidden", [v], lines=lines)
        else:
            self.new(expr, v.shape, v.dtype, "mask_hidden", [v])
        return True

    def op_pool(self):
        """[B, S, D] -> [B, D]: masked mean, mean, max, first or last token."""
        r = self.rng
        v = self.pick(lambda v: v.is_float and v.rank == 3)
        if v is None:
            return False
        m = self.mask_input()
        how = r.random()
        if how < 0.25 and m is not None and not m.optional and v.shape[:2] == ("B", "S"):
            m.used = True
            mf = f"{m.name}.unsqueeze(-1).to({v.name}.dtype)"
            expr = f"({v.name} * {mf}).sum(1) / {mf}.sum(1).clamp(min=1e-9)"
            kind = "masked_mean"
        elif how < 0.45:
            expr, kind = f"{v.name}.mean(dim=1)", "mean"
        elif how < 0.55:
            expr, kind = f"{v.name}.amax(dim=1)", "max"
        elif how < 0.65:
            expr, kind = f"{v.name}.sum(dim=1)", "sum"
        elif how < 0.8:
            expr, kind = f"{v.name}[:, 0]", "first_token"
        elif how < 0.9:
            expr, kind = f"{v.name}[:, -1]", "last_token"
        else:
            if m is not None and not m.optional and v.shape[:2] == ("B", "S"):
                m.used = True
                expr = (f"{v.name}[torch.arange({v.name}.shape[0]), "
                        f"{m.name}.to(torch.int64).sum(1) - 1]")
                kind = "gather_last"
            else:
                expr, kind = f"{v.name}.max(dim=1).values", "max"
        inexact = "reduction_sum" if kind in ("masked_mean", "mean", "sum") else None
        self.new(expr, (v.shape[0], v.shape[2]), v.dtype, kind, [v], inexact=inexact)
        return True

    def op_reduce(self):
        r = self.rng
        v = self.pick(self.floats())
        if v is None:
            return False
        dim = -1 if r.random() < 0.6 else r.randrange(v.rank)
        keep = r.random() < 0.5
        fn = r.choice(["sum", "mean", "amax", "amin", "var", "norm", "prod", "logsumexp"])
        extra = ", keepdim=True" if keep else ""
        if fn == "norm":
            expr = f"torch.linalg.vector_norm({v.name}, dim={dim}{extra})"
        elif fn == "logsumexp":
            expr = f"torch.logsumexp({v.name}, dim={dim}{extra})"
        else:
            expr = f"{v.name}.{fn}(dim={dim}{extra})"
        shape = list(v.shape)
        if keep:
            shape[dim] = 1
        else:
            del shape[dim]
        inexact = None if fn in ("amax", "amin", "var") else "reduction_sum"
        self.new(expr, shape, v.dtype, "reduce_" + fn, [v], inexact=inexact)
        return True

    def op_normalize(self):
        v = self.pick(self.floats())
        if v is None:
            return False
        self.new(f"F.normalize({v.name}, p=2, dim=-1)", v.shape, v.dtype, "normalize", [v],
                 inexact="reduction_sum")
        return True

    def op_slice(self):
        r = self.rng
        v = self.pick(self.floats(min_rank=2))
        if v is None:
            return False
        D = v.shape[-1]
        how = r.random()
        if isinstance(D, int) and D >= 2 and how < 0.4:
            a = r.randrange(D - 1)
            b = r.randrange(a + 1, D + 1)
            step = r.choice([1, 1, 2])
            n = len(range(a, b, step))
            s = f"{a}:{b}" + (f":{step}" if step > 1 else "")
            self.new(f"{v.name}[..., {s}]", v.shape[:-1] + (n,), v.dtype, "slice_feature", [v])
            return True
        if isinstance(D, int) and D >= 2 and how < 0.5:
            n = r.randrange(1, D)
            self.new(f"{v.name}.narrow(-1, {D - n}, {n})", v.shape[:-1] + (n,), v.dtype, "narrow", [v])
            return True
        if v.rank >= 3 and v.shape[1] in ("S", "T"):
            sym = v.shape[1]
            k = r.choice([1, 2, 3])
            if how < 0.75:
                self.new(f"{v.name}[:, {k}:]", (v.shape[0], f"{sym}-{k}") + v.shape[2:], v.dtype,
                         "slice_seq_from", [v])
            elif how < 0.9:
                self.new(f"{v.name}[:, :{k}]", (v.shape[0], f"min({sym},{k})") + v.shape[2:],
                         v.dtype, "slice_seq_to", [v])
            else:
                self.new(f"{v.name}[:, ::2]", (v.shape[0], f"ceil({sym}/2)") + v.shape[2:], v.dtype,
                         "slice_seq_step", [v])
            return True
        return False

    def op_select_index(self):
        """index_select / gather with constant or id-derived indices."""
        r = self.rng
        v = self.pick(self.floats(min_rank=2, static_last=True))
        if v is None:
            return False
        D = v.shape[-1]
        idx = [r.randrange(D) for _ in range(r.randint(1, 4))]
        if r.random() < 0.5:
            expr = f"{v.name}.index_select(-1, torch.tensor({idx}))"
        else:
            expr = f"{v.name}[..., {idx}]"
        self.new(expr, v.shape[:-1] + (len(idx),), v.dtype, "index_select", [v])
        return True

    def op_cat(self):
        r = self.rng
        v = self.pick(self.floats(min_rank=2))
        if v is None:
            return False
        feat = [w for w in self.vals if w.is_float and w.rank == v.rank and w.shape[:-1] == v.shape[:-1]
                and isinstance(w.shape[-1], int) and isinstance(v.shape[-1], int)]
        how = r.random()
        if feat and how < 0.5:
            w = r.choice(feat)
            self.new(f"torch.cat([{v.name}, {w.name}], dim=-1)",
                     v.shape[:-1] + (v.shape[-1] + w.shape[-1],), v.dtype, "cat_feature", [v, w])
            return True
        if v.rank == 3 and isinstance(v.shape[2], int) and how < 0.8:
            D = v.shape[2]
            p = self.mod(f"nn.Parameter(torch.randn(1, 1, {D}))", "cls")
            self.new(f"torch.cat([self.{p}.expand({v.name}.shape[0], -1, -1), {v.name}], dim=1)",
                     (v.shape[0], f"{v.shape[1]}+1", D), v.dtype, "cat_cls", [v])
            return True
        if v.rank >= 2:
            seq = [w for w in self.vals if w.is_float and w.rank == v.rank and w.shape[0] == v.shape[0]
                   and w.shape[2:] == v.shape[2:]]
            w = r.choice(seq)
            self.new(f"torch.cat([{v.name}, {w.name}], dim=1)",
                     (v.shape[0], f"{v.shape[1]}+{w.shape[1]}") + v.shape[2:], v.dtype, "cat_seq",
                     [v, w])
            return True
        return False

    def op_stack(self):
        v = self.pick(self.floats())
        if v is None:
            return False
        same = [w for w in self.vals if w.is_float and w.shape == v.shape]
        w = self.rng.choice(same)
        self.new(f"torch.stack([{v.name}, {w.name}], dim=-1).flatten(-2)",
                 v.shape[:-1] + (f"2*{v.shape[-1]}" if not isinstance(v.shape[-1], int) else 2 * v.shape[-1],),
                 v.dtype, "stack", [v, w])
        return True

    def op_gate(self):
        """GRU-style gating: z = sigmoid(Wz v); h' = z * h + (1 - z) * tanh(Wc v)."""
        r = self.rng
        v = self.pick(self.floats(min_rank=2, static_last=True))
        if v is None:
            return False
        K = v.shape[-1]
        hs = [w for w in self.vals if w.is_float and w.shape[:-1] == v.shape[:-1]
              and isinstance(w.shape[-1], int)]
        h = r.choice(hs)
        N = h.shape[-1]
        z = self.mod(f"nn.Linear({K}, {N})", "gz")
        c = self.mod(f"nn.Linear({K}, {N})", "gc")
        lines = [f"z{self.n_vals} = torch.sigmoid(self.{z}({v.name}))"]
        self.new(f"z{self.n_vals} * {h.name} + (1 - z{self.n_vals}) * torch.tanh(self.{c}({v.name}))",
                 h.shape, v.dtype, "gate", [v, h], inexact="sigmoid", lines=lines)
        if not self.quantized:
            self.inexact.add("fp32_linear")
        elif v.inexact:
            self.amplified = True
        return True

    def op_rnn_cell(self):
        """nn.GRUCell / LSTMCell / RNNCell on [B, D] (quantized in the qd modes)."""
        r = self.rng
        v = self.pick(self.floats(rank=2, static_last=True))
        if v is None:
            return False
        K = v.shape[-1]
        N = r.choice([1, 4, 8, 16])
        kind = r.choice(["GRUCell", "LSTMCell", "RNNCell"])
        m = self.mod(f"nn.{kind}({K}, {N})", "cell")
        hs = [w for w in self.vals if w.is_float and w.rank == 2 and w.shape == (v.shape[0], N)]
        state = ""
        if hs and r.random() < 0.6:
            h = r.choice(hs)
            state = f", ({h.name}, {h.name})" if kind == "LSTMCell" else f", {h.name}"
        out = f"self.{m}({v.name}{state})" + ("[0]" if kind == "LSTMCell" else "")
        self.new(out, (v.shape[0], N), v.dtype, "rnn_cell", [v], inexact="recurrent")
        return True

    def op_rnn(self):
        """nn.LSTM / nn.GRU over [B, S, D] (batch_first; quantized in the qd modes)."""
        r = self.rng
        v = self.pick(self.floats(rank=3, static_last=True))
        if v is None:
            return False
        K = v.shape[-1]
        N = r.choice([1, 4, 8])
        kind = r.choice(["LSTM", "GRU"])
        m = self.mod(f"nn.{kind}({K}, {N}, batch_first=True)", "rnn")
        self.new(f"self.{m}({v.name})[0]", v.shape[:-1] + (N,), v.dtype, "rnn", [v],
                 inexact="recurrent")
        return True

    def op_dtype_trip(self):
        r = self.rng
        v = self.pick(self.floats(f32=False))
        if v is None:
            return False
        if v.dtype != "float32":
            self.new(f"{v.name}.to(torch.float32)", v.shape, "float32", "cast", [v])
            return True
        dt = r.choice(["float64", "float16", "bfloat16", "float64"])
        w = self.new(f"{v.name}.to(torch.{dt})", v.shape, dt, "cast_" + dt, [v])
        if v.inexact and dt != "float64":
            self.amplified = True   # a last-bit difference becomes a 16-bit ulp
        if r.random() < 0.7:
            fmt, inexact = self.ACTS[r.choice(["relu", "scale", "tanh", "square", "affine"])]
            w = self.new(fmt.format(w.name), w.shape, dt, f"{dt}_math", [w],
                         inexact=inexact and (f"{inexact}" if dt != "float64" else "f64_math"))
        if r.random() < 0.8:
            self.new(f"{w.name}.float()", w.shape, "float32", "cast", [w])
        return True

    def op_int_ops(self):
        """Integer arithmetic on ids / masks: lengths, modulo, integer division."""
        r = self.rng
        m = self.mask_input()
        ids = next((i for i in self.inputs if i.kind == "ids"), None)
        src = r.choice([s for s in (m, ids) if s is not None and not s.optional] or [None])
        if src is None:
            return False
        src.used = True
        how = r.random()
        s = src.name
        if how < 0.3:
            expr, shape, dt = f"{s}.to(torch.int64).sum(-1)", ("B",), "int64"
        elif how < 0.5:
            expr, shape, dt = f"({s}.to(torch.int64) % 3)", ("B", "S"), "int64"
        elif how < 0.7:
            expr, shape, dt = (f"(torch.arange({s}.shape[1]) // ({s}.to(torch.int64).sum(-1, keepdim=True)))",
                               ("B", "S"), "int64")
        elif how < 0.85:
            expr, shape, dt = f"({s}.to(torch.int64).cumsum(-1) - 1)", ("B", "S"), "int64"
        else:
            expr, shape, dt = f"({s} > 0)", ("B", "S"), "bool"
        v = self.new(expr, shape, dt, "int_op", [])
        if dt != "bool" and r.random() < 0.5:
            self.new(f"{v.name}.to(torch.float32).unsqueeze(-1)", shape + (1,), "float32", "cast", [v])
        return True

    def op_compare(self):
        """Bool / int results: comparisons and argmax."""
        r = self.rng
        v = self.pick(self.floats())
        if v is None:
            return False
        if r.random() < 0.5:
            self.new(f"{v.name}.argmax(dim=-1)", v.shape[:-1], "int64", "argmax", [v])
        else:
            self.new(f"({v.name} > 0)", v.shape, "bool", "compare", [v])
        return True

    OPS = [
        ("op_linear", 14), ("op_layer_norm", 6), ("op_act", 9), ("op_softmax", 4),
        ("op_residual", 6), ("op_broadcast", 2), ("op_heads", 6), ("op_transpose", 3),
        ("op_permute", 2), ("op_reshape", 3), ("op_matmul", 5), ("op_masked_scores", 4),
        ("op_sdpa", 5), ("op_mha", 1), ("op_mask_hidden", 3), ("op_pool", 4),
        ("op_reduce", 3), ("op_normalize", 1), ("op_slice", 4), ("op_select_index", 1),
        ("op_cat", 3), ("op_stack", 1), ("op_gate", 2), ("op_rnn_cell", 1), ("op_rnn", 1),
        ("op_dtype_trip", 2), ("op_int_ops", 2), ("op_compare", 1),
    ]

    def step(self):
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        for _ in range(10):
            if getattr(self, self.rng.choices(names, weights)[0])():
                return

    def outputs(self) -> str:
        """Every value nothing else reads is an output: no dead code, whose
        checks (an embedding's index range) PyTorch would run and a compiler
        may drop."""
        r = self.rng
        produced = [v for v in self.vals if v.name.startswith("v")] or self.vals
        last = produced[-1]
        outs = [last] + [v for v in produced if v.uses == 0 and v is not last]
        if len(outs) == 1 and r.random() < 0.8:
            return last.name
        r.shuffle(outs)
        how = r.random()
        if how < 0.6:
            return "(" + ", ".join(v.name for v in outs) + ",)"
        if how < 0.8:
            return "{" + ", ".join(f"'out{i}': {v.name}" for i, v in enumerate(outs)) + "}"
        return "[" + ", ".join(v.name for v in outs) + "]"


def _defined_at(lines: list, name: str) -> int:
    """Index just after the line that assigns `name` (0 for an input)."""
    pat = re.compile(rf"^(?:[\w, ]*\b)?{re.escape(name)}\b[\w, ]* = ")
    for i, line in enumerate(lines):
        if pat.match(line):
            return i + 1
    return 0


MODES = [("qd", 55), ("qd_channel", 12), ("fp32", 10), ("pytorch", 10), ("accurate", 6),
         ("torchao", 7)]


def generate(seed: int, index: int) -> Program:
    rng = random.Random(f"dqmlir-frontend:{seed}:{index}")
    g = Gen(rng, index, seed)
    mode = rng.choices([m for m, _ in MODES], [w for _, w in MODES])[0]
    g.quantized = mode != "fp32"
    g.plan_inputs()
    g.input_vals()
    if not g.vals:  # ids only for a mask: make an embedding
        ids = next((i for i in g.inputs if i.kind == "ids"), None)
        if ids is not None:
            g.emb_from_ids(ids)
    if not g.vals:
        g.inputs.insert(0, InputSpec("x", "float", "float32", ("B", 8)))
        g.vals.append(Val("x", ("B", 8), "float32"))
    for _ in range(rng.randint(1, 10)):
        g.step()
    ret = g.outputs()
    # Inputs nothing reads are still parameters of forward (and inputs of the export).
    params = ["self"]
    for inp in g.inputs:
        params.append(f"{inp.name}=None" if inp.optional else inp.name)
        if inp.kind == "float" and not inp.optional:
            inp.used = True
    # An optional float input, when given, is added to the first value of its shape.
    for inp in g.inputs:
        if inp.optional and inp.kind == "float":
            target = next((v for v in g.vals if v.shape == inp.shape and v.is_float), None)
            if target is not None:
                idx = _defined_at(g.fwd, target.name)
                g.fwd[idx:idx] = [f"if {inp.name} is not None:",
                                  f"    {target.name} = {target.name} + {inp.name}"]
                inp.used = True
    name = f"Fuzz{index}"
    init = "\n".join("        " + l for l in g.init) or "        pass"
    body = "\n".join("        " + l for l in g.fwd)
    source = (f"class {name}(nn.Module):\n"
              f"    def __init__(self):\n"
              f"        super().__init__()\n{init}\n\n"
              f"    def forward({', '.join(params)}):\n{body}\n"
              f"        return {ret}\n")
    dynamic = rng.random() < 0.9
    threads = 2 if rng.random() < 0.15 else 1
    sizes = {"B": rng.choice([1, 2, 2, 3, 4]), "S": rng.choice([1, 2, 3, 4, 5, 8, 13]),
             "T": rng.choice([1, 3, 4, 6])}
    if rng.random() < 0.04:
        sizes[rng.choice(["B", "S"])] = 0
    inexact = set(g.inexact)
    if mode == "accurate":
        inexact.add("accurate_emulation")
    return Program(index=index, seed=seed, class_name=name, source=source,
                   inputs=[asdict(i) for i in g.inputs], mode=mode, dynamic=dynamic,
                   threads=threads, example_sizes=sizes, ops=sorted(set(g.ops)),
                   inexact=sorted(inexact), amplified=g.amplified, max_positions=g.max_positions,
                   weights_seed=rng.randrange(1 << 30))


# ---------------------------------------------------------------------------
# Ops dqmlir does not claim bit-exact: a graph with one of them is compared
# with a tolerance (class `close`), reported per reason. Each was measured on
# its own (one op on [B, S, 24] inputs, fp32, six calls, this machine; the
# largest difference relative to the largest |value| of the output); none is
# a dqmlir bug, but each is a place where dqmlir could match PyTorch's kernel
# as it does for GELU and layer norm.
# ---------------------------------------------------------------------------
INEXACT = {
    "f64_softmax": "float64 softmax/log_softmax: torch-mlir's generic lowering (dq.softmax "
                   "is f32, as models run it): 3.6e-15",
    "tanh": "tanh of float16/bfloat16 values (f32 tanh is MKL's vsTanh in both, exact): "
            "one 16-bit ulp",
    "sigmoid": "ATen's vectorized exp in sigmoid vs LLVM's exp: 3e-8, rare",
    "silu": "x * sigmoid(x) as above: 7e-8",
    "elu": "expm1: 3e-8",
    "softplus": "log1p(exp): 6e-8",
    "gelu_tanh": "tanh form of GELU (PyTorch's decomposition, tanh as above): 7e-8",
    "exp": "ATen's SLEEF expf_u10 vs LLVM's exp (dq's polynomial is used in attention only): 9e-8",
    "log": "logf: 5e-8",
    "erf": "torch.erf itself (dq.gelu's erf is exact): 4e-7",
    "sqrt": "ATen's vectorized sqrt is not correctly rounded (SLEEF sqrtf_u05: "
            "sqrt(2.7335124) gives 1.6533336639 for 1.65333372359...): 6e-8",
    "reduction_sum": "sum/mean/prod/norm/logsumexp/normalize: ATen's vectorized, cascaded "
                     "order vs torch-mlir's sequential one: 4e-7 (prod of 64: 1e-7)",
    "fp32_linear": "fp32 nn.Linear as one linalg contraction vs MKL's sgemm: 1.2e-7",
    "fp32_matmul": "fp32 matmul of activations (outside attention) vs MKL: 2e-7",
    "half_math": "float16/bfloat16 rsqrt, sqrt, exp, ... (LLVM's 16-bit lowering): one "
                 "16-bit ulp (rsqrt of bf16: 7.8e-3 abs)",
    "f64_math": "float64 tanh, exp, ...: libm's vs ATen's (SLEEF): 6e-17",
    "sdpa": "SDPA follows cpu_flash_attention's MKL kernels for head dim 32 only "
            "(head dims 1-64 otherwise: 3 of 7 shapes differ, up to 7e-7)",
    "sdpa_causal": "causal SDPA takes the MATH decomposition: 1.7e-6",
    "multihead_attention": "nn.MultiheadAttention: fp32 in/out projections (MKL): 1e-7",
    "recurrent": "fp32 GRU/LSTM/RNN cells (quantized ones are exact): fp32 linears and "
                 "sigmoid as above",
    "accurate_emulation": "quantize='accurate' has no PyTorch kernel: compared with an "
                          "emulation (accurate_reference) that rounds its epilogue fma "
                          "through f64",
}
# Relative to the reference's largest |value|. Such ops differ in the last
# bit or two; what follows can magnify it (a softmax of logits in the
# thousands after an fp32 projection: 1.7e-4 measured, seed 7 module 39),
# hence 1e-3 with the outputs pointing the same way. Where a quantized
# linear follows one (`amplified`), a last-bit difference can move the
# per-tensor zero point and every output by a quantization step: then the
# bound is loose and the cosine similarity keeps it honest.
TOL_DIRECT = 1e-3
TOL_HALF = 1e-2               # two bfloat16 ulps
COSINE_DIRECT = 0.99999
TOL_AMPLIFIED = 0.5
COSINE_AMPLIFIED = 0.99

# Differences docs/semantics.md documents as deliberate ("Deliberate
# differences / undefined corners"): class `documented`, not a failure.
DOCUMENTED = {
    "nan_attention": "a NaN reaches SDPA: PyTorch's flash kernel makes a query row of NaN "
                     "scores 0 (as a masked row) and propagates other NaNs by lane "
                     "position; dq.flash_softmax propagates them",
    "int_widening": "signature.py passes int32/int16/int8/uint8 where int64 was compiled "
                    "(and int16/int8/uint8 for int32), as int64: PyTorch's embedding "
                    "refuses int16/int8/uint8 ids",
    "torchao_empty": "torchao's int8 linear fails on an empty batch (TypeError in its "
                     "activation quantization); dqmlir returns the empty result",
    "pytorch_layout": "non-contiguous inputs: PyTorch's own result depends on the layout "
                      "(ATen's GELU instead of oneDNN's, reductions in memory order); "
                      "dqmlir's equals PyTorch's on contiguous copies of the same values",
    "empty_reshape": "reshape(..., -1, ...) of an empty tensor: PyTorch refuses to infer "
                     "the -1; the exported program computed that size from the others",
    "nan_quantized": "a NaN reaches a quantized linear (or a NaN or inf a quantized "
                     "LSTM/GRU/cell): fbgemm's range sees it or not depending on its "
                     "position (PyTorch may raise 'min should be less than or equal to "
                     "max'); dqmlir ignores NaNs in the range",
}

# mismatch_raise reasons (we raise, PyTorch returns a result) and why they are acceptable.
EXPLAINED = {
    "static_compile": "compiled with dynamic=False: calls must have the example's sizes",
    "structure": "the compiled model takes the example call's structure (which optional "
                 "inputs and keywords were passed); others are refused",
    "dtype": "inputs are compiled for the example's dtypes (int32/16/8 widen to int64)",
    "static_dim": "torch.export made this dim static (the program fixes it)",
    "range": "a size outside the range torch.export proved the program valid for",
    "tied_dims": "torch.export tied these sizes; PyTorch broadcasts a size of 1",
    "rank": "inputs are compiled for the example's ranks (PyTorch may broadcast others)",
    "not_a_tensor": "tensor inputs must be tensors (PyTorch ops may take Python numbers "
                    "or lists there)",
}
_MISMATCH_PATTERNS = [
    ("structure", r"was compiled as the constant|was not passed when the model was compiled|"
                  r"missing argument|must be a dict|must be a tuple|must be None|"
                  r"differ from the compiled structure|unexpected keyword|positional argument"),
    ("dtype", r"must have dtype"),
    ("rank", r"must have \d+ dims"),
    ("not_a_tensor", r"(?i)must be a tensor"),
    ("range", r"supports at most|needs at least|program raises \w+ at this size"),
    ("tied_dims", r"but must equal argument|but the exported model needs"),
    ("static_dim", r"dim \d+ must be \d+"),
]


def mismatch_reason(prog: Program, exc: BaseException, label: str) -> str:
    msg = str(exc)
    for reason, pat in _MISMATCH_PATTERNS:
        if re.search(pat, msg):
            if reason == "static_dim" and not prog.dynamic:
                return "static_compile"
            if reason == "tied_dims" and not prog.dynamic:
                return "static_compile"
            return reason
    return "unexplained"


CLEAN = (TypeError, ValueError, IndexError, RuntimeError, ZeroDivisionError)

# ---------------------------------------------------------------------------
# Building, quantizing, references.
# ---------------------------------------------------------------------------
def _dtype(name: str):
    import torch
    return getattr(torch, name)


# Set while the reference runs: [watching, a NaN reached SDPA].
SDPA_NANS = [False, False]


class _Functional:
    """torch.nn.functional for the generated modules, whose
    scaled_dot_product_attention notes a NaN in its inputs while the
    reference runs (SDPA_NANS): PyTorch's flash kernel makes a query row of
    NaN scores 0 and propagates other NaNs by lane position."""

    def __getattr__(self, name):
        import torch.nn.functional as F
        return getattr(F, name)

    @staticmethod
    def scaled_dot_product_attention(q, k, v, *args, **kwargs):
        import torch.nn.functional as F
        if SDPA_NANS[0] and not SDPA_NANS[1]:
            mask = kwargs.get("attn_mask")
            SDPA_NANS[1] = _has_nan((q, k, v)) or (mask is not None and _has_nan(mask))
        return F.scaled_dot_product_attention(q, k, v, *args, **kwargs)


def build(prog: Program):
    """The fp32 module of `prog` (eval mode, seeded weights)."""
    import torch
    import torch.nn as nn
    ns = {"torch": torch, "nn": nn, "F": _Functional(), "math": math, "__name__": "fuzz_module"}
    filename = f"<fuzz module {prog.index}>"
    linecache.cache[filename] = (len(prog.source), None, prog.source.splitlines(True), filename)
    exec(compile(prog.source, filename, "exec"), ns)
    torch.manual_seed(prog.weights_seed)
    return ns[prog.class_name]().eval()


def quantize_dynamic(model, per_channel=False, recurrent=False):
    """quantize_dynamic's linears; with `recurrent`, its LSTM, GRU and cells
    too (as its default qconfig_spec would)."""
    import torch
    nn = torch.nn
    qconfig = (torch.ao.quantization.per_channel_dynamic_qconfig if per_channel
               else torch.ao.quantization.default_dynamic_qconfig)
    spec = {nn.Linear: qconfig}
    if recurrent:
        spec.update({t: torch.ao.quantization.default_dynamic_qconfig
                     for t in (nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell, nn.RNNCell)})
    return torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8)


def prepare(model, mode: str):
    """(module to compile, quantize= argument, PyTorch reference module)."""
    if mode == "qd":
        q = quantize_dynamic(copy.deepcopy(model), recurrent=True)
        return q, None, q
    if mode == "qd_channel":
        q = quantize_dynamic(copy.deepcopy(model), per_channel=True, recurrent=True)
        return q, None, q
    if mode == "fp32":
        return model, None, model
    if mode == "pytorch":
        return model, "pytorch", quantize_dynamic(copy.deepcopy(model))
    if mode == "accurate":
        return model, "accurate", accurate_reference(copy.deepcopy(model))
    if mode == "torchao":
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
        q = copy.deepcopy(model)
        quantize_(q, Int8DynamicActivationInt8WeightConfig())
        return q, None, q
    raise ValueError(mode)


def accurate_reference(model):
    """`model` with every nn.Linear replaced by an emulation of dqmlir's
    quantize="accurate" scheme: per-channel int8 weights (PyTorch's
    per-channel dynamic observer), per-row full-range uint8 activations
    (PyTorch's ChooseQuantizationParams per row), fbgemm's quantize and
    epilogue (docs/semantics.md)."""
    import torch
    import torch.nn as nn
    import torch.ao.nn.quantized.dynamic as nnqd

    class AccurateLinear(nn.Module):
        def __init__(self, lin):
            super().__init__()
            lin.qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
            q = nnqd.Linear.from_float(lin)
            w, b = q._weight_bias()
            self.w = w.int_repr().to(torch.int64)
            self.ws = w.q_per_channel_scales().to(torch.float32)
            self.b = None if b is None else b.detach().to(torch.float32)
            self.colsum = self.w.sum(1)

        def forward(self, x):
            if x.dtype != torch.float32:
                raise RuntimeError(f"expected float32 input, got {x.dtype}")
            lead, k = x.shape[:-1], x.shape[-1]
            rows = x.reshape(-1, k)
            out = torch.empty(rows.shape[0], self.w.shape[0])
            for i in range(rows.shape[0]):
                r = rows[i]
                finite = r[~torch.isnan(r)]
                lo = min(float(finite.min()) if finite.numel() else 0.0, 0.0)
                hi = max(float(finite.max()) if finite.numel() else 0.0, 0.0)
                scale, zp = torch._choose_qparams_per_tensor(
                    torch.tensor([lo, hi], dtype=torch.float32), False)
                scale = torch.tensor(scale, dtype=torch.float32)
                inv = (1.0 / scale).to(torch.float32)
                t = (r.double() * inv.double() + float(zp)).float()
                t = torch.where(torch.isnan(t), torch.tensor(2147483520.0), t.clamp(max=2147483520.0))
                qv = torch.round(t).clamp(0, 255).to(torch.int64)
                acc = (qv[None, :] * self.w).sum(1) - zp * self.colsum
                s = (scale * self.ws).to(torch.float32)
                y = acc.to(torch.float32)
                if self.b is None:
                    out[i] = y * s
                else:
                    out[i] = (y.double() * s.double() + self.b.double()).float()
            return out.reshape(*lead, self.w.shape[0])

    for path, m in list(model.named_modules()):
        if type(m) is nn.Linear:
            parent, _, name = path.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, name, AccurateLinear(m))
    return model


# ---------------------------------------------------------------------------
# Inputs and calls.
# ---------------------------------------------------------------------------
VALID_CALLS = ["b1s1", "b0", "s0", "big", "rand", "rand", "special", "noncontig", "b1", "s1",
               "t_other"]
BAD_CALLS = ["dtype", "rank_plus", "rank_minus", "tied", "static_dim", "ids_oob", "ids_oob",
             "list", "none", "extra_kw", "misspelled_kw", "missing_arg", "extra_pos",
             "optional_toggle", "scalar", "numpy", "mask_values"]


def plan_calls(prog: Program, rng: random.Random, n_valid=3, n_bad=4) -> list:
    names = {d for i in prog.inputs for d in i["shape"] if isinstance(d, str)}
    kinds = {i["kind"] for i in prog.inputs}
    ok = lambda c: not ((c in ("s0", "s1", "big") and "S" not in names) or
                        (c == "t_other" and "T" not in names) or
                        (c == "ids_oob" and "ids" not in kinds) or
                        (c == "mask_values" and "mask" not in kinds) or
                        (c == "optional_toggle" and not any(i["optional"] for i in prog.inputs)) or
                        (c == "misspelled_kw" and not any(i["keyword"] and i["given"]
                                                          for i in prog.inputs)) or
                        (c == "tied" and len([i for i in prog.inputs if i["given"]]) < 2))
    valid = [c for c in dict.fromkeys(VALID_CALLS) if ok(c)]
    bad = [c for c in dict.fromkeys(BAD_CALLS) if ok(c)]
    return (["example", "fresh"] + rng.sample(valid, min(n_valid, len(valid)))
            + rng.sample(bad, min(n_bad, len(bad))))


def make_tensor(spec: dict, sizes: dict, g, special=False):
    import torch
    shape = [sizes[d] if isinstance(d, str) else d for d in spec["shape"]]
    dtype = _dtype(spec["dtype"])
    if spec["kind"] == "float":
        scale = [1.0, 1.0, 1.0, 0.1, 10.0, 100.0][int(torch.randint(0, 6, (), generator=g))]
        t = torch.randn(shape, generator=g) * scale
        if t.numel() and int(torch.randint(0, 4, (), generator=g)) == 0:
            t.view(-1)[int(torch.randint(0, t.numel(), (), generator=g))] *= 50  # an outlier
        if special and t.numel():
            vals = [0.0, -0.0, float("inf"), float("-inf"), 1e30, -3e38, 1e-40]
            if int(torch.randint(0, 2, (), generator=g)):
                vals.append(float("nan"))       # half the calls: NaNs are documented
            for _ in range(max(1, t.numel() // 8)):
                t.view(-1)[int(torch.randint(0, t.numel(), (), generator=g))] = \
                    vals[int(torch.randint(0, len(vals), (), generator=g))]
            if int(torch.randint(0, 4, (), generator=g)) == 0:
                t.zero_()
        return t.to(dtype)
    if spec["kind"] == "ids":
        vocab = spec["vocab"] or 100
        return torch.randint(0, vocab, shape, generator=g).to(dtype)
    # mask [B, S]: ones then padding per row; some rows all padding, some random
    t = torch.zeros(shape, dtype=torch.int64)
    if len(shape) == 2:
        for b in range(shape[0]):
            r = int(torch.randint(0, 10, (), generator=g))
            if r == 0:
                continue                        # all padding
            if r == 1:
                t[b] = torch.randint(0, 2, (shape[1],), generator=g)
            else:
                n = int(torch.randint(1, shape[1] + 1, (), generator=g)) if shape[1] else 0
                t[b, :n] = 1
    return t.to(dtype)


def noncontig(t, g):
    """`t`'s values (or a broadcast of part of them) in a non-contiguous layout."""
    import torch
    if not isinstance(t, torch.Tensor) or t.dim() == 0:
        return t
    how = int(torch.randint(0, 3, (), generator=g))
    if how == 0 and t.dim() >= 2:
        return t.transpose(0, -1).contiguous().transpose(0, -1)
    if how == 1 or t.dim() < 2:
        wide = torch.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
        wide[..., ::2] = t
        return wide[..., ::2]
    if t.shape[0] >= 1:
        return t[:1].expand(t.shape)           # stride 0 in dim 0
    return t


@dataclass
class Call:
    label: str
    args: tuple
    kwargs: dict
    note: str = ""
    widened: bool = False          # an integer input narrower than compiled (signature.py widens it)


# What signature.py's _WIDENS_TO accepts in place of the compiled dtype.
_WIDENS = {"int64": ("int32", "int16", "int8", "uint8"), "int32": ("int16", "int8", "uint8")}


def make_call(prog: Program, label: str, example: Call, g, rng: random.Random) -> Call:
    import torch
    if label == "example":
        return example
    sizes = dict(prog.example_sizes)
    if label == "b1s1":
        sizes.update(B=1, S=1, T=1)
    elif label == "b0":
        sizes["B"] = 0
    elif label == "s0":
        sizes["S"] = 0
    elif label == "b1":
        sizes["B"] = 1
    elif label == "s1":
        sizes["S"] = 1
    elif label == "big":
        sizes.update(B=2, S=rng.randint(33, 130), T=rng.randint(20, 70))
    elif label == "rand":
        sizes.update(B=rng.randint(1, 5), S=rng.randint(1, 40), T=rng.randint(1, 40))
    elif label == "t_other":
        sizes["T"] = sizes["T"] + rng.randint(1, 5)
    specs = [i for i in prog.inputs]
    given = {i["name"]: make_tensor(i, sizes, g, special=label == "special")
             for i in specs if i["given"]}
    note = ""
    widened = False
    if label == "noncontig":
        given = {k: noncontig(v, g) for k, v in given.items()}
    if label in ("dtype", "rank_plus", "rank_minus", "list", "none", "scalar", "numpy",
                 "static_dim", "tied", "ids_oob", "mask_values"):
        pool = [i for i in specs if i["given"]]
        if label == "ids_oob":
            pool = [i for i in pool if i["kind"] == "ids"]
        elif label == "mask_values":
            pool = [i for i in pool if i["kind"] == "mask"]
        elif label == "static_dim":
            pool = [i for i in pool if any(isinstance(d, int) for d in i["shape"])] or pool
        elif label == "tied":
            shared = Counter(d for i in pool for d in set(i["shape"]) if isinstance(d, str))
            pool = [i for i in pool if any(shared[d] > 1 for d in i["shape"] if isinstance(d, str))] or pool
        if not pool:
            pool = specs
        spec = rng.choice(pool)
        name = spec["name"]
        t = given.get(name)
        if t is None:
            t = make_tensor(spec, sizes, g)
        if label == "dtype":
            choices = {"float": ["float64", "float16", "int64", "bfloat16"],
                       "ids": ["float32", "int16", "uint8", "bool", "float64"],
                       "mask": ["float64", "int32", "bool", "float32", "int8"]}[spec["kind"]]
            dt = rng.choice([c for c in choices if c != spec["dtype"]])
            t = t.to(_dtype(dt))
            note = f"{name} as {dt}"
            widened = dt in _WIDENS.get(spec["dtype"], ())
        elif label == "rank_plus":
            t = t.unsqueeze(rng.randrange(t.dim() + 1))
            note = f"{name} shape {list(t.shape)}"
        elif label == "rank_minus":
            t = t.select(0, 0) if t.shape[0] else t.sum(0)
            note = f"{name} shape {list(t.shape)}"
        elif label == "list":
            t = t.tolist()
            note = f"{name} as a list"
        elif label == "numpy":
            t = t.numpy() if t.dtype != torch.bfloat16 else t.float().numpy()
            note = f"{name} as a numpy array"
        elif label == "scalar":
            t = rng.choice([1, 1.5, True])
            note = f"{name} = {t!r}"
        elif label == "none":
            t = None
            note = f"{name} = None"
        elif label == "static_dim":
            dims = [k for k, d in enumerate(spec["shape"]) if isinstance(d, int)]
            if dims:
                k = rng.choice(dims)
                shape = list(t.shape)
                shape[k] = shape[k] + rng.choice([1, -1 if shape[k] > 1 else 2])
                t = make_tensor({**spec, "shape": shape}, sizes, g)
                note = f"{name} shape {shape}"
        elif label == "tied":
            syms = [d for d in spec["shape"] if isinstance(d, str)]
            if syms:
                sym = rng.choice(syms)
                other = dict(sizes)
                other[sym] = sizes[sym] + rng.choice([1, 2]) if sizes[sym] != 1 or rng.random() < 0.5 \
                    else 3
                if rng.random() < 0.3 and sizes[sym] > 1:
                    other[sym] = 1        # PyTorch may broadcast this one
                t = make_tensor(spec, other, g)
                note = f"{name} with {sym} = {other[sym]} (others {sizes[sym]})"
        elif label == "ids_oob" and t.numel():
            bad = rng.choice([spec["vocab"] or 100, -1, 1 << 40, -(spec["vocab"] or 100) - 1,
                              (spec["vocab"] or 100) + 7])
            t = t.clone().to(torch.int64)
            t.view(-1)[rng.randrange(t.numel())] = bad
            t = t.to(_dtype(spec["dtype"])) if spec["dtype"] == "int64" or abs(bad) < (1 << 31) else t
            note = f"{name} holds {bad}"
        elif label == "mask_values" and t.numel():
            t = t.clone()
            if t.dtype != torch.bool:
                t.view(-1)[rng.randrange(t.numel())] = rng.choice([2, -1, 7])
            else:
                t.zero_()
            note = f"{name} with values outside 0/1"
        given[name] = t
    args, kwargs = [], {}
    for spec in specs:
        if spec["name"] not in given:
            continue
        if spec["keyword"]:
            kwargs[spec["name"]] = given[spec["name"]]
        else:
            args.append(given[spec["name"]])
    if label == "extra_kw":
        kwargs[rng.choice(["extra", "return_dict", "labels"])] = rng.choice(
            [1, True, torch.zeros(2)])
        note = f"extra keyword {list(kwargs)[-1]}"
    elif label == "misspelled_kw":
        k = rng.choice([k for k in kwargs])
        kwargs[k[:-1] + "z"] = kwargs.pop(k)
        note = f"{k} spelled {k[:-1] + 'z'}"
    elif label == "missing_arg":
        if kwargs and (not args or rng.random() < 0.5):
            k = rng.choice(list(kwargs))
            del kwargs[k]
            note = f"no {k}"
        elif args:
            i = rng.randrange(len(args))
            del args[i]
            note = f"positional {i} left out"
    elif label == "extra_pos":
        args.append(args[-1] if args else torch.zeros(1))
        note = "one positional argument too many"
    elif label == "optional_toggle":
        opt = rng.choice([i for i in specs if i["optional"]])
        if opt["name"] in kwargs:
            del kwargs[opt["name"]]
            note = f"{opt['name']} left out (given in the example)"
        else:
            kwargs[opt["name"]] = make_tensor(opt, sizes, g)
            note = f"{opt['name']} given (left out in the example)"
    return Call(label, tuple(args), kwargs, note, widened)


def example_call(prog: Program, g) -> Call:
    import torch
    args, kwargs = [], {}
    for spec in prog.inputs:
        if not spec["given"]:
            continue
        t = make_tensor(spec, prog.example_sizes, g)
        if spec["keyword"]:
            kwargs[spec["name"]] = t
        else:
            args.append(t)
    return Call("example", tuple(args), kwargs)


# ---------------------------------------------------------------------------
# Comparing results.
# ---------------------------------------------------------------------------
def _snapshot(obj):
    import torch
    from torch.utils import _pytree as pytree
    return [x.clone() if isinstance(x, torch.Tensor) else copy.deepcopy(x)
            for x in pytree.tree_leaves(obj)]


def _same_values(a, b) -> bool:
    import torch
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return torch.equal(a, b)


def compare(ours, ref) -> dict:
    """{"equal": bool, "why": str, "max_abs": float, "max_rel": float}."""
    import torch
    from torch.utils import _pytree as pytree
    lo, so = pytree.tree_flatten(ours)
    lr, sr = pytree.tree_flatten(ref)
    if so != sr:
        return {"equal": False, "why": f"structure {so} vs {sr}", "max_abs": math.inf,
                "max_rel": math.inf}
    worst = {"equal": True, "why": "", "max_abs": 0.0, "max_rel": 0.0, "cosine": 1.0}
    for i, (a, b) in enumerate(zip(lo, lr)):
        if not isinstance(b, torch.Tensor) or not isinstance(a, torch.Tensor):
            if type(a) is not type(b) or a != b:
                return {"equal": False, "why": f"leaf {i}: {a!r} vs {b!r}", "max_abs": math.inf,
                        "max_rel": math.inf}
            continue
        b = b.detach()
        if a.shape != b.shape or a.dtype != b.dtype:
            return {"equal": False, "why": f"leaf {i}: {a.dtype}{list(a.shape)} vs "
                                           f"{b.dtype}{list(b.shape)}",
                    "max_abs": math.inf, "max_rel": math.inf}
        if _same_values(a, b):
            continue
        worst["equal"] = False
        if not a.is_floating_point():
            n = int((a != b).sum())
            return {"equal": False, "why": f"leaf {i}: {n} of {a.numel()} {a.dtype} values differ",
                    "max_abs": math.inf, "max_rel": math.inf}
        a64, b64 = a.double(), b.double()
        fin = torch.isfinite(a64) & torch.isfinite(b64)
        nonfinite_diff = bool(((~fin) & ~((a64 == b64) | (torch.isnan(a64) & torch.isnan(b64)))).any())
        d = (a64 - b64).abs()[fin]
        mabs = float(d.max()) if d.numel() else 0.0
        scale = float(b64[fin].abs().max()) if d.numel() else 1.0
        rel = mabs / max(scale, 1e-30) if mabs else 0.0
        if nonfinite_diff:
            mabs = rel = math.inf
        n = int((a != b).sum() - (torch.isnan(a) & torch.isnan(b)).sum())
        if d.numel():
            fa, fb = a64[fin], b64[fin]
            norm = float(fa.norm() * fb.norm())
            cos = float((fa * fb).sum()) / norm if norm else (1.0 if mabs == 0 else 0.0)
            worst["cosine"] = min(worst["cosine"], cos)
        if rel >= worst["max_rel"]:
            worst.update(why=f"leaf {i}: {n} of {a.numel()} values differ, max |diff| {mabs:.3g}"
                             f" (rel {rel:.3g})" + (" incl. inf/nan positions" if nonfinite_diff else ""),
                         max_abs=mabs, max_rel=rel)
    return worst


def _exc(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0][:300] if msg else ''}"


# ---------------------------------------------------------------------------
# One module: compile and calls (in a worker process).
# ---------------------------------------------------------------------------
def _run(fn):
    import torch
    try:
        with torch.no_grad():
            return fn()
    except Exception as e:  # noqa: BLE001 - any exception is an outcome
        return e


def _has_nan(obj) -> bool:
    import torch
    from torch.utils import _pytree as pytree
    return any(isinstance(t, torch.Tensor) and t.is_floating_point() and bool(t.isnan().any())
               for t in pytree.tree_leaves(obj))


def watch_nans(ref_model) -> list:
    """A one-element list that becomes [True] when a NaN reaches one of the
    reference's quantized linears (torch.ao dynamic Linear, torchao's int8
    linear, the accurate emulation): where fbgemm's range sees a NaN depends
    on its position (docs/semantics.md), so such results are `documented`."""
    import torch.ao.nn.quantized.dynamic as nnqd
    from dqmlir.frontend.quantized_linear import is_torchao_linear
    seen = [False]

    from dqmlir.frontend.recurrent import is_quantized_recurrent

    def hook(module, args):
        if args and _has_nan(args[0]):
            seen[0] = True

    def recurrent_hook(module, args):
        # An inf among the inputs or states becomes a NaN (inf * 0 in the
        # dequantized gates) that the next step's linear_hh sees.
        import torch
        from torch.utils import _pytree as pytree
        if any(isinstance(t, torch.Tensor) and t.is_floating_point() and
               not bool(t.isfinite().all()) for t in pytree.tree_leaves(args)):
            seen[0] = True

    for m in ref_model.modules():
        if isinstance(m, nnqd.Linear) or is_torchao_linear(m) or type(m).__name__ == "AccurateLinear":
            m.register_forward_pre_hook(hook)
        elif is_quantized_recurrent(m):
            m.register_forward_pre_hook(recurrent_hook)
    return seen


def classify_call(prog: Program, ours, theirs, inputs_changed: str, nan_quantized=False,
                  call: Call | None = None, nan_attention=False, dense=None) -> dict:
    """`nan_quantized`, `nan_attention`: a NaN reached a quantized linear, an
    SDPA of the reference. `dense`: for non-contiguous inputs, PyTorch's
    result on contiguous copies of them (None if not run)."""
    out = {"class": None, "reason": "", "detail": ""}
    documented = ("nan_quantized" if nan_quantized else
                  "nan_attention" if nan_attention else "")
    if isinstance(theirs, BaseException) and not isinstance(ours, BaseException):
        if call is not None and call.widened:
            documented = "int_widening"
        elif "the unspecified dimension size -1 can be any value" in str(theirs):
            documented = "empty_reshape"
        elif (prog.mode == "torchao" and isinstance(theirs, TypeError) and call is not None
              and call.label in ("b0", "s0")):
            documented = "torchao_empty"
    if isinstance(ours, BaseException):
        out["detail"] = _exc(ours)
        if not isinstance(ours, CLEAN):
            out["class"] = "unclean_exception"
            out["reason"] = type(ours).__name__
        elif isinstance(theirs, BaseException):
            out["class"] = "exception"
            out["reason"] = type(ours).__name__
        else:
            out["class"] = "mismatch_raise"
            out["reason"] = mismatch_reason(prog, ours, "")
        if isinstance(theirs, BaseException):
            out["pytorch"] = _exc(theirs)
        return out
    if inputs_changed:
        out.update({"class": "silent_difference", "reason": "input_changed", "detail": inputs_changed})
        return out
    if isinstance(theirs, BaseException):
        out.update({"class": "documented" if documented else "silent_difference",
                    "reason": documented or "pytorch_raises",
                    "detail": "PyTorch raises " + _exc(theirs)})
        return out
    cmp = compare(ours, theirs)
    out["max_abs"], out["max_rel"] = cmp["max_abs"], cmp["max_rel"]
    if cmp["equal"]:
        out["class"] = "equal"
        return out
    if (not documented and dense is not None and not isinstance(dense, BaseException)
            and compare(ours, dense)["equal"] and not compare(theirs, dense)["equal"]):
        documented = "pytorch_layout"
    if documented:
        out.update({"class": "documented", "reason": documented, "detail": cmp["why"]})
        return out
    reasons = [r for r in prog.inexact if r in INEXACT]
    if reasons and call is not None and call.label == "special" and cmp["max_rel"] == math.inf:
        # inf, -inf, 1e30 and -3e38 in the inputs: where an op that is not
        # bit-exact adds them in another order, inf and NaN land elsewhere.
        out.update({"class": "close", "reason": "+".join(reasons) + "+special_values",
                    "detail": cmp["why"]})
        return out
    direct = TOL_HALF if "half_math" in reasons else TOL_DIRECT
    if reasons and ((cmp["max_rel"] <= direct and cmp["cosine"] >= COSINE_DIRECT) or
                    (prog.amplified and cmp["max_rel"] <= TOL_AMPLIFIED
                     and cmp["cosine"] >= COSINE_AMPLIFIED)):
        out.update({"class": "close", "reason": "+".join(reasons), "detail": cmp["why"]})
        return out
    out.update({"class": "silent_difference", "reason": "values", "detail": cmp["why"]})
    return out


def classify_compile(prog: Program, exc: BaseException | None, eager) -> dict:
    import dqmlir
    if exc is None:
        return {"class": "compiled", "reason": "", "detail": ""}
    detail = _exc(exc)
    if isinstance(eager, BaseException) and (isinstance(exc, CLEAN) or type(exc) is type(eager)):
        return {"class": "agree_raise", "reason": type(exc).__name__, "detail": detail,
                "pytorch": _exc(eager)}
    if isinstance(exc, dqmlir.UnsupportedModuleError):
        return {"class": "unsupported", "reason": _unsupported_reason(str(exc)), "detail": detail}
    if isinstance(exc, dqmlir.CompileError):
        msg = str(exc)
        kind = ("timeout" if "did not finish" in msg else
                "isolated_crash" if " crashed (" in msg else
                "out_of_memory" if "out of memory" in msg else getattr(exc, "stage", "") or "failed")
        if kind == "timeout":
            return {"class": "hang", "reason": "compile stage timeout", "detail": detail}
        return {"class": "compile_error", "reason": kind, "detail": detail}
    if isinstance(exc, CLEAN):
        return {"class": "compile_raise", "reason": type(exc).__name__, "detail": detail}
    return {"class": "unclean_exception", "reason": type(exc).__name__, "detail": detail}


def _unsupported_reason(msg: str) -> str:
    for pat in (r"cannot lower (torch\.[\w.]+)", r"torch\.operator \"([\w.]+)\"", r"ops left after lowering[^\n]*\n\s*([\w.]+)",
                r"(merges the dynamic dims)", r"(shape depends on tensor values)",
                r"(gives a result whose shape depends)", r"(only qint8 weights)",
                r"returns a ([\w.]+)", r"(expected a torch.nn.Module)"):
        m = re.search(pat, msg)
        if m:
            return m.group(1)
    return re.sub(r"\d+", "N", msg.splitlines()[0])[:80] if msg else "?"


def _signature_of(cls: str, rec: dict) -> str:
    detail = re.sub(r"0x[0-9a-f]+|\d+", "N", rec.get("detail", ""))[:120]
    return f"{cls}: {rec.get('reason', '')}: {detail}"


REPRO = '''#!/usr/bin/env python3
# {cls} ({reason}) in module {index} of `fuzz_frontend.py --seed {seed}`, call '{label}' {note}
# {detail}
# mode={mode} dynamic={dynamic} threads={threads}
{message}
# Regenerate: test/fuzz/fuzz_frontend.py --seed {seed} --replay {index} -v
import math, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
sys.path.insert(0, {harness!r})
import fuzz_frontend as ff
import dqmlir

torch.backends.quantized.engine = "fbgemm"
torch.set_num_threads(1)

{source}

d = torch.load(__file__[:-3] + ".pt", weights_only=False)
torch.manual_seed({weights_seed})
model = {class_name}().eval()
target, quantize, ref = ff.prepare(model, {mode!r})
c = dqmlir.compile(target, d["example_args"], d["example_kwargs"], quantize=quantize,
                   dynamic={dynamic}, threads={threads})
args, kwargs = d["args"], d["kwargs"]
theirs = ff._run(lambda: ref(*args, **kwargs))
ours = ff._run(lambda: c(*args, **kwargs))
print("PyTorch:", theirs if isinstance(theirs, Exception) else "a result")
print("dqmlir: ", ours if isinstance(ours, Exception) else "a result")
if not isinstance(ours, Exception) and not isinstance(theirs, Exception):
    print(ff.compare(ours, theirs))
'''


def write_repro(crash_dir: Path, prog: Program, cls: str, rec: dict, label: str, example: Call,
                call: Call | None, note: str = "") -> str:
    import torch
    crash_dir.mkdir(parents=True, exist_ok=True)
    base = crash_dir / f"{cls}-{prog.index:05d}-{_slug(label)}"
    call = call or example
    try:
        torch.save({"example_args": example.args, "example_kwargs": example.kwargs,
                    "args": call.args, "kwargs": call.kwargs}, str(base) + ".pt")
    except Exception as e:  # noqa: BLE001
        note += f" (inputs not saved: {e})"
    text = REPRO.format(cls=cls, reason=rec.get("reason", ""), index=prog.index, seed=prog.seed,
                        label=label, note=note, detail=rec.get("detail", "")[:300].replace("\n", " "),
                        message="".join(f"#   {l}\n" for l in rec.get("message", "").splitlines()),
                        mode=prog.mode, dynamic=prog.dynamic, threads=prog.threads,
                        harness=str(Path(__file__).resolve().parent), source=prog.source,
                        weights_seed=prog.weights_seed, class_name=prog.class_name)
    Path(str(base) + ".py").write_text(text)
    return str(base) + ".py"


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "_", text).strip("_")


def _needs_repro(cls: str, rec: dict) -> bool:
    return (cls in ("silent_difference", "unclean_exception", "compile_error", "compile_raise")
            or (cls == "mismatch_raise" and rec.get("reason") == "unexplained"))


def run_module(prog: Program, emit, crash_dir: Path, n_valid=3, n_bad=4, verbose=False) -> dict:
    import torch
    import dqmlir
    rec = {"index": prog.index, "mode": prog.mode, "ops": prog.ops, "inexact": prog.inexact,
           "amplified": prog.amplified, "dynamic": prog.dynamic, "threads": prog.threads,
           "compile": None, "calls": []}
    t0 = time.monotonic()
    emit({"ev": "begin", "index": prog.index, "step": "build"})
    try:
        model = build(prog)
        target, quantize, ref_model = prepare(model, prog.mode)
    except Exception as e:  # noqa: BLE001 - a module the grammar should not have made
        rec["compile"] = {"class": "reference_failed", "reason": type(e).__name__,
                          "detail": _exc(e)}
        if verbose:
            traceback.print_exc()
        return rec
    g = torch.Generator().manual_seed(prog.weights_seed + 1)
    rng = random.Random(f"calls:{prog.seed}:{prog.index}")
    example = example_call(prog, g)
    nans = watch_nans(ref_model)
    emit({"ev": "begin", "index": prog.index, "step": "eager example"})
    eager = _run(lambda: ref_model(*example.args, **example.kwargs))
    emit({"ev": "begin", "index": prog.index, "step": "compile"})
    tc = time.monotonic()
    try:
        compiled = dqmlir.compile(target, example.args, example.kwargs, quantize=quantize,
                                  dynamic=prog.dynamic, threads=prog.threads)
        exc = None
    except BaseException as e:  # noqa: BLE001
        if isinstance(e, KeyboardInterrupt):
            raise
        compiled, exc = None, e
        if verbose:
            traceback.print_exc()
    c = classify_compile(prog, exc, eager)
    c["seconds"] = round(time.monotonic() - tc, 2)
    if exc is not None and c["class"] not in ("unsupported", "agree_raise"):
        c["message"] = str(exc)[-3000:]
    rec["compile"] = c
    if _needs_repro(c["class"], c) or c["class"] in ("hang", "unclean_exception"):
        c["repro"] = write_repro(crash_dir, prog, c["class"], c, "compile", example, None)
    if compiled is None:
        rec["seconds"] = round(time.monotonic() - t0, 2)
        return rec
    # The user's model must come out of the compile as it went in.
    emit({"ev": "begin", "index": prog.index, "step": "eager after compile"})
    again = _run(lambda: ref_model(*example.args, **example.kwargs))
    if not isinstance(eager, BaseException) and not isinstance(again, BaseException):
        if not compare(again, eager)["equal"]:
            r = {"label": "model_unchanged", "class": "silent_difference", "reason": "model_changed",
                 "detail": "PyTorch's result on the example changed after dqmlir.compile"}
            r["repro"] = write_repro(crash_dir, prog, "silent_difference", r, "model_unchanged",
                                     example, None)
            rec["calls"].append(r)
    labels = plan_calls(prog, rng, n_valid, n_bad)
    # Half the modules run with the buffer cache off: freed buffers go back
    # to malloc at once, whose checks then catch double frees and overruns
    # at the call that made them (the cache hides them until much later).
    no_cache = random.Random(f"cache:{prog.seed}:{prog.index}").random() < 0.5
    dqmlir.trim_buffer_cache(limit_bytes=0 if no_cache else 512 << 20)
    rec["buffer_cache"] = not no_cache
    for j, label in enumerate(labels):
        call = make_call(prog, label, example, g, rng)
        emit({"ev": "begin", "index": prog.index, "step": f"call {j} {label}", "note": call.note})
        before = _snapshot((call.args, call.kwargs))
        nans[0] = False
        SDPA_NANS[:] = [True, False]
        theirs = _run(lambda: ref_model(*call.args, **call.kwargs))
        SDPA_NANS[0] = False
        ours = _run(lambda: compiled(*call.args, **call.kwargs))
        after = _snapshot((call.args, call.kwargs))
        changed = ""
        if any(isinstance(a, torch.Tensor) and not _same_values(a, b) for a, b in zip(after, before)):
            changed = "an input tensor was modified by the call"
        flags = (nans[0], SDPA_NANS[1])
        dense = None
        if (label == "noncontig" and not isinstance(ours, BaseException)
                and not isinstance(theirs, BaseException) and not compare(ours, theirs)["equal"]):
            copies = [a.contiguous() if isinstance(a, torch.Tensor) else a for a in call.args]
            kw = {k: v.contiguous() if isinstance(v, torch.Tensor) else v
                  for k, v in call.kwargs.items()}
            dense = _run(lambda: ref_model(*copies, **kw))
        r = classify_call(prog, ours, theirs, changed, flags[0], call, flags[1], dense)
        r["label"] = label
        if call.note:
            r["note"] = call.note
        if _needs_repro(r["class"], r):
            r["repro"] = write_repro(crash_dir, prog, r["class"], r, f"{j}-{label}", example, call,
                                     call.note)
        rec["calls"].append(r)
        if verbose:
            print(f"  call {j} {label} {call.note}: {r['class']} {r.get('reason', '')} "
                  f"{r.get('detail', '')[:200]}", file=sys.stderr)
    del compiled
    rec["seconds"] = round(time.monotonic() - t0, 2)
    return rec


def _limit_memory(mem_mb: int):
    def apply():
        if mem_mb > 0:
            # Soft limit only: dqmlir's isolated compile stages set their own.
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, hard))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def worker_main(a) -> int:
    """Reads module indices on stdin, writes JSON events on the original stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                       # stray prints go to the log, not the protocol
    sys.stdout = sys.stderr
    warnings.filterwarnings("ignore")
    import torch
    torch.backends.quantized.engine = "fbgemm"
    torch.set_num_threads(1)
    import dqmlir  # noqa: F401
    import torch_mlir.ir  # noqa: F401
    import logging
    logging.getLogger("dqmlir").setLevel(logging.ERROR)
    crash_dir = Path(a.crash_dir)

    def emit(ev):
        if ev.get("ev") == "begin":
            print(f"=== module {ev['index']}: {ev['step']}", file=sys.stderr, flush=True)
        out.write(json.dumps(ev) + "\n")
        out.flush()

    emit({"ev": "ready"})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        index = int(line)
        prog = generate(a.seed, index)
        rec = run_module(prog, emit, crash_dir, a.valid_calls, a.bad_calls)
        emit({"ev": "done", "record": rec})
        import gc
        gc.collect()
    return 0


# ---------------------------------------------------------------------------
# The parent: workers, deadlines, crashes, the summary.
# ---------------------------------------------------------------------------
STEP_LIMITS = {"build": 60, "eager example": 120, "compile": 300, "eager after compile": 120,
               "startup": 180}
CALL_LIMIT = 60


class Worker:
    def __init__(self, k: int, a, log_dir: Path):
        self.k = k
        self.a = a
        self.log_path = log_dir / f"worker-{k}.log"
        self.spawn()

    def spawn(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO / "python")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        env.setdefault("DQMLIR_COMPILE_TIMEOUT_S", str(STEP_LIMITS["compile"] - 60))
        env.setdefault("DQMLIR_COMPILE_MEMORY_MB", str(max(self.a.mem_mb // 2, 2048)))
        self.log = open(self.log_path, "ab")
        self.log_start = self.log.tell()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seed", str(self.a.seed),
               "--crash-dir", self.a.crash_dir, "--valid-calls", str(self.a.valid_calls),
               "--bad-calls", str(self.a.bad_calls)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, env=env, start_new_session=True,
                                     preexec_fn=_limit_memory(self.a.mem_mb))
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = b""
        self.index = None          # module in progress
        self.step = "startup"
        self.step_start = time.monotonic()
        self.steps_done = []
        self.modules = 0
        self.ready = False
        self.partial = None        # events of the module in progress

    def send(self, index: int):
        self.index = index
        self.step = "queued"
        self.step_start = time.monotonic()
        self.partial = {"index": index, "steps": []}
        self.proc.stdin.write(f"{index}\n".encode())
        self.proc.stdin.flush()

    def limit(self) -> float:
        if self.step.startswith("call"):
            return CALL_LIMIT
        return STEP_LIMITS.get(self.step, 300)

    def read_events(self) -> list:
        try:
            chunk = self.proc.stdout.read()
        except (BlockingIOError, ValueError):
            chunk = None
        eof = chunk == b""
        if chunk:
            self.buf += chunk
        events = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                pass
        if eof:
            events.append({"ev": "eof"})
        return events

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()

    def log_tail(self, limit=6000) -> str:
        try:
            data = self.log_path.read_bytes()[self.log_start:]
        except OSError:
            return ""
        text = data.decode(errors="replace")
        marker = f"=== module {self.index}:"
        at = text.find(marker)
        if at >= 0:
            text = text[at:]
        return text[-limit:]


def _status(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit status {rc}"


def fail_record(w: Worker, cls: str, detail: str, crash_dir: Path, seed: int) -> dict:
    """The record of a module whose worker died or hung in `w.step`."""
    index, step = w.index, w.step
    prog = generate(seed, index)
    rec = {"index": index, "mode": prog.mode, "ops": prog.ops, "inexact": prog.inexact,
           "amplified": prog.amplified, "dynamic": prog.dynamic, "threads": prog.threads,
           "compile": None, "calls": [], "seconds": None}
    for ev in w.partial.get("records", []):
        rec["calls"].append(ev)
    entry = {"class": cls, "reason": step, "detail": detail}
    crash_dir.mkdir(parents=True, exist_ok=True)
    base = crash_dir / f"{cls}-{index:05d}-{_slug(step)}"
    Path(str(base) + ".txt").write_text(
        f"# {cls} in module {index} (seed {seed}), step '{step}': {detail}\n"
        f"# mode={prog.mode} dynamic={prog.dynamic} threads={prog.threads}\n"
        f"# Reproduce: {sys.executable} {Path(__file__).resolve()} --seed {seed} --replay {index} -v\n\n"
        f"{prog.source}\n\n# worker log:\n{w.log_tail()}\n")
    entry["repro"] = str(base) + ".txt"
    if step in ("build", "eager example", "compile", "queued", "startup"):
        rec["compile"] = entry
    else:
        rec["compile"] = {"class": "compiled", "reason": "", "detail": ""}
        entry["label"] = step.split(" ", 2)[-1] if step.startswith("call") else step
        rec["calls"].append(entry)
    return rec


def summarize(records: list, seed: int, seconds: float, jobs: int) -> dict:
    calls = Counter()
    compiles = Counter()
    per_mode = defaultdict(Counter)
    per_label = defaultdict(Counter)
    close = defaultdict(lambda: {"calls": 0, "max_rel": 0.0, "max_abs": 0.0})
    mismatch = Counter()
    documented = Counter()
    unsupported = Counter()
    compile_errors = Counter()
    failures = {}
    op_seen = defaultdict(Counter)
    for rec in records:
        c = rec["compile"]["class"]
        compiles[c] += 1
        per_mode[rec["mode"]]["compile_" + c] += 1
        if c == "unsupported":
            unsupported[rec["compile"]["reason"]] += 1
        if c in ("compile_error", "compile_raise"):
            compile_errors[f"{c}: {rec['compile']['reason']}"] += 1
        if c in FAILURES or c in ("compile_error", "compile_raise", "reference_failed"):
            sig = _signature_of(c, rec["compile"])
            f = failures.setdefault(sig, {"class": c, "signature": sig, "count": 0,
                                          "first_module": rec["index"], "step": "compile",
                                          "repro": rec["compile"].get("repro", "")})
            f["count"] += 1
        module_classes = set()
        for r in rec["calls"]:
            cls = r["class"]
            calls[cls] += 1
            module_classes.add(cls)
            per_mode[rec["mode"]][cls] += 1
            per_label[r.get("label", "?")][cls] += 1
            if cls == "close":
                e = close[r["reason"]]
                e["calls"] += 1
                e["max_rel"] = max(e["max_rel"], r.get("max_rel", 0.0))
                e["max_abs"] = max(e["max_abs"], r.get("max_abs", 0.0))
            if cls == "mismatch_raise":
                mismatch[r["reason"]] += 1
            if cls == "documented":
                documented[r["reason"]] += 1
            if cls in FAILURES or (cls == "mismatch_raise" and r["reason"] == "unexplained"):
                sig = _signature_of(cls, r)
                f = failures.setdefault(sig, {"class": cls, "signature": sig, "count": 0,
                                              "first_module": rec["index"],
                                              "step": r.get("label", ""), "repro": r.get("repro", "")})
                f["count"] += 1
        for op in rec["ops"]:
            for cls in module_classes or {"compile_" + c}:
                op_seen[op][cls] += 1
    summary = {
        "seed": seed, "modules": len(records), "seconds": round(seconds, 1), "jobs": jobs,
        "calls": {k: calls.get(k, 0) for k in CLASSES},
        "compiles": {k: compiles.get(k, 0) for k in COMPILE_CLASSES},
        "failures_total": sum(calls.get(k, 0) for k in FAILURES)
                          + sum(compiles.get(k, 0) for k in ("crash", "hang", "unclean_exception")),
        "close_reasons": {k: {**v, "why": "; ".join(INEXACT.get(p, p) for p in k.split("+"))}
                          for k, v in sorted(close.items())},
        "mismatch_raise_reasons": {k: {"calls": v, "why": EXPLAINED.get(k, "NOT EXPLAINED")}
                                   for k, v in mismatch.most_common()},
        "documented_reasons": {k: {"calls": v, "why": DOCUMENTED.get(k, "?")}
                               for k, v in documented.most_common()},
        "unsupported": dict(unsupported.most_common()),
        "compile_errors": dict(compile_errors.most_common()),
        "per_mode": {k: dict(v) for k, v in sorted(per_mode.items())},
        "per_call": {k: dict(v) for k, v in sorted(per_label.items())},
        "per_op": {k: dict(v) for k, v in sorted(op_seen.items())},
        "failures": sorted(failures.values(), key=lambda f: (f["class"], -f["count"])),
    }
    return summary


def print_summary(s: dict, verbose: bool) -> None:
    print(f"fuzz frontend: {s['modules']} modules in {s['seconds']:.0f} s (seed {s['seed']}, "
          f"jobs {s['jobs']})")
    print("  compiles: " + ", ".join(f"{k} {v}" for k, v in s["compiles"].items() if v or k in
                                    ("compiled", "unsupported", "crash", "hang")))
    print("  calls:    " + ", ".join(f"{k} {v}" for k, v in s["calls"].items()))
    for k, v in s["close_reasons"].items():
        print(f"  close [{k}]: {v['calls']} calls, max rel {v['max_rel']:.3g}, "
              f"max |diff| {v['max_abs']:.3g}")
    for k, v in s["mismatch_raise_reasons"].items():
        print(f"  mismatch_raise [{k}]: {v['calls']} ({v['why']})")
    for k, v in s["documented_reasons"].items():
        print(f"  documented [{k}]: {v['calls']} ({v['why']})")
    if verbose:
        for k, v in s["unsupported"].items():
            print(f"  unsupported [{k}]: {v}")
        for k, v in s["compile_errors"].items():
            print(f"  {k}: {v}")
    for f in s["failures"]:
        print(f"  {f['class']} x{f['count']} (module {f['first_module']}, {f['step']}): "
              f"{f['signature'][:200]}\n    {f['repro']}")


def parent_main(a) -> int:
    crash_dir = Path(a.crash_dir)
    crash_dir.mkdir(parents=True, exist_ok=True)
    log_dir = crash_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    for p in log_dir.glob("worker-*.log"):
        p.unlink()
    t_start = time.monotonic()
    pending = list(range(a.start, a.start + a.count))
    pending.reverse()
    records = []
    workers = [Worker(k, a, log_dir) for k in range(a.jobs)]
    sel = selectors.DefaultSelector()
    for w in workers:
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
    stop = False

    def restart(w: Worker):
        sel.unregister(w.proc.stdout)
        w.kill()
        w.spawn()
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)

    def finish(rec):
        records.append(rec)
        bad = [r for r in rec["calls"] if r["class"] in FAILURES]
        c = rec["compile"]
        if c["class"] in FAILURES or bad or not a.quiet:
            if not a.quiet or c["class"] in FAILURES or bad:
                what = ", ".join(f"{r['label']}: {r['class']} {r.get('reason', '')} "
                                 f"{r.get('detail', '')[:160]}" for r in bad)
                print(f"[{rec['index']}] {rec['mode']} compile {c['class']} {c.get('reason', '')}"
                      f"{' ' + c.get('detail', '')[:200] if c['class'] != 'compiled' else ''}"
                      f"{' | ' + what if what else ''} ({rec.get('seconds')} s)", flush=True)
        if len(records) % 50 == 0:
            cl = Counter(r["class"] for rec in records for r in rec["calls"])
            print(f"  {len(records)} modules, {time.monotonic() - t_start:.0f} s, calls {dict(cl)}",
                  flush=True)

    while True:
        if a.time and time.monotonic() - t_start > a.time:
            stop = True
        for w in workers:
            if w.ready and w.index is None and pending and not stop:
                w.send(pending.pop())
        if all(w.index is None for w in workers) and (not pending or stop):
            break
        for key, _ in sel.select(timeout=1.0):
            w = key.data
            for ev in w.read_events():
                kind = ev.get("ev")
                if kind == "ready":
                    w.ready = True
                    w.step = "idle"
                elif kind == "begin":
                    w.step = ev["step"]
                    w.step_start = time.monotonic()
                elif kind == "done":
                    finish(ev["record"])
                    w.index = None
                    w.modules += 1
                    w.step = "idle"
                    if a.recycle and w.modules >= a.recycle:
                        restart(w)
                        break
                elif kind == "eof":
                    rc = w.proc.wait()
                    if w.index is not None:
                        finish(fail_record(w, "crash", f"worker died ({_status(rc)}) in "
                                                        f"'{w.step}'", crash_dir, a.seed))
                    elif not w.ready:
                        print(f"worker {w.k} failed to start ({_status(rc)}):\n{w.log_tail()}",
                              file=sys.stderr)
                        return 2
                    restart(w)
                    break
        now = time.monotonic()
        for w in workers:
            if w.index is not None and w.step not in ("queued", "idle") and \
                    now - w.step_start > w.limit():
                finish(fail_record(w, "hang", f"'{w.step}' exceeded {w.limit()} s",
                                   crash_dir, a.seed))
                restart(w)
            elif w.index is None and not w.ready and now - w.step_start > STEP_LIMITS["startup"]:
                print(f"worker {w.k} did not start", file=sys.stderr)
                return 2
    for w in workers:
        try:
            w.proc.stdin.close()
        except OSError:
            pass
        try:
            w.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        w.kill()
    records.sort(key=lambda r: r["index"])
    summary = summarize(records, a.seed, time.monotonic() - t_start, a.jobs)
    print_summary(summary, not a.quiet)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(summary, indent=1))
    if a.records:
        Path(a.records).write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return 1 if summary["failures_total"] else 0


def replay_main(a) -> int:
    """Runs one module in this process (no isolation), printing each call."""
    warnings.filterwarnings("ignore")
    import torch
    torch.backends.quantized.engine = "fbgemm"
    torch.set_num_threads(1)
    prog = generate(a.seed, a.replay)
    print(prog.source, file=sys.stderr)
    print(f"# mode={prog.mode} dynamic={prog.dynamic} threads={prog.threads} "
          f"sizes={prog.example_sizes} inexact={prog.inexact} amplified={prog.amplified}",
          file=sys.stderr)
    for i in prog.inputs:
        print(f"# input {i}", file=sys.stderr)
    emit = (lambda ev: print(f"=== {ev.get('step', '')}", file=sys.stderr)) if a.verbose else \
        (lambda ev: None)
    rec = run_module(prog, emit, Path(a.crash_dir), a.valid_calls, a.bad_calls, verbose=a.verbose)
    print(json.dumps(rec, indent=1))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100, help="number of modules")
    ap.add_argument("--start", type=int, default=0, help="first module index")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--time", type=float, default=0,
                    help="stop starting new modules after this many seconds (0: none)")
    ap.add_argument("--mem-mb", type=int, default=8192,
                    help="address-space limit of a worker (soft RLIMIT_AS; 0: none)")
    ap.add_argument("--recycle", type=int, default=40,
                    help="replace a worker after this many modules (0: never)")
    ap.add_argument("--valid-calls", type=int, default=3, help="valid calls besides the example")
    ap.add_argument("--bad-calls", type=int, default=4, help="bad calls per module")
    ap.add_argument("--crash-dir", default=str(REPO / "build" / "fuzz-frontend"))
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--records", help="write every module's record here (JSON lines)")
    ap.add_argument("--show", type=int, help="print module SHOW's source and exit")
    ap.add_argument("--replay", type=int, help="run module REPLAY in this process")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.worker:
        return worker_main(a)
    if a.show is not None:
        prog = generate(a.seed, a.show)
        print(prog.source)
        print(f"# mode={prog.mode} dynamic={prog.dynamic} threads={prog.threads} "
              f"sizes={prog.example_sizes} inexact={prog.inexact} amplified={prog.amplified}")
        for i in prog.inputs:
            print(f"# input {i}")
        return 0
    if a.replay is not None:
        return replay_main(a)
    return parent_main(a)


if __name__ == "__main__":
    sys.exit(main())
