"""A short, seeded slice of the frontend fuzzer (test/fuzz/fuzz_frontend.py):
50 generated modules (new ones stop starting after 150 s), each compiled and
called with good and bad inputs in worker processes. Fails on any crash,
hang, silent difference from PyTorch or unclean exception; unsupported
modules, clean exceptions and tolerance-class (`close`) results are
reported, not failures. `make fuzz-frontend` is the long run.
"""
import json

from conftest import load_fuzzer


def test_fuzz_frontend_smoke(tmp_path):
    summary_path = tmp_path / "summary.json"
    rc = load_fuzzer("fuzz_frontend").main([
        "--seed", "7", "--count", "50", "--jobs", "2", "--time", "150",
        "--crash-dir", str(tmp_path / "crashes"), "--json", str(summary_path), "-q",
    ])
    summary = json.loads(summary_path.read_text())
    failures = [f for f in summary["failures"]
                if f["class"] in ("crash", "hang", "silent_difference", "unclean_exception")]
    report = "\n".join(f"{f['class']} x{f['count']} (module {f['first_module']}, {f['step']}): "
                       f"{f['signature']}\n  {f['repro']}" for f in failures)
    assert rc == 0 and not failures, f"frontend fuzzer failures:\n{report}"
    assert summary["modules"] >= 30, summary
    assert summary["compiles"]["compiled"] >= 20, summary["compiles"]
    assert summary["calls"]["equal"] > 0, summary["calls"]
