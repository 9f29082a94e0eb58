"""Compile stages run in a child process (isolate.py): what goes wrong there
becomes an exception in the caller, which survives."""
import os
import time

import pytest
import torch
from conftest import quantize

import dqmlir
from dqmlir import isolate


def test_result_comes_back():
    big = torch.arange(1000)
    assert isolate.run(lambda: int(big.sum()), stage="sum") == 499500


def test_meanwhile_runs_while_the_child_works(tmp_path):
    """The parent's work overlaps the child's: each waits to see the other
    running (files as signals), which only happens if both run at once."""
    started, seen = tmp_path / "child-started", tmp_path / "parent-saw-it"

    def wait_for(path):
        for _ in range(1000):
            if path.exists():
                return True
            time.sleep(0.01)
        return False

    def child():
        started.touch()
        return wait_for(seen)

    def meanwhile():
        assert wait_for(started)
        seen.touch()
    assert isolate.run(child, "stage", meanwhile=meanwhile) is True


def test_an_error_meanwhile_stops_the_child():
    def fail():
        raise ValueError("meanwhile failed")
    before = set(os.listdir("/proc"))
    with pytest.raises(ValueError, match="meanwhile failed"):
        isolate.run(lambda: time.sleep(30), "stage", meanwhile=fail)
    # The child is gone (killed and reaped), not left sleeping.
    time.sleep(0.1)
    children = [p for p in set(os.listdir("/proc")) - before if p.isdigit()]
    for pid in children:
        try:
            with open(f"/proc/{pid}/stat") as f:
                assert f.read().split()[3] != str(os.getpid())
        except FileNotFoundError:
            pass


def test_abort_becomes_compile_error():
    with pytest.raises(dqmlir.CompileError, match=r"stage x crashed \(signal SIGABRT\)") as e:
        isolate.run(os.abort, stage="stage x")
    assert e.value.stage == "stage x"


def test_stderr_of_the_child_is_in_the_error():
    def fail():
        os.write(2, b"Assertion `index < size' failed.\n")
        os.abort()
    with pytest.raises(dqmlir.CompileError, match="Assertion `index < size' failed"):
        isolate.run(fail, stage="s")


def test_memory_is_bounded(monkeypatch):
    monkeypatch.setenv("DQMLIR_COMPILE_MEMORY_MB", "256")

    def grow():
        blocks = []
        while True:
            blocks.append(bytearray(16 << 20))
    start = time.monotonic()
    with pytest.raises(dqmlir.CompileError, match="out of memory"):
        isolate.run(grow, stage="grow")
    assert time.monotonic() - start < 30


def test_deadline(monkeypatch):
    monkeypatch.setenv("DQMLIR_COMPILE_TIMEOUT_S", "1")
    with pytest.raises(dqmlir.CompileError, match="did not finish within 1 s"):
        isolate.run(lambda: time.sleep(60), stage="sleep")


def test_exceptions_keep_their_class():
    def unsupported():
        raise dqmlir.UnsupportedModuleError("op foo in module 'a.b'")
    with pytest.raises(dqmlir.UnsupportedModuleError, match="op foo in module 'a.b'"):
        isolate.run(unsupported, stage="s")
    with pytest.raises(dqmlir.CompileError, match="KeyError"):
        isolate.run(lambda: {}["missing"], stage="s")


class _MaskIndex(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x):
        y = self.fc(x)
        return y[y > 0]


class _Item(torch.nn.Module):
    def forward(self, x):
        n = int(x.abs().max().item())
        return torch.zeros(n)


@pytest.mark.parametrize("module", [_MaskIndex, _Item])
def test_data_dependent_shapes_are_refused_quickly(module):
    m = module().eval()
    start = time.monotonic()
    with pytest.raises(dqmlir.UnsupportedModuleError, match="depends on the values|depends on "
                                                             "tensor values"):
        dqmlir.compile(quantize(m) if module is _MaskIndex else m, (torch.randn(4, 8),))
    assert time.monotonic() - start < 60


def test_parent_garbage_is_not_collected_in_the_child():
    """An MLIR context whose thread pool ran in the parent, left in a
    reference cycle (an earlier compile's garbage): collected in the child,
    its destructor would wait for threads that exist only in the parent."""
    import gc

    from mlir import ir

    from dqmlir import ir as dqir

    def busy_context():
        ctx = dqir.make_context()
        ctx.enable_multithreading(True)
        with ctx, ir.Location.unknown():
            funcs = "\n".join(f"func.func @f{i}() {{ return }}" for i in range(64))
            ir.Module.parse(f"module {{ {funcs} }}").operation.verify()   # in parallel
        cycle = [ctx]
        cycle.append(cycle)
    gc.disable()
    try:
        busy_context()
        start = time.monotonic()
        assert isolate.run(lambda: gc.collect() >= 0, stage="gc", timeout=60)
        assert time.monotonic() - start < 30
    finally:
        gc.enable()
        gc.collect()
