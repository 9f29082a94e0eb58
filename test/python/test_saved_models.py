"""Saved models: save, load, the C runtime and dq-run, bad directories."""
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import MKL_INTEL_KERNELS, quantize, record_parity, run_python, tiny_bert, token_batch

import dqmlir

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DQMLIR_BUILD_DIR") or REPO / "build")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, bert_q):
    q, c = bert_q
    path = tmp_path_factory.mktemp("saved") / "bert"
    c.save(path)
    return q, c, path


def test_load_gives_the_same_results_and_types(saved):
    q, c, path = saved
    loaded = dqmlir.load(path)
    for b, s in [(1, 7), (3, 16), (2, 33)]:
        ids, mask = token_batch(b, s, pad_from=[s // 2] if b > 1 else None, seed=b * s)
        ref = q(ids, attention_mask=mask)
        out = loaded(ids, attention_mask=mask)
        assert type(out) is type(ref)
        assert record_parity(out.last_hidden_state, ref.last_hidden_state) == 0
        assert torch.equal(out.pooler_output, c(ids, attention_mask=mask).pooler_output)


def test_loaded_model_checks_like_the_compiled_one(saved):
    _, c, path = saved
    loaded = dqmlir.load(path)
    ids, mask = token_batch(2, 8)
    for model in (c, loaded):
        with pytest.raises(TypeError, match="unexpected keyword argument 'atention_mask'"):
            model(ids, atention_mask=mask)
        with pytest.raises(ValueError, match=r"'attention_mask' dim 1 is 7 but must equal "
                                             r"argument 'input_ids' dim 1 \(8\)"):
            model(ids, attention_mask=mask[:, :7])
        with pytest.raises(IndexError, match="embeddings.word_embeddings"):
            model(torch.full((2, 8), 100), attention_mask=mask)


def test_load_imports_neither_mlir_nor_torch_mlir(saved):
    _, _, path = saved
    r = run_python(f"""
import sys, time, torch
t = time.perf_counter()
import dqmlir
m = dqmlir.load({str(path)!r})
out = m(torch.zeros(1, 4, dtype=torch.long), attention_mask=torch.ones(1, 4, dtype=torch.long))
print("load_s", time.perf_counter() - t)
bad = [k for k in sys.modules if k == "mlir" or k.startswith("mlir.") or k.startswith("torch_mlir")]
print("modules", bad)
""")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "modules []" in r.stdout, r.stdout


def test_save_replaces_a_model_directory(saved, tmp_path):
    _, c, _ = saved
    c.save(tmp_path / "m")
    c.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(
        ["manifest.json", "interface.json", "model.so", "weights.bin"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        c.save(tmp_path / "other")


def _copy(path, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(path, dst)
    return dst


def test_truncated_weights(saved, tmp_path):
    d = _copy(saved[2], tmp_path)
    data = (d / "weights.bin").read_bytes()
    (d / "weights.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(dqmlir.ModelFormatError, match=r"weights.bin: \d+ bytes, the manifest "
                                                      r"says \d+ \(truncated or replaced\)"):
        dqmlir.load(d)


def test_changed_weights(saved, tmp_path):
    d = _copy(saved[2], tmp_path)
    data = bytearray((d / "weights.bin").read_bytes())
    data[len(data) // 3] ^= 0x40
    (d / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(dqmlir.ModelFormatError, match="weights.bin: its CRC32C differs"):
        dqmlir.load(d)
    dqmlir.load(d, verify=False)  # the user may skip the check


def test_changed_interface_and_library(saved, tmp_path):
    d = _copy(saved[2], tmp_path)
    iface = (d / "interface.json").read_text()
    (d / "interface.json").write_text(iface.replace('"int64"', '"int32"', 1))
    with pytest.raises(dqmlir.ModelFormatError, match="interface.json"):
        dqmlir.load(d)
    d2 = tmp_path / "copy2"
    shutil.copytree(saved[2], d2)
    lib = (d2 / "model.so").read_bytes()
    (d2 / "model.so").write_bytes(lib[:1000])
    with pytest.raises(dqmlir.ModelFormatError, match="model.so"):
        dqmlir.load(d2)


def test_other_version_and_missing_files(saved, tmp_path):
    d = _copy(saved[2], tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["dqmlir_version"] = "0.0.1"
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(dqmlir.ModelFormatError, match=r"written by dqmlir 0.0.1"):
        dqmlir.load(d)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(dqmlir.ModelFormatError, match="manifest.json"):
        dqmlir.load(d)
    with pytest.raises(dqmlir.ModelFormatError, match="no such file"):
        dqmlir.load(tmp_path / "nowhere")


def test_cpu_without_a_required_feature(saved, tmp_path):
    d = _copy(saved[2], tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["target"]["features"].append("avx512vp2intersect")   # no Xeon has it
    (d / "manifest.json").write_text(json.dumps(m))
    if "avx512_vp2intersect" in open("/proc/cpuinfo").read():
        pytest.skip("this CPU has avx512vp2intersect")
    with pytest.raises(dqmlir.ModelFormatError, match="this machine lacks: avx512vp2intersect"):
        dqmlir.load(d)
    m["target"]["features"][-1] = "madeup-feature"
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(dqmlir.ModelFormatError, match="madeup-feature \\(unknown to this runtime\\)"):
        dqmlir.load(d)


def test_dq_run_equals_the_python_call(saved, tmp_path):
    _, c, path = saved
    ids, mask = token_batch(3, 12, pad_from=[5], seed=7)
    np.save(tmp_path / "ids.npy", ids.numpy())
    np.save(tmp_path / "mask.npy", mask.numpy())
    dq_run = BUILD / "bin" / "dq-run"
    r = subprocess.run([str(dq_run), str(path), "--input", f"input_ids={tmp_path / 'ids.npy'}",
                        "--input", f"attention_mask={tmp_path / 'mask.npy'}",
                        "--output", str(tmp_path / "out"), "--bench", "5"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "latency over 5 runs: median" in r.stdout
    ref = c(ids, attention_mask=mask)
    for name in ("last_hidden_state", "pooler_output"):
        got = torch.from_numpy(np.load(tmp_path / "out" / f"{name}.npy"))
        assert torch.equal(got, getattr(ref, name)), name


def test_dq_run_errors(saved, tmp_path):
    path = saved[2]
    np.save(tmp_path / "ids.npy", np.zeros((1, 4), dtype=np.int32))
    dq_run = BUILD / "bin" / "dq-run"
    r = subprocess.run([str(dq_run), str(path), "--input", f"input_ids={tmp_path / 'ids.npy'}"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "no --input attention_mask" in r.stderr
    r = subprocess.run([str(dq_run), str(path), "--input", f"input_ids={tmp_path / 'ids.npy'}",
                        "--input", f"attention_mask={tmp_path / 'ids.npy'}"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "must have dtype int64, got int32" in r.stderr


def test_dq_run_needs_neither_python_nor_mlir():
    out = subprocess.run(["ldd", str(BUILD / "bin" / "dq-run")], capture_output=True,
                         text=True).stdout
    assert "libdqmlir_runtime" in out
    assert "python" not in out.lower() and "libMLIR" not in out and "libLLVM" not in out


def test_c_example(saved, tmp_path):
    exe = BUILD / "bin" / "dqmlir-embed-example"
    assert exe.exists(), "examples/c/embed.c is built with the project"
    r = subprocess.run([str(exe), str(saved[2]), "1", "5", "9", "2"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ids = torch.tensor([[1, 5, 9, 2]])
    ref = saved[1](ids, attention_mask=torch.ones_like(ids)).last_hidden_state.mean(1)[0]
    printed = [float(v) for v in r.stdout.split(":")[-1].split()[:8]]
    assert np.allclose(printed, ref[:8].tolist(), atol=1e-5)


@pytest.mark.parametrize("target,kernel", [("avx512-vnni", "vnni"), ("x86-64-v3", "avx2")])
def test_named_targets(target, kernel):
    if target != "x86-64-v3" and "avx512_vnni" not in open("/proc/cpuinfo").read():
        pytest.skip("no AVX-512 VNNI here")
    q = quantize(tiny_bert(layers=1))
    ids, mask = token_batch(2, 16)
    c = dqmlir.compile(q, (ids,), {"attention_mask": mask}, target=target, cache=False)
    assert c.manifest["target"]["name"] == target
    assert c.manifest["target"]["kernel"] == kernel
    ids, mask = token_batch(2, 11, seed=3)
    got = c(ids, attention_mask=mask).last_hidden_state
    if target == "x86-64-v3" and torch.backends.cpu.get_cpu_capability() != "AVX2":
        want = _pytorch_on_avx2(ids, mask)
    else:
        want = q(ids, attention_mask=mask).last_hidden_state
    if MKL_INTEL_KERNELS:
        assert record_parity(got, want) == 0
    else:   # SDPA: MKL's sgemm sums small blocks in another order (conftest)
        torch.testing.assert_close(got, want, rtol=0, atol=4e-5)


def _pytorch_on_avx2(ids, mask):
    """The test model's output as PyTorch computes it on an AVX2-only CPU:
    a child process with ATen's AVX2 dispatch and oneDNN's AVX2 kernels
    (fbgemm cannot be limited, but with reduce_range its VNNI and AVX2
    sums agree)."""
    out = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"dqmlir-avx2-ref-{os.getpid()}.pt"
    code = f"""
import sys, torch
sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r})
from conftest import quantize, tiny_bert
assert torch.backends.cpu.get_cpu_capability() == "AVX2"
q = quantize(tiny_bert(layers=1))
ids, mask = torch.tensor({ids.tolist()}), torch.tensor({mask.tolist()})
torch.save(q(ids, attention_mask=mask).last_hidden_state, {str(out)!r})
"""
    r = run_python(code, env={"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert r.returncode == 0, r.stderr[-2000:]
    try:
        return torch.load(out)
    finally:
        out.unlink()
