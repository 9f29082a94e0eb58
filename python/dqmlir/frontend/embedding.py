"""Quantized Embedding and EmbeddingBag (weight-only, per-row float qparams).

`quantize_dynamic(model, {nn.Embedding: float_qparams_weight_only_qconfig,
nn.EmbeddingBag: ...})` makes torch.ao's quantized modules, whose packed
weights (an fbgemm EmbeddingPackedParamsBase) torch.export cannot trace.
While the model is exported each is replaced by an `EmbeddingStub` holding
the unpacked weights as buffers (so they are part of the traced program and
of its cache key) and calling the custom op ``dqmlir::embedding_bag_q``;
`emit` makes it vector loops over the rows, with the weights kept as bytes.

What PyTorch computes (quantized::embedding_byte / embedding_bag_byte /
embedding_bag_4bit, i.e. fbgemm's EmbeddingSpMDM; measured bit for bit):
each row stores uint8 codes (two 4-bit codes a byte, low nibble first for
quint4x2), a scale and a bias = -(zero_point * scale) (f32; for 4 bits both
rounded to f16). A bag starts from 0.0 and, index after index in order, for
every element d

    acc[d] = fma(scale, q[d], acc[d] + bias)                  (no weights)
    acc[d] = fma(w * scale, q[d], acc[d] + w * bias)          (per_sample_weights)

An Embedding lookup is a bag of one: fma(scale, q, 0 + bias). The quantized
modules pass mode=0 to the op whatever their `mode`, and drop padding_idx:
'mean' and 'max' bags are summed in PyTorch, and here as well.
"""
from __future__ import annotations

import logging
from typing import Optional

import torch
import torch.nn as nn

from ..errors import UnsupportedModuleError
from . import registry

log = logging.getLogger("dqmlir")
OP_NAME = "dqmlir::embedding_bag_q"


def _dequantized(weight, scales, biases, bits, embedding_dim):
    q = weight.to(torch.int32) & 255          # the codes' bytes, stored as int8
    if bits == 4:
        q = torch.stack([q & 15, q >> 4], -1).reshape(q.shape[0], -1)
    return q[:, :embedding_dim].float() * scales[:, None] + biases[:, None]


@torch.library.custom_op(OP_NAME, mutates_args=())
def embedding_bag_q(indices: torch.Tensor, offsets: Optional[torch.Tensor],
                    per_sample_weights: Optional[torch.Tensor], weight: torch.Tensor,
                    scales: torch.Tensor, biases: torch.Tensor, bits: int, embedding_dim: int,
                    bags: bool, include_last_offset: bool) -> torch.Tensor:
    """Lookups (bags=False: indices.shape + [D]) or sums of bags (rows of a
    2-D `indices`, or 1-D `indices` cut at `offsets`) of the rows
    q * scale + bias. This eager version rounds differently from fbgemm
    (the compiled code matches fbgemm); it exists for tracing."""
    table = _dequantized(weight, scales, biases, bits, embedding_dim)
    if not bags:
        return table[indices.long()]
    rows = table[indices.long()]
    if per_sample_weights is not None:
        rows = rows * per_sample_weights[..., None]
    if offsets is None:
        return rows.sum(-2)
    ends = offsets[1:].tolist() + ([] if include_last_offset else [indices.shape[0]])
    return torch.stack([rows[s:e].sum(0) for s, e in zip(offsets.tolist(), ends)]) \
        if ends else rows.new_zeros((0, embedding_dim))


@embedding_bag_q.register_fake
def _(indices, offsets, per_sample_weights, weight, scales, biases, bits, embedding_dim, bags,
      include_last_offset):
    if not bags:
        return indices.new_empty((*indices.shape, embedding_dim), dtype=torch.float32)
    if offsets is None:
        # PyTorch makes offsets arange(0, B * L, L): "step must be nonzero" at L = 0.
        torch._check(indices.shape[1] != 0, lambda: "step must be nonzero")
        return indices.new_empty((indices.shape[0], embedding_dim), dtype=torch.float32)
    n = offsets.shape[0]
    if include_last_offset:
        torch._check(n >= 1, lambda: "numel: integer multiplication overflow")
        n = n - 1
    return indices.new_empty((n, embedding_dim), dtype=torch.float32)


