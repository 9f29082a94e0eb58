"""Runs a compile stage in a child process, so that nothing it does can take
the user's process down.

torch-mlir and MLIR are C++ built with assertions: an unexpected model makes
them abort (SIGABRT) or loop while their memory grows. The stages that run
them (import with torch-mlir, lowering, code generation) run in a forked
child: it shares the parent's memory copy-on-write (the exported program, the
weights), so nothing has to be serialized on the way in; its result comes
back pickled through a pipe. The child's address space is limited
(RLIMIT_AS) and it gets a deadline; a crash, an exception, running out of
memory or time all become a `CompileError` (or the stage's own
`UnsupportedModuleError`) in the parent, with the tail of what the child
printed on stderr.

DQMLIR_COMPILE_MEMORY_MB (default: half the machine's memory) and
DQMLIR_COMPILE_TIMEOUT_S (default 1800) set the limits;
DQMLIR_COMPILE_IN_PROCESS=1 runs stages in the calling process (debugging).
"""
from __future__ import annotations

import builtins
import gc
import os
import pickle
import resource
import select
import signal
import sys
import tempfile
import time
from typing import Any, Callable

from . import errors

_DEFAULT_TIMEOUT_S = 1800
_TAIL = 4000


def _memory_budget() -> int:
    mb = os.environ.get("DQMLIR_COMPILE_MEMORY_MB")
    if mb:
        return int(mb) << 20
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 16 << 30
    return max(total // 2, 2 << 30)


def _address_space() -> int:
    """Bytes of address space this process maps now (VmSize)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def run(fn: Callable[[], Any], stage: str, timeout: float | None = None,
        meanwhile: Callable[[], Any] | None = None) -> Any:
    """fn() in a forked child; its (picklable) result, or its error raised
    here. `stage` names the stage in errors. `meanwhile()`, if given, runs
    here while the child works (its error, if any, is raised after the
    child is stopped)."""
    if os.environ.get("DQMLIR_COMPILE_IN_PROCESS") or not hasattr(os, "fork"):
        if meanwhile is not None:
            meanwhile()
        return fn()
    timeout = timeout or float(os.environ.get("DQMLIR_COMPILE_TIMEOUT_S") or _DEFAULT_TIMEOUT_S)
    limit = _address_space() + _memory_budget()
    err = tempfile.TemporaryFile()
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            # The parent's objects are not the child's to collect: garbage
            # such as an earlier compile's MLIR context would run its
            # destructor here, which joins a thread pool whose threads
            # exist only in the parent (a deadlock in pthread_cond_destroy,
            # seen as a compile that hangs until its deadline).
            gc.freeze()
            os.close(r)
            os.dup2(err.fileno(), 2)
            # A crash is reported by the parent, with the stderr captured here.
            import faulthandler
            faulthandler.disable()
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            _single_threaded_torch()
            try:
                payload = pickle.dumps(("ok", fn()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as e:  # noqa: BLE001 - everything goes to the parent
                payload = pickle.dumps(("error", _describe(e)))
            with os.fdopen(w, "wb") as f:
                f.write(payload)
        finally:
            os._exit(0)
    os.close(w)
    if meanwhile is not None:
        try:
            meanwhile()
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            err.close()
            raise
    data, timed_out = _read_all(r, time.monotonic() + timeout)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    err.seek(0)
    stderr = err.read().decode(errors="replace")
    err.close()
    if timed_out:
        raise errors.CompileError(f"{stage} did not finish within {timeout:.0f} s "
                                  f"(DQMLIR_COMPILE_TIMEOUT_S){_tail(stderr)}", stage)
    if not data:
        why = _status(status)
        if "out of memory" in stderr or "bad_alloc" in stderr:
            why += f", out of memory: limit {limit >> 20} MiB of address space, " \
                   "DQMLIR_COMPILE_MEMORY_MB"
        raise errors.CompileError(f"{stage} crashed ({why}){_tail(stderr)}", stage)
    kind, value = pickle.loads(data)
    if kind == "ok":
        return value
    raise _rebuild(value, stage, stderr, limit)


def _single_threaded_torch() -> None:
    # The parent's OpenMP pool does not exist in the child; one thread keeps
    # ATen from entering a parallel region there.
    mod = sys.modules.get("torch")
    if mod is not None:
        mod.set_num_threads(1)


def _read_all(fd: int, deadline: float) -> tuple:
    chunks = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return b"".join(chunks), True
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
    finally:
        os.close(fd)


def _describe(e: BaseException) -> tuple:
    message = str(e)
    if type(e).__module__ != errors.__name__:
        import traceback
        frames = traceback.format_tb(e.__traceback__)[-3:]
        message += "\n" + "".join(frames).rstrip()
    return (type(e).__module__, type(e).__qualname__, message)


def _rebuild(info: tuple, stage: str, stderr: str, limit: int) -> Exception:
    module, name, message = info
    if module == errors.__name__ and hasattr(errors, name):
        cls = getattr(errors, name)
        return cls(message, stage) if cls is errors.CompileError else cls(message)
    if name == "MemoryError":
        return errors.CompileError(f"{stage} ran out of memory (limit {limit >> 20} MiB of "
                                   f"address space, DQMLIR_COMPILE_MEMORY_MB)", stage)
    if module == "builtins" and name in ("TypeError", "ValueError", "IndexError"):
        return getattr(builtins, name)(message)
    return errors.CompileError(f"{stage} failed: {name}: {message}{_tail(stderr)}", stage)


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return f"signal {name}"
    code = os.WEXITSTATUS(status)
    return f"exit status {code}"


def _tail(stderr: str) -> str:
    text = stderr.strip()
    if not text:
        return ""
    if len(text) > _TAIL:
        text = "..." + text[-_TAIL:]
    return "\n" + text
