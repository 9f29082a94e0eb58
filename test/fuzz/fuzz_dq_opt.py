#!/usr/bin/env python3
"""Fuzz harness for dq-opt: every input must end in output (exit 0) or in
diagnostics (exit 1 with "error:"), never in a signal, an assertion, an LLVM
fatal error or "PLEASE submit a bug report".

Inputs are made from the lit corpus (test/**/*.mlir, split at `// -----`):
byte flips, truncation, token swaps and splices, type/shape/attribute
rewrites, and freshly generated functions of dq ops with random attributes,
shapes and types (mostly valid, some deliberately not). Each input runs
through one dq-opt configuration: parsing + verification only,
--convert-dq-to-linalg, --dq-cpu-pipeline (kernel auto/vnni/generic) or
--convert-dq-to-vnni.

Everything is a function of --seed and the input's index, so a run is
reproducible whatever --jobs is. Results are classified:

  ok         exit 0
  diagnosed  exit 1 with "error:" on stderr
  timeout    killed after --timeout seconds (reported, not a crash)
  CRASH      signal, exit code other than 0/1, exit 1 without "error:",
             "PLEASE submit", "Assertion", "LLVM ERROR", "UNREACHABLE",
             on an input with a dq op (ours)
  upstream   the same, but upstream MLIR's (out of scope, counted
             separately): the input has no dq op; or the crash happens
             already when parsing, outside dq code (e.g. an overflowing
             builtin type); or it is a KNOWN_UPSTREAM signature, each with a
             dq-free reproducer in test/fuzz/upstream/

Each dq-opt runs with --mlir-disable-threading and an address-space limit
(--mem-mb, so that a runaway allocation is an "out of memory" crash, not a
machine out of memory). Crashing inputs (and, with --save-timeouts,
timeouts) are written to --crash-dir with the command line and stderr, one
file per distinct signature. The exit code is 1 if there was a CRASH, 0
otherwise.

    test/fuzz/fuzz_dq_opt.py --count 10000                 # long run
    test/fuzz/fuzz_dq_opt.py --count 300 --time 50 -q       # smoke
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CRASH_MARKERS = ("PLEASE submit", "Assertion", "LLVM ERROR", "UNREACHABLE",
                 "Stack dump", "Segmentation fault", "terminate called")
DQ_OP_RE = re.compile(r"\bdq(?:x86)?\.[a-z_0-9]+|\"dq(?:x86)?\.")

# ---------------------------------------------------------------------------
# Configurations: (name, extra dq-opt arguments), with weights.

CONFIGS = [
    ("parse", [], 2),
    ("generic-roundtrip", ["--mlir-print-op-generic"], 1),
    ("dq-to-linalg", ["--convert-dq-to-linalg"], 4),
    ("dq-to-linalg+canon", ["--convert-dq-to-linalg", "--canonicalize", "--cse"], 1),
    ("cpu-pipeline", ["--dq-cpu-pipeline"], 4),
    ("cpu-pipeline-generic", ["--dq-cpu-pipeline=kernel=generic"], 2),
    ("cpu-pipeline-vnni", ["--dq-cpu-pipeline=kernel=vnni"], 2),
    ("dq-to-vnni", ["--convert-dq-to-vnni"], 1),
    ("dq-to-vnni-opts", None, 1),  # random rows/cols, filled in per input
]

# ---------------------------------------------------------------------------
# Corpus.


def load_corpus(root: Path) -> list[str]:
    chunks = []
    for path in sorted(root.rglob("*.mlir")):
        if "fuzz" in path.parts:
            continue
        text = path.read_text(errors="replace")
        for chunk in re.split(r"^// -----\s*$", text, flags=re.M):
            if chunk.strip():
                chunks.append(chunk)
    return chunks


TOKEN_RE = re.compile(
    r"%[\w.$-]+|@[\w.$-]+|#[\w.$-]+|![\w.$-]+|\^[\w.$-]+"
    r"|\"(?:[^\"\\\n]|\\.)*\""
    r"|0x[0-9a-fA-F]+|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
    r"|[A-Za-z_][\w.$]*"
    r"|->|::|[^\s\w]")


def tokens(text: str) -> list[re.Match]:
    return list(TOKEN_RE.finditer(text))


# ---------------------------------------------------------------------------
# Generation of dq functions.

ELEM_ODD = ["f16", "bf16", "f64", "i8", "si8", "ui8", "i32", "i1", "index",
            "i64", "f8E4M3FN", "complex<f32>", "i4", "ui32", "si32"]
DIMS = [1, 1, 2, 3, 4, 5, 7, 8, 16, 17, 31, 32, 33, 48, 64, 67, 0, "?", "?",
        "?"]
BIG_DIMS = [4096, 65536, 1 << 20, 1 << 31, (1 << 62), (1 << 63) - 1]
ENCODINGS = ['"enc"', "#sparse", "1 : i64", "{foo}"]
SPARSE_ALIAS = ("#sparse = #sparse_tensor.encoding<{ map = (d0, d1) -> "
                "(d0 : dense, d1 : compressed) }>\n")


def dim_str(d) -> str:
    return "?" if d == "?" else str(d)


def tensor_type(shape, elem: str, enc: str | None = None) -> str:
    dims = "".join(dim_str(d) + "x" for d in shape)
    return f"tensor<{dims}{elem}{', ' + enc if enc else ''}>"


@dataclass
class Func:
    rng: random.Random
    args: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    body: list[str] = field(default_factory=list)
    results: list[tuple[str, str]] = field(default_factory=list)
    counter: int = 0
    invalid: bool = False
    uses_sparse: bool = False
    resources: dict[str, str] = field(default_factory=dict)
    bad_scale: float = 1.0

    def fresh(self, prefix="v") -> str:
        self.counter += 1
        return f"%{prefix}{self.counter}"

    def arg(self, ty: str) -> str:
        name = f"%a{len(self.args)}"
        self.args.append((name, ty))
        return name

    def maybe_bad(self, p=0.04) -> bool:
        if self.rng.random() < p * self.bad_scale:
            self.invalid = True
            return True
        return False


class Gen:
    """Random dq programs. Most are valid, some break one rule."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    # -- shapes and types --------------------------------------------------

    def dim(self):
        r = self.rng.random()
        if r < 0.02:
            return self.rng.choice(BIG_DIMS)
        return self.rng.choice(DIMS)

    def shape(self, lo=1, hi=4):
        return [self.dim() for _ in range(self.rng.randint(lo, hi))]

    def relax(self, shape):
        """The same shape with some static dims made dynamic or vice versa."""
        out = []
        for d in shape:
            r = self.rng.random()
            if r < 0.15:
                out.append("?")
            elif d == "?" and r < 0.25:
                out.append(self.rng.choice([1, 2, 4, 8, 16]))
            else:
                out.append(d)
        return out

    def elem(self, want: str, f: Func) -> str:
        if f.maybe_bad(0.03):
            return self.rng.choice(ELEM_ODD)
        return want

    def enc(self, f: Func) -> str | None:
        if f.maybe_bad(0.02):
            e = self.rng.choice(ENCODINGS)
            if e == "#sparse":
                f.uses_sparse = True
            return e
        return None

    def ttype(self, f: Func, shape, elem: str) -> str:
        if f.maybe_bad(0.01):
            kind = self.rng.choice(["memref", "vector", "unranked", "scalar"])
            if kind == "memref":
                return "memref<" + "".join(
                    dim_str(d) + "x" for d in shape) + elem + ">"
            if kind == "vector":
                return "vector<" + "".join(
                    str(d if d != "?" else 4) + "x" for d in shape) + elem + ">"
            if kind == "unranked":
                return f"tensor<*x{elem}>"
            return elem
        return tensor_type(shape, self.elem(elem, f), self.enc(f))

    # -- operand sources ---------------------------------------------------

    def dense_values(self, shape, elem: str) -> str:
        n = 1
        for d in shape:
            n *= d
        is_float = elem.startswith(("f", "bf"))
        def val():
            if is_float:
                return self.rng.choice(["0.0", "1.0", "-1.5", "0.01", "1.0e+30",
                                        "-3.4e+38", "1.0e-40", "0x7FC00000",
                                        "0x7F800000", "0xFF800000", "2.5"])
            if elem in ("i8", "si8"):
                return str(self.rng.randint(-128, 127))
            if elem == "ui8":
                return str(self.rng.randint(0, 255))
            return str(self.rng.randint(-1000, 1000))
        # A nested literal of an empty type with a huge dim would be built
        # element list by element list: splats only there.
        if self.rng.random() < 0.5 or n > 512 or n == 0 or max(shape, default=0) > 512:
            return f"dense<{val()}>"
        # Nested list literal.
        def nest(sh):
            if not sh:
                return val()
            return "[" + ", ".join(nest(sh[1:]) for _ in range(sh[0])) + "]"
        return f"dense<{nest(shape)}>"

    def constant(self, f: Func, shape, elem: str) -> tuple[str, str] | None:
        """An arith.constant of a static shape, or None if not possible."""
        if any(d == "?" for d in shape):
            return None
        ty = tensor_type(shape, elem)
        name = f.fresh("c")
        n = 1
        for d in shape:
            n *= d
        r = self.rng.random()
        if r < 0.15:
            key = f"blob{len(f.resources)}"
            size = n if self.rng.random() < 0.8 else max(0, n + self.rng.choice([-1, 1, 3]))
            size = min(size, 4096)
            elem_bytes = 4 if elem in ("f32", "i32") else 1
            data = bytes(self.rng.randrange(256) for _ in range(size * elem_bytes))
            if self.rng.random() < 0.3:
                attr = f"dense_resource<__elided__>"
            else:
                f.resources[key] = "0x04000000" + data.hex()
                attr = f"dense_resource<{key}>"
        else:
            if n > 1 << 16 and self.rng.random() < 0.5:
                return None
            attr = self.dense_values(shape, elem)
        f.body.append(f"{name} = arith.constant {attr} : {ty}")
        return name, ty

    def operand(self, f: Func, shape, elem: str, const_p=0.3) -> tuple[str, str]:
        if self.rng.random() < const_p:
            c = self.constant(f, shape, elem)
            if c:
                return c
        ty = self.ttype(f, shape, elem)
        return f.arg(ty), ty

    # -- ops ---------------------------------------------------------------

    def props(self, f: Func, mode_key: str, gran_key: str, mode, gran, rr) -> str:
        """The properties of an op in generic form, sometimes tampered with."""
        enum = {"asymmetric": 0, "symmetric": 1, "per_tensor": 0, "per_row": 1}
        items = {mode_key: f"{enum.get(mode, 0)} : i32",
                 gran_key: f"{enum.get(gran, 0)} : i32"}
        if rr:
            items["reduce_range"] = None
        if f.maybe_bad(0.5):
            key = self.rng.choice([mode_key, gran_key, "reduce_range", "extra"])
            bad = self.rng.choice(["2 : i32", "-1 : i32", "1 : i64",
                                   "4294967296 : i64", '"asymmetric"', "unit",
                                   "[0 : i32]", "0.0 : f32", None, "DROP"])
            if bad == "DROP":
                items.pop(key, None)
            else:
                items[key] = bad
        body = ", ".join(k if v is None else f"{k} = {v}" for k, v in items.items())
        return f"<{{{body}}}>"

    def generic(self, f: Func, name: str, results: list[str], operands, props: str,
                result_types: list[str]) -> None:
        ops = list(operands)
        if f.maybe_bad(0.3):
            if ops and self.rng.random() < 0.5:
                ops.pop(self.rng.randrange(len(ops)))
            else:
                ops.append(self.rng.choice(ops) if ops else (f.arg("tensor<f32>"), "tensor<f32>"))
        if f.maybe_bad(0.1) and result_types:
            result_types = result_types[:-1]
            results = results[:-1]
        lhs = ", ".join(results)
        lhs = f"{lhs} = " if results else ""
        f.body.append(
            f'{lhs}"dq.{name}"({", ".join(o[0] for o in ops)}) {props} : '
            f'({", ".join(o[1] for o in ops)}) -> ({", ".join(result_types)})')

    def mode(self, f: Func):
        mode = self.rng.choice(["asymmetric", "symmetric"])
        gran = self.rng.choice(["per_tensor", "per_row"])
        rr = self.rng.random() < 0.4
        if mode == "symmetric" and rr and not f.maybe_bad(0.3):
            rr = False
        if f.maybe_bad(0.01):
            mode = self.rng.choice(["affine", "sym", "", "per_row"])
        return mode, gran, rr

    def qparam_shape(self, f: Func, xshape, gran):
        if gran == "per_tensor":
            shape = []
        else:
            shape = self.relax(xshape[:-1])
        if f.maybe_bad(0.04):
            shape = self.shape(0, 3)
        return shape

    def choose_qparams(self, f: Func, x=None):
        xshape = x[2] if x else self.shape(0 if self.rng.random() < 0.05 else 1, 4)
        if x is None:
            xv, xt = self.operand(f, xshape, "f32", 0.15)
        else:
            xv, xt = x[0], x[1]
        mode, gran, rr = self.mode(f)
        qs = self.qparam_shape(f, xshape, gran)
        zs = qs if not f.maybe_bad(0.03) else self.shape(0, 2)
        st = self.ttype(f, qs, "f32")
        zt = self.ttype(f, zs, "i32")
        s, z = f.fresh("s"), f.fresh("z")
        if self.rng.random() < 0.1:
            self.generic(f, "choose_qparams", [s, z], [(xv, xt)],
                         self.props(f, "mode", "granularity", mode, gran, rr), [st, zt])
            return (s, st, qs), (z, zt, zs), mode
        f.body.append(
            f"{s}, {z} = dq.choose_qparams {xv} {mode} {gran}"
            f"{' reduce_range' if rr else ''} : {xt} -> {st}, {zt}")
        return (s, st, qs), (z, zt, zs), mode

    def quantize(self, f: Func, x=None, qp=None, mode=None):
        xshape = x[2] if x else self.shape(0 if self.rng.random() < 0.1 else 1, 4)
        if x is None:
            xv, xt = self.operand(f, xshape, "f32", 0.2)
        else:
            xv, xt = x[0], x[1]
        if qp is None:
            gran = self.rng.choice(["per_tensor", "per_row"])
            qs = self.qparam_shape(f, xshape, gran) if xshape else []
            s = self.operand(f, qs, "f32", 0.4)
            z = self.operand(f, qs if not f.maybe_bad(0.03) else self.shape(0, 2),
                             "i32", 0.4)
        else:
            s, z = qp
        elem = self.rng.choice(["ui8", "si8"]) if mode is None else (
            "si8" if mode == "symmetric" else "ui8")
        if f.maybe_bad(0.03):
            elem = self.rng.choice(ELEM_ODD)
        oshape = self.relax(xshape)
        if f.maybe_bad(0.03):
            oshape = self.shape(0, 4)
        ot = tensor_type(oshape, elem, self.enc(f))
        q = f.fresh("q")
        if self.rng.random() < 0.1:
            self.generic(f, "quantize", [q], [(xv, xt), s, z], "", [ot])
            return q, ot, oshape
        f.body.append(f"{q} = dq.quantize {xv}, {s[0]}, {z[0]} : {xt}, {s[1]}, "
                      f"{z[1]} -> {ot}")
        return q, ot, oshape

    def dequantize(self, f: Func, q=None, qp=None):
        if q is None:
            qshape = self.shape(0 if self.rng.random() < 0.1 else 1, 4)
            qv, qt = self.operand(f, qshape, self.rng.choice(["ui8", "si8"]), 0.2)
        else:
            qv, qt, qshape = q
        if qp is None:
            gran = self.rng.choice(["per_tensor", "per_row"])
            qs = self.qparam_shape(f, qshape, gran) if qshape else []
            s = self.operand(f, qs, "f32", 0.4)
            z = self.operand(f, qs, "i32", 0.4)
        else:
            s, z = qp
        oshape = self.relax(qshape)
        if f.maybe_bad(0.03):
            oshape = self.shape(0, 4)
        ot = self.ttype(f, oshape, "f32")
        y = f.fresh("d")
        if self.rng.random() < 0.1:
            self.generic(f, "dequantize", [y], [(qv, qt), s, z], "", [ot])
            return y, ot, oshape
        f.body.append(f"{y} = dq.dequantize {qv}, {s[0]}, {z[0]} : {qt}, {s[1]}, "
                      f"{z[1]} -> {ot}")
        return y, ot, oshape

    def linear(self, f: Func, x=None):
        rng = self.rng
        if x is None:
            lead = [self.dim() for _ in range(rng.randint(1 if rng.random() > 0.05 else 0, 3))]
            k = rng.choice([1, 3, 4, 6, 8, 16, 17, 64, 67, "?", 0])
            xshape = lead + [k]
            xv, xt = self.operand(f, xshape, "f32", 0.1)
        else:
            xv, xt, xshape = x
            k = xshape[-1] if xshape else 4
        n = rng.choice([1, 2, 5, 16, 17, 37, 48, 64, 96, 0, "?"])
        if rng.random() < 0.02:
            n = rng.choice([1 << 16, 1 << 20])
        wk = k if rng.random() < 0.85 else rng.choice(["?", 4, k])
        if f.maybe_bad(0.03):
            wk = rng.choice([1, 5, 9])
        wshape = [n, wk]
        if f.maybe_bad(0.02):
            wshape = self.shape(1, 3)
        welem = rng.choice(["i8", "i8", "si8"])
        wv, wt = self.operand(f, wshape, welem, 0.6)
        per_channel = rng.random() < 0.5
        wsshape = [n if rng.random() < 0.8 else "?"] if per_channel else []
        if f.maybe_bad(0.03):
            wsshape = self.shape(0, 2)
        wsv, wst = self.operand(f, wsshape, "f32", 0.5)
        bias = None
        if rng.random() < 0.5:
            bshape = [n if rng.random() < 0.8 else "?"]
            if f.maybe_bad(0.03):
                bshape = self.shape(0, 2)
            bias = self.operand(f, bshape, "f32", 0.5)
        mode, gran, rr = self.mode(f)
        oshape = self.relax(xshape[:-1] + [n])
        if f.maybe_bad(0.03):
            oshape = self.shape(1, 4)
        ot = self.ttype(f, oshape, "f32")
        y = f.fresh("y")
        if self.rng.random() < 0.1:
            ops = [(xv, xt), (wv, wt), (wsv, wst)] + ([bias] if bias else [])
            self.generic(f, "linear_dynamic", [y], ops,
                         self.props(f, "act_mode", "act_granularity", mode, gran, rr),
                         [ot])
            return y, ot, oshape
        bias_s = f" bias {bias[0]}" if bias else ""
        bias_t = f", {bias[1]}" if bias else ""
        f.body.append(
            f"{y} = dq.linear_dynamic {xv}, {wv}, {wsv}{bias_s} act {mode} {gran}"
            f"{' reduce_range' if rr else ''} : {xt}, {wt}, {wst}{bias_t} -> {ot}")
        return y, ot, oshape

    def vpdpbusd(self, f: Func):
        rng = self.rng
        acc_n = 16 if not f.maybe_bad(0.1) else rng.choice([8, 32])
        ab_n = 64 if not f.maybe_bad(0.1) else rng.choice([16, 63])
        at = f"vector<{acc_n}xi32>"
        bt = f"vector<{ab_n}xi8>"
        acc = f.arg(at) if rng.random() < 0.7 else self._vconst(f, at, "0")
        a = f.arg(bt) if rng.random() < 0.7 else self._vconst(f, bt, "1")
        b = f.arg(bt) if rng.random() < 0.7 else self._vconst(f, bt, "-1")
        r = f.fresh("r")
        f.body.append(f"{r} = dqx86.vpdpbusd {acc}, {a}, {b} : {bt} into {at}")
        return r, at, None

    def _vconst(self, f: Func, ty: str, v: str) -> str:
        name = f.fresh("vc")
        f.body.append(f"{name} = arith.constant dense<{v}> : {ty}")
        return name

    def function(self) -> str:
        f = Func(self.rng)
        rng = self.rng
        # A third of the functions break no rule on purpose.
        f.bad_scale = rng.choice([0.0, 0.6, 1.0])
        values = []
        for _ in range(rng.randint(1, 4)):
            kind = rng.choices(
                ["linear", "chain", "cq", "quant", "dequant", "vnni", "qdq"],
                [5, 3, 2, 2, 2, 1, 2])[0]
            # Chain onto an earlier f32 result sometimes.
            prev = None
            f32s = [v for v in values if v[2] is not None and "xf32" in v[1]
                    and v[1].startswith("tensor<")]
            if f32s and rng.random() < 0.4:
                prev = rng.choice(f32s)
            if kind == "linear":
                values.append(self.linear(f, prev))
            elif kind == "chain":
                x = prev
                if x is None:
                    shape = self.shape(1, 4)
                    xv, xt = self.operand(f, shape, "f32", 0.1)
                    x = (xv, xt, shape)
                s, z, mode = self.choose_qparams(f, x)
                q = self.quantize(f, x, (s, z), mode)
                values.append(q)
                values.append(self.dequantize(f, q, (s, z)))
                values += [s, z]
            elif kind == "cq":
                s, z, _ = self.choose_qparams(f, prev)
                values += [s, z]
            elif kind == "quant":
                values.append(self.quantize(f, prev))
            elif kind == "qdq":
                q = self.quantize(f, prev)
                values.append(self.dequantize(f, q))
            elif kind == "dequant":
                values.append(self.dequantize(f, None))
            else:
                values.append(self.vpdpbusd(f))
        def keep(v):
            narrow = "xui8" in v[1] or "xsi8" in v[1] or v[1] in ("tensor<ui8>", "tensor<si8>")
            return rng.random() < (0.15 if narrow else 0.7)
        rets = [v for v in values if keep(v)] or values[-1:]
        if rng.random() < 0.05:
            rets = []
        args = ", ".join(f"{n}: {t}" for n, t in f.args)
        rtypes = ", ".join(t for _, t, _ in rets)
        attrs = " attributes {llvm.emit_c_interface}" if rng.random() < 0.5 else ""
        out = []
        if f.uses_sparse:
            out.append(SPARSE_ALIAS)
        out.append(f"func.func @fuzz({args}) -> ({rtypes}){attrs} {{")
        out += ["  " + line for line in f.body]
        ret = ", ".join(n for n, _, _ in rets)
        out.append(f"  return {ret} : {rtypes}" if rets else "  return")
        out.append("}")
        text = "\n".join(out) + "\n"
        if f.resources:
            blobs = ",\n".join(f"      {k}: \"{v}\"" for k, v in f.resources.items())
            text += ("\n{-#\n  dialect_resources: {\n    builtin: {\n" + blobs +
                     "\n    }\n  }\n#-}\n")
        return text


