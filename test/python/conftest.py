"""Shared fixtures; a parity summary at the end of the run."""
import importlib.util
import os
import pathlib
import re
import sys
import tempfile
import warnings

import pytest
import torch

# Every test run starts with an empty compile cache: the tests compile.
os.environ["DQMLIR_CACHE_DIR"] = tempfile.mkdtemp(prefix="dqmlir-test-cache-")

# torch.ao.quantization warns that it is deprecated on every use.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
torch.set_num_threads(1)
torch.backends.quantized.engine = "fbgemm"

PARITY = {"cases": 0, "max_abs": 0.0, "max_ulp": 0, "exact": 0}


def _cpuinfo() -> str:
    try:
        return open("/proc/cpuinfo").read()
    except OSError:
        return ""


_CPUINFO = _cpuinfo()
HAS_VNNI = "avx512_vnni" in _CPUINFO
HAS_AVX512F = re.search(r"^flags\s*:.*\bavx512f\b", _CPUINFO, re.M) is not None
HAS_AVX2 = re.search(r"^flags\s*:.*\bavx2\b", _CPUINFO, re.M) is not None


# PyTorch's CPU flash attention multiplies with MKL's sgemm, whose kernels
# for small blocks depend on the CPU's vendor. dq.flash_* reproduce the ones
# MKL runs on Intel CPUs; elsewhere (AMD) its small-block kernels sum in
# another order and SDPA agrees within a rounding bound, not bit for bit.
MKL_INTEL_KERNELS = re.search(r"^vendor_id\s*:\s*GenuineIntel$", _CPUINFO, re.M) is not None

REPO = pathlib.Path(__file__).resolve().parents[2]


class Fn(torch.nn.Module):
    """A one-input module computing fn(x): one op or a short chain, to compile
    and compare with PyTorch."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def load_fuzzer(name: str):
    """test/fuzz/<name>.py as a module (the fuzzers are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "test" / "fuzz" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def record_parity(ours: torch.Tensor, ref: torch.Tensor) -> int:
    """Adds a case to the summary; returns its largest distance in ulps."""
    assert ours.shape == ref.shape and ours.dtype == ref.dtype == torch.float32
    a = ours.contiguous().view(torch.int32).to(torch.int64)
    b = ref.contiguous().view(torch.int32).to(torch.int64)
    # Map float bit patterns to a monotonic integer line.
    a = torch.where(a < 0, -(a & 0x7FFFFFFF), a)
    b = torch.where(b < 0, -(b & 0x7FFFFFFF), b)
    ulp = int((a - b).abs().max()) if a.numel() else 0
    PARITY["cases"] += 1
    PARITY["max_abs"] = max(PARITY["max_abs"], float((ours - ref).abs().max()) if a.numel() else 0.0)
    PARITY["max_ulp"] = max(PARITY["max_ulp"], ulp)
    PARITY["exact"] += int(torch.equal(ours, ref))
    return ulp


def _merge_parity(other: dict) -> None:
    for key in ("cases", "exact"):
        PARITY[key] += other[key]
    for key in ("max_abs", "max_ulp"):
        PARITY[key] = max(PARITY[key], other[key])


def pytest_sessionfinish(session):
    # Under pytest-xdist each worker counts its own cases; it hands them to
    # the controller, which prints the summary (pytest_testnodedown).
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["parity"] = dict(PARITY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    parity = getattr(node, "workeroutput", {}).get("parity")
    if parity:
        _merge_parity(parity)


def pytest_terminal_summary(terminalreporter):
    if PARITY["cases"]:
        terminalreporter.write_line(
            f"parity vs PyTorch: {PARITY['cases']} cases, {PARITY['exact']} bit-exact, "
            f"largest |diff| {PARITY['max_abs']:.3g}, largest {PARITY['max_ulp']} ulp")


@pytest.fixture(scope="session")
def has_vnni():
    return HAS_VNNI


# ---------------------------------------------------------------------------
# Small models shared by the tests (random weights, seeded).
# ---------------------------------------------------------------------------
def quantize(model: torch.nn.Module, per_channel: bool = False) -> torch.nn.Module:
    """torch.ao's quantize_dynamic of every nn.Linear (qint8)."""
    qconfig = (torch.ao.quantization.per_channel_dynamic_qconfig if per_channel
               else torch.ao.quantization.default_dynamic_qconfig)
    return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear: qconfig},
                                                  dtype=torch.qint8)


def tiny_bert(layers: int = 2, hidden: int = 64, heads: int = 2, vocab: int = 100,
              max_positions: int = 64, seed: int = 0, intermediate: int = 0, **config):
    """A random-weight HF BertModel (eval), small enough to compile in seconds
    (intermediate size 2 x hidden unless given)."""
    from transformers import BertConfig, BertModel
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=heads, intermediate_size=intermediate or 2 * hidden,
                     max_position_embeddings=max_positions, **config)
    return BertModel(cfg).eval()


def token_batch(batch: int, seq: int, vocab: int = 100, pad_from=None, seed: int = 0):
    """(input_ids, attention_mask); rows padded from column `pad_from[i]`."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    for i, start in enumerate(pad_from or []):
        mask[i, start:] = 0
    return ids, mask


@pytest.fixture(scope="session")
def bert_q():
    """(quantized tiny BERT, its compiled model with input_ids and attention_mask)."""
    import dqmlir
    q = quantize(tiny_bert())
    ids, mask = token_batch(2, 16)
    return q, dqmlir.compile(q, (ids,), {"attention_mask": mask})


def run_python(code: str, timeout: float = 300, env=None):
    """Runs `code` in a fresh interpreter (for what could kill this one);
    returns the CompletedProcess (stdout, stderr, returncode)."""
    import os
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# ---------------------------------------------------------------------------
# Kernels are chosen by the target CPU level the code is compiled for.
# ---------------------------------------------------------------------------
# "generic" (the linalg path) is no level's kernel: compile_mlir(kernel=)
# picks it on the x86-64-v3 level.
KERNEL_TARGETS = {"amx": "amx", "vnni": "avx512-vnni", "avx2": "x86-64-v3", "generic": "x86-64-v3"}


def disassembly(compiled) -> str:
    """llvm-objdump -d of a compiled model's model.so (its machine code)."""
    import pathlib
    import subprocess

    import mlir
    objdump = next(pathlib.Path(p).parent / "llvm" / "bin" / "llvm-objdump"
                   for p in mlir.__path__)
    return subprocess.run([str(objdump), "-d", str(compiled.path / "model.so")],
                          capture_output=True, text=True, check=True).stdout
