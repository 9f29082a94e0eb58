"""Where a call's time goes, by op kind and by op: `dqmlir.profile(compiled, *args)`.

A model compiled with `profile=True` ticks a clock after each of its ops
(dq-profile-ops); the runtime adds each interval to the op's entry (its
module path, op and result type: the copies of a layer's op share one).
This runs the call `reps` times after `warmup` calls and returns the sums
per call, by kind and by entry. The ops are as compiled (dq ops, linalg
ops), before any kernel: an int8 linear's activation range, quantization,
kernel and epilogue are one op. What the runtime does around the code
(input checks, output tensors) is the difference between `wall_ms` and
`total_ms`.
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
    # (op: "module path: op -> result type", kind, ms per call, share, runs
    # per call), largest first
    ops: List[tuple] = dataclasses.field(default_factory=list)
    top: int = 15            # how many of `ops` str() shows

    def __str__(self) -> str:
        w = max([len(r[0]) for r in self.rows] + [34])
        lines = [f"{'op kind':<{w}} {'ms/call':>9} {'share':>7} {'ops/call':>9}"]
        for kind, ms, share, ops in self.rows:
            lines.append(f"{kind:<{w}} {ms:>9.3f} {share:>7.1%} {ops:>9.0f}")
        lines.append(f"{'total in compiled code':<{w}} {self.total_ms:>9.3f}")
        lines.append(f"{'call from Python (mean of ' + str(self.reps) + ')':<{w}} "
                     f"{self.wall_ms:>9.3f}")
        if self.ops and self.top > 0:
            lines.append("")
            lines.append(f"the {min(self.top, len(self.ops))} slowest ops "
                         "(module path: op -> result type; a layer's copies are one op)")
            lines.append(f"{'ms/call':>9} {'share':>7} {'runs':>6}  op")
            for op, _, ms, share, runs in self.ops[:self.top]:
                lines.append(f"{ms:>9.3f} {share:>7.1%} {runs:>6.0f}  {op}")
        return "\n".join(lines)


def profile(compiled, *args, reps: int = 20, warmup: int = 3, top: int = 15,
            **kwargs) -> Profile:
    """Calls `compiled(*args, **kwargs)` `warmup` + `reps` times and returns
    the time of its op kinds and of its ops per call (`print()` it for the
    kinds' table and the `top` slowest ops)."""
    manifest = getattr(compiled, "manifest", {})
    kinds = manifest.get("profile")
    entries = manifest.get("profile_ops")
    if not kinds:
        raise ValueError("this model was compiled without profiling: compile it with "
                         "dqmlir.compile(..., profile=True)")
    if reps < 1 or warmup < 0 or top < 0:
        raise ValueError(f"reps must be >= 1, warmup and top >= 0, got {reps}, {warmup} "
                         f"and {top}")
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
    share = (lambda seconds: seconds / reps / total) if total else (lambda seconds: 0.0)
    by_kind: dict = {}
    ops = []
    for k, (seconds, runs) in enumerate(sums):
        if runs == 0:
            continue
        kind, label = entries[k] if entries and k < len(entries) else (None, f"entry {k}")
        name = kinds[kind] if kind is not None and kind < len(kinds) else "other"
        ops.append((label, name, seconds / reps * 1e3, share(seconds), runs / reps))
        s, n = by_kind.get(name, (0.0, 0))
        by_kind[name] = (s + seconds, n + runs)
    rows = [(name, s / reps * 1e3, share(s), n / reps) for name, (s, n) in by_kind.items()]
    rows.sort(key=lambda r: -r[1])
    ops.sort(key=lambda r: -r[2])
    return Profile(rows, total * 1e3, wall * 1e3, reps, ops, top)
