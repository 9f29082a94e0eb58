"""How many threads compiled code runs its quantized linears on.

The VNNI and AMX kernels split their weight panels over this many threads
(`dq-cpu-pipeline{threads=N}`: scf.forall -> async tasks on the thread pool
of MLIR's async runtime, whose size is the number of CPUs this process may
run on). It is fixed when a model is compiled: `compile(..., threads=n)`, or
the default set here: 1 (on the 2-core VM of this project, 2 threads were
not measured faster; DQMLIR_NUM_THREADS overrides it). 1 gives sequential
code that needs no thread pool.
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
