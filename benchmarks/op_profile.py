"""Where one call of a model spends its time, by op kind (`make profile`).

    python benchmarks/op_profile.py [MODEL] [--batch B] [--seq S] [--threads T] [--reps N]

MODEL: all-MiniLM-L6-v2, or (part of) a name in the family table of
benchmarks/families.py: BERT-base, GPT-2, Whisper, ViT, Wav2Vec2, ... (random
weights, quantize_dynamic'd as there). The model is compiled with
`profile=True` and called N times; the table is dqmlir.profile's.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))


def _model(name: str, batch: int, seq: int | None):
    import families

    if name.lower() in ("minilm", "all-minilm-l6-v2"):
        import bench
        model = bench.load_encoder("all-MiniLM-L6-v2")
        ids = torch.randint(1000, 20000, (batch, seq or 128))
        q = families._quantize_linears(model)
        return "all-MiniLM-L6-v2", q, (ids,), {"attention_mask": torch.ones_like(ids)}
    table = families.families()
    matches = [k for k in table if name.lower() in k.lower()]
    if not matches:
        raise SystemExit(f"no model named like {name!r}; one of: all-MiniLM-L6-v2, "
                         + ", ".join(table))
    key = min(matches, key=len)
    build, inputs, default_seq, *prepare = table[key]
    torch.manual_seed(0)
    model = build().eval()
    q = (prepare[0] if prepare else families._quantize_linears)(model)
    args, kwargs = inputs(batch, seq or default_seq)
    return key, q, args, kwargs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="BERT-base")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    import dqmlir

    torch.set_num_threads(a.threads)
    name, model, args, kwargs = _model(a.model, a.batch, a.seq)
    compiled = dqmlir.compile(model, args, kwargs, threads=a.threads, profile=True)
    prof = dqmlir.profile(compiled, *args, reps=a.reps, **kwargs)
    shape = "x".join(str(d) for d in args[0].shape)
    print(f"{name}, input {shape}, {a.threads} thread(s), {a.reps} calls, "
          f"dqmlir {dqmlir.__version__}, kernel {compiled.manifest['target']['kernel']}")
    print(prof)


if __name__ == "__main__":
    main()
