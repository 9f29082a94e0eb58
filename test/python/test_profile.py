"""dqmlir.profile: where a call's time goes by op kind (dq-profile-ops)."""
import pytest
import torch
from conftest import quantize, record_parity, tiny_bert

import dqmlir


@pytest.fixture(scope="module")
def bert():
    model = quantize(tiny_bert(layers=2, hidden=64, heads=2, intermediate=128).eval())
    ids = torch.randint(0, 100, (2, 16))
    compiled = dqmlir.compile(model, (ids,), {"attention_mask": torch.ones_like(ids)},
                              verbose=False, cache=False, profile=True)
    return model, compiled


def test_profiled_code_computes_the_same(bert):
    model, compiled = bert
    ids = torch.randint(0, 100, (3, 20))
    with torch.no_grad():
        ref = model(ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert record_parity(compiled(ids, attention_mask=torch.ones_like(ids)).last_hidden_state,
                         ref) == 0


def test_profile_counts_every_op_kind_of_a_call(bert):
    model, compiled = bert
    ids = torch.randint(0, 100, (2, 32))
    prof = dqmlir.profile(compiled, ids, attention_mask=torch.ones_like(ids), reps=5)
    rows = {kind.split(" (")[0]: (ms, share, ops) for kind, ms, share, ops in prof.rows}
    # 2 layers x (q, k, v, output, FFN1, FFN2) + the pooler: one tick each,
    # every call (FFN1's GELU and the residual adds are in their epilogues).
    assert rows["int8 linears"][2] == 13
    assert rows["layer norm"][2] == 5        # embeddings + 2 per layer
    # Attention: one scf.forall per layer (q @ k^T, softmax and e @ v of
    # each head and block of queries inside it).
    assert rows["attention by blocks of queries"][2] == 2
    assert "softmax" not in rows and "f32 matmuls" not in rows
    assert rows["tanh, sigmoid"][0] > 0      # the pooler's tanh
    assert sum(share for _, share, _ in rows.values()) == pytest.approx(1.0)
    # Ticks fall inside the calls: their sum cannot exceed the calls' time.
    assert 0 < prof.total_ms <= prof.wall_ms
    assert "int8 linears" in str(prof)



def test_profile_by_op_sums_a_layers_copies(bert):
    """Each op is one row, labelled by module path with the layer index as
    *: the same op of both layers is one row that runs twice a call."""
    _, compiled = bert
    ids = torch.randint(0, 100, (2, 32))
    prof = dqmlir.profile(compiled, ids, attention_mask=torch.ones_like(ids), reps=3, top=5)
    ops = {label: (kind, ms, runs) for label, kind, ms, _, runs in prof.ops}
    ffn = [label for label in ops if label.startswith("encoder.layer.*.intermediate.dense: "
                                                      "dq.linear_dynamic -> ")]
    assert len(ffn) == 1, sorted(ops)
    kind, ms, runs = ops[ffn[0]]
    assert kind.startswith("int8 linears") and runs == 2 and ms > 0
    assert not any(".0." in label or ".1." in label for label in ops)
    # The kinds' table is the sum of the ops' rows.
    assert sum(ms for _, ms, _ in ops.values()) == pytest.approx(prof.total_ms)
    assert sum(r for k, _, r in ops.values() if k.startswith("int8")) == 13
    assert str(prof).count("\n") == len(prof.rows) + 2 + 3 + 5
    with pytest.raises(ValueError, match="top"):
        dqmlir.profile(compiled, ids, attention_mask=torch.ones_like(ids), top=-1)

def test_profile_of_a_saved_model(bert, tmp_path):
    _, compiled = bert
    compiled.save(tmp_path / "m")
    loaded = dqmlir.load(tmp_path / "m")
    ids = torch.randint(0, 100, (1, 8))
    prof = dqmlir.profile(loaded, ids, attention_mask=torch.ones_like(ids), reps=2, warmup=0)
    assert prof.rows and prof.reps == 2


def test_profile_needs_a_profiled_model(bert):
    model, _ = bert
    ids = torch.randint(0, 100, (2, 16))
    plain = dqmlir.compile(model, (ids,), {"attention_mask": torch.ones_like(ids)},
                           verbose=False)
    with pytest.raises(ValueError, match="profile=True"):
        dqmlir.profile(plain, ids, attention_mask=torch.ones_like(ids))
    _, compiled = bert
    with pytest.raises(ValueError, match="reps"):
        dqmlir.profile(compiled, ids, attention_mask=torch.ones_like(ids), reps=0)
    with pytest.raises(ValueError, match="use_cache=False"):
        dqmlir.compile(model, (ids,), {"use_cache": True}, profile=True, verbose=False)


def test_reproducer_compiles_with_profiling(tmp_path, monkeypatch):
    """DQMLIR_DUMP_DIR's REPRODUCE.sh redoes the profiled backend step."""
    monkeypatch.setenv("DQMLIR_DUMP_DIR", str(tmp_path))
    model = quantize(tiny_bert(layers=1).eval())
    ids = torch.randint(0, 100, (2, 8))
    dqmlir.compile(model, (ids,), verbose=False, cache=False, profile=True)
    script = (tmp_path / "REPRODUCE.sh").read_text()
    assert "--profile" in script and "profile=true" in script