# ---------------------------------------------------------------------------
# Mutations of text.

TYPE_SWAPS = ["f32", "f16", "bf16", "f64", "i8", "si8", "ui8", "i32", "i1",
              "index", "i64"]
KEYWORD_SWAPS = ["asymmetric", "symmetric", "per_tensor", "per_row",
                 "reduce_range", "bias", "act", "into"]


class Mutator:
    def __init__(self, rng: random.Random, corpus: list[str], dictionary: list[str]):
        self.rng = rng
        self.corpus = corpus
        self.dictionary = dictionary

    def byte_flip(self, t: str) -> str:
        b = bytearray(t.encode())
        if not b:
            return t
        for _ in range(self.rng.randint(1, 4)):
            if not b:
                break
            i = self.rng.randrange(len(b))
            op = self.rng.randrange(4)
            if op == 0:
                b[i] ^= 1 << self.rng.randrange(8)
            elif op == 1:
                b[i] = self.rng.choice(b"0123456789?x<>[](){},:%@#!\"-. \n")
            elif op == 2:
                del b[i]
            else:
                b.insert(i, self.rng.randrange(256) if self.rng.random() < 0.2
                         else self.rng.choice(b"0123456789x?,<>"))
        return b.decode(errors="replace")

    def truncate(self, t: str) -> str:
        if len(t) < 2:
            return t
        return t[: self.rng.randrange(len(t))]

    def token_swap(self, t: str) -> str:
        toks = tokens(t)
        if len(toks) < 2:
            return t
        i, j = sorted(self.rng.sample(range(len(toks)), 2))
        a, b = toks[i], toks[j]
        op = self.rng.randrange(4)
        if op == 0:  # swap two tokens
            return (t[: a.start()] + b.group() + t[a.end(): b.start()] + a.group() +
                    t[b.end():])
        if op == 1:  # replace with a corpus token
            return t[: a.start()] + self.rng.choice(self.dictionary) + t[a.end():]
        if op == 2:  # delete a token
            return t[: a.start()] + t[a.end():]
        # duplicate a token
        return t[: a.end()] + " " + a.group() + t[a.end():]

    def type_rewrite(self, t: str) -> str:
        """Rewrites a dimension, an element type or a dq keyword."""
        op = self.rng.randrange(3)
        if op == 0:
            dims = list(re.finditer(r"(?<=[<x])(\?|\d+)(?=x)", t))
            if dims:
                m = self.rng.choice(dims)
                new = self.rng.choice(["?", "0", "1", "2", "3", "16", "17", "67",
                                       "4096", str(1 << 31), str((1 << 63) - 1)])
                return t[: m.start()] + new + t[m.end():]
        if op == 1:
            elems = list(re.finditer(r"(?<=x)(f32|i8|si8|ui8|i32|f64)(?=[>,])", t))
            if elems:
                m = self.rng.choice(elems)
                return t[: m.start()] + self.rng.choice(TYPE_SWAPS) + t[m.end():]
        kws = list(re.finditer(r"\b(" + "|".join(KEYWORD_SWAPS) + r")\b", t))
        if kws:
            m = self.rng.choice(kws)
            new = self.rng.choice(KEYWORD_SWAPS + [""])
            return t[: m.start()] + new + t[m.end():]
        return t

    def rank_rewrite(self, t: str) -> str:
        """Adds or removes a dimension of one tensor type."""
        types = list(re.finditer(r"tensor<([^<>]*)>", t))
        if not types:
            return t
        m = self.rng.choice(types)
        body = m.group(1)
        if self.rng.random() < 0.5:
            body = self.rng.choice(["?x", "1x", "4x", "0x"]) + body
        else:
            body = re.sub(r"^(\?|\d+)x", "", body, count=1)
        return t[: m.start(1)] + body + t[m.end(1):]

    def splice(self, t: str) -> str:
        other = self.rng.choice(self.corpus)
        lines_a, lines_b = t.splitlines(True), other.splitlines(True)
        if not lines_a or not lines_b:
            return t
        i = self.rng.randrange(len(lines_a) + 1)
        j = self.rng.randrange(len(lines_b))
        k = min(len(lines_b), j + self.rng.randint(1, 6))
        return "".join(lines_a[:i] + lines_b[j:k] + lines_a[i:])

    def line_dup_drop(self, t: str) -> str:
        lines = t.splitlines(True)
        if not lines:
            return t
        i = self.rng.randrange(len(lines))
        if self.rng.random() < 0.5:
            del lines[i]
        else:
            lines.insert(self.rng.randrange(len(lines) + 1), lines[i])
        return "".join(lines)

    def mutate(self, t: str, n: int) -> str:
        ops = [(self.byte_flip, 3), (self.truncate, 1), (self.token_swap, 4),
               (self.type_rewrite, 5), (self.rank_rewrite, 2), (self.splice, 1),
               (self.line_dup_drop, 1)]
        fns, ws = zip(*ops)
        for _ in range(n):
            t = self.rng.choices(fns, ws)[0](t)
        return t


