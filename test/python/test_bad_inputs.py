"""Inputs a compiled model cannot take end in PyTorch's result or a Python
exception, never a signal or a silently different result
(dq-runtime-checks). The calls run in a child interpreter: a regression
fails these tests instead of ending the test run."""
import json
import pathlib

import pytest
from conftest import run_python

_CASES = r"""
import json, sys, torch, dqmlir
sys.path.insert(0, {test_dir!r})
from conftest import quantize, tiny_bert, token_batch
torch.set_num_threads(1)
q = quantize(tiny_bert(layers=2, hidden=64, vocab=100, max_positions=64))
ids, mask = token_batch(2, 16)
c = dqmlir.compile(q, (ids,), {{"attention_mask": mask}})
mlp = quantize(torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                   torch.nn.Linear(32, 4)).eval())
cm = dqmlir.compile(mlp, (torch.randn(3, 16),))
long = torch.long

def outcome(fn, ref):
    try:
        ours = fn()
    except Exception as e:
        ours = e
    try:
        theirs = ref()
    except Exception as e:
        theirs = e
    def show(x):
        if isinstance(x, Exception):
            return {{"raised": type(x).__name__, "message": str(x)[:300]}}
        t = getattr(x, "last_hidden_state", x)
        return {{"shape": list(t.shape)}}
    same = (not isinstance(ours, Exception) and not isinstance(theirs, Exception)
            and torch.equal(getattr(ours, "last_hidden_state", ours),
                            getattr(theirs, "last_hidden_state", theirs)))
    return {{"ours": show(ours), "pytorch": show(theirs), "equal": same}}

cases = {{
  "batch0": (lambda: c(torch.zeros(0, 16, dtype=long), attention_mask=torch.ones(0, 16, dtype=long)),
             lambda: q(torch.zeros(0, 16, dtype=long), attention_mask=torch.ones(0, 16, dtype=long))),
  "seq0": (lambda: c(torch.zeros(2, 0, dtype=long), attention_mask=torch.ones(2, 0, dtype=long)),
           lambda: q(torch.zeros(2, 0, dtype=long), attention_mask=torch.ones(2, 0, dtype=long))),
  "id_too_big": (lambda: c(torch.full((2, 16), 100), attention_mask=mask),
                 lambda: q(torch.full((2, 16), 100), attention_mask=mask)),
  "id_huge": (lambda: c(torch.full((2, 16), 1 << 40), attention_mask=mask),
              lambda: q(torch.full((2, 16), 1 << 40), attention_mask=mask)),
  "id_negative": (lambda: c(torch.full((2, 16), -1), attention_mask=mask),
                  lambda: q(torch.full((2, 16), -1), attention_mask=mask)),
  "one_bad_id": (lambda: c(torch.where(torch.arange(32).view(2, 16) == 31, 100, ids), attention_mask=mask),
                 lambda: q(torch.where(torch.arange(32).view(2, 16) == 31, 100, ids), attention_mask=mask)),
  "mask_batch1": (lambda: c(ids, attention_mask=torch.ones(1, 16, dtype=long)),
                  lambda: q(ids, attention_mask=torch.ones(1, 16, dtype=long))),
  "mask_batch1_padded": (lambda: c(ids, attention_mask=torch.cat([torch.ones(1, 8, dtype=long), torch.zeros(1, 8, dtype=long)], 1)),
                         lambda: q(ids, attention_mask=torch.cat([torch.ones(1, 8, dtype=long), torch.zeros(1, 8, dtype=long)], 1))),
  "mlp_batch0": (lambda: cm(torch.randn(0, 16)), lambda: mlp(torch.randn(0, 16))),
  "still_works": (lambda: c(ids, attention_mask=mask), lambda: q(ids, attention_mask=mask)),
}}
print(json.dumps({{k: outcome(*v) for k, v in cases.items()}}))
"""


@pytest.fixture(scope="module")
def outcomes():
    r = run_python(_CASES.format(test_dir=str(pathlib.Path(__file__).parent)), timeout=900)
    assert r.returncode == 0, f"the child died (rc {r.returncode}):\n{r.stderr[-4000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", ["id_too_big", "id_huge", "id_negative", "one_bad_id"])
def test_index_out_of_range_is_index_error(outcomes, case):
    o = outcomes[case]
    assert o["pytorch"]["raised"] == "IndexError"
    assert o["ours"]["raised"] == "IndexError", o
    assert "embeddings.word_embeddings" in o["ours"]["message"]


@pytest.mark.parametrize("case", ["batch0", "seq0"])
def test_empty_dims_like_pytorch(outcomes, case):
    o = outcomes[case]
    if "raised" in o["pytorch"]:
        assert "raised" in o["ours"], o
        assert o["ours"]["raised"] == o["pytorch"]["raised"], o
    else:
        assert o["ours"]["shape"] == o["pytorch"]["shape"], o


def test_empty_batch_of_a_simple_module(outcomes):
    o = outcomes["mlp_batch0"]
    assert o["pytorch"] == {"shape": [0, 4]} and o["ours"] == {"shape": [0, 4]}


@pytest.mark.parametrize("case", ["mask_batch1", "mask_batch1_padded"])
def test_broadcast_mask_gives_pytorchs_result_or_raises(outcomes, case):
    o = outcomes[case]
    assert o["equal"] or "raised" in o["ours"], o
    if "raised" in o["pytorch"]:
        assert "raised" in o["ours"], o


def test_model_still_usable_after_errors(outcomes):
    assert outcomes["still_works"]["equal"]
