"""The persistent compile cache (cache.py): a second compile of the same
model, in any process, opens the stored library; anything that changes the
model or the options compiles again."""
import pathlib
import subprocess
import sys

import torch
from conftest import Fn, quantize, tiny_bert, token_batch

import dqmlir
from dqmlir import cache

_COMPILE = r"""
import os, sys, time, torch
sys.path.insert(0, {test_dir!r})
from conftest import quantize, tiny_bert, token_batch
os.environ["DQMLIR_CACHE_DIR"] = {cache_dir!r}   # conftest points it elsewhere
t = time.perf_counter()
import dqmlir
q = quantize(tiny_bert(layers=2))
ids, mask = token_batch(2, 16)
c = dqmlir.compile(q, (ids,), {{"attention_mask": mask}}, verbose=False)
ids, mask = token_batch(3, 9, seed=4)
ok = torch.equal(c(ids, attention_mask=mask).last_hidden_state,
                 q(ids, attention_mask=mask).last_hidden_state)
print("result", bool(c.timings.get("cached")), round(c.timings["total"], 3), ok,
      "cache_load.ahead" in c.timings)
"""


def _compile_in_child(cache_dir, n=1):
    code = _COMPILE.format(test_dir=str(pathlib.Path(__file__).parent), cache_dir=str(cache_dir))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=900)
        assert p.returncode == 0, stderr[-3000:]
        line = next(l for l in stdout.splitlines() if l.startswith("result"))
        _, cached, seconds, ok, ahead = line.split()
        out.append((cached == "True", float(seconds), ok == "True", ahead == "True"))
    return out


def test_second_compile_in_a_new_process_is_a_cache_hit(tmp_path):
    (first,) = _compile_in_child(tmp_path)
    (second,) = _compile_in_child(tmp_path)
    assert first[0] is False and first[2]
    assert second[0] is True and second[2]
    assert second[3]           # the hinted entry, opened while the model traced
    print(f"cold compile {first[1]:.2f} s, cached {second[1]:.2f} s")
    assert second[1] < first[1]


def test_two_processes_compiling_at_once(tmp_path):
    results = _compile_in_child(tmp_path, n=2)
    assert all(ok for _, _, ok, _ in results)
    entries = [e for e in tmp_path.iterdir() if not e.name.startswith(".") and
               e.name != cache.HINTS]
    assert len(entries) == 1
    assert sorted(f.name for f in entries[0].iterdir() if not f.name.startswith("stage-")) == \
        ["interface.json", "manifest.json", "model.so", "weights.bin"]
    assert not [e for e in tmp_path.iterdir() if e.name.startswith(".")]   # no leftovers
    (again,) = _compile_in_child(tmp_path)
    assert again[0] is True and again[2]


def test_damaged_entry_is_compiled_again(tmp_path):
    # In a new process (in this one the library and its weights may still be
    # loaded and intact): a truncated weights file is compiled again.
    (first,) = _compile_in_child(tmp_path)
    entry = next(e for e in tmp_path.iterdir() if not e.name.startswith(".") and
                 e.name != cache.HINTS)
    weights = entry / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:100])
    (second,) = _compile_in_child(tmp_path)
    assert first[0] is False and second[0] is False and second[2]
    (third,) = _compile_in_child(tmp_path)
    assert third[0] is True and third[2]


