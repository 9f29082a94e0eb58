"""The recurrent table of make bench: PyTorch's dynamic quantization tutorial
model (word-level LSTM language model: embedding, 2-layer LSTM, linear
decoder over the vocabulary) and a GRU of the same size, one thread.

  dqmlir        the quantize_dynamic'd model ({nn.LSTM, nn.Linear}), compiled
  PyTorch int8  the same module (quantized_lstm / quantized_gru, fbgemm)
  ORT int8      the fp32 model exported to ONNX and quantized by
                onnxruntime.quantization.quantize_dynamic (DynamicQuantizeLSTM,
                MatMulInteger; its GRU stays fp32 there)

Calls interleaved, medians; dqmlir is bit-exact with PyTorch int8 (checked
here on the timed inputs).
"""
from __future__ import annotations

import copy
import pathlib
import statistics
import time

import numpy as np
import torch
import torch.nn as nn

VOCAB, EMB, HIDDEN, LAYERS = 10000, 512, 256, 2


class WordLM(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.encoder = nn.Embedding(VOCAB, EMB)
        self.rnn = kind(EMB, HIDDEN, LAYERS)
        self.decoder = nn.Linear(HIDDEN, VOCAB)

    def forward(self, input, hidden):
        out, hidden = self.rnn(self.encoder(input), hidden)
        return self.decoder(out), hidden


def _interleaved(fns: dict, reps: int) -> dict:
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def _ort(model, ids, state, tmp: pathlib.Path, tag: str):
    """An ORT session of the fp32 model quantized dynamically, or the reason."""
    try:
        from bench import ort_session
        from onnxruntime.quantization import QuantType, quantize_dynamic
        fp32, int8 = tmp / f"{tag}.fp32.onnx", tmp / f"{tag}.int8.onnx"
        names = ["ids", "h0"] + (["c0"] if isinstance(state, tuple) else [])
        axes = {"ids": {0: "seq", 1: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"}}
        torch.onnx.export(model, (ids, state), str(fp32), input_names=names,
                          output_names=["logits"], dynamic_axes={n: axes[n] for n in names},
                          opset_version=17, dynamo=False)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        return ort_session(str(int8), 1), names
    except Exception as e:  # noqa: BLE001 (a peer that fails is n/a with its reason)
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"


def bench_recurrent(tmp: pathlib.Path, steps: int = 35, batches=(1, 8), reps: int = 15) -> list:
    import dqmlir
    rows = []
    for kind in (nn.LSTM, nn.GRU):
        torch.manual_seed(0)
        fp32 = WordLM(kind).eval()
        q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32), {kind, nn.Linear},
                                                   dtype=torch.qint8)

        def state(b):
            h = torch.zeros(LAYERS, b, HIDDEN)
            return (h, h.clone()) if kind is nn.LSTM else h

        ids = torch.randint(0, VOCAB, (steps, 1))
        t = time.perf_counter()
        compiled = dqmlir.compile(q, (ids, state(1)), cache=False, verbose=False)
        compile_s = time.perf_counter() - t
        session, names = _ort(fp32, ids, state(1), tmp, kind.__name__)
        for b in batches:
            ids = torch.randint(0, VOCAB, (steps, b))
            st = state(b)
            exact = all(torch.equal(x, y) for x, y in zip(
                torch.utils._pytree.tree_leaves(compiled(ids, st)),
                torch.utils._pytree.tree_leaves(q(ids, st))))
            fns = {"dqmlir": lambda: compiled(ids, st), "pytorch_int8": lambda: q(ids, st)}
            if session is not None:
                feed = {"ids": ids.numpy()}
                flat = st if isinstance(st, tuple) else (st,)
                feed.update({n: s.numpy() for n, s in zip(names[1:], flat)})
                fns["ort_int8"] = lambda: session.run(None, feed)
            with torch.no_grad():
                r = _interleaved(fns, reps)
            rows.append({"model": f"word {kind.__name__} LM", "steps": steps, "batch": b,
                         "exact": exact, "compile_s": compile_s,
                         **{f"{k}_ms": v for k, v in r.items()},
                         "ort_note": None if session is not None else names})
    return rows


def markdown(rows: list) -> str:
    lines = [f"Recurrent (vocabulary {VOCAB}, embedding {EMB}, {LAYERS} layers of {HIDDEN}; "
             "1 thread; ms per call):", "",
             "| model | steps×batch | dqmlir ms | PyTorch int8 | ORT int8 | vs PyTorch int8 | "
             "vs ORT int8 | bit-exact |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dq, ort = r["dqmlir_ms"], r.get("ort_int8_ms")
        ort_ms = f"{ort:.2f}" if ort else "n/a"
        vs_ort = f"{ort / dq:.2f}x" if ort else (r.get("ort_note") or "n/a")
        lines.append(f"| {r['model']} | {r['steps']}×{r['batch']} | {dq:.2f} | "
                     f"{r['pytorch_int8_ms']:.2f} | {ort_ms} | {r['pytorch_int8_ms'] / dq:.2f}x | "
                     f"{vs_ort} | {'yes' if r['exact'] else 'NO'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys
    import tempfile
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        print(markdown(bench_recurrent(pathlib.Path(d))))