class EmbeddingStub(nn.Module):
    """Exportable stand-in for a quantized Embedding / EmbeddingBag; the
    same call signature."""

    def __init__(self, path: str, module: nn.Module):
        super().__init__()
        weight, scales, biases, bits = unpack(path, module)
        # The bytes as int8: torch-mlir's literal import mistypes uint8
        # (ui8 vs si8); the emitted code reads them as unsigned.
        self.register_buffer("q_weight", weight.view(torch.int8))
        self.register_buffer("q_scales", scales)
        self.register_buffer("q_biases", biases)
        self.bits, self.path = bits, path
        self.num_embeddings, self.embedding_dim = module.num_embeddings, module.embedding_dim
        self.bags = type(module).__name__ == "EmbeddingBag"
        self.include_last_offset = bool(getattr(module, "include_last_offset", False))
        self._orig = (module,)
        if self.bags and getattr(module, "mode", "sum") != "sum":
            log.warning("dqmlir: '%s': PyTorch's quantized EmbeddingBag sums its bags whatever "
                        "its mode ('%s'); so does the compiled model", path, module.mode)

    def weight(self):
        return self._orig[0].weight()

    def _refuse(self, what: str):
        raise UnsupportedModuleError(
            f"module '{self.path}' (quantized {'EmbeddingBag' if self.bags else 'Embedding'}): "
            f"{what} is not supported")

    def forward(self, indices, offsets=None, per_sample_weights=None,
                compressed_indices_mapping=None):
        if compressed_indices_mapping is not None:
            self._refuse("compressed_indices_mapping (pruned weights)")
        if indices.dtype not in (torch.int64, torch.int32):
            self._refuse(f"indices of dtype {indices.dtype}")
        if indices.dim() not in (1, 2):
            # PyTorch raises this for every call: the example run already did.
            self._refuse(f"{indices.dim()}-d indices")
        if not self.bags:
            return torch.ops.dqmlir.embedding_bag_q(
                indices, None, None, self.q_weight, self.q_scales, self.q_biases, self.bits,
                self.embedding_dim, False, False)
        if per_sample_weights is not None:
            if per_sample_weights.dtype != torch.float32:
                self._refuse(f"per_sample_weights of dtype {per_sample_weights.dtype}")
            # PyTorch does not check this (it reads past a shorter tensor).
            torch._check(per_sample_weights.dim() == indices.dim())
            for a, b in zip(per_sample_weights.shape, indices.shape):
                torch._check(a == b)
        if indices.dim() == 2:
            if offsets is not None:
                self._refuse("2-d indices with offsets (PyTorch refuses them too)")
            if self.include_last_offset:
                # PyTorch's byte kernel makes offsets [0, L, 2L, ...] and, with
                # include_last_offset, the last one ends the bags before it:
                # the last row is left out. (Its 4-bit kernel raises.)
                indices = indices[:-1]
                if per_sample_weights is not None:
                    per_sample_weights = per_sample_weights[:-1]
        elif offsets is None:
            self._refuse("1-d indices without offsets (PyTorch refuses them too)")
        elif offsets.dim() != 1 or offsets.dtype not in (torch.int64, torch.int32):
            self._refuse(f"offsets of shape {tuple(offsets.shape)} and dtype {offsets.dtype}")
        return torch.ops.dqmlir.embedding_bag_q(
            indices, offsets if indices.dim() == 1 else None, per_sample_weights, self.q_weight,
            self.q_scales, self.q_biases, self.bits, self.embedding_dim, True,
            self.include_last_offset)


def is_quantized_embedding(m: nn.Module) -> bool:
    cls = type(m)
    return cls.__module__.startswith(("torch.ao.nn.quantized", "torch.nn.quantized")) and \
        cls.__name__ in ("Embedding", "EmbeddingBag")


