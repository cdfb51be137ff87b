"""VadCLIP nn.Modules against the spec (section 5 / 12) and literal transcriptions of the official code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vadbench.errors import ConfigError
from vadbench.methods.vadclip.torch_model import (
    DistanceAdj,
    GraphConvolution,
    LGTAdapter,
    LocalTransformer,
    PromptLearner,
    VadCLIPModel,
    _mlp,
    count_trainable,
    official_state_dict,
    similarity_adjacency,
    window_mask,
)


def _official_attention_mask(visual_length: int, attn_window: int) -> torch.Tensor:
    """Literal transcription of CLIPVAD.build_attention_mask."""
    mask = torch.empty(visual_length, visual_length)
    mask.fill_(float("-inf"))
    for i in range(int(visual_length / attn_window)):
        if (i + 1) * attn_window < visual_length:
            mask[i * attn_window : (i + 1) * attn_window, i * attn_window : (i + 1) * attn_window] = 0
        else:
            mask[i * attn_window : visual_length, i * attn_window : visual_length] = 0
    return mask


def _official_adj4(x: torch.Tensor, seq_len: list[int]) -> torch.Tensor:
    """Literal transcription of CLIPVAD.adj4."""
    soft = torch.nn.Softmax(1)
    x2 = x.matmul(x.permute(0, 2, 1))
    x_norm = torch.norm(x, p=2, dim=2, keepdim=True)
    x_norm_x = x_norm.matmul(x_norm.permute(0, 2, 1))
    x2 = x2 / (x_norm_x + 1e-20)
    output = torch.zeros_like(x2)
    for i in range(len(seq_len)):
        tmp = x2[i, : seq_len[i], : seq_len[i]]
        adj2 = F.threshold(tmp, 0.7, 0)
        output[i, : seq_len[i], : seq_len[i]] = soft(adj2)
    return output


@pytest.mark.parametrize("window", [8, 64])
def test_window_mask_blocks(window):
    mask = window_mask(256, window)
    assert torch.equal(mask, _official_attention_mask(256, window))
    zero = mask == 0
    assert int(zero.sum()) == (256 // window) * window * window
    for b in range(256 // window):  # exactly 256/w zero blocks on the diagonal
        s = slice(b * window, (b + 1) * window)
        assert bool(zero[s, s].all())
    assert not bool(zero[0, window])


def test_window_mask_errors_and_overlap():
    with pytest.raises(ConfigError, match="does not divide visual_length 256"):
        window_mask(256, 100)
    with pytest.raises(ConfigError, match="unknown window_mode"):
        window_mask(256, 8, "sliding")
    with pytest.raises(ConfigError, match="even window"):
        window_mask(256, 7, "overlapping")
    ov = window_mask(16, 4, "overlapping") == 0
    assert bool(ov[0, 3]) and bool(ov[2, 5]) and not bool(ov[0, 4]) and bool(ov[4, 7])
    assert torch.equal(ov, ov.T)


def test_distance_adjacency_code_and_paper():
    adj = DistanceAdj(256, "code").adj
    j = torch.arange(256, dtype=torch.float32)
    assert torch.allclose(adj[0], torch.exp(-j / math.e), atol=1e-7)  # row 0 = exp(-j/e)
    from scipy.spatial.distance import pdist, squareform  # the official construction

    dist = squareform(pdist(np.arange(256).reshape(-1, 1), metric="cityblock").astype(np.float32))
    official = torch.exp(-torch.from_numpy(dist) / torch.exp(torch.tensor(1.0)))
    assert torch.equal(adj, official)
    paper = DistanceAdj(256, "paper").adj
    assert torch.allclose(paper.sum(1), torch.ones(256))
    assert torch.allclose(paper[5], torch.softmax(-(j - 5).abs(), 0))
    masked = DistanceAdj(8, "code")(torch.tensor([[True] * 5 + [False] * 3]))
    assert (
        masked.shape == (1, 8, 8)
        and float(masked[0, 5:].abs().sum()) == 0
        and float(masked[0, :, 6].abs().sum()) == 0
    )
    with pytest.raises(ConfigError, match="distance_adjacency"):
        DistanceAdj(8, "gauss")


def test_similarity_adjacency_masked_block_and_official():
    torch.manual_seed(0)
    x = torch.randn(3, 32, 16) + 2.0  # positive mean: many cosines above 0.7
    lengths = torch.tensor([32, 20, 5])
    adj = similarity_adjacency(x, lengths)
    assert torch.allclose(adj, _official_adj4(x, [32, 20, 5]), atol=1e-6)
    for b, n in enumerate(lengths.tolist()):
        assert float(adj[b, n:].abs().sum()) == 0 and float(adj[b, :, n:].abs().sum()) == 0
        assert torch.allclose(adj[b, :n, :n].sum(1), torch.ones(n), atol=1e-6)
    # backward through the masked rows stays finite
    xg = x.clone().requires_grad_(True)
    similarity_adjacency(xg, lengths).sum().backward()
    assert torch.isfinite(xg.grad).all()


def test_blocked_attention_equals_dense_masked():
    torch.manual_seed(0)
    blocked = LocalTransformer(32, 2, 1, 64, 8, blocked=True)
    dense = LocalTransformer(32, 2, 1, 64, 8, blocked=False)
    dense.load_state_dict(blocked.state_dict())
    x = torch.randn(3, 64, 32)
    assert torch.allclose(blocked(x), dense(x), atol=1e-5)
    valid = torch.arange(64)[None] < torch.tensor([64, 30, 3])[:, None]
    yb, yd = blocked(x, valid), dense(x, valid)
    assert torch.isfinite(yb).all() and torch.allclose(yb, yd, atol=1e-5)
    # masking padded keys changes valid outputs only where a window mixes valid and padded snippets
    assert not torch.allclose(yb[1, 24:30], blocked(x)[1, 24:30])
    assert torch.allclose(yb[1, :24], blocked(x)[1, :24], atol=1e-6)


@pytest.mark.parametrize("heads", [1, 2])
def test_attention_equals_torch_multihead_attention(heads):
    """Our functional attention with the module's weights = nn.MultiheadAttention (sequence-first) + mask."""
    from vadbench.methods.vadclip.torch_model import ResidualAttentionBlock

    torch.manual_seed(0)
    block = ResidualAttentionBlock(32, heads)
    x, mask = torch.randn(3, 64, 32), window_mask(64, 8)
    xs = x.transpose(0, 1)
    expect = block.attn(xs, xs, xs, need_weights=False, attn_mask=mask)[0].transpose(0, 1)
    assert torch.allclose(block.attention(x, mask, None), expect, atol=1e-5)
    assert torch.allclose(block.attention(x, None, 8), expect, atol=1e-5)


