"""Model families users bring, each a small random-weight config through
quantize_dynamic, compiled with the default options (dynamic batch and
sequence where the model allows) and compared with PyTorch int8 eager at two
sizes. Bit-exact where every op on the path is (BERT-like encoders); the
others differ only in fp32 ops whose ATen kernels are MKL/oneDNN or use
another summation order, each named with its tolerance:

  ViT        patch embedding: a Conv2d (oneDNN)
  T5         T5LayerNorm's mean of squares (ATen's cascade sum)
  GPT-2      Conv1D linears stay fp32 under quantize_dynamic (MKL sgemm)
  Whisper    Conv1d front end (oneDNN)
  Wav2Vec2   Conv1d feature extractor, group norm's moments, the
             convolutional position embedding (its weight_norm folded as
             eager computes it: about 1e-6)
  Llama      RMS norm's mean of squares, rotary embeddings' cos/sin
  Falcon     its linears (FalconLinear) stay fp32 under quantize_dynamic

Quantized recurrent modules (the tutorial's LSTM language model, a GRU
cell) compile and are bit-exact (every configuration: test_recurrent.py);
float16 ones raise UnsupportedModuleError naming their path.
"""
import pytest
import torch
import torch.nn as nn
from conftest import quantize, record_parity

import dqmlir

T = pytest.importorskip("transformers")


def _ids(b, s, vocab=100, low=0):
    return torch.randint(low, vocab, (b, s))


def _mask(b, s):
    return torch.ones(b, s, dtype=torch.long)


def _text(low=0):
    return lambda b, s: ((_ids(b, s, low=low),), {"attention_mask": _mask(b, s)})


FAMILIES = {
    "distilbert": (lambda: T.DistilBertModel(T.DistilBertConfig(
        vocab_size=100, dim=64, n_layers=2, n_heads=2, hidden_dim=128,
        max_position_embeddings=64)), _text(), 0.0),
    "roberta": (lambda: T.RobertaModel(T.RobertaConfig(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=80)), _text(low=3), 0.0),
    "albert": (lambda: T.AlbertModel(T.AlbertConfig(
        vocab_size=100, embedding_size=32, hidden_size=64, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=128, max_position_embeddings=64)), _text(), 0.0),
    "deberta-v2": (lambda: T.DebertaV2Model(T.DebertaV2Config(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=64, relative_attention=True,
        position_buckets=16, pos_att_type=["p2c", "c2p"])), _text(), 0.0),
    # Pooled at each row's largest id: two index tensors (decompositions.py).
    "clip-text": (lambda: T.CLIPTextModel(T.CLIPTextConfig(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=64, bos_token_id=1, eos_token_id=2)),
        _text(), 0.0),
    # Decoder-only, as an encoder (use_cache=False): RMS norm, rotary
    # positions, grouped-query attention, SiLU gates.
    "llama": (lambda: T.LlamaModel(T.LlamaConfig(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=128, max_position_embeddings=64)),
        lambda b, s: ((_ids(b, s),), {"use_cache": False}), 1e-3),
    # Feed-forward blocks on [batch * seq, hidden] views (merged_rows.py):
    # batch and sequence both dynamic. Falcon's linears are FalconLinear,
    # which quantize_dynamic leaves fp32 (MKL's sgemm).
    "opt": (lambda: T.OPTModel(T.OPTConfig(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, ffn_dim=128,
        num_attention_heads=4, max_position_embeddings=64, word_embed_proj_dim=64)),
        lambda b, s: ((_ids(b, s, low=3),), {"attention_mask": _mask(b, s),
                                              "use_cache": False}), 0.0),
    "falcon": (lambda: T.FalconModel(T.FalconConfig(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4)),
        lambda b, s: ((_ids(b, s),), {"attention_mask": _mask(b, s), "use_cache": False}),
        1e-5),
    "vit": (lambda: T.ViTModel(T.ViTConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        image_size=32, patch_size=8)),
        lambda b, s: ((torch.randn(b, 3, 32, 32),), {}), 1e-3),
    "t5-encoder": (lambda: T.T5EncoderModel(T.T5Config(
        vocab_size=100, d_model=64, d_kv=32, d_ff=128, num_layers=2, num_heads=2)),
        _text(), 1e-3),
    "gpt2": (lambda: T.GPT2Model(T.GPT2Config(
        vocab_size=100, n_embd=64, n_layer=2, n_head=2, n_positions=64)),
        lambda b, s: ((_ids(b, s),), {"use_cache": False}), 1e-3),
    "whisper-encoder": (lambda: T.WhisperModel(T.WhisperConfig(
        d_model=64, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128,
        decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=128, num_mel_bins=16,
        max_source_positions=32)).get_encoder(),
        lambda b, s: ((torch.randn(b, 16, 64),), {}), 1e-3),
    "wav2vec2": (lambda: T.Wav2Vec2Model(T.Wav2Vec2Config(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        conv_dim=(32, 32), conv_stride=(5, 4), conv_kernel=(10, 4),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)),
        lambda b, s: ((torch.randn(b, 40 * s),), {}), 1e-5),
    # wav2vec2-base's seven feature-extractor convolutions (two classes of
    # equal layers: kernel 3 and kernel 2, outlined as two functions), narrow.
    "wav2vec2-base-convs": (lambda: T.Wav2Vec2Model(T.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)),
        lambda b, s: ((torch.randn(b, 320 * s),), {}), 1e-5),
}


