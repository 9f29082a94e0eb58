"""A short, bounded run of the dq-opt fuzz harness (test/fuzz/fuzz_dq_opt.py):
300 inputs (at most ~50 s), fixed seed, against the dq-opt `make check`
builds. Fails on any crash of ours (signal, assertion, LLVM fatal error,
"PLEASE submit a bug report", exit 1 without a diagnostic); timeouts and
upstream-only crashes are reported, not failures. `make fuzz` is the long run.
"""
import json
from pathlib import Path

from conftest import REPO, load_fuzzer

DQ_OPT = REPO / "build" / "bin" / "dq-opt"


def test_fuzz_smoke(tmp_path, capsys):
    assert DQ_OPT.exists(), f"{DQ_OPT} is not built (make build)"
    summary_path = tmp_path / "summary.json"
    crash_dir = tmp_path / "crashes"
    rc = load_fuzzer("fuzz_dq_opt").main([
        "--dq-opt", str(DQ_OPT), "--seed", "1", "--count", "300",
        "--time", "50", "--timeout", "10", "--crash-dir", str(crash_dir),
        "--json", str(summary_path), "-q",
    ])
    summary = json.loads(summary_path.read_text())
    crashes = [s for s in summary["signatures"] if s["category"] == "CRASH"]
    report = "\n".join(
        f"{s['signature']} (input {s['first_input']}, {s['config']}):\n"
        + Path(s["file"]).with_suffix(".txt").read_text()[:3000]
        for s in crashes)
    assert rc == 0 and not crashes, f"dq-opt crashed:\n{report}"
    assert summary["inputs"] >= 50, summary
    counts = summary["counts"]
    assert counts["ok"] > 0 and counts["diagnosed"] > 0, counts
