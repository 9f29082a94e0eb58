"""Where a call's time goes, by op kind: `dqmlir.profile(compiled, *args)`.

A model compiled with `profile=True` ticks a clock after each of its ops
(dq-profile-ops); the runtime adds each interval to the op's kind. This
runs the call `reps` times after `warmup` calls and returns the sums per
call. The kinds are the ops as compiled (dq ops, linalg ops), before any
kernel: an int8 linear's activation range, quantization, kernel and
epilogue are one kind. What the runtime does around the code (input
checks, output tensors) is the difference between `wall_ms` and `total_ms`.
"""
from __future__ import annotations

import dataclasses
import time
from typing import List

from . import runtime


@dataclasses.dataclass
class Profile:
    rows: List[tuple]        # (kind, ms per call, share of total_ms, ops per call), largest first
    total_ms: float          # the ticked time per call
    wall_ms: float           # one call from Python, mean
    reps: int

    def __str__(self) -> str:
        w = max([len(r[0]) for r in self.rows] + [34])
        lines = [f"{'op kind':<{w}} {'ms/call':>9} {'share':>7} {'ops/call':>9}"]
        for kind, ms, share, ops in self.rows:
            lines.append(f"{kind:<{w}} {ms:>9.3f} {share:>7.1%} {ops:>9.0f}")
        lines.append(f"{'total in compiled code':<{w}} {self.total_ms:>9.3f}")
        lines.append(f"{'call from Python (mean of ' + str(self.reps) + ')':<{w}} "
                     f"{self.wall_ms:>9.3f}")
        return "\n".join(lines)


def profile(compiled, *args, reps: int = 20, warmup: int = 3, **kwargs) -> Profile:
    """Calls `compiled(*args, **kwargs)` `warmup` + `reps` times and returns
    the time of its op kinds per call (`print()` it for a table)."""
    kinds = getattr(compiled, "manifest", {}).get("profile")
    if not kinds:
        raise ValueError("this model was compiled without profiling: compile it with "
                         "dqmlir.compile(..., profile=True)")
    if reps < 1 or warmup < 0:
        raise ValueError(f"reps must be >= 1 and warmup >= 0, got {reps} and {warmup}")
    for _ in range(warmup):
        compiled(*args, **kwargs)
    ext = runtime._ext()
    ext.profile_reset()
    t0 = time.perf_counter()
    for _ in range(reps):
        compiled(*args, **kwargs)
    wall = (time.perf_counter() - t0) / reps
    sums = ext.profile_read()
    total = sum(s for s, _ in sums) / reps
    rows = []
    for k, (seconds, ops) in enumerate(sums):
        if ops == 0:
            continue
        name = kinds[k] if k < len(kinds) else f"kind {k}"
        ms = seconds / reps * 1e3
        rows.append((name, ms, seconds / reps / total if total else 0.0, ops / reps))
    rows.sort(key=lambda r: -r[1])
    return Profile(rows, total * 1e3, wall * 1e3, reps)
