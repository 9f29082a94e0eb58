"""The generation table of make bench: greedy decoding with a KV cache at
batch 1, one thread, a 32-token prompt and 32 new tokens, random weights.

  dqmlir        dqmlir.generate on the quantize_dynamic'd model compiled with
                use_cache=True (prefill + decode step, cache written in place)
  PyTorch int8  model.generate(do_sample=False) on the same module (a
                DynamicCache, grown by concatenation)
  ORT int8      the fp32 model's step (past keys/values in, present out)
                exported to ONNX, quantized by onnxruntime's quantize_dynamic,
                driven by the same greedy loop (ORT returns the whole cache
                each step); it quantizes GPT-2's Conv1D projections too, which
                quantize_dynamic leaves fp32

Reported: prefill ms and ms per new token (the rest of the generate call
over the new tokens after the first), medians over interleaved repeats; and
whether dqmlir's tokens equal PyTorch int8's.

    python benchmarks/generation.py [--quick]     (also part of make bench)
"""
from __future__ import annotations

import copy
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

PROMPT, NEW = 32, 32


def models(quick: bool = False) -> dict:
    import transformers as T
    layers = 2 if quick else None
    return {
        "GPT-2 small (124M)": lambda: T.GPT2LMHeadModel(T.GPT2Config(n_layer=layers or 12)),
        "Llama-style 8L x 512 (GQA 8/2)": lambda: T.LlamaForCausalLM(T.LlamaConfig(
            hidden_size=512, intermediate_size=1408, num_hidden_layers=layers or 8,
            num_attention_heads=8, num_key_value_heads=2, vocab_size=32000,
            max_position_embeddings=2048)),
    }


class _OnnxStep(torch.nn.Module):
    """fp32 step for ONNX: past keys/values as tensors, the present out."""

    def __init__(self, model, layers):
        super().__init__()
        self.model, self.layers = model, layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers.cache_utils import DynamicCache
        cache = DynamicCache(config=self.model.config)
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                         position_ids=position_ids, past_key_values=cache, use_cache=True,
                         logits_to_keep=1)
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits[:, -1, :], *present)