def unpack(path: str, m: nn.Module):
    """(codes uint8 [N, D] or [N, ceil(D/2)], scales f32 [N], biases f32 [N],
    bits) of a quantized Embedding/EmbeddingBag, as fbgemm's packed rows hold
    them."""
    kind = type(m).__name__
    w = m.weight()
    op_dtype = getattr(m, "dtype", torch.quint8)
    if w.dtype != op_dtype:
        # quantize_dynamic with the 4-bit qconfig on an nn.Embedding makes a
        # module that reads 4-bit rows with the 8-bit kernel.
        raise UnsupportedModuleError(
            f"module '{path}' (quantized {kind}) holds {w.dtype} weights but calls PyTorch's "
            f"{op_dtype} kernel; 4-bit weights are supported in EmbeddingBag only")
    if w.qscheme() != torch.per_channel_affine_float_qparams:
        raise UnsupportedModuleError(f"module '{path}' (quantized {kind}): qscheme {w.qscheme()}")
    n, d = m.num_embeddings, m.embedding_dim
    scales = w.q_per_channel_scales().to(torch.float32)
    zero_points = w.q_per_channel_zero_points().to(torch.float32)
    biases = zero_points * scales * -1.0       # as embedding_bag_prepack computes it
    if w.dtype == torch.quint8:
        return w.int_repr().reshape(n, d).contiguous(), scales, biases, 8
    if w.dtype == torch.quint4x2:
        if kind != "EmbeddingBag":
            raise UnsupportedModuleError(
                f"module '{path}' (quantized {kind}): 4-bit weights are supported in "
                "EmbeddingBag only")
        codes = w.int_repr().reshape(n, -1).contiguous()
        if codes.shape[1] != (d + 1) // 2:
            raise UnsupportedModuleError(f"module '{path}': unexpected 4-bit row layout")
        # fbgemm's 4-bit rows keep the scale and bias as f16.
        return (codes, scales.half().float(), biases.half().float(), 4)
    raise UnsupportedModuleError(f"module '{path}' (quantized {kind}): weights of {w.dtype}")


# ---------------------------------------------------------------------------
# MLIR 22: loops of vector rows, the codes as bytes.
# ---------------------------------------------------------------------------
@registry.register("embedding_bag_q", attrs=("bits", "embedding_dim", "bags",
                                             "include_last_offset"))
def _emit(ctx, operands, attrs, result_types):
    indices, offsets, weights, codes, scales, biases = operands
    return emit(indices, offsets, weights, codes, scales, biases, attrs["bits"],
                attrs["embedding_dim"], attrs["bags"], attrs["include_last_offset"],
                result_types[0])


