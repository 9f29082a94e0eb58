"""The benchmark suite runs end to end in quick mode (timings are not checked)."""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import bench  # noqa: E402


def test_quick_bench_writes_results(tmp_path):
    assert bench.main(["--quick", "--no-models", "--out", str(tmp_path), "--name", "smoke"]) == 0
    result = json.loads((tmp_path / "smoke.json").read_text())
    row = result["linears"][0]
    for impl in ("dqmlir", "pytorch_int8", "pytorch_fp32", "ort_int8"):
        assert row[f"{impl}_ms"] > 0
    two = [r for r in result["linears"] if r["threads"] == 2]
    assert two and all(r["dqmlir_b2b_ms"] > 0 and r["dqmlir_1t_b2b_ms"] > 0 for r in two)
    assert (tmp_path / "smoke.png").stat().st_size > 1000
    assert "| M | K×N |" in (tmp_path / "smoke.md").read_text()
    assert "% AMX peak" in (tmp_path / "smoke.md").read_text()
    assert "same, back to back" in (tmp_path / "smoke.md").read_text()
    # Weight-bound rows (M <= 8) against a copy of as many bytes.
    small = [r for r in result["linears"] if r["M"] <= bench.WEIGHT_BOUND_ROWS]
    assert small and all(r["weight_gbs"] > 0 and r["copy_gbs"] > 0 for r in small)
    assert all("weight_gbs" not in r for r in result["linears"] if r["M"] > bench.WEIGHT_BOUND_ROWS)
    assert "weights GB/s" in (tmp_path / "smoke.md").read_text()
    assert result["amx_peak_gops"] is None or result["amx_peak_gops"] > 0
