"""The VNNI and AMX kernels on 2 threads (dq-cpu-pipeline{threads=2}).

Panels split over async tasks must give exactly PyTorch's result: M around
the run-time switch between one chunk and two (2 * 2^24 multiply-adds for
AMX, 2 * 2^22 for the VNNI and AVX2 kernels), N
with a masked last panel, rank 3. Thread-count API and the process-wide
async runtime (engines come and go; the runtime must stay).
"""
import gc

import pytest
import torch
from conftest import HAS_AVX2, HAS_VNNI, KERNEL_TARGETS, disassembly, record_parity, tiny_bert
from test_linear_parity import make_qlinear

import dqmlir
from dqmlir import amx

HAS_AMX = amx.host_has_amx() and amx.request_amx_permission()
KERNELS = [pytest.param("avx2", marks=pytest.mark.skipif(not HAS_AVX2, reason="needs AVX2")),
           pytest.param("vnni", marks=pytest.mark.skipif(not HAS_VNNI, reason="needs AVX512-VNNI")),
           pytest.param("amx", marks=pytest.mark.skipif(not HAS_AMX, reason="needs AMX-INT8"))]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("k,n", [(768, 768), (384, 1536), (200, 1000)])
def test_two_threads_same_as_pytorch(kernel, k, n, per_channel):
    q = make_qlinear(k, n, per_channel=per_channel, seed=k + n)
    compiled = dqmlir.compile(q, (torch.randn(2, k),), threads=2, target=KERNEL_TARGETS[kernel],
                              cache=False)
    assert compiled.threads == 2 and "mlirAsyncRuntimeExecute" in disassembly(compiled)
    torch.manual_seed(n)
    bar = 24 if kernel == "amx" else 22
    switch = -(-2 * 2**bar // (k * n))  # rows from which the kernel splits
    for m in [1, 8, switch - 1, switch, 128, 300, 512]:
        x = torch.randn(m, k) * 2.5 + 0.3
        ours, ref = compiled(x), q(x)
        record_parity(ours, ref)
        assert torch.equal(ours, ref), (m, (ours - ref).abs().max())


@pytest.mark.skipif(not HAS_AMX, reason="needs AMX-INT8")
@pytest.mark.parametrize("lead", [(600,), (1, 300), (8, 64), (17, 16), (3, 128), (2, 1, 300),
                                  (1, 1, 257), (1, 130, 2), (255,)],
                         ids=lambda lead: "x".join(map(str, lead)))
def test_amx_chunks_of_rows_same_as_pytorch(lead):
    # With weights over 1 MiB (1088 x 1000) the AMX kernel splits rows from
    # 128 rows per thread (LinearToAMX.cpp, lib/Utils/RowChunks.h): along the first leading dim that
    # is not 1, if it divides evenly or has 8 entries per thread (17 x 16:
    # 8 and 9), else panels (3 x 128, and 255 rows). The chunks' rows, their
    # results and the masked last panel (N = 1000) must land where one
    # thread puts them.
    q = make_qlinear(1088, 1000, seed=len(lead))
    compiled = dqmlir.compile(q, (torch.randn(*([2] * len(lead)), 1088),), threads=2,
                              target="amx")
    torch.manual_seed(sum(lead))
    x = torch.randn(*lead, 1088) * 2 - 0.5
    ours, ref = compiled(x), q(x)
    record_parity(ours, ref)
    assert torch.equal(ours, ref), (lead, (ours - ref).abs().max())


@pytest.mark.skipif(not HAS_AMX, reason="needs AMX-INT8")
def test_amx_chunks_of_rows_torchao_per_row():
    # Symmetric per-row activations: each chunk reads its rows' own scales.
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    torch.manual_seed(1)
    m = torch.nn.Sequential(torch.nn.Linear(256, 512)).eval()
    quantize_(m, Int8DynamicActivationInt8WeightConfig())
    compiled = dqmlir.compile(m, (torch.randn(2, 2, 256),), threads=2, target="amx")
    assert compiled.ir("dq").count("act symmetric per_row") == 1
    for lead in [(2, 300), (1, 600), (3, 100)]:
        x = torch.randn(*lead, 256) * torch.linspace(0.1, 4, lead[-1]).unsqueeze(-1)
        with torch.no_grad():
            ref = m(x)
        assert record_parity(compiled(x), ref) == 0, lead


@pytest.mark.skipif(not HAS_VNNI, reason="needs AVX512-VNNI")
def test_rank3_and_threads_api():
    q = make_qlinear(256, 1000, seed=3)
    x = torch.randn(4, 70, 256)
    old = dqmlir.get_num_threads()
    try:
        dqmlir.set_num_threads(3)
        assert dqmlir.get_num_threads() == 3
        c3 = dqmlir.compile(q, (x,))
        assert c3.threads == 3
        assert torch.equal(c3(x), q(x))
        c1 = dqmlir.compile(q, (x,), threads=1)
        assert "mlirAsyncRuntime" not in disassembly(c1)
        assert torch.equal(c1(x), q(x))
        with pytest.raises(ValueError):
            dqmlir.set_num_threads(0)
    finally:
        dqmlir.set_num_threads(old)


@pytest.mark.skipif(not HAS_VNNI, reason="needs AVX512-VNNI")
def test_concurrent_callers_share_the_pool():
    # Several Python threads (the call releases the GIL) each run parallel
    # regions on the one pool of lib/Runtime/AsyncRuntime; every result must
    # still be PyTorch's.
    import threading

    q = make_qlinear(384, 512, seed=9)
    c = dqmlir.compile(q, (torch.randn(2, 384),), threads=2)
    inputs = [torch.randn(m, 384) for m in (200, 256, 333)]
    refs = [q(x) for x in inputs]
    errors = []

    def work(i):
        for r in range(60):
            j = (i + r) % 3
            if not torch.equal(c(inputs[j]), refs[j]):
                errors.append((i, r))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.skipif(not HAS_VNNI, reason="needs AVX512-VNNI")
def test_calls_after_the_pool_fell_asleep():
    # Pool threads sleep after DQMLIR_ASYNC_SPIN_US (100 us) without tasks;
    # a 2-thread call wakes them as it starts (Invoker), ahead of its first
    # region. Woken threads that find no task go back to spinning, then to
    # sleep: calls after idle gaps of every length still get all their tasks run.
    import time

    q = make_qlinear(768, 768, seed=13)
    c = dqmlir.compile(q, (torch.randn(2, 768),), threads=2)
    x = torch.randn(160, 768)
    ref = q(x)
    for gap_us in [0, 50, 150, 1000, 5000, 0, 20000, 300]:
        time.sleep(gap_us / 1e6)
        assert torch.equal(c(x), ref), gap_us


@pytest.mark.skipif(not HAS_VNNI, reason="needs AVX512-VNNI")
def test_runtime_outlives_engines():
    # The async runtime functions are bound to each engine by name; engines
    # come and go, the process-wide pool stays.
    q = make_qlinear(512, 512, seed=5)
    x = torch.randn(256, 512)
    for _ in range(3):
        c = dqmlir.compile(q, (x,), threads=2)
        assert torch.equal(c(x), q(x))
        del c
        gc.collect()


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_parallel_range_finds_extremes_in_any_chunk(where):
    # threads=2 splits the per-tensor range over row chunks (2^14 floats per
    # thread and more); the extremes may sit in either chunk.
    q = make_qlinear(768, 256, seed=11)
    c = dqmlir.compile(q, (torch.randn(2, 768),), threads=2)
    x = torch.randn(400, 768)
    row = {"first": 0, "middle": 199, "last": 399}[where]
    x[row, 3], x[399 - row, 700] = -37.5, 52.25
    ours, ref = c(x), q(x)
    record_parity(ours, ref)
    assert torch.equal(ours, ref)


class _NormThenLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = torch.nn.LayerNorm(768)
        self.fc = torch.nn.Linear(768, 1000)

    def forward(self, x):
        return self.fc(self.norm(x))


@pytest.mark.parametrize("threads", [2, 3])
def test_row_chunks_of_layer_norm_and_quantize(threads):
    # With threads > 1, dq.layer_norm and the activations' dq.quantize split
    # their rows over an scf.forall from 2^14 floats per thread (43 rows of
    # 768 at 2 threads, 64 at 3), along the first leading dim that is not 1
    # (lib/Utils/RowChunks.h): uneven splits (3 x 128, 5 x 9), chunks of a
    # middle dim (1 x 300 x 768 after a unit dim), just below and above the
    # bar. Each row must land where one thread puts it, bit for bit.
    torch.manual_seed(threads)
    m = _NormThenLinear().eval()
    with torch.no_grad():
        m.norm.weight.uniform_(0.5, 1.5)
        m.norm.bias.normal_(0, 0.1)
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    compiled = dqmlir.compile(q, (torch.randn(2, 2, 768),), threads=threads, cache=False)
    for lead in [(1, 42), (1, 43), (2, 22), (3, 128), (5, 9), (1, 300), (8, 64), (2, 65), (1, 1)]:
        x = torch.randn(*lead, 768) * 3 + 0.5
        x[..., -1, 17] = 40.0  # an outlier in the last row: the range of all chunks
        ours, ref = compiled(x), q(x)
        record_parity(ours, ref)
        assert torch.equal(ours, ref), (lead, (ours - ref).abs().max())


def test_model_on_two_threads_same_bits_as_one():
    # threads=2 also runs the large float ops in parallel (dq-vectorize-linalg
    # {threads}: attention's batch x heads, rows of GELU and softmax): the
    # result must not change by a bit.
    m = tiny_bert(layers=2, hidden=256, heads=4, intermediate=1024, vocab=30522,
                  max_positions=512)
    q = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
    ids = torch.randint(0, 30000, (4, 128))
    kwargs = {"attention_mask": torch.ones(4, 128, dtype=torch.long)}
    c1 = dqmlir.compile(q, (ids,), kwargs, threads=1)
    c2 = dqmlir.compile(q, (ids,), kwargs, threads=2)
    for b, s in [(4, 128), (1, 7), (3, 100)]:
        ids = torch.randint(0, 30000, (b, s))
        mask = torch.ones(b, s, dtype=torch.long)
        mask[0, s // 2:] = 0
        a = c1(ids, attention_mask=mask).last_hidden_state
        assert torch.equal(c2(ids, attention_mask=mask).last_hidden_state, a)
