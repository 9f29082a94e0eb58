"""Reads quantized linear layers out of PyTorch modules.

- `torch.ao.nn.quantized.dynamic.Linear` (what `quantize_dynamic` makes of an
  `nn.Linear`) keeps its weight in an fbgemm packed-params object; this unpacks
  it into plain arrays: int8 weight [N, K], weight scale(s), bias, and the
  reduce_range its forward passes to `quantized::linear_dynamic`.
- torchao 0.18 `Int8DynamicActivationInt8WeightConfig` leaves an `nn.Linear`
  whose weight is an `Int8Tensor` (int8 qdata, per-row or per-tensor scales)
  with symmetric int8 activation quantization per row or per tensor.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import Executor
from typing import Callable

import numpy as np
import torch

from ..errors import UnsupportedModuleError


class QuantizedLinear:
    """A quantized linear layer's arrays and how its activations are
    quantized. A torch.ao layer's arrays may still be unpacking on another
    thread (from_dynamic_linear with an executor): reading them waits."""

    def __init__(self, weight: np.ndarray | None, weight_scale: np.ndarray | None,
                 bias: np.ndarray | None, reduce_range: bool,
                 act_mode: str = "asymmetric", act_granularity: str = "per_tensor",
                 path: str = "", *, shape: tuple | None = None,
                 unpacking: Callable[[], tuple] | None = None):
        self._arrays = None if unpacking is not None else (weight, weight_scale, bias)
        self._unpacking = unpacking      # -> (the three arrays, the weight's digest)
        self._weight_digest: bytes | None = None
        self._shape = tuple(shape) if shape is not None else tuple(weight.shape)
        self.reduce_range = reduce_range
        self.act_mode = act_mode                 # "asymmetric" | "symmetric"
        self.act_granularity = act_granularity   # "per_tensor" | "per_row"
        self.path = path

    def arrays(self) -> tuple:
        """(int8 weight [N, K], float32 scale () per tensor or [N] per
        channel, float32 bias [N] or None); raises what unpacking raised."""
        if self._arrays is None:
            self._arrays, self._weight_digest = self._unpacking()
            self._unpacking = None
        return self._arrays

    @property
    def weight(self) -> np.ndarray:
        return self.arrays()[0]

    @property
    def weight_scale(self) -> np.ndarray:
        return self.arrays()[1]

    @property
    def bias(self) -> np.ndarray | None:
        return self.arrays()[2]

    @property
    def out_features(self) -> int:
        return self._shape[0]

    @property
    def in_features(self) -> int:
        return self._shape[1]

    def digest(self) -> bytes:
        """SHA-256 of the arrays and the quantization settings (the compile
        cache's keys take it)."""
        weight, scale, bias = self.arrays()
        if self._weight_digest is None:
            self._weight_digest = _digest(weight)
        h = hashlib.sha256(f"|{self.path}|{self.reduce_range}|{self.act_mode}|"
                           f"{self.act_granularity}|".encode())
        h.update(self._weight_digest)
        h.update(_digest(scale))
        h.update(_digest(bias))
        return h.digest()


def _digest(a: np.ndarray | None) -> bytes:
    if a is None:
        return b"none"
    h = hashlib.sha256(f"{a.dtype}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))  # no copy
    return h.digest()


def from_dynamic_linear(mod: torch.nn.Module, path: str = "",
                        executor: Executor | None = None) -> QuantizedLinear:
    """Unpacks a `torch.ao.nn.quantized.dynamic.Linear`. With `executor`, the
    slow part runs there (fbgemm's unpack and the weight's hash: 0.25 s for
    BERT-base's 73 layers, each step without the GIL) while the caller goes
    on; the arrays are made, and what unpacking raises is raised, when they
    are first read."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    where = path or type(mod).__name__
    if not isinstance(mod, DynamicLinear):
        raise UnsupportedModuleError(f"{where}: expected a quantized dynamic Linear, got {type(mod).__name__}")
    if mod._packed_params.dtype != torch.qint8:
        raise UnsupportedModuleError(
            f"{where}: only qint8 weights are supported, got {mod._packed_params.dtype} (float16 dynamic quantization)")
    # Its forward passes reduce_range=True from module version 4 on.
    version = getattr(mod, "version", None)
    reduce_range = version is not None and version >= 4
    packed = mod._packed_params._packed_params
    if executor is None:
        return from_packed(packed, reduce_range, path)

    def unpack():
        w, b = torch.ops.quantized.linear_unpack.default(packed)
        ints = w.int_repr() if w.dtype == torch.qint8 else None
        return w, b, ints, None if ints is None else _digest(ints.numpy())

    future = executor.submit(unpack)
    shape = (mod.out_features, mod.in_features)

    def unpacked():
        w, b, ints, weight_digest = future.result()
        made = _arrays(w, b, ints, where)
        if made[0].shape != shape:
            raise UnsupportedModuleError(f"{where}: its packed weight is {list(made[0].shape)}, "
                                         f"its in/out_features say {list(shape)}")
        return made, weight_digest
    return QuantizedLinear(None, None, None, reduce_range, path=path, shape=shape,
                           unpacking=unpacked)


def from_packed(packed, reduce_range: bool, path: str = "") -> QuantizedLinear:
    """Unpacks fbgemm's packed linear params (a LinearPackedParamsBase, as
    Linear and the recurrent modules keep them)."""
    w, b = torch.ops.quantized.linear_unpack(packed)
    weight, scale, bias = _arrays(w, b, None, path or "linear")
    return QuantizedLinear(weight, scale, bias, reduce_range, path=path)


def _arrays(w: torch.Tensor, b: torch.Tensor | None, ints: torch.Tensor | None,
            where: str) -> tuple:
    """(int8 weight, scale, bias) of an unpacked weight and bias; `ints`:
    the weight's int_repr() if made already."""
    if w.dtype != torch.qint8:
        raise UnsupportedModuleError(f"{where}: only qint8 weights are supported, got {w.dtype}")
    if w.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        if w.q_zero_point() != 0:
            raise UnsupportedModuleError(f"{where}: weight zero point must be 0, got {w.q_zero_point()}")
        scale = np.asarray(w.q_scale(), dtype=np.float32)
    elif w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        if w.q_per_channel_axis() != 0:
            raise UnsupportedModuleError(f"{where}: per-channel weights must be quantized along axis 0")
        if bool((w.q_per_channel_zero_points() != 0).any()):
            raise UnsupportedModuleError(f"{where}: weight zero points must be 0")
        # fbgemm reads the per-channel scales as float.
        scale = w.q_per_channel_scales().to(torch.float32).numpy().copy()
    else:
        raise UnsupportedModuleError(f"{where}: unsupported weight qscheme {w.qscheme()}")
    return ((w.int_repr() if ints is None else ints).numpy(), scale,
            None if b is None else b.detach().to(torch.float32).numpy().copy())


def is_torchao_linear(mod: torch.nn.Module) -> bool:
    """An nn.Linear whose weight is a torchao Int8Tensor."""
    if not isinstance(mod, torch.nn.Linear):
        return False
    try:
        from torchao.quantization.quantize_.workflows.int8.int8_tensor import Int8Tensor
    except ImportError:
        return False
    return isinstance(mod.weight, Int8Tensor)


def from_torchao_linear(mod: torch.nn.Module, path: str = "") -> QuantizedLinear:
    """Unpacks a linear quantized by torchao's Int8DynamicActivationInt8WeightConfig."""
    from torchao.quantization import MappingType, PerRow, PerTensor

    where = path or type(mod).__name__
    w = mod.weight
    kw = w.act_quant_kwargs
    if kw is None:
        raise UnsupportedModuleError(f"{where}: torchao int8 weight-only linears are not supported")
    if kw.mapping_type != MappingType.SYMMETRIC or kw.reduce_range or w.reduce_range:
        raise UnsupportedModuleError(
            f"{where}: only symmetric activations without reduce_range are supported, got "
            f"{kw.mapping_type} reduce_range={kw.reduce_range}")
    if w.act_pre_scale is not None or w.act_quant_scale is not None:
        raise UnsupportedModuleError(f"{where}: static or pre-scaled activations are not supported")
    if w.qdata.dim() != 2 or (w.zero_point is not None and bool((w.zero_point != 0).any())):
        raise UnsupportedModuleError(f"{where}: expected a 2-D symmetric int8 weight")
    n, k = w.qdata.shape
    if list(w.block_size) == [1, k]:
        scale = w.scale.to(torch.float32).reshape(n).numpy().copy()
    elif list(w.block_size) == [n, k]:
        scale = np.asarray(w.scale.to(torch.float32).reshape(()).item(), dtype=np.float32)
    else:
        raise UnsupportedModuleError(f"{where}: weight block size {w.block_size} (groups) is not supported")
    if isinstance(kw.granularity, PerRow):
        granularity = "per_row"
    elif isinstance(kw.granularity, PerTensor):
        granularity = "per_tensor"
    else:
        raise UnsupportedModuleError(f"{where}: activation granularity {kw.granularity} is not supported")
    b = mod.bias
    return QuantizedLinear(w.qdata.numpy().copy(), scale,
                           None if b is None else b.detach().to(torch.float32).numpy().copy(),
                           reduce_range=False, act_mode="symmetric",
                           act_granularity=granularity, path=path)
