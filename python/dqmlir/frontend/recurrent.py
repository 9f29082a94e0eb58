"""Quantized LSTM, GRU and the LSTM, GRU and RNN cells.

`quantize_dynamic` makes torch.ao's dynamic recurrent modules, whose packed
weights (CellParamsBase, LinearPackedParamsBase) torch.export cannot trace.
While the model is exported each is replaced by a stub with the same call
signature and checks, built from custom ops:

- the input projection of a whole layer (every step at once) is an ordinary
  `dqmlir::linear_dynamic`, as ATen's FullLayer computes it on CPU
  (`linear_ih(inputs)` once, then `unbind(0)`): one set of activation qparams
  for the whole sequence;
- the recurrence is `dqmlir::lstm_scan` / `gru_scan`, which `emit` makes an
  `scf.for` over the steps: per step the hidden state's dynamic linear
  (`linear_hh`, its own qparams each step), then the gates;
- a cell is its two linears and `dqmlir::lstm_gates` / `gru_gates`.

The gates round as ATen's cells do (aten/src/ATen/native/RNN.cpp, LSTMCell
and GRUCell, checked bit for bit against PyTorch): `sigmoid_` of a chunk of
the gates runs ATen's kernel along each row of H elements (dq.sigmoid),
`tanh` is MKL's vsTanh (dq.tanh), and each product and sum rounds on its
own (no fused multiply-add):

    LSTM  gates = linear_hh(h) + x_t;  i, f, g, o = chunk(gates, 4)
          c' = (sigmoid(f) * c) + (sigmoid(i) * tanh(g));  h' = sigmoid(o) * tanh(c')
    GRU   r = sigmoid(hg_r + ig_r);  z = sigmoid(hg_z + ig_z)
          n = tanh(ig_n + hg_n * r);  h' = (h - n) * z + n

The full modules use the reduce_range their cell params carry; the cells'
dynamic linears use reduce_range (as PyTorch's quantized_*_cell_dynamic).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn as nn

from ..errors import UnsupportedModuleError
from . import registry
from . import tanh as _tanh  # noqa: F401  (dqmlir::tanh, for RNNCell)
from .quantized_linear import QuantizedLinear, from_packed

_RECURRENT = ("LSTM", "GRU", "LSTMCell", "GRUCell", "RNNCell")
# What each cell's gates are made of: chunks of the gate vector.
_CHUNKS = {"LSTM": 4, "GRU": 3, "LSTMCell": 4, "GRUCell": 3, "RNNCell": 1}


def is_quantized_recurrent(m: nn.Module) -> bool:
    cls = type(m)
    return cls.__module__.startswith("torch.ao.nn.quantized.dynamic") and cls.__name__ in _RECURRENT


# ---------------------------------------------------------------------------
# Custom ops: eager versions (ATen's own sequence, for reference runs) and
# fakes for export.
# ---------------------------------------------------------------------------
def _hh(layer: int):
    from .stubs import _ACTIVE
    return _ACTIVE[layer]


def _lstm_step(gates, c):
    ch = gates.unsafe_chunk(4, 1)
    i, f, g, o = ch[0].sigmoid_(), ch[1].sigmoid_(), ch[2].tanh_(), ch[3].sigmoid_()
    c = (f * c).add_(i * g)
    return o * c.tanh(), c


def _gru_step(igates, hgates, h):
    ig, hg = igates.unsafe_chunk(3, 1), hgates.unsafe_chunk(3, 1)
    r = hg[0].add_(ig[0]).sigmoid_()
    z = hg[1].add_(ig[1]).sigmoid_()
    n = ig[2].add(hg[2].mul_(r)).tanh_()
    return (h - n).mul_(z).add_(n)


def _steps(n: int, reverse: bool):
    return range(n - 1, -1, -1) if reverse else range(n)


@torch.library.custom_op("dqmlir::lstm_scan", mutates_args=())
def lstm_scan(xw: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, layer: int,
              reverse: bool) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One LSTM layer-direction over the steps of `xw` = linear_ih(x)
    [T, B, 4H]: outputs [T, B, H], final h and c."""
    h, c, out = h0, c0, [None] * xw.shape[0]
    for t in _steps(xw.shape[0], reverse):
        h, c = _lstm_step(_hh(layer)(h).add_(xw[t]), c)
        out[t] = h
    return torch.stack(out, 0), h.clone(), c.clone()


def _check_steps(xw):
    # quantized_lstm / quantized_gru refuse an empty sequence (the size probe
    # runs this at length 0: such calls raise PyTorch's error).
    torch._check(xw.shape[0] != 0, lambda: "Expected sequence length to be larger than 0 in RNN")