# ---------------------------------------------------------------------------
# Inputs.


@dataclass
class Case:
    index: int
    kind: str
    text: str
    config: str
    args: list[str]


def make_case(index: int, seed: int, corpus: list[str], dictionary: list[str]) -> Case:
    rng = random.Random(f"{seed}:{index}")
    gen, mut = Gen(rng), Mutator(rng, corpus, dictionary)
    r = rng.random()
    if r < 0.45:
        kind, text = "generated", gen.function()
        if rng.random() < 0.2:
            kind, text = "generated+mutated", mut.mutate(text, rng.randint(1, 3))
    elif r < 0.55:
        kind, text = "corpus+structural", mut.mutate(
            rng.choice(corpus), 1)
        text = mut.type_rewrite(text)
    else:
        kind = "corpus+mutated"
        text = mut.mutate(rng.choice(corpus), rng.randint(1, 4))
    names, weights = zip(*[(c[0], c[2]) for c in CONFIGS])
    config = rng.choices(names, weights)[0]
    args = dict((c[0], c[1]) for c in CONFIGS)[config]
    if args is None:
        rows = rng.choice([1, 2, 3, 8, 0, -1])
        cols = rng.choice([16, 32, 48, 64, 8, 0, 17])
        args = [f"--convert-dq-to-vnni=rows={rows} cols={cols}"]
    return Case(index, kind, text, config, list(args))


