"""Greedy generation with a KV cache (dqmlir.generate) against transformers'
greedy search on the same quantize_dynamic'd model.

Two small random decoders: GPT-2 (learned positions, Conv1D fp32 linears,
a quantized lm_head) and Llama (rotary positions, grouped kv heads, all
linears quantized). Each is compiled once (prefill + decode step).
"""
import json
import subprocess
import sys
import textwrap

import pytest
import torch

import dqmlir

NEW = 32


def _quantized(model):
    torch.manual_seed(1)
    return torch.ao.quantization.quantize_dynamic(model.eval(), {torch.nn.Linear},
                                                  dtype=torch.qint8)


def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_head=4, n_embd=64, vocab_size=300, n_positions=128,
                     bos_token_id=0, eos_token_id=0)
    return _quantized(GPT2LMHeadModel(cfg))


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      hidden_size=64, intermediate_size=128, vocab_size=300,
                      max_position_embeddings=256, bos_token_id=0, eos_token_id=0)
    return _quantized(LlamaForCausalLM(cfg))


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def decoder(request):
    model = {"gpt2": _gpt2, "llama": _llama}[request.param]()
    ids = torch.randint(1, 300, (2, 6))
    compiled = dqmlir.compile(model, (ids,), {"use_cache": True}, verbose=False)
    return model, compiled


def _reference(model, ids, mask=None, **kw):
    with torch.no_grad():
        return model.generate(ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False,
                              **kw)


@pytest.mark.parametrize("batch,prompt,pad", [(1, 5, 0), (3, 9, 0), (2, 7, 3), (1, 1, 0)])
def test_tokens_equal_greedy_search(decoder, batch, prompt, pad):
    """Free-running greedy decoding: the same tokens. For GPT-2 the steps'
    logits are PyTorch's to the last bit or ulp; Llama's grouped-query SDPA,
    RMS norm and rotary embeddings run on MKL / ATen kernels whose last bits
    the compiled code matches on some CPUs only, and one ulp can move a
    quantized activation by a step: on random weights (near-flat logits)
    that can flip a near-tie, which test_teacher_forced_logits bounds."""
    model, compiled = decoder
    if compiled.config["name"] != "GPT2LMHeadModel":
        pytest.skip("tokens of random-weight Llama models: see test_teacher_forced_logits")
    torch.manual_seed(batch * 100 + prompt)
    ids = torch.randint(1, 300, (batch, prompt))
    mask = torch.ones_like(ids)
    mask[0, :pad] = 0                     # left padding of the first row
    got = dqmlir.generate(compiled, ids, mask, max_new_tokens=NEW)
    ref = _reference(model, ids, mask)
    assert got.shape == ref.shape == (batch, prompt + NEW)
    assert torch.equal(got, ref)


def test_teacher_forced_logits(decoder):
    """Each step along transformers' own greedy tokens: the logits agree to
    a quantization step (max |diff| <= 1e-2; most steps to a few ulps), and the argmax is the reference's wherever the reference's best
    token leads the second by more than that."""
    model, compiled = decoder
    c = compiled.config
    torch.manual_seed(11)
    ids = torch.randint(1, 300, (2, 5))
    with torch.no_grad():
        ref = model.generate(ids, max_new_tokens=NEW, do_sample=False, output_logits=True,
                             return_dict_in_generate=True, eos_token_id=None)
    cache = [torch.empty(2, c["kv_heads"], 5 + NEW, c["head_dim"])
             for _ in range(2 * c["layers"])]
    logits = compiled.prefill(ids, torch.ones_like(ids), torch.arange(5).expand(2, 5), *cache)
    for i in range(NEW):
        r = ref.logits[i]
        diff = (logits - r).abs().max().item()
        assert diff <= 1e-2, f"step {i}: max |diff| {diff}"
        top = r.topk(2, dim=-1).values
        decisive = (top[:, 0] - top[:, 1]) > 2 * diff
        assert torch.equal(logits.argmax(-1)[decisive], r.argmax(-1)[decisive]), f"step {i}"
        token = ref.sequences[:, 5 + i:6 + i]
        logits = compiled.decode(token, torch.ones(2, 6 + i, dtype=torch.long),
                                 torch.full((2, 1), 5 + i), *cache)


