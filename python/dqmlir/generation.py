"""Greedy generation with a KV cache: `dqmlir.generate`.

`dqmlir.compile(decoder, (input_ids,), {"use_cache": True})` compiles two
steps of an HF causal LM (frontend/kv_cache.py): a prefill (any prompt
length) and a one-token decode step. Both take the cache as caller-owned
buffers of [batch, kv heads, capacity, head dim] per layer and key/value,
write the new tokens' slots in place and return the last position's
logits. `generate` owns those buffers for one call: a token costs one
decode step, which writes one slot per layer and copies nothing else of
the cache.

The decoding follows transformers' greedy search: position ids from the
attention mask (left padding), `logits_to_keep=1`, finished rows padded
after their end-of-sequence token, stop when every row has finished.
"""
from __future__ import annotations

import json
import logging
import pathlib

import torch

from .errors import ModelFormatError, UnsupportedModuleError
from .frontend.fx_checks import MergedDynamicDims

log = logging.getLogger("dqmlir")
_FILE = "decoder.json"


class CompiledDecoder:
    """A compiled causal LM for `dqmlir.generate` (or `.generate`):
    `prefill` and `decode` are the two compiled steps; `save(path)` writes
    both for `dqmlir.load`."""

    def __init__(self, prefill, decode, config: dict):
        self.prefill, self.decode, self.config = prefill, decode, dict(config)
        self.timings = {**{f"prefill.{k}": v for k, v in prefill.timings.items()},
                        **{f"decode.{k}": v for k, v in decode.timings.items()}}

    def __call__(self, *args, **kwargs):
        raise TypeError("a model compiled with use_cache=True generates: call "
                        "dqmlir.generate(compiled, input_ids, max_new_tokens=...)")

    def generate(self, input_ids, attention_mask=None, max_new_tokens: int = 20,
                 eos_token_id="default", pad_token_id="default") -> torch.Tensor:
        return generate(self, input_ids, attention_mask, max_new_tokens=max_new_tokens,
                        eos_token_id=eos_token_id, pad_token_id=pad_token_id)

    def save(self, path) -> None:
        """Writes `path/prefill`, `path/decode` (model directories) and
        `path/decoder.json`; an existing decoder directory is replaced."""
        from .compiled import write_directory

        def write(tmp: pathlib.Path) -> None:
            self.prefill.save(tmp / "prefill")
            self.decode.save(tmp / "decode")
            (tmp / _FILE).write_text(json.dumps(self.config, indent=1))
        write_directory(path, write, _FILE, "decoder")

    def __repr__(self) -> str:
        c = self.config
        return (f"<dqmlir.CompiledDecoder {c['name']}: {c['layers']} layers, "
                f"{c['kv_heads']} kv heads x {c['head_dim']}, up to {c['max_positions']} "
                f"positions, target={self.prefill.target}>")


def is_decoder_dir(path) -> bool:
    return (pathlib.Path(path) / _FILE).exists()


def load_decoder(path, verify: bool = True) -> CompiledDecoder:
    from .compiled import CompiledModule
    path = pathlib.Path(path)
    try:
        config = json.loads((path / _FILE).read_text())
        for key in ("name", "layers", "kv_heads", "head_dim", "max_positions"):
            config[key]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ModelFormatError(f"{path}/{_FILE}: not a dqmlir decoder description ({e})") \
            from None
    return CompiledDecoder(CompiledModule(path / "prefill", verify=verify),
                           CompiledModule(path / "decode", verify=verify), config)


def _max_positions(model) -> int:
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") \
        else model.config
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 4096


def compile_decoder(model, example_args, example_kwargs, **options) -> CompiledDecoder:
    """The prefill and decode steps of `model` (see the module docstring);
    `options`: dqmlir.compile's threads, target, verbose, cache, quantize."""
    from torch._dynamo.exc import UserError
    try:
        return _compile_decoder(model, example_args, example_kwargs, **options)
    except UserError as e:
        # torch.export's constraint violations: the model fixes a length the
        # steps need dynamic (GPT-Neo's local attention guards on it).
        lines = [l.strip(" -") for l in str(e).splitlines() if l.strip()]
        raise UnsupportedModuleError(
            f"{type(model).__name__}: torch.export cannot keep the cache's lengths dynamic "
            f"for generation: {' '.join(lines[:2])[:400]}") from None