def emit(indices, offsets, psw, codes, scales, biases, bits, dim, bags, last, result_type):
    from mlir import ir
    from mlir.dialects import arith, cf, linalg, tensor

    f32, index, i1 = ir.F32Type.get(), ir.IndexType.get(), ir.IntegerType.get_signless(1)
    it = {k: ir.Attribute.parse(f"#linalg.iterator_type<{k}>") for k in ("parallel", "reduction")}
    rtype = ir.RankedTensorType(result_type)
    itype = ir.RankedTensorType(indices.type)
    n_rows = ir.RankedTensorType(codes.type).shape[0]

    def c_index(v):
        return arith.constant(index, v)

    def size(v, i):
        t = ir.RankedTensorType(v.type)
        return c_index(t.shape[i]) if not t.is_dynamic_dim(i) else tensor.dim(v, c_index(i))

    def as_index(v):
        return arith.index_cast(index, v)

    def maps(n, *exprs):
        return ir.ArrayAttr.get([ir.AffineMapAttr.get(ir.AffineMap.get(n, 0, e)) for e in exprs])

    def empty(shape_values):
        return tensor.EmptyOp(shape_values, f32).result

    out_sizes = []
    for i in range(rtype.rank):
        out_sizes.append(rtype.shape[i] if not rtype.is_dynamic_dim(i) else None)

    rows = _RowReader(codes, bits, dim, n_rows)

    def entry(at):
        """(row, scale, bias, weight or None) of the index at position `at`
        (g_scales, g_biases: the checked gather of each path below)."""
        w = tensor.extract(psw, at) if psw is not None else None
        return (tensor.extract(indices, at), tensor.extract(g_scales, at),
                tensor.extract(g_biases, at), w)

    if not bags or offsets is None:
        # Lookups (any rank), or fixed bags (the rows of a 2-D indices).
        g_scales, g_biases = _gather(indices, scales, biases)
        lead = [size(indices, i) for i in range(itype.rank if not bags else 1)]
        init = empty([l if o is None else o for l, o in zip(lead, out_sizes)] + [dim])
        if not bags:
            return _row_loops(init, lead, lambda p: rows.step(rows.zero(), *entry(p)))
        length = size(indices, 1)
        return _row_loops(init, lead,
                          lambda p: rows.bag(c_index(0), length, lambda k: entry([p[0], k])))

    # 1-d indices cut at offsets. First the checks: offsets start at 0, do
    # not decrease and do not pass the number of indices (a RuntimeError, as
    # in PyTorch), and every index names a row (an IndexError: the gather of
    # the rows' scales and biases below is what dq-runtime-checks guards).
    n_idx = size(indices, 0)
    n_off = size(offsets, 0)
    otype = ir.RankedTensorType(offsets.type).element_type
    ok_init = linalg.fill(arith.constant(i1, 1), outs=[tensor.EmptyOp([], i1).result])
    d0 = ir.AffineExpr.get_dim(0)
    chk = linalg.GenericOp_([offsets], [ok_init], maps(1, [d0], []),
                            ir.ArrayAttr.get([it["reduction"]]))
    block = chk.regions[0].blocks[0]
    with ir.InsertionPoint(block):
        o, ok = block.arguments
        i = linalg.IndexOp(0).result
        prev_at = arith.maxsi(arith.subi(i, c_index(1)), c_index(0))
        prev = tensor.extract(offsets, [prev_at])
        zero_o = arith.constant(otype, 0)
        # offsets[0] == 0; offsets[i] >= offsets[i - 1]: with i = 0, prev = o.
        good = arith.andi(
            arith.cmpi(arith.CmpIPredicate.sge, o, prev),
            arith.ori(arith.cmpi(arith.CmpIPredicate.ne, i, c_index(0)),
                      arith.cmpi(arith.CmpIPredicate.eq, o, zero_o)))
        good = arith.andi(good, arith.cmpi(arith.CmpIPredicate.sle, as_index(o), n_idx))
        linalg.YieldOp([arith.andi(ok, good)])
    cf.assert_(tensor.extract(chk.result, []),
               "offsets must start at 0, not decrease and not exceed the number of indices")

    # Scales and biases of every index's row (the checked gather).
    g_scales, g_biases = _gather(indices, scales, biases)

    n_bags = arith.subi(n_off, c_index(1)) if last else n_off
    init = empty([n_bags if out_sizes[0] is None else out_sizes[0], dim])

    def bounds(bag):
        """[start, end) of `bag`'s indices, clamped into [0, n_idx]."""
        def clamp(v, lo, hi):
            return arith.maxsi(arith.minsi(v, hi), lo)
        start = clamp(as_index(tensor.extract(offsets, [bag])), c_index(0), n_idx)
        nxt = arith.addi(bag, c_index(1))
        nxt_off = as_index(tensor.extract(
            offsets, [arith.minsi(nxt, arith.subi(n_off, c_index(1)))]))
        if not last:
            nxt_off = arith.select(arith.cmpi(arith.CmpIPredicate.slt, nxt, n_off), nxt_off,
                                   n_idx)
        return start, clamp(nxt_off, start, n_idx)

    return _row_loops(init, [n_bags],
                      lambda p: rows.bag(*bounds(p[0]), lambda k: entry([k])))


def _gather(indices, scales, biases):
    """The scales and biases of every index's row, shaped like `indices`: a
    generic whose extracts dq-runtime-checks guards (an index out of the
    table raises IndexError)."""
    from mlir import ir
    from mlir.dialects import arith, linalg, tensor

    from . import emit

    itype = ir.RankedTensorType(indices.type)
    f32, index = ir.F32Type.get(), ir.IndexType.get()
    sizes = emit.sizes(indices)
    outs = [tensor.EmptyOp(sizes, f32).result for _ in range(2)]
    ident = ir.AffineMapAttr.get(ir.AffineMap.get_identity(itype.rank))
    parallel = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    gather = linalg.GenericOp_([indices], outs, ir.ArrayAttr.get([ident] * 3),
                               ir.ArrayAttr.get([parallel] * itype.rank))
    block = gather.regions[0].blocks[0]
    with ir.InsertionPoint(block):
        row = arith.index_cast(index, block.arguments[0])
        linalg.YieldOp([tensor.extract(scales, [row]), tensor.extract(biases, [row])])
    return gather.results