def test_versions_are_the_same_once_torch_mlir_is_imported():
    # A compile imports torch_mlir; the key must not change with that, or a
    # second compile of a model in the same process misses the cache.
    code = ("from dqmlir import cache; before = cache._versions(); import torch_mlir; "
            "cache._VERSIONS = None; after = cache._versions(); "
            "print(before == after and before['torch_mlir'] is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


def test_a_hint_to_another_program_is_not_used(tmp_path, monkeypatch):
    # SDPA and eager attention with the same weights: the same fingerprint
    # (cache_ahead's guess) but two programs. Each compile gets its own
    # entry, whichever the hint names.
    from dqmlir import cache_ahead
    monkeypatch.setenv("DQMLIR_CACHE_DIR", str(tmp_path))
    ids, mask = token_batch(2, 16)
    models = {impl: quantize(tiny_bert(layers=1, attn_implementation=impl))
              for impl in ("sdpa", "eager")}
    prints = {impl: cache_ahead.fingerprint(m, (ids,), {"attention_mask": mask}, {})
              for impl, m in models.items()}
    assert prints["sdpa"] == prints["eager"]

    def compile_and_check(impl):
        m = models[impl]
        c = dqmlir.compile(m, (ids,), {"attention_mask": mask}, verbose=False)
        other_ids, other_mask = token_batch(3, 9, seed=4)
        assert torch.equal(c(other_ids, attention_mask=other_mask).last_hidden_state,
                           m(other_ids, attention_mask=other_mask).last_hidden_state)
        return c.timings
    assert not compile_and_check("sdpa").get("cached")
    assert not compile_and_check("eager").get("cached")       # hinted: the sdpa entry
    again = compile_and_check("sdpa")                         # hinted: the eager entry
    assert again.get("cached") and "cache_load.ahead" not in again
    again = compile_and_check("sdpa")                         # hinted: its own
    assert again.get("cached") and "cache_load.ahead" in again


def test_hints_of_evicted_entries_go(tmp_path, monkeypatch):
    from dqmlir import cache_ahead
    monkeypatch.setenv("DQMLIR_CACHE_DIR", str(tmp_path))
    cache_ahead._write_hint("f" * 40, "a" * 40)
    entry = tmp_path / ("b" * 40)
    entry.mkdir()
    (entry / "manifest.json").write_text("{}")
    cache_ahead._write_hint("e" * 40, "b" * 40)
    cache._evict(tmp_path)
    assert sorted(p.name for p in (tmp_path / cache.HINTS).iterdir()) == ["e" * 40]


class _Scaled(torch.nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)
        self.mode = mode

    def forward(self, x):
        y = self.fc(x)
        return y * 2 if self.mode == "double" else y


def _key(model, args, kwargs=None, options=None):
    """The compile cache's key of `model`, as compile computes it."""
    from dqmlir.frontend.export import export_model
    model.eval()
    out = []

    def keyed(ep, linears):
        out.append(cache.program_key(ep, linears, model, options or {"threads": 1}))
        return True

    assert export_model(model, args, kwargs, after_trace=keyed) is None
    return out[0]


def test_key_follows_weights_attributes_and_options():
    torch.manual_seed(0)
    m = quantize(_Scaled("double").eval())
    x = torch.randn(3, 8)
    base = _key(m, (x,))
    assert _key(m, (x,)) == base
    assert _key(m, (x,), options={"threads": 2}) != base
    # Another batch size traces the same (dynamic) program.
    assert _key(m, (torch.randn(4, 8),)) == base
    m.mode = "plain"
    assert _key(m, (x,)) != base
    m.mode = "double"
    torch.manual_seed(1)
    other = quantize(_Scaled("double").eval())
    assert _key(other, (x,)) != base




SCALE = 2.0


def test_key_follows_what_the_model_computes():
    # Closures, globals read by code, partials: whatever the forward
    # computes with is in the traced program.
    x = (torch.randn(2, 8, 24),)

    def permuted(perm):
        return Fn(lambda t: t.permute(*perm) * 2)

    assert _key(permuted((2, 0, 1)), x) != _key(permuted((1, 2, 0)), x)
    assert _key(permuted((1, 2, 0)), x) == _key(permuted((1, 2, 0)), x)
    assert _key(Fn(lambda t: t + 1), x) != _key(Fn(lambda t: t - 1), x)
    global SCALE
    before = _key(Fn(lambda t: t * SCALE), x)
    SCALE = 3.0
    try:
        assert _key(Fn(lambda t: t * SCALE), x) != before
    finally:
        SCALE = 2.0
    import functools
    assert _key(Fn(functools.partial(torch.add, other=1.0, alpha=2)), x) != \
        _key(Fn(functools.partial(torch.add, other=1.0, alpha=3)), x)


def test_key_follows_the_attention_implementation():
    # HF keeps it in a private config attribute; it changes the graph.
    ids, mask = token_batch(2, 16)
    sdpa = _key(quantize(tiny_bert(layers=1)), (ids,), {"attention_mask": mask})
    eager = _key(quantize(tiny_bert(layers=1, attn_implementation="eager")), (ids,),
                 {"attention_mask": mask})
    assert sdpa != eager


def test_lone_linear_key_follows_weights():
    torch.manual_seed(0)
    a = quantize(torch.nn.Sequential(torch.nn.Linear(8, 8)))[0]
    torch.manual_seed(1)
    b = quantize(torch.nn.Sequential(torch.nn.Linear(8, 8)))[0]
    x = (torch.randn(3, 8),)
    assert cache.linear_key(a, x, {}) == cache.linear_key(a, x, {})
    assert cache.linear_key(a, x, {}) != cache.linear_key(b, x, {})


def test_lone_linear_key_follows_reduce_range():
    # torch.ao's Linear passes reduce_range by its module version.
    torch.manual_seed(0)
    a = quantize(torch.nn.Sequential(torch.nn.Linear(8, 8)))[0]
    x = (torch.randn(3, 8),)
    before = cache.linear_key(a, x, {})
    a.version = 3
    assert cache.linear_key(a, x, {}) != before


def test_torchbind_constants_are_keyed_by_state():
    # A torchbind object's repr holds its address: keyed by repr, a model
    # with one as a constant missed the cache in every process.
    import hashlib

    def key(obj):
        h = hashlib.sha256()
        cache._hash_value(h, obj)
        return h.hexdigest()

    torch.manual_seed(0)
    w = torch.quantize_per_tensor(torch.randn(4, 3), 0.1, 0, torch.qint8)
    other = torch.quantize_per_tensor(torch.randn(4, 3), 0.1, 0, torch.qint8)
    same = [torch.ops.quantized.linear_prepack(w.clone(), None) for _ in range(2)]
    assert key(same[0]) == key(same[1])
    assert key(same[0]) != key(torch.ops.quantized.linear_prepack(other, None))


def test_tensor_digests_ahead_leave_changed_and_odd_tensors_to_the_key():
    # Hashed on another thread while the eager check runs: a tensor changed
    # in place since, or one that cannot be hashed there, is hashed by
    # program_key itself.
    from dqmlir.cache_ahead import TensorDigests
    plain = torch.randn(3)
    meta = torch.empty(4, device="meta")
    with torch.inference_mode():
        inference = torch.ones(2)
    digests = TensorDigests([plain, meta, inference])
    assert digests.get(plain) == cache.value_digest(plain)
    assert digests.get(meta) is None and digests.get(inference) is None
    assert digests.get(plain.clone()) is None
    plain.add_(1)
    assert digests.get(plain) is None
