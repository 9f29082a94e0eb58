"""The model-family table of make bench: each family the README lists, at its
base size with random weights, quantize_dynamic'd (nn.Linear; the rows that
say so: torchao's int8 config, or embedding bags with PyTorch's weight-only
qconfigs), compiled with the default options and timed beside the same
quantized model in PyTorch eager at batch 1, one thread, calls interleaved,
medians. Each row also gives the largest |diff|
and cosine against PyTorch int8 on the timed input (0 and 1.0: bit-exact).

    python benchmarks/families.py [--quick]     (also part of make bench)
"""
from __future__ import annotations

import statistics
import time

import torch


def _ids(b, s, low=0, vocab=30000):
    return torch.randint(low, vocab, (b, s))


def _text(low=0, vocab=30000):
    return lambda b, s: ((_ids(b, s, low, vocab),), {"attention_mask": torch.ones(b, s, dtype=torch.long)})


def families(quick: bool = False) -> dict:
    """name -> (builder, inputs(b, s), s). Base sizes; --quick: 2 layers."""
    import transformers as T
    n = 2 if quick else None

    def layers(default):
        return n or default

    return {
        "BERT-base": (lambda: T.BertModel(T.BertConfig(num_hidden_layers=layers(12))),
                      _text(), 128),
        "DistilBERT-base": (lambda: T.DistilBertModel(T.DistilBertConfig(n_layers=layers(6))),
                            _text(), 128),
        "RoBERTa-base": (lambda: T.RobertaModel(T.RobertaConfig(
            vocab_size=50265, num_hidden_layers=layers(12), max_position_embeddings=514)),
            _text(low=3), 128),
        "ALBERT-base": (lambda: T.AlbertModel(T.AlbertConfig(
            hidden_size=768, num_attention_heads=12, intermediate_size=3072,
            num_hidden_layers=layers(12))), _text(), 128),
        "DeBERTa-v2-base": (lambda: T.DebertaV2Model(T.DebertaV2Config(
            vocab_size=128100, hidden_size=768, num_hidden_layers=layers(12),
            num_attention_heads=12, intermediate_size=3072, relative_attention=True,
            position_buckets=256, pos_att_type=["p2c", "c2p"], max_position_embeddings=512)),
            _text(), 128),
        "ViT-base": (lambda: T.ViTModel(T.ViTConfig(num_hidden_layers=layers(12))),
                     lambda b, s: ((torch.randn(b, 3, 224, 224),), {}), 197),
        "T5-small encoder": (lambda: T.T5EncoderModel(T.T5Config(num_layers=layers(6))),
                             _text(vocab=32128), 128),
        "GPT-2 (use_cache=False)": (lambda: T.GPT2Model(T.GPT2Config(n_layer=layers(12))),
                                    lambda b, s: ((_ids(b, s, vocab=50257),), {"use_cache": False}),
                                    128),
        "Whisper-base encoder": (lambda: T.WhisperModel(T.WhisperConfig(
            d_model=512, encoder_layers=layers(6), encoder_attention_heads=8,
            encoder_ffn_dim=2048, decoder_layers=1, decoder_attention_heads=8)).get_encoder(),
            lambda b, s: ((torch.randn(b, 80, 3000),), {}), 1500),
        "Wav2Vec2-base": (lambda: T.Wav2Vec2Model(T.Wav2Vec2Config(
            num_hidden_layers=layers(12))),
            lambda b, s: ((torch.randn(b, 16000),), {}), 49),
        "BERT-base, eager attention": (lambda: T.BertModel(_eager(T.BertConfig(
            num_hidden_layers=layers(12)))), _text(), 128),
        "BERT-base, torchao int8 (vs torchao eager)": (
            lambda: T.BertModel(T.BertConfig(num_hidden_layers=layers(12))), _text(), 128,
            _torchao),
        "MPNet-base": (lambda: T.MPNetModel(T.MPNetConfig(num_hidden_layers=layers(12))),
                       _text(low=3), 128),
        "OPT-125m (use_cache=False)": (
            lambda: T.OPTModel(T.OPTConfig(num_hidden_layers=layers(12))),
            lambda b, s: ((_ids(b, s, low=3, vocab=50272),),
                          {"attention_mask": torch.ones(b, s, dtype=torch.long),
                           "use_cache": False}), 128),
        "Llama-style 8x512 (use_cache=False)": (lambda: T.LlamaModel(T.LlamaConfig(
            vocab_size=32000, hidden_size=512, intermediate_size=1408,
            num_hidden_layers=layers(8), num_attention_heads=8, num_key_value_heads=2)),
            lambda b, s: ((_ids(b, s, vocab=32000),), {"use_cache": False}), 128),
        "EmbeddingBag 8-bit, 1M x 64, sum, 256 bags": (
            lambda: _Bags(1_000_000, 64, "sum"), _bags(1_000_000, 256), 32, _quantized_bags),
        "EmbeddingBag 4-bit, 1M x 64, sum, 256 bags": (
            lambda: _Bags(1_000_000, 64, "sum"), _bags(1_000_000, 256), 32,
            _quantized_bags_4bit),
    }


