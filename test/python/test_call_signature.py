"""A compiled model takes its arguments as the model does, or raises the
exception Python/PyTorch would raise, naming the argument (signature.py)."""
import pytest
import torch
from conftest import quantize, record_parity, token_batch

import dqmlir


def _equal(ours, ref):
    assert record_parity(ours.last_hidden_state, ref.last_hidden_state) == 0


def test_keywords_and_positions_bind_like_the_model(bert_q):
    q, c = bert_q
    ids, mask = token_batch(3, 11, seed=1)
    ref = q(ids, attention_mask=mask)
    _equal(c(ids, attention_mask=mask), ref)
    _equal(c(input_ids=ids, attention_mask=mask), ref)
    _equal(c(ids, mask), ref)                       # attention_mask is BERT's 2nd parameter
    _equal(c(ids, attention_mask=mask, token_type_ids=None, use_cache=None), ref)


def test_misspelled_keyword(bert_q):
    _, c = bert_q
    ids, mask = token_batch(2, 8)
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'atention_mask'; "
                                        r"expected input_ids, attention_mask"):
        c(ids, atention_mask=mask)


def test_missing_and_extra_arguments(bert_q):
    _, c = bert_q
    ids, mask = token_batch(2, 8)
    with pytest.raises(TypeError, match=r"missing argument 'attention_mask'; expected "
                                        r"input_ids, attention_mask"):
        c(ids)
    with pytest.raises(TypeError, match="missing a required argument|missing argument 'input_ids'"):
        c(attention_mask=mask)
    with pytest.raises(TypeError, match="too many positional arguments"):
        c(*([ids] * 20))
    with pytest.raises(TypeError, match="argument 'token_type_ids' was not passed when the model "
                                        "was compiled"):
        c(ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
    with pytest.raises(TypeError, match="argument 'use_cache' was not passed"):
        c(ids, attention_mask=mask, use_cache=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'return_dict'"):
        c(ids, attention_mask=mask, return_dict=False)   # BERT's **kwargs


def test_int32_ids_give_pytorchs_result(bert_q):
    q, c = bert_q
    ids, mask = token_batch(2, 9, seed=2)
    ref = q(ids, attention_mask=mask)
    assert torch.equal(q(ids.int(), attention_mask=mask.int()).last_hidden_state,
                       ref.last_hidden_state)
    _equal(c(ids.int(), attention_mask=mask.int()), ref)
    _equal(c(ids.to(torch.int16), attention_mask=mask.to(torch.uint8)), ref)


def test_other_dtypes_are_type_errors(bert_q):
    _, c = bert_q
    ids, mask = token_batch(2, 8)
    with pytest.raises(TypeError, match="'input_ids' must have dtype int64, got float32"):
        c(ids.float(), attention_mask=mask)
    with pytest.raises(TypeError, match="'input_ids' must be a [Tt]ensor"):
        c(ids.tolist(), attention_mask=mask)


def test_non_contiguous_inputs(bert_q):
    q, c = bert_q
    ids, mask = token_batch(8, 24, seed=3)
    ids_t = ids.t().contiguous().t()                  # transposed storage
    sliced_ids, sliced_mask = ids[::2, 3:19], mask[::2, 3:19]
    _equal(c(ids_t, attention_mask=mask), q(ids, attention_mask=mask))
    _equal(c(sliced_ids, attention_mask=sliced_mask),
           q(sliced_ids, attention_mask=sliced_mask))


def test_requires_grad_inputs():
    torch.manual_seed(0)
    q = quantize(torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                     torch.nn.Linear(32, 8)).eval())
    c = dqmlir.compile(q, (torch.randn(3, 16),))
    x = torch.randn(5, 16, requires_grad=True)
    assert record_parity(c(x), q(x).detach()) == 0
    assert record_parity(c(x[:, :].t().contiguous().t()), q(x).detach()) == 0


def test_tied_sizes_and_ranges(bert_q):
    _, c = bert_q
    ids, mask = token_batch(2, 16)
    with pytest.raises(ValueError, match=r"'attention_mask' dim 1 is 9 but must equal argument "
                                         r"'input_ids' dim 1 \(16\)"):
        c(ids, attention_mask=mask[:, :9])
    with pytest.raises(ValueError, match="'input_ids' dim 1 is 65; the model supports at most 64"):
        c(*token_batch(1, 65))
    with pytest.raises(ValueError, match="'input_ids' must have 2 dims"):
        c(ids[0], attention_mask=mask)


class _Derived(torch.nn.Module):
    """y's length is export's expression 2 * s, not a symbol of its own."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x, y):
        return self.fc(torch.cat([x, x], dim=1) + y)


def test_derived_sizes():
    torch.manual_seed(0)
    q = quantize(_Derived().eval())
    x, y = torch.randn(2, 3, 8), torch.randn(2, 6, 8)
    c = dqmlir.compile(q, (x, y))
    x, y = torch.randn(3, 5, 8), torch.randn(3, 10, 8)
    assert record_parity(c(x, y), q(x, y)) == 0
    with pytest.raises(ValueError, match=r"'y' dim 1 is 9 but the exported model needs 10"):
        c(x, torch.randn(3, 9, 8))


def test_signature_round_trips_through_json(bert_q):
    from dqmlir.signature import Signature
    q, c = bert_q
    sig = Signature.from_json(c.signature.to_json())
    ids, mask = token_batch(2, 7)
    tensors = sig.bind((ids,), {"attention_mask": mask})
    assert [t.shape for t in tensors] == [ids.shape, mask.shape]
    with pytest.raises(TypeError, match="unexpected keyword argument 'mask'"):
        sig.bind((ids,), {"mask": mask})
    out = sig.outputs(c._library(*tensors))
    assert type(out).__name__ == "BaseModelOutputWithPoolingAndCrossAttentions"
