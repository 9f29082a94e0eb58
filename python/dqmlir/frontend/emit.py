"""Emits dq ops with the upstream MLIR Python builders.

Weights become `dense_resource` constants made straight from the numpy
buffers (no text, no copy), so that the lowering sees them as constants and
folds what depends on them (weight sums) at compile time.
"""
from __future__ import annotations

import itertools

import numpy as np
from mlir import ir
from mlir.dialects import arith

from .quantized_linear import QuantizedLinear

_MODES = {"asymmetric": 0, "symmetric": 1}
_GRANULARITIES = {"per_tensor": 0, "per_row": 1}
_counter = itertools.count()


def f32_tensor(shape) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(shape), ir.F32Type.get())


def constant(array: np.ndarray, name: str | None = None) -> ir.Value:
    """An arith.constant holding `array`; large ones as a dense_resource."""
    array = np.require(array, requirements="C")  # keeps rank 0, unlike ascontiguousarray
    elem = {np.dtype(np.float32): ir.F32Type.get(), np.dtype(np.int8): ir.IntegerType.get_signless(8),
            np.dtype(np.int32): ir.IntegerType.get_signless(32)}[array.dtype]
    ttype = ir.RankedTensorType.get(list(array.shape), elem)
    if array.size <= 64:
        attr = ir.DenseElementsAttr.get(array, type=ttype)
    else:
        key = f"{name or 'cst'}_{next(_counter)}"
        attr = ir.DenseResourceElementsAttr.get_from_buffer(memoryview(array), key, ttype)
    return arith.ConstantOp(ttype, attr).result


def linear_dynamic(x: ir.Value, lin: QuantizedLinear, name: str = "w") -> ir.Value:
    """`dq.linear_dynamic` of `x` (rank >= 2, last dim K) with `lin`'s weights."""
    xtype = ir.RankedTensorType(x.type)
    out_shape = list(xtype.shape[:-1]) + [lin.out_features]
    operands = [x, constant(lin.weight, name), constant(lin.weight_scale.astype(np.float32))]
    if lin.bias is not None:
        operands.append(constant(lin.bias.astype(np.float32)))
    i32 = ir.IntegerType.get_signless(32)
    attrs = {
        "act_mode": ir.IntegerAttr.get(i32, _MODES[lin.act_mode]),
        "act_granularity": ir.IntegerAttr.get(i32, _GRANULARITIES[lin.act_granularity]),
    }
    if lin.reduce_range:
        attrs["reduce_range"] = ir.UnitAttr.get()
    op = ir.Operation.create("dq.linear_dynamic", results=[f32_tensor(out_shape)],
                             operands=operands, attributes=attrs)
    return op.result


def layer_norm(x: ir.Value, gamma: ir.Value, beta: ir.Value, eps: float) -> ir.Value:
    """`dq.layer_norm` of `x` over its last dim (ATen's CPU numerics)."""
    op = ir.Operation.create("dq.layer_norm", results=[x.type], operands=[x, gamma, beta],
                             attributes={"eps": ir.FloatAttr.get_f32(eps)})
    return op.result


def gelu(x: ir.Value, aten_inner_dims: int = 0) -> ir.Value:
    """`dq.gelu` of `x` (PyTorch's CPU numerics: oneDNN's gelu_erf; with
    `aten_inner_dims` k > 0, ATen's kernel with the last k dims as its inner
    loop)."""
    i64 = ir.IntegerType.get_signless(64)
    attrs = {"aten_inner_dims": ir.IntegerAttr.get(i64, aten_inner_dims)} \
        if aten_inner_dims else {}
    return ir.Operation.create("dq.gelu", results=[x.type], operands=[x],
                               attributes=attrs).result


def sigmoid(x: ir.Value) -> ir.Value:
    """`dq.sigmoid` of `x` (ATen's kernel along the last dim)."""
    return ir.Operation.create("dq.sigmoid", results=[x.type], operands=[x]).result


def tanh(x: ir.Value) -> ir.Value:
    """`dq.tanh` of `x` (MKL's vsTanh, as PyTorch)."""
    return ir.Operation.create("dq.tanh", results=[x.type], operands=[x]).result


def softmax(x: ir.Value, dim: int, log: bool) -> ir.Value:
    """`dq.softmax` of `x` along `dim` (ATen's CPU numerics; log_softmax
    with `log`)."""
    attrs = {"dim": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), dim)}
    if log:
        attrs["log"] = ir.UnitAttr.get()
    return ir.Operation.create("dq.softmax", results=[x.type], operands=[x],
                               attributes=attrs).result


def flash_softmax(scores: ir.Value, mask: ir.Value, scale: float, result_types) -> list:
    """`dq.flash_softmax` of `scores` (PyTorch's CPU flash attention numerics):
    [exp, inv_sum]. `mask` rank 0 means none."""
    op = ir.Operation.create("dq.flash_softmax", results=list(result_types),
                             operands=[scores, mask],
                             attributes={"scale": ir.FloatAttr.get_f32(scale)})
    return list(op.results)