def _compile_decoder(model, example_args, example_kwargs, **options) -> CompiledDecoder:
    from torch.export import Dim

    from .compiler import compile as compile_module
    from .frontend.kv_cache import CacheStep

    kwargs = dict(example_kwargs or {})
    kwargs.pop("use_cache", None)
    args = list(example_args)
    ids = args.pop(0) if args else kwargs.pop("input_ids", None)
    mask = kwargs.pop("attention_mask", None)
    if args or kwargs:
        extra = [f"argument {i + 1}" for i in range(len(args))] + sorted(kwargs)
        raise TypeError(f"a decoder compiled with use_cache=True takes input_ids and "
                        f"attention_mask; got also {', '.join(extra)}")
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.is_floating_point():
        raise TypeError("use_cache=True: the example input_ids must be an integer tensor "
                        "[batch, sequence]")
    cfg = getattr(model, "config", None)
    if getattr(cfg, "is_encoder_decoder", False):
        raise UnsupportedModuleError(f"{type(model).__name__} is an encoder-decoder model; "
                                     "dqmlir generates with decoder-only models")
    if mask is None:
        mask = torch.ones_like(ids)
    step = CacheStep(model).eval()
    layers, kv_heads, head_dim = step.layers, step.kv_heads, step.head_dim
    max_pos = _max_positions(model)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)

    # Examples: batch 2, a prompt of 3 or more, capacity above both (torch.export
    # specializes sizes 0 and 1, and would tie dims of equal example sizes).
    prompt = max(3, ids.shape[1])
    ids2 = ids[:1, :1].expand(2, prompt).clone()
    capacity = prompt + 5

    def cache(batch):
        return [torch.zeros(batch, kv_heads, capacity, head_dim, dtype=dtype)
                for _ in range(2 * layers)]

    batch = Dim("batch", min=1, max=1024)
    seq = Dim("seq", min=1, max=max_pos)
    total = Dim("total", min=1, max=max_pos)
    cap = Dim("capacity", min=1, max=max_pos)
    caches = tuple({0: batch, 2: cap} for _ in range(2 * layers))
    positions = torch.arange(prompt).expand(2, prompt).clone()
    prefill_batch = None
    try:
        prefill = compile_module(
            step, (ids2, torch.ones_like(ids2), positions, *cache(2)),
            dynamic={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: total},
                     "position_ids": {0: batch, 1: seq}, "cache": caches}, **options)
    except MergedDynamicDims as e:
        # A view merges batch and sequence for an op that mixes rows (where
        # only row-wise ops follow, as in OPT's and Falcon's layers,
        # merged_rows.py undoes it), which dqmlir compiles with one of the
        # two static: the prefill takes one prompt at a time (the decode
        # step, seq = 1, any batch). A batch of prompts cannot be prefilled
        # row by row: the linears' activation qparams span the whole batch
        # in PyTorch.
        log.warning("dqmlir: %s: %s; its prefill is compiled for batch 1 (generate one "
                    "prompt at a time)", type(model).__name__, e.what)
        prefill_batch = 1
        one_cache = tuple({2: cap} for _ in range(2 * layers))
        prefill = compile_module(
            step, (ids2[:1], torch.ones_like(ids2[:1]), positions[:1], *cache(1)),
            dynamic={"input_ids": {1: seq}, "attention_mask": {1: total},
                     "position_ids": {1: seq}, "cache": one_cache}, **options)
    one = ids2[:, :1].clone()
    decode = compile_module(
        step, (one, torch.ones(2, prompt + 1, dtype=ids.dtype), positions[:, -1:] + 1,
               *cache(2)),
        dynamic={"input_ids": {0: batch}, "attention_mask": {0: batch, 1: total},
                 "position_ids": {0: batch}, "cache": caches}, **options)
    gen = getattr(model, "generation_config", None)
    config = {"name": type(model).__name__, "layers": layers, "kv_heads": kv_heads,
              "prefill_batch": prefill_batch,
              "head_dim": head_dim, "max_positions": max_pos,
              "dtype": str(dtype).replace("torch.", ""),
              "eos_token_id": getattr(gen, "eos_token_id", None),
              "pad_token_id": getattr(gen, "pad_token_id", None)}
    return CompiledDecoder(prefill, decode, config)


