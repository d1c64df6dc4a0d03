"""Attention matrices: MultiheadAttention weights and SDPA weights recomputed from q, k and the mask."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from tb_netviz.summary import attention_tag
from tb_netviz.torch import NetViz
from tb_netviz.torch.attention import sdpa_weights
from tests.torch_capture.events import Run
from tests.torch_capture.models import SdpaAttention, TinyTransformer

torch.manual_seed(0)


def explicit_attention(q, k, mask=None, causal=False):
    """softmax(q k^T / sqrt(d) + mask) for one sample, written out."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores + torch.full(scores.shape[-2:], -math.inf).triu(1)
    if mask is not None:
        scores = scores + (torch.where(mask, 0.0, -math.inf) if mask.dtype == torch.bool else mask)
    return torch.softmax(scores, dim=-1)


def test_multihead_attention_weights_match_need_weights_per_head(tmp_path):
    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    model = Wrapper()
    x = torch.randn(3, 5, 16)
    with NetViz(model, tmp_path, sample_batch=x, max_heads=None) as viz:
        viz.log_sample(0)
    model.eval()
    with torch.no_grad():
        _, expected = model.attn(x, x, x, need_weights=True, average_attn_weights=False)
    logged = dict(Run(tmp_path).values(attention_tag("attn")))[0]
    assert logged.shape == (4, 5, 5)
    np.testing.assert_allclose(logged, expected[0].numpy(), rtol=1e-5, atol=1e-6)


def test_transformer_encoder_and_decoder_layers_give_their_attention(tmp_path):
    class EncoderDecoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
            self.decoder = nn.TransformerDecoderLayer(16, 4, 32, batch_first=True)

        def forward(self, source, target):
            causal = nn.Transformer.generate_square_subsequent_mask(target.shape[1])
            return self.decoder(target, self.encoder(source), tgt_mask=causal, tgt_is_causal=True)

    model = EncoderDecoder()
    source, target = torch.randn(2, 6, 16), torch.randn(2, 4, 16)
    with NetViz(model, tmp_path, sample_batch=(source, target), max_heads=2) as viz:
        viz.log_sample(0)
    run = Run(tmp_path)
    model.eval()
    with torch.no_grad():
        memory = model.encoder(source)
        _, encoder_expected = model.encoder.self_attn(source, source, source, average_attn_weights=False)
    encoder_logged = dict(run.values(attention_tag("encoder.self_attn")))[0]
    np.testing.assert_allclose(encoder_logged, encoder_expected[0, :2].numpy(), rtol=1e-5, atol=1e-6)
    self_logged = dict(run.values(attention_tag("decoder.self_attn")))[0]
    assert self_logged.shape == (2, 4, 4)
    assert np.all(np.triu(self_logged, 1) == 0), "causal self-attention must not look ahead"
    cross_logged = dict(run.values(attention_tag("decoder.multihead_attn")))[0]
    assert cross_logged.shape == (2, 4, 6)
    np.testing.assert_allclose(cross_logged.sum(-1), 1.0, rtol=1e-5)
    assert memory.shape == source.shape


def test_encoder_stack_in_eval_fast_path_conditions_still_gives_attention_and_keeps_fast_path_setting(
    tmp_path,
):
    model = TinyTransformer().eval()
    tokens = torch.randint(0, 11, (2, 7))
    labels = [f"t{i}" for i in range(7)]
    with NetViz(model, tmp_path, sample_batch=tokens, tokens=labels) as viz:
        viz.log_sample(0)
    assert torch.backends.mha.get_fastpath_enabled()
    run = Run(tmp_path)
    for layer in ("encoder.layers.0.self_attn", "encoder.layers.1.self_attn"):
        assert run.content(attention_tag(layer)) == {
            "version": 1,
            "kind": "attention",
            "layer": layer,
            "tokens": labels,
        }
        assert dict(run.values(attention_tag(layer)))[0].shape == (4, 7, 7)


def test_token_labels_may_be_a_callable_of_the_first_sample(tmp_path):
    model = TinyTransformer()
    tokens = torch.tensor([[1, 2, 3], [4, 5, 6]])
    with NetViz(model, tmp_path, sample_batch=tokens, tokens=lambda s: [f"#{int(t)}" for t in s]) as viz:
        viz.log_sample(0)
    assert Run(tmp_path).content(attention_tag("encoder.layers.0.self_attn"))["tokens"] == ["#1", "#2", "#3"]


@pytest.mark.parametrize(
    "mask_kind",
    ["none", "causal", "bool", "float"],
)
def test_sdpa_weights_match_explicit_softmax(mask_kind):
    q, k = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8)
    mask = None
    if mask_kind == "bool":
        mask = torch.rand(5, 5) > 0.3
        mask[:, 0] = True
    if mask_kind == "float":
        mask = torch.randn(2, 1, 5, 5)
    causal = mask_kind == "causal"
    got = sdpa_weights(q, k, mask, is_causal=causal)
    sample_mask = mask[0] if mask is not None and mask.dim() == 4 else mask
    expected = explicit_attention(q[0], k[0], sample_mask, causal)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    v = torch.randn(2, 3, 5, 8)
    out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    torch.testing.assert_close(got @ v[0], out[0], rtol=1e-4, atol=1e-5)


def test_sdpa_grouped_query_attention_repeats_key_heads():
    q, k = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 3, 8)
    got = sdpa_weights(q, k, enable_gqa=True)
    expected = explicit_attention(q[0], k[0].repeat_interleave(2, dim=0))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_caller_gets_recomputed_attention_attributed_to_it(tmp_path, causal):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(4, 16)
            self.block = SdpaAttention(causal=causal)

        def forward(self, x):
            return self.block(self.embed(x))

    model = Model()
    x = torch.randn(2, 6, 4)
    with NetViz(model, tmp_path, sample_batch=x, max_heads=None) as viz:
        assert "block" not in viz.layers  # no own parameters: attention only, no gradient row
        viz.log_sample(0)
    with torch.no_grad():
        q, k, _ = model.block.split(model.embed(x))
    logged = dict(Run(tmp_path).values(attention_tag("block")))[0]
    np.testing.assert_allclose(
        logged, explicit_attention(q[0], k[0], causal=causal).numpy(), rtol=1e-5, atol=1e-6
    )
    assert nn.functional.scaled_dot_product_attention.__name__ == "scaled_dot_product_attention"
    assert "wrap_sdpa" not in nn.functional.scaled_dot_product_attention.__qualname__


def test_sdpa_caller_with_padding_mask_passed_as_argument(tmp_path):
    model = SdpaAttention()
    x = torch.randn(2, 5, 16)
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[0, :, :, 3:] = False
    with NetViz(model, tmp_path, sample_batch=(x, mask), layers=["SdpaAttention", "qkv"]) as viz:
        viz.log_sample(0)
    logged = dict(Run(tmp_path).values(attention_tag("SdpaAttention")))[0]
    assert logged.shape == (4, 5, 5)
    assert np.all(logged[:, :, 3:] == 0)
    np.testing.assert_allclose(logged.sum(-1), 1.0, rtol=1e-5)