def _row_loops(init, lead, row_of):
    """init [*lead, dim] with out[p, :] = row_of(p) (a vector of dim floats)
    for every index tuple p: one scf.for per leading dim."""
    from mlir import ir
    from mlir.dialects import arith, scf, vector

    index = ir.IndexType.get()
    c0, c1 = arith.constant(index, 0), arith.constant(index, 1)
    ttype = ir.RankedTensorType(init.type)
    minor = ir.AffineMapAttr.get(ir.AffineMap.get_minor_identity(ttype.rank, 1))
    in_bounds = ir.ArrayAttr.get([ir.BoolAttr.get(True)])

    def nest(depth, t, p):
        if depth == len(lead):
            return vector.transfer_write(ttype, row_of(p), t, p + [c0], minor, in_bounds)
        loop = scf.ForOp(c0, lead[depth], c1, [t])
        with ir.InsertionPoint(loop.body):
            scf.YieldOp([nest(depth + 1, loop.inner_iter_args[0],
                              p + [loop.induction_variable])])
        return loop.results[0]
    return nest(0, init, [])


class _RowReader:
    """Rows of the code table as vectors of dim floats, and the per-element
    arithmetic of fbgemm's kernels on them: acc + b first, then one fma with
    the scale (each lane as the scalar formulation computed it). A generic
    over (bag, column) walked each bag's indices once per column and read one
    byte at a time: 0.2x fbgemm's speed on 256 bags of 32 ids."""

    def __init__(self, codes, bits, dim, n_rows):
        from mlir import ir
        self.codes, self.bits, self.dim, self.n_rows = codes, bits, dim, n_rows
        self.vf32 = ir.VectorType.get([dim], ir.F32Type.get())

    def codes_of(self, row):
        """codes[row] as floats; `row` an index, clamped into the table (a
        row out of it raised IndexError in the gather)."""
        from mlir import ir
        from mlir.dialects import arith, vector

        index, i8 = ir.IndexType.get(), ir.IntegerType.get_signless(8)
        c0 = arith.constant(index, 0)
        row = arith.maxsi(arith.minsi(arith.index_cast(index, row),
                                      arith.constant(index, self.n_rows - 1)), c0)
        minor = ir.AffineMapAttr.get(ir.AffineMap.get_minor_identity(2, 1))
        in_bounds = ir.ArrayAttr.get([ir.BoolAttr.get(True)])
        width = self.dim if self.bits == 8 else self.dim // 2
        vi8 = ir.VectorType.get([width], i8)
        v = vector.transfer_read(vi8, self.codes, [row, c0], minor, arith.constant(i8, 0),
                                 in_bounds)
        if self.bits == 4:
            # Two codes per byte, column 2j in the low nibble.
            low = arith.andi(v, vector.broadcast(vi8, arith.constant(i8, 15)))
            high = arith.shrui(v, vector.broadcast(vi8, arith.constant(i8, 4)))
            v = vector.interleave(low, high)
        return arith.uitofp(self.vf32, v)

    def zero(self):
        from mlir import ir
        from mlir.dialects import arith, vector
        return vector.broadcast(self.vf32, arith.constant(ir.F32Type.get(), 0.0))

    def step(self, acc, row, s, b, w):
        """fma(s, codes(row), acc + b), s and b scaled by the weight w."""
        from mlir.dialects import arith, math, vector

        if w is not None:
            s, b = arith.mulf(w, s), arith.mulf(w, b)
        s, b = vector.broadcast(self.vf32, s), vector.broadcast(self.vf32, b)
        return math.fma(s, self.codes_of(row), arith.addf(acc, b))

    def bag(self, start, end, at):
        """The sum, in order, of step over k in [start, end); at(k) gives
        (row, scale, bias, weight or None)."""
        from mlir import ir
        from mlir.dialects import arith, scf

        loop = scf.ForOp(start, end, arith.constant(ir.IndexType.get(), 1), [self.zero()])
        with ir.InsertionPoint(loop.body):
            row, s, b, w = at(loop.induction_variable)
            scf.YieldOp([self.step(loop.inner_iter_args[0], row, s, b, w)])
        return loop.results[0]