def _first(out):
    return out if isinstance(out, torch.Tensor) else out[0]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family(name):
    build, inputs, tol = FAMILIES[name]
    torch.manual_seed(0)
    q = quantize(build().eval())
    args, kwargs = inputs(2, 16)
    compiled = dqmlir.compile(q, args, kwargs, verbose=False)
    for b, s in [(1, 16), (3, 24)]:
        args, kwargs = inputs(b, s)
        with torch.no_grad():
            ref = _first(q(*args, **kwargs))
        ours = _first(compiled(*args, **kwargs))
        if tol == 0.0:
            assert record_parity(ours, ref) == 0, (name, b, s)
        else:
            # An fp32 difference of an ulp can move one activation across a
            # rounding boundary of the next per-tensor quantized linear:
            # then that row moves by one quantization step, never more.
            scale = float(ref.abs().max())
            diff = float((ours - ref).abs().max())
            cosine = float(torch.nn.functional.cosine_similarity(
                ours.flatten().double(), ref.flatten().double(), dim=0))
            print(f"{name} {b}x{s}: max |diff| {diff:.3g} (of {scale:.3g}), cosine {cosine:.8f}")
            assert cosine >= 0.99999 and diff <= tol * max(1.0, scale), (name, b, s, diff, cosine)


class _WordLM(nn.Module):
    """PyTorch's dynamic quantization tutorial's word-level LSTM model."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(100, 32)
        self.rnn = nn.LSTM(32, 32, 2)
        self.decoder = nn.Linear(32, 100)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.encoder(x), hidden)
        return self.decoder(out), hidden


@pytest.mark.parametrize("types,path", [({nn.LSTM, nn.Linear}, "rnn"),
                                        ({nn.GRUCell}, "cell")])
def test_quantized_recurrent_models(types, path):
    """The tutorial's LSTM language model and a GRU cell: bit-exact (the
    configurations in detail: test_recurrent.py)."""
    if path == "rnn":
        model = _WordLM().eval()
        args = (_ids(5, 3), (torch.randn(2, 3, 32), torch.randn(2, 3, 32)))
    else:
        model = nn.Sequential()
        model.add_module("cell", nn.GRUCell(8, 8))
        model.eval()
        args = (torch.randn(3, 8),)
    q = torch.ao.quantization.quantize_dynamic(model, types, dtype=torch.qint8)
    c = dqmlir.compile(q, args, verbose=False, cache=False)
    for a, b in zip(torch.utils._pytree.tree_leaves(c(*args)),
                    torch.utils._pytree.tree_leaves(q(*args))):
        assert torch.equal(a, b)


def test_float16_recurrent_module_is_named():
    model = _WordLM().eval()
    q = torch.ao.quantization.quantize_dynamic(model, {nn.LSTM}, dtype=torch.float16)
    args = (_ids(5, 3), (torch.zeros(2, 3, 32), torch.zeros(2, 3, 32)))
    with pytest.raises(dqmlir.UnsupportedModuleError, match="module 'rnn'.*qint8"):
        dqmlir.compile(q, args, verbose=False)