@lstm_scan.register_fake
def _(xw, h0, c0, layer, reverse):
    _check_steps(xw)
    return (xw.new_empty((xw.shape[0], h0.shape[0], h0.shape[1])), h0.new_empty(h0.shape),
            c0.new_empty(c0.shape))


@torch.library.custom_op("dqmlir::gru_scan", mutates_args=())
def gru_scan(xw: torch.Tensor, h0: torch.Tensor, layer: int,
             reverse: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """One GRU layer-direction over `xw` = linear_ih(x) [T, B, 3H]."""
    h, out = h0, [None] * xw.shape[0]
    for t in _steps(xw.shape[0], reverse):
        h = _gru_step(xw[t], _hh(layer)(h), h)
        out[t] = h
    return torch.stack(out, 0), h.clone()


@gru_scan.register_fake
def _(xw, h0, layer, reverse):
    _check_steps(xw)
    return xw.new_empty((xw.shape[0], h0.shape[0], h0.shape[1])), h0.new_empty(h0.shape)


@torch.library.custom_op("dqmlir::lstm_gates", mutates_args=())
def lstm_gates(gates: torch.Tensor, c: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """An LSTM cell's update from its summed gates [B, 4H]: (h', c')."""
    return _lstm_step(gates.clone(), c)


@lstm_gates.register_fake
def _(gates, c):
    return c.new_empty(c.shape), c.new_empty(c.shape)


@torch.library.custom_op("dqmlir::gru_gates", mutates_args=())
def gru_gates(igates: torch.Tensor, hgates: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """A GRU cell's update from its input and hidden gates [B, 3H]."""
    return _gru_step(igates, hgates.clone(), h)


@gru_gates.register_fake
def _(igates, hgates, h):
    return h.new_empty(h.shape)


# ---------------------------------------------------------------------------
# Stubs.
# ---------------------------------------------------------------------------
def _linears(path: str, m: nn.Module) -> List[Tuple[QuantizedLinear, QuantizedLinear, object]]:
    """(ih, its packed params, hh, its packed params) per layer-direction
    (cells: one)."""
    where = f"module '{path}' (quantized {type(m).__name__})"
    if getattr(m, "dtype", torch.qint8) != torch.qint8:
        raise UnsupportedModuleError(f"{where}: only qint8 weights are supported, got {m.dtype}")
    if hasattr(m, "_all_weight_values"):
        out = []
        for k, w in enumerate(m._all_weight_values):
            state = w.param.__getstate__()[0]
            if state[0] != "quantized_dynamic":
                raise UnsupportedModuleError(f"{where}: cell params of kind '{state[0]}'")
            packed_ih, packed_hh = state[4]
            rr = bool(state[3][0])
            out.append((from_packed(packed_ih, rr, f"{path}[{k}].ih"), packed_ih,
                        from_packed(packed_hh, rr, f"{path}[{k}].hh"), packed_hh))
        return out
    return [(from_packed(m._packed_weight_ih, True, f"{path}.ih"), m._packed_weight_ih,
             from_packed(m._packed_weight_hh, True, f"{path}.hh"), m._packed_weight_hh)]


class RecurrentStub(nn.Module):
    """Exportable stand-in for a quantized LSTM / GRU / cell: the same call
    signature and argument checks (the module's own), custom ops inside."""

    def __init__(self, path: str, module: nn.Module, first_id: int, linears):
        super().__init__()
        self.path, self.kind = path, type(module).__name__
        self._orig = (module,)
        self.hidden_size = module.hidden_size
        self.ids = [(first_id + 2 * k, first_id + 2 * k + 1) for k in range(len(linears))]
        self.reduce_range = [ih.reduce_range for ih, *_ in linears]

    def _linear(self, x, k: int, which: int):
        g = _CHUNKS[self.kind] * self.hidden_size
        return torch.ops.dqmlir.linear_dynamic(x, self.ids[k][which], g, self.reduce_range[k])

    def forward(self, input, hx=None):
        from torch.nn.utils.rnn import PackedSequence
        if isinstance(input, PackedSequence):
            raise UnsupportedModuleError(
                f"module '{self.path}' (quantized {self.kind}): PackedSequence input is not "
                "supported; pass the padded tensor (and its lengths to your own masking)")
        if self.kind in ("LSTM", "GRU"):
            return self._sequence(input, hx)
        return self._cell(input, hx)

    def _sequence(self, input, hx):
        m = self._orig[0]
        lstm = self.kind == "LSTM"
        dirs = 2 if m.bidirectional else 1
        batch = input.size(0) if m.batch_first else input.size(1)
        if hx is None:
            zeros = torch.zeros(m.num_layers * dirs, batch, self.hidden_size, dtype=input.dtype)
            hx = (zeros, zeros) if lstm else zeros
        m.check_forward_args(input, hx, None)
        x = input.transpose(0, 1) if m.batch_first else input
        hs, cs = [], []
        for layer in range(m.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                xw = self._linear(x, k, 0)
                if lstm:
                    out, h, c = torch.ops.dqmlir.lstm_scan(xw, hx[0][k], hx[1][k], self.ids[k][1],
                                                           d == 1)
                    cs.append(c)
                else:
                    out, h = torch.ops.dqmlir.gru_scan(xw, hx[k], self.ids[k][1], d == 1)
                outs.append(out)
                hs.append(h)
            x = torch.cat(outs, 2) if dirs == 2 else outs[0]
        out = x.transpose(0, 1) if m.batch_first else x
        return (out, (torch.stack(hs), torch.stack(cs))) if lstm else (out, torch.stack(hs))

    def _cell(self, input, hx):
        m = self._orig[0]
        m.check_forward_input(input)
        lstm = self.kind == "LSTMCell"
        if hx is None:
            zeros = torch.zeros(input.size(0), self.hidden_size, dtype=input.dtype)
            hx = (zeros, zeros) if lstm else zeros
        if lstm:
            m.check_forward_hidden(input, hx[0], "[0]")
            m.check_forward_hidden(input, hx[1], "[1]")
        else:
            m.check_forward_hidden(input, hx, "")
        h = hx[0] if lstm else hx
        ig, hg = self._linear(input, 0, 0), self._linear(h, 0, 1)
        if lstm:
            return torch.ops.dqmlir.lstm_gates(hg + ig, hx[1])
        if self.kind == "GRUCell":
            return torch.ops.dqmlir.gru_gates(ig, hg, h)
        if m.nonlinearity == "tanh":
            return torch.ops.dqmlir.tanh(hg + ig)
        return torch.relu(hg + ig)


class _Root(nn.Module):
    """A quantized recurrent module compiled on its own: a parent, so that
    its stub can take its place; the same call signature."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.rnn = module

    def forward(self, input, hx=None):
        return self.rnn(input, hx)


def refuse_packed_sequences(args, kwargs) -> None:
    """A PackedSequence argument: refused up front, naming the argument."""
    from torch.nn.utils.rnn import PackedSequence
    named = [(f"argument {i}", a) for i, a in enumerate(args)] + list((kwargs or {}).items())
    for name, value in named:
        if isinstance(value, PackedSequence):
            raise UnsupportedModuleError(
                f"{name} is a PackedSequence, which dqmlir does not compile; pass the padded "
                "tensor (and mask the padded steps' outputs)")


def root_wrapper(module: nn.Module) -> nn.Module:
    return _Root(module).eval()


def stubs_for(path: str, module: nn.Module, first_id: int):
    """(stub, [QuantizedLinear...] in id order, {id: eager linear}) for one
    quantized recurrent module; its linears take ids first_id, first_id+1, ..."""
    parts = _linears(path, module)
    linears, eager = [], {}
    for k, (ih, packed_ih, hh, packed_hh) in enumerate(parts):
        for j, (ql, packed) in enumerate(((ih, packed_ih), (hh, packed_hh))):
            linears.append(ql)
            eager[first_id + 2 * k + j] = (
                lambda x, p=packed, rr=ql.reduce_range: torch.ops.quantized.linear_dynamic(x, p, rr))
    return RecurrentStub(path, module, first_id, parts), linears, eager


# ---------------------------------------------------------------------------
# MLIR: the scans as scf.for, the gates as dq and linalg ops.
# ---------------------------------------------------------------------------
def _emit():
    from . import emit
    return emit


def _mlir():
    from mlir import ir
    from mlir.dialects import arith, linalg, scf, tensor
    return ir, arith, linalg, scf, tensor


def _dim(v, i):
    ir, arith, _, _, tensor = _mlir()
    t = ir.RankedTensorType(v.type)
    if t.is_dynamic_dim(i):
        return tensor.dim(v, arith.constant(ir.IndexType.get(), i))
    return arith.constant(ir.IndexType.get(), t.shape[i])


def _empty(t, like):
    _, _, _, _, tensor = _mlir()
    return tensor.EmptyOp(_emit().sizes(like), t.element_type).result


def _ew(body, *xs):
    """One elementwise linalg.generic over same-shaped f32 tensors."""
    ir, _, linalg, _, tensor = _mlir()
    t = ir.RankedTensorType(xs[0].type)
    init = _empty(t, xs[0])
    ident = ir.AffineMapAttr.get(ir.AffineMap.get_identity(t.rank))
    par = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    g = linalg.GenericOp_(list(xs), [init], ir.ArrayAttr.get([ident] * (len(xs) + 1)),
                          ir.ArrayAttr.get([par] * t.rank))
    block = g.regions[0].blocks[0]
    with ir.InsertionPoint(block):
        linalg.YieldOp([body(*block.arguments[:len(xs)])])
    return g.result


def _add(a, b):
    _, arith, *_ = _mlir()
    return _ew(lambda x, y: arith.addf(x, y), a, b)


def _mul(a, b):
    _, arith, *_ = _mlir()
    return _ew(lambda x, y: arith.mulf(x, y), a, b)


def _chunks(gates, n, h):
    """The n chunks [B, H] of gates [B, n * H]."""
    ir = _mlir()[0]
    b = ir.RankedTensorType(gates.type).shape[0]
    bsize = _emit().sizes(gates)[0]
    return [_emit().extract_slice(gates, [0, j * h], [bsize, h], [b, h]) for j in range(n)]


def _lstm_update(gates, c, h):
    i, f, g, o = _chunks(gates, 4, h)
    i, f, o = _emit().sigmoid(i), _emit().sigmoid(f), _emit().sigmoid(o)
    c2 = _add(_mul(f, c), _mul(i, _emit().tanh(g)))
    return _mul(o, _emit().tanh(c2)), c2


def _gru_update(igates, hgates, hprev, h):
    _, arith, *_ = _mlir()
    ig, hg = _chunks(igates, 3, h), _chunks(hgates, 3, h)
    r = _emit().sigmoid(_add(hg[0], ig[0]))
    z = _emit().sigmoid(_add(hg[1], ig[1]))
    n = _emit().tanh(_add(ig[2], _mul(hg[2], r)))
    return _ew(lambda hp, zz, nn_: arith.addf(arith.mulf(arith.subf(hp, nn_), zz), nn_), hprev, z, n)


def _scan(ctx, xw, states, layer, reverse, lstm):
    ir, arith, _, scf, tensor = _mlir()
    lin = ctx.linears[layer]
    h0 = states[0]
    ht = ir.RankedTensorType(h0.type)
    xt = ir.RankedTensorType(xw.type)
    hidden = ht.shape[1]
    index = ir.IndexType.get()
    steps, bsz = _dim(xw, 0), _emit().sizes(h0)[0]
    out0 = tensor.EmptyOp([_emit().sizes(xw)[0], bsz, hidden], ir.F32Type.get()).result
    one = arith.constant(index, 1)
    loop = scf.ForOp(arith.constant(index, 0), steps, one, [out0, *states])
    with ir.InsertionPoint(loop.body):
        i = loop.induction_variable
        t = arith.subi(arith.subi(steps, one), i) if reverse else i
        out, *carried = loop.inner_iter_args
        x_t = _emit().extract_slice(xw, [t, 0, 0], [1, bsz, xt.shape[2]],
                                    [ht.shape[0], xt.shape[2]])
        hg = _emit().linear_dynamic(carried[0], lin, name=f"w{layer}")
        if lstm:
            h, c = _lstm_update(_add(hg, x_t), carried[1], hidden)
            new = [h, c]
        else:
            new = [_gru_update(x_t, hg, carried[0], hidden)]
        out = _emit().insert_slice(new[0], out, [t, 0, 0], [1, bsz, hidden])
        scf.YieldOp([out, *new])
    return list(loop.results)


@registry.register("lstm_scan", attrs=("layer", "reverse"))
def _emit_lstm_scan(ctx, operands, attrs, result_types):
    xw, h0, c0 = operands
    return _scan(ctx, xw, [h0, c0], attrs["layer"], attrs["reverse"], lstm=True)


@registry.register("gru_scan", attrs=("layer", "reverse"))
def _emit_gru_scan(ctx, operands, attrs, result_types):
    xw, h0 = operands
    return _scan(ctx, xw, [h0], attrs["layer"], attrs["reverse"], lstm=False)


@registry.register("lstm_gates")
def _emit_lstm_gates(ctx, operands, attrs, result_types):
    gates, c = operands
    return list(_lstm_update(gates, c, ir_shape(c)[1]))


@registry.register("gru_gates")
def _emit_gru_gates(ctx, operands, attrs, result_types):
    ig, hg, h = operands
    return _gru_update(ig, hg, h, ir_shape(h)[1])


def ir_shape(v):
    ir = _mlir()[0]
    return ir.RankedTensorType(v.type).shape