def test_graph_convolution_literal():
    torch.manual_seed(0)
    gc = GraphConvolution(8, 4)
    x, adj = torch.randn(2, 10, 8), torch.rand(2, 10, 10)
    expect = adj.matmul(x.matmul(gc.weight)) + gc.residual(x.permute(0, 2, 1)).permute(0, 2, 1)
    assert torch.allclose(gc(x, adj), expect, atol=1e-6)
    same = GraphConvolution(4, 4)
    y = torch.randn(2, 10, 4)
    assert torch.allclose(same(y, adj), adj.matmul(y.matmul(same.weight)) + y, atol=1e-6)
    assert not hasattr(same, "residual") and gc.residual.kernel_size == (5,)


def test_adapter_shapes_and_variants():
    torch.manual_seed(0)
    x, lengths = torch.randn(2, 32, 16), torch.tensor([32, 9])
    for kw in (
        {},
        {"gcn": "paper"},
        {"distance_adjacency": "paper"},
        {"window_mode": "overlapping"},
        {"mask_padding": True},
    ):
        out = LGTAdapter(16, 32, 1, 1, 8, **kw)(x, lengths)
        assert out.shape == (2, 32, 16) and torch.isfinite(out).all(), kw
    with pytest.raises(ConfigError, match="unknown gcn"):
        LGTAdapter(16, 32, gcn="deep")


def test_trainable_parameter_count_matches_spec():
    """Spec 5.10: about 12.64 M trainable parameters (UCF, 2 layers) and 9.49 M (XD, 1 layer)."""

    def count(layers, window):
        mods = torch.nn.ModuleList(
            [
                LGTAdapter(512, 256, layers, 1, window),
                _mlp(512),
                _mlp(512),
                torch.nn.Linear(512, 1),
                torch.nn.Embedding(77, 512),
            ]
        )
        return count_trainable(mods)

    assert abs(count(2, 8) / 1e6 - 12.64) < 0.01
    assert abs(count(1, 64) / 1e6 - 9.49) < 0.01


