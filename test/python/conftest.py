"""Shared fixtures; a parity summary at the end of the run."""
import warnings

import pytest
import torch

# torch.ao.quantization warns that it is deprecated on every use.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
torch.set_num_threads(1)
torch.backends.quantized.engine = "fbgemm"

PARITY = {"cases": 0, "max_abs": 0.0, "max_ulp": 0, "exact": 0}


def _has_vnni() -> bool:
    try:
        return "avx512_vnni" in open("/proc/cpuinfo").read()
    except OSError:
        return False


HAS_VNNI = _has_vnni()


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


def pytest_terminal_summary(terminalreporter):
    if PARITY["cases"]:
        terminalreporter.write_line(
            f"parity vs PyTorch: {PARITY['cases']} cases, {PARITY['exact']} bit-exact, "
            f"largest |diff| {PARITY['max_abs']:.3g}, largest {PARITY['max_ulp']} ulp")


@pytest.fixture(scope="session")
def has_vnni():
    return HAS_VNNI
