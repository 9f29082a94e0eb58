"""The buffer cache compiled code allocates from (lib/Runtime/BufferCache.h)."""
import gc

import pytest
import torch

import dqmlir


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(64, 256)
        self.fc2 = torch.nn.Linear(256, 32)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    q = torch.ao.quantization.quantize_dynamic(MLP().eval(), {torch.nn.Linear}, dtype=torch.qint8)
    return q, dqmlir.compile(q, (torch.randn(4, 64),))


@pytest.fixture
def limit():
    before = dqmlir.buffer_cache_stats()["limit_bytes"]
    yield
    dqmlir.trim_buffer_cache(limit_bytes=before)


def test_same_shapes_reuse_every_buffer(model):
    q, c = model
    # The cache keeps at most twice the largest working set seen (all of a
    # call's buffers, not all live at once, add up to more than it). A
    # larger call first, as a test run that starts with this file would
    # otherwise depend on that edge.
    c(torch.randn(128, 64))
    gc.collect()
    x = torch.randn(33, 64)
    c(x)
    gc.collect()
    before = dqmlir.buffer_cache_stats()
    for _ in range(5):
        assert torch.equal(c(x), q(x))
    after = dqmlir.buffer_cache_stats()
    assert after["misses"] == before["misses"]
    assert after["hits"] > before["hits"]


def test_live_results_are_never_handed_out_again(model):
    q, c = model
    xs = [torch.randn(17, 64) for _ in range(6)]
    outs = [c(x) for x in xs]  # all alive at once
    assert len({o.data_ptr() for o in outs}) == len(outs)
    for x, o in zip(xs, outs):
        assert torch.equal(o, q(x))


def test_limit_bounds_what_is_kept(model, limit):
    q, c = model
    dqmlir.trim_buffer_cache(limit_bytes=0)
    for m in (1, 9, 40, 3):
        x = torch.randn(m, 64)
        assert torch.equal(c(x), q(x))
    gc.collect()
    assert dqmlir.buffer_cache_stats()["cached_bytes"] == 0
    dqmlir.trim_buffer_cache(limit_bytes=1 << 16)
    for m in range(1, 60, 7):
        c(torch.randn(m, 64))
    gc.collect()
    assert 0 < dqmlir.buffer_cache_stats()["cached_bytes"] <= 1 << 16


def test_public_api_trims_and_limits(model, limit):
    q, c = model
    c(torch.randn(21, 64))
    gc.collect()
    assert dqmlir.buffer_cache_stats()["cached_bytes"] > 0
    dqmlir.trim_buffer_cache(limit_bytes=0)
    assert dqmlir.buffer_cache_stats()["cached_bytes"] == 0
    assert dqmlir.buffer_cache_stats()["limit_bytes"] == 0
    x = torch.randn(21, 64)
    assert torch.equal(c(x), q(x))
    gc.collect()
    assert dqmlir.buffer_cache_stats()["cached_bytes"] == 0
    with pytest.raises(ValueError):
        dqmlir.trim_buffer_cache(limit_bytes=-1)


def test_large_model_weights_bit_exact():
    # 4 MiB of weights and more: read into the runtime's huge-page arena.
    torch.manual_seed(0)
    big = torch.nn.Sequential(torch.nn.Linear(1024, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 1024))
    q = torch.ao.quantization.quantize_dynamic(big.eval(), {torch.nn.Linear}, dtype=torch.qint8)
    x = torch.randn(3, 40, 1024)
    c = dqmlir.compile(q, (x,))
    assert (c.path / "weights.bin").stat().st_size >= 4 << 20
    assert torch.equal(c(x), q(x))


_LOOP_KEEPS_OUTPUT = """
import resource, torch, torch.nn as nn, dqmlir, warnings
warnings.filterwarnings("ignore")
class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(32, 64, 2)
        self.dec = nn.Linear(64, 4096)
    def forward(self, x):
        return self.dec(self.rnn(x)[0])
torch.manual_seed(0)
q = torch.ao.quantization.quantize_dynamic(LM().eval(), {nn.LSTM, nn.Linear}, dtype=torch.qint8)
c = dqmlir.compile(q, (torch.randn(35, 2, 32),), cache=False, verbose=False)
x = torch.randn(35, 8, 32)      # output: 35 x 8 x 4096 floats, 4.6 MB
for _ in range(3):
    c(x)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    c(x)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def test_loop_buffers_do_not_evict_the_output():
    # A fresh process: the cache's bound is then this model's working set.
    # The recurrence's per-step buffers, all cached at the end of a call,
    # used to evict the 4.6 MB output (1,120 pages faulted in every call).
    from conftest import run_python
    r = run_python(_LOOP_KEEPS_OUTPUT)
    assert r.returncode == 0, r.stderr
    faults = float(r.stdout.strip().splitlines()[-1])
    assert faults < 300, faults


_ENCODER_MISSES = """
import sys, torch, dqmlir
sys.path.insert(0, {test_dir!r})
from conftest import quantize, tiny_bert, token_batch
q = quantize(tiny_bert(layers=2, hidden=128, heads=2, intermediate=512))
ids, mask = token_batch(8, 60)
c = dqmlir.compile(q, (ids,), {{"attention_mask": mask}}, cache=False, verbose=False)
for _ in range(3):
    c(ids, attention_mask=mask)
before = dqmlir.buffer_cache_stats()["misses"]
for _ in range(5):
    c(ids, attention_mask=mask)
print(dqmlir.buffer_cache_stats()["misses"] - before)
"""


def test_an_encoder_call_reuses_every_buffer():
    """A fresh process, so the peak is this model's: an encoder's buffers
    add up to more than its peak of live bytes; bounded by that peak, the
    cache gave some back on every call (BERT-base 1x128: 27 misses a call,
    each a fresh block and its page faults)."""
    import pathlib
    from conftest import run_python
    r = run_python(_ENCODER_MISSES.format(test_dir=str(pathlib.Path(__file__).parent)))
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout.strip().splitlines()[-1]) == 0, r.stdout
