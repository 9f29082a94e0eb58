"""How many threads compiled code splits its work over.

The VNNI and AMX kernels split their rows or weight panels, and the large
float ops their outer loops, over this many threads (`dq-cpu-pipeline
{threads=N}`: scf.parallel -> async tasks on the runtime's thread pool,
lib/Runtime/AsyncRuntime.cpp). It is fixed when a model is compiled:
`compile(..., threads=n)`, or the default set here: 1, or DQMLIR_NUM_THREADS.
1 gives sequential code that needs no thread pool.
"""
import os

_num_threads = None


def get_num_threads() -> int:
    """Threads `compile` uses when not told."""
    if _num_threads is None:
        return max(1, int(os.environ.get("DQMLIR_NUM_THREADS") or 1))
    return _num_threads


def set_num_threads(n: int) -> None:
    """Sets the threads of models compiled from now on (>= 1)."""
    global _num_threads
    n = int(n)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    _num_threads = n