def test_end_of_sequence(decoder):
    """Rows stop at their end-of-sequence token and are padded after it, as
    in transformers; generation ends when every row has stopped."""
    model, compiled = decoder
    torch.manual_seed(5)
    ids = torch.randint(1, 300, (2, 4))
    free = _reference(model, ids, eos_token_id=None)
    eos = int(free[0, 4 + 3])             # the first row's 4th new token
    got = dqmlir.generate(compiled, ids, max_new_tokens=NEW, eos_token_id=eos,
                          pad_token_id=299)
    ref = _reference(model, ids, eos_token_id=eos, pad_token_id=299)
    assert torch.equal(got, ref)
    assert (got[0, 4:] == eos).any()


def test_steps_write_the_cache_in_place(decoder):
    """The prefill writes the prompt's keys and values into the caller's
    buffers (the same storage, nothing beyond the prompt touched), equal to
    transformers' cache; a decode step's memory does not grow with the
    cache's capacity (no copy of the cache per token)."""
    model, compiled = decoder
    c = compiled.config
    ids = torch.randint(1, 300, (2, 6))
    mask = torch.ones_like(ids)
    pos = torch.arange(6).expand(2, 6)

    def buffers(capacity):
        return [torch.full((2, c["kv_heads"], capacity, c["head_dim"]), 7.0)
                for _ in range(2 * c["layers"])]

    cache = buffers(16)
    ptrs = [t.data_ptr() for t in cache]
    compiled.prefill(ids, mask, pos, *cache)
    assert [t.data_ptr() for t in cache] == ptrs
    with torch.no_grad():
        ref = model(ids, attention_mask=mask, use_cache=True).past_key_values
    for i, layer in enumerate(ref.layers):
        torch.testing.assert_close(cache[2 * i][:, :, :6], layer.keys, rtol=0, atol=1e-5)
        torch.testing.assert_close(cache[2 * i + 1][:, :, :6], layer.values, rtol=0, atol=1e-5)
    assert all(bool((t[:, :, 6:] == 7.0).all()) for t in cache)

    def decode_bytes(capacity):
        """Bytes of the buffers a decode step allocates (from an empty
        buffer cache, all of them come back to it or stay live)."""
        cache = buffers(capacity)
        compiled.prefill(ids, mask, pos, *cache)
        dqmlir.trim_buffer_cache()
        logits = compiled.decode(ids[:, :1], torch.ones(2, 7, dtype=torch.long),
                                 pos[:, -1:] + 1, *cache)
        stats = dqmlir.buffer_cache_stats()
        del logits
        return stats["cached_bytes"] + stats["live_bytes"]

    big = 4096 if c["max_positions"] >= 4096 else c["max_positions"]
    small, large = decode_bytes(16), decode_bytes(big)
    cache_bytes = 2 * c["kv_heads"] * big * c["head_dim"] * 4
    assert 0 < large <= small < cache_bytes, (small, large, cache_bytes)


def test_saved_decoder_generates_the_same(decoder, tmp_path):
    model, compiled = decoder
    compiled.save(tmp_path / "lm")
    loaded = dqmlir.load(tmp_path / "lm")
    assert isinstance(loaded, dqmlir.CompiledDecoder)
    ids = torch.randint(1, 300, (2, 5))
    assert torch.equal(dqmlir.generate(loaded, ids, max_new_tokens=8),
                       dqmlir.generate(compiled, ids, max_new_tokens=8))


