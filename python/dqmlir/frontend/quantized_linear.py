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

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UnsupportedModuleError


@dataclass
class QuantizedLinear:
    weight: np.ndarray  # int8 [N, K]
    weight_scale: np.ndarray  # float32, shape () per tensor or [N] per channel
    bias: np.ndarray | None  # float32 [N]
    reduce_range: bool
    act_mode: str = "asymmetric"  # "asymmetric" | "symmetric"
    act_granularity: str = "per_tensor"  # "per_tensor" | "per_row"
    path: str = ""

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]


def from_dynamic_linear(mod: torch.nn.Module, path: str = "") -> QuantizedLinear:
    """Unpacks a `torch.ao.nn.quantized.dynamic.Linear`."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    where = path or type(mod).__name__
    if not isinstance(mod, DynamicLinear):
        raise UnsupportedModuleError(f"{where}: expected a quantized dynamic Linear, got {type(mod).__name__}")
    if mod._packed_params.dtype != torch.qint8:
        raise UnsupportedModuleError(
            f"{where}: only qint8 weights are supported, got {mod._packed_params.dtype} (float16 dynamic quantization)")
    # Its forward passes reduce_range=True from module version 4 on.
    version = getattr(mod, "version", None)
    return from_packed(mod._packed_params._packed_params, version is not None and version >= 4,
                       path)


def from_packed(packed, reduce_range: bool, path: str = "") -> QuantizedLinear:
    """Unpacks fbgemm's packed linear params (a LinearPackedParamsBase, as
    Linear and the recurrent modules keep them)."""
    where = path or "linear"
    w, b = torch.ops.quantized.linear_unpack(packed)
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
    return QuantizedLinear(
        weight=w.int_repr().numpy().copy(),
        weight_scale=scale,
        bias=None if b is None else b.detach().to(torch.float32).numpy().copy(),
        reduce_range=reduce_range,
        path=path,
    )


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
    return QuantizedLinear(
        weight=w.qdata.numpy().copy(),
        weight_scale=scale,
        bias=None if b is None else b.detach().to(torch.float32).numpy().copy(),
        reduce_range=False,
        act_mode="symmetric",
        act_granularity=granularity,
        path=path,
    )