def _ort_generate(fp32, tmp: pathlib.Path, tag: str):
    """(generate(ids) -> (prefill s, total s)) over an ORT int8 session, or
    the reason it is not available."""
    try:
        from bench import ort_session
        from dqmlir.frontend.kv_cache import cache_shapes
        from onnxruntime.quantization import QuantType, quantize_dynamic
        layers, kv_heads, head_dim = cache_shapes(fp32)
        step = _OnnxStep(fp32, layers).eval()
        past = [torch.zeros(1, kv_heads, 4, head_dim) for _ in range(2 * layers)]
        names = ["input_ids", "attention_mask", "position_ids"] + \
            [f"past{i}" for i in range(2 * layers)]
        axes = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "t"},
                "position_ids": {0: "b", 1: "s"},
                **{f"past{i}": {0: "b", 2: "p"} for i in range(2 * layers)}}
        f32, i8 = tmp / f"{tag}.fp32.onnx", tmp / f"{tag}.int8.onnx"
        ids = torch.ones(1, 3, dtype=torch.long)
        torch.onnx.export(step, (ids, torch.ones(1, 7, dtype=torch.long),
                                 torch.arange(4, 7)[None], *past), str(f32),
                          input_names=names,
                          output_names=["logits"] + [f"present{i}" for i in range(2 * layers)],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
        quantize_dynamic(str(f32), str(i8), weight_type=QuantType.QInt8)
        sess = ort_session(str(i8), 1)
    except Exception as e:  # noqa: BLE001 (a peer that fails is n/a with its reason)
        return f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"

    def generate(ids: torch.Tensor):
        t0 = time.perf_counter()
        b, p = ids.shape
        feed = {"input_ids": ids.numpy(), "attention_mask": np.ones((b, p), np.int64),
                "position_ids": np.arange(p, dtype=np.int64)[None].repeat(b, 0)}
        for i in range(2 * layers):
            feed[f"past{i}"] = np.zeros((b, kv_heads, 0, head_dim), np.float32)
        tokens, prefill = [], None
        for step_i in range(NEW):
            out = sess.run(None, feed)
            if prefill is None:
                prefill = time.perf_counter() - t0
            token = out[0].argmax(-1)
            tokens.append(token)
            t = feed["attention_mask"].shape[1]
            feed = {"input_ids": token[:, None].astype(np.int64),
                    "attention_mask": np.ones((b, t + 1), np.int64),
                    "position_ids": np.full((b, 1), t, np.int64),
                    **{f"past{i}": out[1 + i] for i in range(2 * layers)}}
        return prefill, time.perf_counter() - t0

    return generate


def bench_generation(tmp: pathlib.Path, quick: bool = False, reps: int = 5) -> list:
    import dqmlir
    rows = []
    for name, build in models(quick).items():
        torch.manual_seed(0)
        fp32 = build().eval()
        q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32), {torch.nn.Linear},
                                                   dtype=torch.qint8)
        ids = torch.randint(1, fp32.config.vocab_size, (1, PROMPT))
        t0 = time.perf_counter()
        compiled = dqmlir.compile(q, (ids,), {"use_cache": True}, verbose=False)
        compile_s = time.perf_counter() - t0
        ort = _ort_generate(fp32, tmp, f"gen{len(rows)}")

        def ours():
            t0 = time.perf_counter()
            cache = _prefill_only(compiled, ids)
            prefill = time.perf_counter() - t0
            del cache
            t0 = time.perf_counter()
            out = dqmlir.generate(compiled, ids, max_new_tokens=NEW, eos_token_id=None)
            return prefill, time.perf_counter() - t0, out

        def theirs():
            with torch.no_grad():
                t0 = time.perf_counter()
                q(ids, use_cache=True, logits_to_keep=1)
                prefill = time.perf_counter() - t0
                t0 = time.perf_counter()
                out = q.generate(ids, max_new_tokens=NEW, do_sample=False, eos_token_id=None,
                                 pad_token_id=0)
                return prefill, time.perf_counter() - t0, out

        fns = {"dqmlir": ours, "PyTorch int8": theirs}
        if callable(ort):
            fns["ORT int8"] = lambda: (*ort(ids), None)
        times = {k: [] for k in fns}
        outs = {}
        for _ in range(reps):
            for k, f in fns.items():
                prefill, total, out = f()
                times[k].append((prefill, total))
                outs[k] = out
        row = {"model": name, "compile_s": compile_s,
               "tokens_equal": bool(torch.equal(outs["dqmlir"], outs["PyTorch int8"])),
               "ort": None if callable(ort) else ort}
        for k, v in times.items():
            prefill = statistics.median(p for p, _ in v)
            total = statistics.median(t for _, t in v)
            row[k] = {"prefill_ms": 1e3 * prefill,
                      "ms_per_token": 1e3 * (total - prefill) / (NEW - 1)}
        rows.append(row)
    return rows


def _prefill_only(compiled, ids):
    c = compiled.config
    cache = [torch.empty(ids.shape[0], c["kv_heads"], ids.shape[1] + NEW, c["head_dim"])
             for _ in range(2 * c["layers"])]
    compiled.prefill(ids, torch.ones_like(ids), torch.arange(ids.shape[1])[None], *cache)
    return cache


def markdown(rows: list) -> str:
    lines = [f"Generation, batch 1, 1 thread, prompt {PROMPT}, {NEW} new tokens (greedy), "
             "random weights: prefill ms and ms per new token, medians; x = PyTorch int8's "
             "time over dqmlir's",
             "",
             "| model | dqmlir prefill | dqmlir ms/token | PyTorch int8 prefill | "
             "PyTorch int8 ms/token | ORT int8 ms/token | tokens = PyTorch int8 | compile s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        d, p = r["dqmlir"], r["PyTorch int8"]
        o = r.get("ORT int8")
        ort = (f"{o['ms_per_token']:.2f} ({o['ms_per_token'] / d['ms_per_token']:.2f}x)"
               if o else f"n/a ({r['ort']})")
        lines.append(
            f"| {r['model']} | {d['prefill_ms']:.1f} | {d['ms_per_token']:.2f} | "
            f"{p['prefill_ms']:.1f} ({p['prefill_ms'] / d['prefill_ms']:.2f}x) | "
            f"{p['ms_per_token']:.2f} ({p['ms_per_token'] / d['ms_per_token']:.2f}x) | {ort} | "
            f"{'yes' if r['tokens_equal'] else 'no'} | {r['compile_s']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        print(markdown(bench_generation(pathlib.Path(d), quick="--quick" in sys.argv)))
