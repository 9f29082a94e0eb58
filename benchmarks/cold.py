"""How much slower a call gets after the core ran something else (`make bench-cold`).

The interleaved medians of bench.py are well above hot-loop timings of the
same calls on this machine. This measures why, per competitor, on one linear:
each call is timed after `gap` milliseconds of a Python busy loop, which
touches almost no memory. If the slowdown grows with the gap, data and page
translations are being evicted by something other than the caller (other
tenants of the host), and interleaving alone makes every call cold.

A numpy sum over a buffer of the same bytes as the linear's input is the
control: no dqmlir code, same effect.

  python benchmarks/cold.py [--shape MxKxN] [--gaps 0,1,3,10,30] [--reps 15]
"""
from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time

import bench  # noqa: E402  (sets the environment, imports torch and dqmlir)
import dqmlir  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def after_gap(fn, gap: float, reps: int) -> float:
    """Median seconds of fn() when each call follows `gap` seconds of spin."""
    fn()
    times = []
    for _ in range(reps):
        spin(gap)
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="128x768x768", help="M x K x N of the linear")
    ap.add_argument("--gaps", default="0,1,3,10,30", help="milliseconds of busy loop before each call")
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    m, k, n = (int(v) for v in args.shape.split("x"))
    gaps = [float(g) / 1e3 for g in args.gaps.split(",")]

    torch.set_num_threads(1)
    torch.manual_seed(0)
    lin = torch.nn.Linear(k, n).eval()
    q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear},
                                               dtype=torch.qint8)[0]
    compiled = dqmlir.compile(q, (torch.randn(2, k),), threads=1)
    tmp = pathlib.Path(tempfile.mkdtemp())
    sess = bench.ort_session(bench.ort_quantized(lin, (torch.randn(2, k),), ["x"], {"x": {0: "m"}},
                                                 tmp, "cold"), 1)
    x = torch.randn(m, k)
    xn = x.numpy()
    buf = np.random.rand(m * k).astype(np.float32)
    fns = {
        "dqmlir": lambda: compiled(x),
        "PyTorch int8": lambda: q(x),
        "ORT int8": lambda: sess.run(None, {"x": xn}),
        f"numpy sum of {m * k * 4 >> 10} KiB": lambda: buf.sum(),
    }
    print(f"linear {m}x{k}x{n}, 1 thread: median us per call after a busy-loop gap (x: vs no gap)")
    header = "| after | " + " | ".join(fns) + " |"
    print(header)
    print("|" + "---|" * (len(fns) + 1))
    base = {}
    for gap in gaps:
        row = []
        for name, fn in fns.items():
            t = after_gap(fn, gap, args.reps)
            base.setdefault(name, t)
            row.append(f"{t * 1e6:.0f} ({t / base[name]:.1f}x)")
        print(f"| {gap * 1e3:g} ms | " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