def _value(x) -> ir.Value:
    """The one result of what a dialect builder returned (a value, an op or
    its result list, depending on the builder)."""
    while not isinstance(x, ir.Value):
        x = x.results if isinstance(x, (ir.OpView, ir.Operation)) else x[0]
    return x


def sizes(x: ir.Value) -> list:
    """x's dims: ints where static, index values (tensor.dim) where dynamic:
    what tensor.EmptyOp takes for a result of x's shape."""
    from mlir.dialects import tensor
    t = ir.RankedTensorType(x.type)
    return [tensor.dim(x, arith.constant(ir.IndexType.get(), i)) if t.is_dynamic_dim(i)
            else t.shape[i] for i in range(t.rank)]


def _f32_type(sizes) -> ir.RankedTensorType:
    dyn = ir.ShapedType.get_dynamic_size()
    return f32_tensor([s if isinstance(s, int) else dyn for s in sizes])


def _empty(sizes) -> ir.Value:
    from mlir.dialects import tensor
    return tensor.EmptyOp(sizes, ir.F32Type.get()).result


def _bmm4(a: ir.Value, b: ir.Value) -> ir.Value:
    """a [B, H, M, K] @ b [B, H, K, N] as one linalg.batch_matmul over B x H
    (the batch dims equal: attention.flash_attention checked)."""
    from mlir.dialects import linalg, tensor
    (bd, h, m, k), n = sizes(a), sizes(b)[3]
    bh = (bd * h if isinstance(bd, int) and isinstance(h, int)
          else ir.ShapedType.get_dynamic_size())
    groups = [[0, 1], [2], [3]]
    a3 = _value(tensor.collapse_shape(_f32_type([bh, m, k]), a, groups))
    b3 = _value(tensor.collapse_shape(_f32_type([bh, k, n]), b, groups))
    acc = _value(linalg.fill(arith.constant(ir.F32Type.get(), 0.0),
                             outs=[_empty(sizes(a3)[:2] + [n])]))
    y = _value(linalg.batch_matmul(a3, b3, outs=[acc]))
    out = [bd, h, m, n]
    return _value(tensor.expand_shape(
        _f32_type(out), y, [[0, 1], [2], [3]], [s for s in out if not isinstance(s, int)],
        [s if isinstance(s, int) else ir.ShapedType.get_dynamic_size() for s in out]))


# Rows of queries per block of blocked attention: a block's scores and
# exponentials ([rows, keys] each: 288 KiB at 1500 keys) stay in cache
# between q @ k^T, the softmax and e @ v. A multiple of the contraction
# tiles' rows (6 on AVX2, 8 on AVX-512): no rows taken one at a time.
# Whisper-sized attention (8 heads, 1500 x 1500, 1 thread, AVX2-only EPYC):
# 24, 32, 48, 64, 96 rows took 96, 115, 92, 105, 96 ms against 232 ms whole.
QUERY_BLOCK = 48


def flash_attention(q: ir.Value, k: ir.Value, v: ir.Value, mask: ir.Value,
                    scale: float) -> ir.Value:
    """SDPA [B, H, M, Dv] as PyTorch's CPU flash attention rounds it (the ops
    of attention._flash_math): q @ k^T, its fixup, dq.flash_softmax, e @ v,
    its fixup, times 1 / sum.

    The ops run per head, in an scf.forall over (batch, head, block of
    queries): whole, [B, H, M, N] scores went through memory three times
    (Whisper's 1500 frames: 72 MB per layer each time). Blocks are
    QUERY_BLOCK queries where the fixups do nothing (head dim other than
    32), else all M (the fixups pick rows by M). Every output element is
    computed by the same ops in the same order either way (the products sum
    over the head dim, the softmax and e @ v run along a row), so the
    results are the same bits."""
    from mlir.dialects import linalg
    bd, h, m, d = sizes(q)
    n = sizes(k)[2]
    kt = _value(linalg.transpose(k, outs=[_empty([bd, h, d, n])], permutation=[0, 1, 3, 2]))
    if not isinstance(d, int):
        return _attend(q, kt, v, mask, scale, fixups=(k, v))
    return _blocked_attention(q, k, kt, v, mask, scale, fixups=d == 32)


def _attend(q, kt, v, mask, scale, fixups=None) -> ir.Value:
    """The attention of queries `q` [B, H, M, D] over keys `kt` [B, H, D, N]
    (transposed) and values `v` [B, H, N, Dv]; `fixups`: (k, v) where the
    MKL fixups apply."""
    bd, h, m, _ = sizes(q)
    dv = sizes(v)[3]
    scores = _bmm4(q, kt)
    if fixups:
        scores = flash_fixup("flash_scores_fixup", scores, q, fixups[0])
    e, inv = flash_softmax(scores, mask, scale,
                           [scores.type, _f32_type([bd, h, m, 1])])
    o = _bmm4(e, v)
    if fixups:
        o = flash_fixup("flash_output_fixup", o, e, fixups[1])
    # o * inv, inv broadcast along the last dim (as torch-mlir lowers it).
    from mlir.dialects import linalg
    dims = [ir.AffineExpr.get_dim(i) for i in range(4)]
    ident = ir.AffineMap.get(4, 0, dims)
    last = ir.AffineMap.get(4, 0, dims[:3] + [ir.AffineConstantExpr.get(0)])
    par = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    mul = linalg.GenericOp_([o, inv], [_empty([bd, h, m, dv])], ir.ArrayAttr.get(
        [ir.AffineMapAttr.get(x) for x in (ident, last, ident)]), ir.ArrayAttr.get([par] * 4))
    with ir.InsertionPoint(mul.regions[0].blocks[0]):
        a, b, _ = mul.regions[0].blocks[0].arguments
        linalg.YieldOp([arith.mulf(a, b)])
    return mul.result


