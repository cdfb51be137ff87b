"""The low-level VLM API on the tiny random Qwen2.5-VL: encodings, per-sample low-rank deltas, sampling with
log-probs, sequence log-probs, tags, and the errors."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vadbench.backbones import vlm_delta as vd
from vadbench.backbones.vlm import VLM, tiny_vlm
from vadbench.errors import ConfigError, DataError

Q = "does this clip show an anomalous event ? answer with <answer> yes </answer> or <answer> no </answer> ."


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test of this module runs on one torch thread."""


@pytest.fixture(scope="module")
def chat():
    return tiny_vlm("chat", seed=0, system="you are a video surveillance analyst .")


def clips(n, seed=0, t=4, shape=(56, 56, 3)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (t, *shape), dtype=np.uint8) for _ in range(n)]


def random_deltas(model, names, n, rank=2, seed=0, zero=()):
    import torch

    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, (d_in, d_out) in vd.module_shapes(model, names).items():
        a = torch.randn(n, rank, d_in, generator=g)
        b = torch.randn(n, d_out, rank, generator=g)
        for i in zero:
            b[i] = 0
        out[name] = (a, b)
    return out


def test_encode_and_visual_mask(chat):
    batch = vd.encode(chat, clips(2), Q, answer_prefix="<answer>")
    vid = chat.model.config.video_token_id
    assert batch.n == 2
    assert bool((batch.visual_mask == (batch.input_ids == vid)).all())
    assert int(batch.visual_mask[0].sum()) == int(batch.inputs["video_grid_thw"][0].prod()) // 4  # 2x2 merge
    out = vd.forward(chat, batch)
    assert out.logits.shape[:2] == batch.input_ids.shape
    assert len(out.hidden_states) == chat.model.config.text_config.num_hidden_layers + 1
    assert not out.logits.requires_grad
    big = batch.expand(3)
    assert big.n == 6 and big.input_ids.shape[0] == 6
    np.testing.assert_array_equal(big.input_ids[3].numpy(), batch.input_ids[1].numpy())
    o_big = vd.forward(chat, big, hidden_states=False)
    np.testing.assert_allclose(o_big.logits[4].numpy(), out.logits[1].numpy(), atol=1e-5)


def test_zero_delta_is_bit_identical_and_deltas_are_per_sample(chat):
    import torch

    names = vd.target_modules(chat.model, ("q_proj", "v_proj"))
    assert names == [
        f"model.language_model.layers.{i}.self_attn.{m}" for i in (0, 1) for m in ("q_proj", "v_proj")
    ]
    batch = vd.encode(chat, clips(3, seed=1), Q)
    base = vd.forward(chat, batch, hidden_states=False).logits
    zero = {k: (a, torch.zeros_like(b)) for k, (a, b) in random_deltas(chat.model, names, 3).items()}
    with vd.low_rank_deltas(chat.model, zero, scale=8.0):
        same = vd.forward(chat, batch, hidden_states=False).logits
    assert torch.equal(same, base)
    # sample 1 gets a delta, samples 0 and 2 a zero one: only row 1 changes, the others stay bit-identical
    deltas = random_deltas(chat.model, names, 3, seed=2, zero=(0, 2))
    with vd.low_rank_deltas(chat.model, deltas, scale=1.0):
        adapted = vd.forward(chat, batch, hidden_states=False).logits
    assert torch.equal(adapted[0], base[0]) and torch.equal(adapted[2], base[2])
    assert (adapted[1] - base[1]).abs().max() > 1e-3
    # the hooks are gone after the block
    assert torch.equal(vd.forward(chat, batch, hidden_states=False).logits, base)


def test_delta_equals_merged_weights(chat):
    """``scale·B·A`` added to the weight gives the same logits as the hook (the delta is W + scale·B·A)."""
    import torch

    names = vd.target_modules(chat.model, ("q_proj", "v_proj"))
    batch = vd.encode(chat, clips(1, seed=3), Q)
    deltas = {k: (a * 0.1, b * 0.1) for k, (a, b) in random_deltas(chat.model, names, 1, seed=4).items()}
    with vd.low_rank_deltas(chat.model, deltas, scale=2.0):
        hooked = vd.forward(chat, batch, hidden_states=False).logits
    mods = dict(chat.model.named_modules())
    saved = {k: mods[k].weight.detach().clone() for k in names}
    try:
        with torch.no_grad():
            for k, (a, b) in deltas.items():
                mods[k].weight += 2.0 * b[0] @ a[0]
        merged = vd.forward(chat, batch, hidden_states=False).logits
    finally:
        with torch.no_grad():
            for k, w in saved.items():
                mods[k].weight.copy_(w)
    np.testing.assert_allclose(hooked.numpy(), merged.numpy(), atol=1e-4)


