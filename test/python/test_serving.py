"""A compiled model in a server: concurrent callers, varying shapes, memory."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from conftest import quantize, run_python, tiny_bert, token_batch

import dqmlir


@pytest.mark.parametrize("threads", [1, 2])
def test_eight_python_threads_get_the_sequential_results(threads):
    q = quantize(tiny_bert(layers=2, hidden=64))
    ids, mask = token_batch(2, 16)
    c = dqmlir.compile(q, (ids,), {"attention_mask": mask}, threads=threads)
    calls = [token_batch(1 + i % 5, 4 + (7 * i) % 60, pad_from=[3] if i % 3 == 0 else None, seed=i)
             for i in range(48)]
    sequential = [c(i, attention_mask=m).last_hidden_state for i, m in calls]

    def call(k):
        i, m = calls[k]
        return c(i, attention_mask=m).last_hidden_state

    for _ in range(3):
        with ThreadPoolExecutor(8) as pool:
            outs = list(pool.map(call, range(len(calls)) ))
        for o, s in zip(outs, sequential):
            assert torch.equal(o, s)


_GROWTH = r"""
import gc, random, sys, torch, dqmlir
sys.path.insert(0, {test_dir!r})
from conftest import quantize, tiny_bert, token_batch
torch.set_num_threads(1)

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

q = quantize(tiny_bert(layers=2, hidden=64, max_positions=512))
ids, mask = token_batch(2, 16)
c = dqmlir.compile(q, (ids,), {{"attention_mask": mask}})
rng = random.Random(0)
gc.collect()
start = rss()
for i in range(2000):
    b, s = rng.randint(1, 8), rng.randint(1, 512)
    c(*token_batch(b, s, seed=i))
gc.collect()
stats = dqmlir.buffer_cache_stats()
print("growth_mib", (rss() - start) / 2**20, "cached_mib", stats["cached_bytes"] / 2**20,
      "peak_live_mib", stats["peak_live_bytes"] / 2**20)
"""


def test_varying_shapes_do_not_grow_memory():
    import pathlib
    r = run_python(_GROWTH.format(test_dir=str(pathlib.Path(__file__).parent)), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(l for l in r.stdout.splitlines() if l.startswith("growth_mib"))
    fields = line.split()
    growth, cached, peak = float(fields[1]), float(fields[3]), float(fields[5])
    assert growth < 200, line
    assert cached <= 2 * peak + 1e-6, line