def _blocked_attention(q, k, kt, v, mask, scale, fixups: bool) -> ir.Value:
    """_attend per (batch, head, block of queries), an scf.forall whose
    iterations write disjoint blocks of the output; `fixups`: blocks of all
    M queries, with the MKL fixups."""
    from mlir.dialects import scf, tensor
    bd, h, m, d = sizes(q)
    n, dv = sizes(kt)[3], sizes(v)[3]
    index = ir.IndexType.get()
    if not fixups:
        block = QUERY_BLOCK
    elif isinstance(m, int):
        block = max(m, 1)
    else:   # a step of 0 (no queries) would not end
        block = arith.maxsi(m, arith.constant(index, 1))
    out = _empty([bd, h, m, dv])
    loop = scf.ForallOp([0, 0, 0], [bd, h, m], [1, 1, block], [out])
    with ir.InsertionPoint(loop.body):
        b, hh, i = loop.induction_variables
        rows = arith.minsi(_index(block), arith.subi(_index(m), i))
        qb = extract_slice(q, [b, hh, i, 0], [1, 1, rows, d])
        kb = extract_slice(kt, [b, hh, 0, 0], [1, 1, d, n])
        vb = extract_slice(v, [b, hh, 0, 0], [1, 1, n, dv])
        if ir.RankedTensorType(mask.type).rank == 0:
            maskb = mask
        else:
            # A mask dim of size 1 broadcasts: its only row, else this block's.
            msizes = sizes(mask)
            offsets, lens = [], []
            for at, size, length in zip((b, hh, i), msizes[:3], (1, 1, rows)):
                if isinstance(size, int) and size == 1:
                    offsets.append(0)
                    lens.append(1)
                    continue
                one = arith.cmpi(arith.CmpIPredicate.eq, _index(size),
                                 arith.constant(index, 1))
                offsets.append(arith.select(one, arith.constant(index, 0), at))
                lens.append(length if isinstance(length, int) else
                            arith.select(one, arith.constant(index, 1), length))
            maskb = extract_slice(mask, offsets + [0], lens + [msizes[3]])
        ob = _attend(qb, kb, vb, maskb, scale,
                     fixups=(extract_slice(k, [b, hh, 0, 0], [1, 1, n, d]), vb) if fixups else None)
        with ir.InsertionPoint(loop.terminator().block):
            (do, so), (ds, ss) = mixed([b, hh, i, 0]), mixed([1, 1, rows, dv])
            tensor.parallel_insert_slice(ob, loop.inner_iter_args[0], do, ds, [], so, ss,
                                         [1, 1, 1, 1])
    return loop.results[0]


def _index(x) -> ir.Value:
    return x if isinstance(x, ir.Value) else arith.constant(ir.IndexType.get(), x)


def mixed(values):
    """(the Values, the static list with kDynamic in their places) of a list
    of ints and index Values, as tensor slices take them."""
    dyn = ir.ShapedType.get_dynamic_size()
    return ([x for x in values if not isinstance(x, int)],
            [x if isinstance(x, int) else dyn for x in values])


def extract_slice(x: ir.Value, offsets, lens, result_shape=None) -> ir.Value:
    """tensor.extract_slice of `x` (unit strides); offsets and lens are ints
    or index Values. `result_shape` (default: lens, dynamic where a Value)
    may leave out unit dims."""
    from mlir.dialects import tensor
    (do, so), (ds, ss) = mixed(offsets), mixed(lens)
    rtype = ir.RankedTensorType.get(ss if result_shape is None else result_shape,
                                    ir.RankedTensorType(x.type).element_type)
    return tensor.extract_slice(rtype, x, do, ds, [], so, ss, [1] * len(offsets))


def insert_slice(src: ir.Value, dest: ir.Value, offsets, lens) -> ir.Value:
    """tensor.insert_slice of `src` into `dest` (unit strides)."""
    from mlir.dialects import tensor
    (do, so), (ds, ss) = mixed(offsets), mixed(lens)
    return tensor.insert_slice(src, dest, do, ds, [], so, ss, [1] * len(offsets))


def flash_fixup(name: str, x: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
    """`dq.flash_scores_fixup` / `dq.flash_output_fixup` (rows MKL computes with
    other kernels inside PyTorch's CPU flash attention)."""
    return ir.Operation.create(f"dq.{name}", results=[x.type], operands=[x, a, b]).result