def test_sampling_logprobs_match_sequence_logprobs_under_deltas(chat):
    """Generation with G samples per input and the key/value cache, with per-sample deltas, gives the same
    token log-probs as one forward over prompt + completion with the same deltas."""
    import torch

    names = vd.target_modules(chat.model, ("q_proj", "v_proj"))
    batch = vd.encode(chat, clips(2, seed=5), Q)
    deltas = {k: (a * 0.3, b * 0.3) for k, (a, b) in random_deltas(chat.model, names, 2, seed=6).items()}
    s = vd.sample(chat, batch, 3, max_new_tokens=6, temperature=1.3, deltas=deltas, scale=1.0, seed=0)
    assert s.ids.shape[0] == 6 and s.ids.shape == s.mask.shape == s.logprobs.shape and s.group == 3
    assert len(s.texts) == 6
    again = vd.sample(chat, batch, 3, max_new_tokens=6, temperature=1.3, deltas=deltas, scale=1.0, seed=0)
    assert torch.equal(again.ids, s.ids)
    lp = vd.sequence_logprobs(chat, batch, s.ids, s.mask, temperature=1.3, deltas=deltas, grad=False)
    np.testing.assert_allclose(lp.numpy(), s.logprobs.numpy(), atol=2e-4)
    plain = vd.sequence_logprobs(chat, batch, s.ids, s.mask, temperature=1.3, grad=False)
    assert (plain - lp).abs().max() > 1e-3  # the deltas matter


def test_completion_mask_stops_after_eos():
    import torch

    ids = torch.tensor([[5, 9, 7, 7], [9, 1, 2, 3], [4, 4, 4, 4]])
    np.testing.assert_array_equal(
        vd._completion_mask(ids, [9]).numpy(), [[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]]
    )


def test_gradients_reach_only_the_delta_parameters(chat):
    import torch

    names = vd.target_modules(chat.model, ("q_proj", "v_proj"))
    chat.model.requires_grad_(False)
    batch = vd.encode(chat, clips(1, seed=7), Q)
    shapes = vd.module_shapes(chat.model, names)
    params = {
        k: (torch.nn.Parameter(torch.randn(1, 2, d_in) * 0.1), torch.nn.Parameter(torch.zeros(1, d_out, 2)))
        for k, (d_in, d_out) in shapes.items()
    }
    with vd.low_rank_deltas(chat.model, params, scale=4.0):
        out = vd.forward(chat, batch, grad=True, hidden_states=False)
    out.logits[0, -1, 3].backward()
    for a, b in params.values():
        assert b.grad is not None and b.grad.abs().sum() > 0
        assert a.grad is not None  # zero (B = 0) but reached
    assert all(p.grad is None for p in chat.model.parameters())


def test_tags_and_pooling(chat):
    import torch

    ids = vd.tag_token_ids(chat.tokenizer, ["<answer>", "</answer>", "<think>", "</think>"])
    assert len(set(ids)) == 4 and chat.tokenizer.unk_token_id not in ids
    with pytest.raises(ConfigError, match=r"no single token for the tag '<reason>'"):
        vd.tag_token_ids(chat.tokenizer, ["<reason>"])
    h = torch.randn(2, 7, 3)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]]).bool()
    pooled, ok = vd.pool_valid(h, mask, 3)
    assert pooled.shape == (2, 3, 3) and bool(ok.all())
    np.testing.assert_allclose(pooled[0, 0].numpy(), h[0, 2:4].mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(pooled[1, 2].numpy(), h[1, 5:7].mean(0).numpy(), atol=1e-6)
    short, ok = vd.pool_valid(h[:1, :2], torch.ones(1, 2).bool(), 4)
    assert ok.tolist() == [[True, False, True, False]]


def test_errors(chat):
    import torch

    blip = tiny_vlm("blip2", seed=0)
    with pytest.raises(ConfigError, match=r"lacks the modules \['q_proj', 'gate'\].*have the linear modules"):
        vd.target_modules(chat.model, ("q_proj", "gate"))
    with pytest.raises(ConfigError, match="needs a chat VLM"):
        vd.encode(blip, clips(1), Q)
    with pytest.raises(DataError, match="2 clips but 3 prompts"):
        vd.encode(chat, clips(2), [Q] * 3)
    names = vd.target_modules(chat.model, ("q_proj",))
    batch = vd.encode(chat, clips(3), Q)
    bad = random_deltas(chat.model, names, 2)
    with pytest.raises(DataError, match="3 rows, not a multiple of the 2 deltas"):
        with vd.low_rank_deltas(chat.model, bad):
            vd.forward(chat, batch)
    with pytest.raises(ConfigError, match="expected A"):
        with vd.low_rank_deltas(chat.model, {names[0]: (torch.zeros(1, 2, 5), torch.zeros(1, 5, 2))}):
            pass
    with pytest.raises(ConfigError, match="no such module"):
        with vd.low_rank_deltas(chat.model, {"nope": (torch.zeros(1, 2, 5), torch.zeros(1, 5, 2))}):
            pass


def test_hugging_face_id_not_available_offline_fails_at_once():
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"'Qwen/Qwen2.5-VL-3B-Instruct'.*nothing is downloaded"):
        VLM.from_pretrained("qwen2.5-vl-3b")
    assert time.perf_counter() - t0 < 10  # no network retries
