"""A decoder's KV cache as in-place state: the step module that is exported.

HF decoders keep their cache in a `Cache` object that grows by
concatenation (a copy of the whole cache per layer and token). dqmlir
compiles a step instead: `CacheStep(model)(input_ids, attention_mask,
position_ids, k_0, v_0, k_1, v_1, ...)` where every `k_i` / `v_i` is a
buffer of [batch, kv heads, capacity, head dim] that the caller owns. The
step writes the new tokens' keys and values into the slots
[past, past + S) of those buffers (an in-place `copy_`, which torch.export
records as a mutation of the input) and attends over [0, past + S) of
them; `past` is `attention_mask.shape[1] - input_ids.shape[1]`, a size,
so it is no data the program depends on. The compiled code writes the
slots in place (the `dq.state` results: lib/Transforms/BindState.cpp):
a token costs one slot per layer, not a copy of the cache.

The step returns the logits of the last position only (HF generate's
`logits_to_keep=1`: the quantized lm_head then sees the same activations,
and so the same runtime qparams, as in PyTorch's greedy search).
"""
from __future__ import annotations

import functools

import torch
from torch import nn


def cache_shapes(model: nn.Module) -> tuple:
    """(layers, kv heads, head dim) of an HF decoder's self-attention cache."""
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise TypeError(f"{type(model).__name__} has no `config`: dqmlir generates with "
                        "Hugging Face decoders (a KV cache in past_key_values)")
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", None)
    heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head", None)
    hidden = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None)
    if not (layers and heads and hidden):
        raise TypeError(f"{type(model).__name__}: cannot read the layer count, heads and "
                        "hidden size from its config")
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    if getattr(cfg, "multi_query", False):        # GPTBigCode: one kv head
        kv_heads = 1
    head_dim = getattr(cfg, "head_dim", None) or hidden // heads
    return int(layers), int(kv_heads), int(head_dim)


@functools.lru_cache(maxsize=None)
def _layer_class():
    from transformers.cache_utils import DynamicLayer

    class SlotLayer(DynamicLayer):
        """One layer's keys and values in caller-owned buffers with room
        for `capacity` positions, `past` of them filled."""

        def __init__(self, keys, values, past):
            super().__init__()
            self.keys, self.values, self.past = keys, values, past
            self.is_initialized = True
            self.device = keys.device

        def lazy_initialization(self, key_states, value_states):
            pass

        def update(self, key_states, value_states, *args, **kwargs):
            end = self.past + key_states.shape[-2]
            # In the program (torch.export keeps no guard between input
            # sizes, and the slice below would clamp): the run-time checks
            # raise it before anything is written.
            torch.ops.aten._assert_scalar.default(
                self.past >= 0, "ValueError: attention_mask is shorter than input_ids")
            torch.ops.aten._assert_scalar.default(
                end <= self.keys.shape[2],
                "IndexError: the KV cache holds fewer positions than attention_mask")
            self.keys[:, :, self.past:end].copy_(key_states)
            self.values[:, :, self.past:end].copy_(value_states)
            return self.keys[:, :, :end], self.values[:, :, :end]

        def get_seq_length(self):
            return self.past

        def get_mask_sizes(self, query_length):
            return self.past + query_length, 0

        def get_max_length(self):
            return -1

    return SlotLayer


class CacheStep(nn.Module):
    """One prefill or decode step of `model` (see the module docstring)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.layers, self.kv_heads, self.head_dim = cache_shapes(model)

    def _parameters_of_forward(self):
        import inspect
        return inspect.signature(self.model.forward).parameters

    def forward(self, input_ids, attention_mask, position_ids, *cache):
        from transformers.cache_utils import Cache

        if len(cache) != 2 * self.layers:
            raise ValueError(f"expected {2 * self.layers} cache buffers, got {len(cache)}")
        past = attention_mask.shape[1] - input_ids.shape[1]
        slot = _layer_class()
        kv = Cache(layers=[slot(cache[2 * i], cache[2 * i + 1], past)
                           for i in range(self.layers)])
        # transformers 5 names the cache argument `cache` (`past_key_values`
        # before, still accepted with a deprecation warning).
        name = "cache" if "cache" in self._parameters_of_forward() else "past_key_values"
        out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                         position_ids=position_ids, use_cache=True, logits_to_keep=1,
                         **{name: kv})
        logits = out.logits if hasattr(out, "logits") else out[0]
        return logits[:, -1, :]