def test_bad_calls_raise(decoder, tmp_path):
    """Wrong calls raise Python exceptions; the steps check what would
    write outside the cache (in a child process: a failure must not take
    the test run down)."""
    _, compiled = decoder
    with pytest.raises(TypeError, match="integer tensor"):
        dqmlir.generate(compiled, torch.ones(1, 3), max_new_tokens=2)
    with pytest.raises(ValueError, match="positions"):
        dqmlir.generate(compiled, torch.ones(1, 3, dtype=torch.long), max_new_tokens=10**6)
    with pytest.raises(ValueError, match="attention_mask"):
        dqmlir.generate(compiled, torch.ones(1, 3, dtype=torch.long),
                        torch.ones(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="max_new_tokens"):
        dqmlir.generate(compiled, torch.ones(1, 3, dtype=torch.long), max_new_tokens=-1)
    with pytest.raises(TypeError, match="use_cache=True"):
        dqmlir.generate(object(), torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="dqmlir.generate"):
        compiled(torch.ones(1, 3, dtype=torch.long))
    compiled.save(tmp_path / "lm")
    script = textwrap.dedent(f"""
        import json, torch, dqmlir
        lm = dqmlir.load({str(tmp_path / "lm")!r})
        c = lm.config
        cache = [torch.zeros(1, c["kv_heads"], 8, c["head_dim"]) for _ in range(2 * c["layers"])]
        one = torch.ones(1, 1, dtype=torch.long)
        calls = {{
            "decode past the capacity": lambda: lm.decode(one, torch.ones(1, 11, dtype=torch.long), one * 10, *cache),
            "prefill past the capacity": lambda: lm.prefill(torch.ones(1, 9, dtype=torch.long), torch.ones(1, 9, dtype=torch.long), torch.arange(9)[None], *cache),
            "mask shorter than ids": lambda: lm.prefill(torch.ones(1, 5, dtype=torch.long), torch.ones(1, 3, dtype=torch.long), torch.arange(5)[None], *cache),
        }}
        out = {{}}
        for name, call in calls.items():
            try:
                call()
                out[name] = "returned"
            except Exception as e:
                out[name] = type(e).__name__ + ": " + str(e)
        print(json.dumps(out))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["decode past the capacity"].startswith("IndexError: the KV cache holds fewer")
    assert out["prefill past the capacity"].startswith("IndexError: the KV cache holds fewer")
    assert out["mask shorter than ids"].startswith("ValueError: attention_mask is shorter")


def test_encoder_decoder_is_refused():
    from transformers import T5Config, T5ForConditionalGeneration
    model = T5ForConditionalGeneration(T5Config(num_layers=1, d_model=32, d_ff=64, num_heads=2,
                                                d_kv=16, vocab_size=100)).eval()
    with pytest.raises(dqmlir.UnsupportedModuleError, match="encoder-decoder"):
        dqmlir.compile(model, (torch.ones(1, 4, dtype=torch.long),), {"use_cache": True})


def _tiny_opt():
    from transformers import OPTConfig, OPTForCausalLM
    torch.manual_seed(0)
    return _quantized(OPTForCausalLM(OPTConfig(
        num_hidden_layers=2, hidden_size=64, ffn_dim=128, num_attention_heads=4,
        vocab_size=300, max_position_embeddings=256, word_embed_proj_dim=64, bos_token_id=0,
        eos_token_id=0, pad_token_id=1)))


def test_merged_batch_and_sequence_prefill_a_batch_of_prompts():
    """OPT's layers view [batch, seq, hidden] as [batch * seq, hidden] around
    their feed-forward block (merged_rows.py): the prefill still takes a
    batch of prompts of any length, and generates as PyTorch does."""
    model = _tiny_opt()
    compiled = dqmlir.compile(model, (torch.randint(2, 300, (2, 6)),), {"use_cache": True},
                              verbose=False)
    assert compiled.config["prefill_batch"] is None
    ids = torch.randint(2, 300, (3, 7))
    mask = torch.ones_like(ids)
    mask[0, :2] = 0                       # left padding of the first row
    assert torch.equal(dqmlir.generate(compiled, ids, mask, max_new_tokens=NEW),
                       _reference(model, ids, mask))


def test_a_merge_of_batch_and_sequence_left_prefills_one_prompt(monkeypatch):
    """Where a view merging batch and sequence stays (an op that mixes the
    rows; here OPT's, with merged_rows.py switched off), the prefill is
    compiled for one prompt and the decode step for any batch: a batch of
    prompts is a ValueError, one prompt generates as in PyTorch."""
    import dqmlir.frontend.export as export
    monkeypatch.setattr(export, "unmerge_row_views", lambda gm: 0)
    model = _tiny_opt()
    compiled = dqmlir.compile(model, (torch.randint(2, 300, (2, 6)),), {"use_cache": True},
                              verbose=False, cache=False)
    assert compiled.config["prefill_batch"] == 1
    ids = torch.randint(2, 300, (1, 7))
    assert torch.equal(dqmlir.generate(compiled, ids, max_new_tokens=NEW), _reference(model, ids))
    with pytest.raises(ValueError, match="one prompt at a time"):
        dqmlir.generate(compiled, torch.randint(2, 300, (2, 7)), max_new_tokens=2)


def test_fixed_lengths_are_refused():
    """GPT-Neo's local attention guards on the sequence length: a clear
    UnsupportedModuleError, not torch.export's constraint report."""
    from transformers import GPTNeoConfig, GPTNeoForCausalLM
    model = _quantized(GPTNeoForCausalLM(GPTNeoConfig(
        num_layers=2, hidden_size=64, num_heads=4, vocab_size=300, max_position_embeddings=256,
        attention_types=[[["global", "local"], 1]])))
    with pytest.raises(dqmlir.UnsupportedModuleError, match="cannot keep the cache's lengths"):
        dqmlir.compile(model, (torch.randint(1, 300, (1, 4)),), {"use_cache": True},
                       verbose=False)