def _eos_ids(value) -> list:
    if value is None:
        return []
    return [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def generate(compiled, input_ids, attention_mask=None, *, max_new_tokens: int = 20,
             eos_token_id="default", pad_token_id="default") -> torch.Tensor:
    """Greedy decoding with `compiled` (from `dqmlir.compile(..., {"use_cache":
    True})` or `dqmlir.load`): returns [batch, prompt + new] token ids, like
    `model.generate(input_ids, attention_mask=..., max_new_tokens=...,
    do_sample=False)`. `eos_token_id` / `pad_token_id` default to the
    model's generation config."""
    if not isinstance(compiled, CompiledDecoder):
        raise TypeError("dqmlir.generate takes a model compiled with use_cache=True "
                        f"(dqmlir.compile(model, (input_ids,), {{'use_cache': True}})), "
                        f"got {type(compiled).__name__}")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 \
            or input_ids.is_floating_point() or input_ids.is_complex():
        raise TypeError("input_ids must be an integer tensor [batch, sequence]")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise TypeError(f"max_new_tokens must be an int, got {type(max_new_tokens).__name__}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    batch, prompt = input_ids.shape
    if batch == 0 or prompt == 0:
        raise ValueError(f"input_ids must hold at least one token per row, got shape "
                         f"{list(input_ids.shape)}")
    c = compiled.config
    if c.get("prefill_batch") and batch != c["prefill_batch"]:
        raise ValueError(f"{c['name']}'s prefill is compiled for batch {c['prefill_batch']} "
                         f"(its layers merge the batch and sequence dims); got a batch of "
                         f"{batch}: generate one prompt at a time")
    if prompt + max_new_tokens > c["max_positions"]:
        raise ValueError(f"prompt ({prompt}) + max_new_tokens ({max_new_tokens}) exceeds the "
                         f"model's {c['max_positions']} positions")
    ids = input_ids.to(torch.long)
    if attention_mask is None:
        mask = torch.ones_like(ids)
    else:
        if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != ids.shape:
            raise ValueError(f"attention_mask must be a tensor of the shape of input_ids "
                             f"{list(ids.shape)}")
        mask = attention_mask.to(torch.long)
    eos = _eos_ids(c.get("eos_token_id") if eos_token_id == "default" else eos_token_id)
    pad = c.get("pad_token_id") if pad_token_id == "default" else pad_token_id
    if pad is None and eos:
        pad = eos[0]                # as transformers does, with its warning
    if max_new_tokens == 0:
        return ids.clone()
    # The cache: caller-owned buffers the steps write in place. Slots are
    # written before they are read, so they need no initial value.
    dtype = getattr(torch, c.get("dtype", "float32"))
    cache = [torch.empty(batch, c["kv_heads"], prompt + max_new_tokens, c["head_dim"],
                         dtype=dtype) for _ in range(2 * c["layers"])]
    # transformers' _prepare_position_ids_for_generation.
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    logits = compiled.prefill(ids, mask, positions, *cache)
    out = [ids]
    finished = torch.zeros(batch, dtype=torch.bool)
    eos_t = torch.tensor(eos, dtype=torch.long)
    position = positions[:, -1:]
    for step in range(max_new_tokens):
        token = logits.argmax(-1)
        if eos:
            token = torch.where(finished, torch.full_like(token, pad), token)
            finished |= torch.isin(token, eos_t)
        out.append(token[:, None])
        if step + 1 == max_new_tokens or (eos and bool(finished.all())):
            break
        mask = torch.cat([mask, mask.new_ones(batch, 1)], dim=1)
        position = position + 1
        logits = compiled.decode(token[:, None], mask, position, *cache)
    return torch.cat(out, dim=1)