def _eager(config):
    config._attn_implementation = "eager"
    return config


def _torchao(model):
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    quantize_(model, Int8DynamicActivationInt8WeightConfig())
    return model


class _Bags(torch.nn.Module):
    """A recommendation model's lookup: one bag of ids per row (DLRM)."""

    def __init__(self, rows, dim, mode):
        super().__init__()
        self.bags = torch.nn.EmbeddingBag(rows, dim, mode=mode)

    def forward(self, ids, offsets):
        return self.bags(ids, offsets)


def _bags(rows, bags):
    """b x `bags` bags of s ids each, flattened with offsets."""
    return lambda b, s: ((torch.randint(0, rows, (b * bags * s,)),
                          torch.arange(0, b * bags * s, s)), {})


def _quantized_bags(model, qconfig=None):
    from torch.ao.quantization import float_qparams_weight_only_qconfig
    return torch.ao.quantization.quantize_dynamic(
        model, {torch.nn.EmbeddingBag: qconfig or float_qparams_weight_only_qconfig})


def _quantized_bags_4bit(model):
    from torch.ao.quantization import float_qparams_weight_only_qconfig_4bit
    return _quantized_bags(model, float_qparams_weight_only_qconfig_4bit)


def _quantize_linears(model):
    return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _leaf(out):
    return out if isinstance(out, torch.Tensor) else out[0]


def bench_families(quick: bool = False, reps: int = 7, only: str = "") -> list:
    import dqmlir
    rows = []
    for name, (build, inputs, seq, *prepare) in families(quick).items():
        if only.lower() not in name.lower():
            continue
        torch.manual_seed(0)
        row = {"family": name, "seq": seq}
        try:
            q = (prepare[0] if prepare else _quantize_linears)(build().eval())
            args, kwargs = inputs(1, seq)
            t = time.perf_counter()
            c = dqmlir.compile(q, args, kwargs, verbose=False, cache=False)
            row["compile_s"] = time.perf_counter() - t
            with torch.no_grad():
                ref = _leaf(q(*args, **kwargs))
            ours = _leaf(c(*args, **kwargs))
            row["max_diff"] = float((ours - ref).abs().max())
            row["cosine"] = float(torch.nn.functional.cosine_similarity(
                ours.flatten().double(), ref.flatten().double(), dim=0))
            times = {"dqmlir": [], "pytorch_int8": []}
            for _ in range(reps):
                for k, f in (("dqmlir", lambda: c(*args, **kwargs)),
                             ("pytorch_int8", lambda: q(*args, **kwargs))):
                    t = time.perf_counter()
                    with torch.no_grad():
                        f()
                    times[k].append(time.perf_counter() - t)
            row.update({f"{k}_ms": 1e3 * statistics.median(v) for k, v in times.items()})
        except Exception as e:  # noqa: BLE001 (a failing family is a row with its reason)
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"
        rows.append(row)
        print(markdown([row]).splitlines()[-1], flush=True)
    return rows


def _ms(v: float) -> str:
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def markdown(rows: list) -> str:
    lines = ["| family (random weights, batch 1, 1 thread) | tokens | compile s | dqmlir ms | "
             "PyTorch int8 ms | speedup | max \\|diff\\| | cosine |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['family']} | {r['seq']} | failed: {r['error']} | | | | | |")
            continue
        diff = "0 (bit-exact)" if r["max_diff"] == 0.0 else f"{r['max_diff']:.2g}"
        lines.append(
            f"| {r['family']} | {r['seq']} | {r['compile_s']:.1f} | {_ms(r['dqmlir_ms'])} | "
            f"{_ms(r['pytorch_int8_ms'])} | {r['pytorch_int8_ms'] / r['dqmlir_ms']:.2f}x | "
            f"{diff} | {r['cosine']:.6f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    import os
    import warnings
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="the families whose name contains this")
    a = ap.parse_args()
    torch.backends.quantized.engine = "fbgemm"
    torch.set_num_threads(1)
    print(markdown(bench_families(a.quick, only=a.only)))