# ---------------------------------------------------------------------------
# Running.


def _limits(mem_mb: int):
    def apply():
        if mem_mb > 0:
            resource.setrlimit(resource.RLIMIT_AS,
                               (mem_mb << 20, mem_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


SKIP_FRAME = ("PrintStackTrace", "SignalHandler", "libc.so", "raise",
              "abort", "__pthread", "__assert", "llvm_unreachable_internal",
              "_nl_load_domain", "report_fatal_error", "reportFatal")

# Crashes of upstream MLIR 22.1.8 that dq inputs can reach but that reproduce
# without any dq op (a dq-free reproducer is in test/fuzz/upstream/): not
# ours to fix in lib/. Matched against the crash signature.
KNOWN_UPSTREAM = [
    # finalize-memref-to-llvm: a rank-0 memref.global initialized from a
    # dense_resource (e.g. a per-tensor weight scale held as a resource).
    (re.compile(r"BuiltinAttributeInterfaces\.h:313.*GlobalMemrefOpLowering"),
     "rank0-dense-resource-global.mlir"),
]


def frames(stderr: str) -> list[str]:
    out = []
    for line in re.findall(r"^\s*#\d+ 0x[0-9a-f]+ (.*)$", stderr, flags=re.M):
        if any(s in line for s in SKIP_FRAME):
            continue
        sym = re.sub(r"\s*\(/[^)]*\)$|\s+\S+:\d+:\d+$", "", line).strip()
        if sym:
            out.append(sym)
    return out


def in_dq_opt(stderr: str) -> bool:
    """Whether a frame other than main() is dq code."""
    for line in re.findall(r"^\s*#\d+ 0x[0-9a-f]+ (.*)$", stderr, flags=re.M):
        if "mlir::dq::" in line or ("bin/dq-opt+" in line and
                                    not line.startswith(("main ", "_start "))):
            return True
    return False


def signature(stderr: str, rc: int) -> str:
    m = re.search(r"Assertion `.*' failed|LLVM ERROR: [^\n]*|UNREACHABLE[^\n]*"
                  r"|terminate called[^\n]*", stderr)
    head = m.group(0) if m else f"rc={rc}"
    fs = frames(stderr)
    tail = fs[0][:160] if fs else ""
    return f"{head} @ {tail}" if tail else head


def has_dq_op(text: str) -> bool:
    return bool(DQ_OP_RE.search(text))


def classify(rc: int | None, stderr: str, text: str) -> str:
    if rc is None:
        return "timeout"
    crashed = (rc not in (0, 1) or any(m in stderr for m in CRASH_MARKERS) or
               (rc == 1 and "error:" not in stderr))
    if not crashed:
        return "ok" if rc == 0 else "diagnosed"
    if not has_dq_op(text):
        return "upstream"
    sig = signature(stderr, rc)
    if any(r.search(sig) for r, _ in KNOWN_UPSTREAM):
        return "upstream"
    return "CRASH"


def parse_only_crash(dq_opt: str, case: "Case", timeout: float, mem_mb: int,
                     sig: str) -> bool:
    """Whether the same crash happens without any pass and outside dq code:
    then it is upstream's parser or verifier (e.g. an overflowing builtin
    type), whatever dq ops the input also holds."""
    c = Case(case.index, case.kind, case.text, "parse", [])
    _, rc, err, _ = run_case(dq_opt, c, timeout, mem_mb)
    # Without a stack dump there is no telling whose code crashed: ours.
    if (rc is None or classify(rc, err, "") != "upstream" or in_dq_opt(err) or
            not frames(err)):
        return False
    return signature(err, rc).split(" @ ")[0] == sig.split(" @ ")[0]


def run_case(dq_opt: str, case: Case, timeout: float, mem_mb: int):
    cmd = [dq_opt, "--mlir-disable-threading", *case.args, "-"]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, input=case.text.encode(), capture_output=True,
                           timeout=timeout, preexec_fn=_limits(mem_mb))
        rc, err = p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc, err = None, (e.stderr or b"").decode(errors="replace")
    return case, rc, err, time.monotonic() - t0


def save(crash_dir: Path, cat: str, case: Case, rc, err: str, sig: str,
         dq_opt: str) -> Path:
    crash_dir.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha1(sig.encode()).hexdigest()[:10]
    base = crash_dir / f"{cat.lower()}-{h}"
    path = base.with_suffix(".mlir")
    if not path.exists():
        path.write_text(case.text)
        base.with_suffix(".txt").write_text(
            f"# signature: {sig}\n# input {case.index} ({case.kind}), exit {rc}\n"
            f"{dq_opt} --mlir-disable-threading {' '.join(repr(a) if ' ' in a else a for a in case.args)} {path}\n\n{err}")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dq-opt", default=str(REPO / "build" / "bin" / "dq-opt"))
    ap.add_argument("--corpus", default=str(REPO / "test"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000, help="number of inputs")
    ap.add_argument("--start", type=int, default=0, help="first input index")
    ap.add_argument("--time", type=float, default=0,
                    help="stop starting new inputs after this many seconds (0: none)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=float, default=20.0,
                    help="seconds per input")
    ap.add_argument("--mem-mb", type=int, default=4096,
                    help="address-space limit per dq-opt (0: none)")
    ap.add_argument("--crash-dir", default=str(REPO / "build" / "fuzz-crashes"))
    ap.add_argument("--save-timeouts", action="store_true")
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--dump", help="only write the inputs to this directory")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)

    corpus = load_corpus(Path(a.corpus))
    if not corpus:
        print(f"no corpus under {a.corpus}", file=sys.stderr)
        return 2
    dictionary = sorted({m.group() for c in corpus for m in tokens(c)})

    indices = range(a.start, a.start + a.count)
    if a.dump:
        d = Path(a.dump)
        d.mkdir(parents=True, exist_ok=True)
        for i in indices:
            c = make_case(i, a.seed, corpus, dictionary)
            (d / f"{i:06d}.mlir").write_text(
                f"// {c.kind}; dq-opt {' '.join(c.args)}\n{c.text}")
        return 0
    if not os.access(a.dq_opt, os.X_OK):
        print(f"dq-opt not found: {a.dq_opt}", file=sys.stderr)
        return 2

    t_start = time.monotonic()
    counts: Counter[str] = Counter()
    per_config: dict[str, Counter] = {}
    per_kind: dict[str, Counter] = {}
    sigs: dict[str, dict] = {}
    slowest = (0.0, -1)
    crash_dir = Path(a.crash_dir)

    def cases():
        for i in indices:
            if a.time and time.monotonic() - t_start > a.time:
                return
            yield make_case(i, a.seed, corpus, dictionary)

    with cf.ThreadPoolExecutor(a.jobs) as pool:
        pending = set()
        it = cases()
        done_n = 0
        while True:
            while len(pending) < 2 * a.jobs:
                c = next(it, None)
                if c is None:
                    break
                pending.add(pool.submit(run_case, a.dq_opt, c, a.timeout, a.mem_mb))
            if not pending:
                break
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                case, rc, err, dt = fut.result()
                done_n += 1
                slowest = max(slowest, (dt, case.index))
                cat = classify(rc, err, case.text)
                if (cat == "CRASH" and not in_dq_opt(err) and
                        parse_only_crash(a.dq_opt, case, a.timeout, a.mem_mb,
                                         signature(err, rc))):
                    cat = "upstream"
                counts[cat] += 1
                per_config.setdefault(case.config, Counter())[cat] += 1
                per_kind.setdefault(case.kind, Counter())[cat] += 1
                if cat in ("CRASH", "upstream") or (cat == "timeout" and a.save_timeouts):
                    sig = signature(err, rc) if rc is not None else "timeout"
                    key = f"{cat}: {sig}"
                    if key not in sigs:
                        path = save(crash_dir, cat, case, rc, err, sig, a.dq_opt)
                        sigs[key] = {"category": cat, "signature": sig, "count": 0,
                                     "first_input": case.index, "config": case.config,
                                     "file": str(path)}
                        if not a.quiet or cat == "CRASH":
                            print(f"[{case.index}] {cat} ({case.config}): {sig}\n"
                                  f"    -> {path}", flush=True)
                    sigs[key]["count"] += 1
                if not a.quiet and done_n % 500 == 0:
                    print(f"  {done_n} inputs, {dict(counts)}, "
                          f"{time.monotonic() - t_start:.0f} s", flush=True)

    elapsed = time.monotonic() - t_start
    total = sum(counts.values())
    summary = {
        "seed": a.seed, "inputs": total, "seconds": round(elapsed, 1),
        "counts": {k: counts.get(k, 0) for k in
                   ("ok", "diagnosed", "CRASH", "upstream", "timeout")},
        "per_config": {k: dict(v) for k, v in sorted(per_config.items())},
        "per_kind": {k: dict(v) for k, v in sorted(per_kind.items())},
        "signatures": list(sigs.values()),
        "slowest": {"seconds": round(slowest[0], 2), "input": slowest[1]},
    }
    print(f"fuzz dq-opt: {total} inputs in {elapsed:.0f} s (seed {a.seed}, "
          f"jobs {a.jobs}): " +
          ", ".join(f"{k} {v}" for k, v in summary["counts"].items()))
    if not a.quiet:
        for name, c in summary["per_config"].items():
            print(f"  {name:24s} {c}")
        for name, c in summary["per_kind"].items():
            print(f"  {name:24s} {c}")
    for s in summary["signatures"]:
        print(f"  {s['category']} x{s['count']} ({s['config']}, first input "
              f"{s['first_input']}): {s['signature']}\n    {s['file']}")
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=2))
    return 1 if counts["CRASH"] else 0


if __name__ == "__main__":
    sys.exit(main())