def _fake_clip(width=16, out=12, context=77, vocab=100):
    """A minimal CLIP-like text tower (open_clip attribute names) for prompt tests."""
    import open_clip

    clip = torch.nn.Module()
    clip.token_embedding = torch.nn.Embedding(vocab, width)
    clip.positional_embedding = torch.nn.Parameter(torch.randn(context, width) * 0.01)
    clip.transformer = open_clip.transformer.Transformer(width, 2, 2)
    clip.ln_final = torch.nn.LayerNorm(width)
    clip.text_projection = torch.nn.Parameter(torch.randn(width, out) * width**-0.5)
    clip.attn_mask = torch.full((context, context), float("-inf")).triu_(1)
    return clip


def _official_prompts(table, word_embedding, word_tokens, prefix, postfix):
    """Literal transcription of CLIPVAD.encode_textprompt (prompt building part)."""
    c = word_tokens.shape[0]
    text_embeddings = table.unsqueeze(0).repeat([c, 1, 1])
    text_tokens = torch.zeros(c, word_tokens.shape[1])
    for i in range(c):
        ind = torch.argmax(word_tokens[i], -1)
        text_embeddings[i, 0] = word_embedding[i, 0]
        text_embeddings[i, prefix + 1 : prefix + ind] = word_embedding[i, 1:ind]
        text_embeddings[i, prefix + ind + postfix] = word_embedding[i, ind]
        text_tokens[i, prefix + ind + postfix] = word_tokens[i, ind]
    return text_embeddings, text_tokens


def test_prompt_learner_matches_official_construction():
    torch.manual_seed(0)
    clip = _fake_clip()
    tokens = torch.zeros(3, 77, dtype=torch.long)
    for i, n_words in enumerate([1, 3, 5]):  # SOT=98, words 1..97, EOT=99 (largest id, as CLIP's BPE)
        tokens[i, 0], tokens[i, 1 : 1 + n_words], tokens[i, 1 + n_words] = (
            98,
            torch.arange(1, 1 + n_words) + i,
            99,
        )
    word = clip.token_embedding(tokens).detach()
    pl = PromptLearner(tokens, 16, 10, 10)
    expect, text_tokens = _official_prompts(pl.text_prompt_embeddings.weight.detach(), word, tokens, 10, 10)
    assert torch.equal(pl.prompts(clip.token_embedding).detach(), expect)
    assert torch.equal(pl.eot, text_tokens.argmax(-1))
    assert pl.eot.tolist() == [22, 24, 26]
    # gradients reach the learnable table only at context positions
    from vadbench.methods.vadclip.torch_model import FrozenTextEncoder

    enc = FrozenTextEncoder(clip)
    out = pl(enc)
    out.sum().backward()
    grad = pl.text_prompt_embeddings.weight.grad
    assert out.shape == (3, 12) and grad[1:11].abs().sum() > 0 and float(grad[0].abs().sum()) == 0
    assert all(p.grad is None for p in enc.parameters())
    # truncating the causal sequence to max(EOT)+1 changes nothing but rounding
    full = pl(enc, truncate=False)
    assert torch.allclose(out, full, atol=1e-5)
    with pytest.raises(ConfigError, match="too long"):
        PromptLearner(tokens, 16, 40, 40)


def test_vadclip_model_forward_and_official_keys():
    torch.manual_seed(0)
    clip = _fake_clip(width=16, out=32)
    tokens = torch.zeros(2, 77, dtype=torch.long)
    tokens[:, 0], tokens[:, 1], tokens[:, 2] = 98, torch.tensor([5, 6]), 99
    model = VadCLIPModel(clip, tokens, embed_dim=32, length=64, layers=1, window=8)
    t_ori, l1, l2 = model(torch.randn(3, 64, 32), torch.tensor([64, 10, 1]))
    assert t_ori.shape == (2, 32) and l1.shape == (3, 64, 1) and l2.shape == (3, 64, 2)
    # A-branch logits are cosines / 0.07
    assert float(l2.detach().abs().max()) <= 1 / 0.07 + 1e-4
    with pytest.raises(ConfigError, match="must be equal"):
        VadCLIPModel(clip, tokens, embed_dim=16, length=64)
    with pytest.raises(ConfigError, match="expects"):
        model(torch.randn(1, 32, 32), torch.tensor([32]))
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert not any(k.startswith("clipmodel.") for k in trainable)
    renamed = official_state_dict(
        {
            "temporal.resblocks.0.attn.in_proj_weight": 0,
            "text_prompt_embeddings.weight": 1,
            "frame_position_embeddings.weight": 2,
            "classifier.weight": 3,
            "clipmodel.token_embedding.weight": 4,
        }
    )
    assert set(renamed) <= set(model.state_dict())
