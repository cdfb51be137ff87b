"""COPRA's LoRA generator and static LoRA: shapes, zero update at initialisation, per-window factors, and
gradients that reach only the adapter through the frozen tiny Qwen2.5-VL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vadbench.backbones import vlm_delta as vd
from vadbench.errors import ConfigError
from vadbench.methods.copra.torch_model import LoRAGenerator, StaticLoRA, Target


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test of this module runs on one torch thread."""


def targets(layers=3, d=16):
    return [
        Target(f"l{i}.{m}", i, m, d, d if m == "q" else d // 2) for i in range(layers) for m in ("q", "v")
    ]


def test_generator_shapes_zero_init_and_conditioning():
    torch.manual_seed(0)
    g = LoRAGenerator(targets(), d_cond=12, rank=4, width=32, blocks=2, heads=4, segments=4)
    cond = torch.randn(2, 5, 12)
    d = g(cond)
    assert list(d) == [f"l{i}.{m}" for i in range(3) for m in ("q", "v")]
    assert d["l1.q"][0].shape == (2, 4, 16) and d["l1.q"][1].shape == (2, 16, 4)
    assert d["l2.v"][0].shape == (2, 4, 16) and d["l2.v"][1].shape == (2, 8, 4)
    assert all(float(b.abs().max()) == 0 for _, b in d.values())  # B head zero-initialised
    a0 = d["l0.q"][0]
    assert (a0[0] - a0[1]).abs().max() > 1e-4  # A depends on the window
    # one gradient step on B makes the update nonzero and window dependent
    loss = sum((b * torch.randn_like(b)).sum() for _, b in d.values())
    loss.backward()
    assert g.b_head["q"].weight.grad.abs().sum() > 0
    with torch.no_grad():
        for head in g.b_head.values():
            head.weight.add_(torch.randn_like(head.weight) * 0.1)
    d = g(cond)
    dw = torch.einsum("nor,nri->noi", d["l0.q"][1], d["l0.q"][0])
    assert dw[0].abs().max() > 0 and (dw[0] - dw[1]).abs().max() > 1e-4
    # masked condition chunks are ignored
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    cut = g(
        torch.cat([cond[:1], cond[:1]]).index_put(
            (torch.tensor([1]), torch.tensor([4])), torch.full((12,), 9.0)
        ),
        mask,
    )
    full = g(torch.cat([cond[:1], cond[:1]]), mask)
    torch.testing.assert_close(cut["l0.q"][0][1], full["l0.q"][0][1])


def test_segments_slice_the_channels():
    """Segment k of the B head writes output rows [k·d/K, (k+1)·d/K) only."""
    torch.manual_seed(0)
    g = LoRAGenerator(targets(layers=1), d_cond=4, rank=2, width=8, blocks=1, heads=2, segments=2)
    with torch.no_grad():
        g.b_head["q"].bias.copy_(torch.arange(16.0))  # (d_out/K · r) = 8 · 2 per token
    b = g(torch.randn(1, 3, 4))["l0.q"][1][0].detach()  # (16, 2)
    np.testing.assert_allclose(b[:8].numpy(), b[8:].numpy())  # same bias for both segments
    np.testing.assert_allclose(b[:8].reshape(-1).numpy(), np.arange(16.0))


def test_static_lora_is_shared():
    s = StaticLoRA(targets(), rank=4)
    d = s(3)
    a, b = d["l0.v"]
    assert a.shape == (3, 4, 16) and b.shape == (3, 8, 4) and float(b.detach().abs().max()) == 0
    assert torch.equal(a[0], a[2])


def test_bad_targets():
    with pytest.raises(ConfigError, match="not divisible into 3 channel segments"):
        LoRAGenerator(targets(), d_cond=4, segments=3, width=8, heads=2)
    with pytest.raises(ConfigError, match="every module kind in every layer"):
        StaticLoRA(targets()[:-1])
    with pytest.raises(ConfigError, match="not divisible by its 3 heads"):
        LoRAGenerator(targets(), d_cond=4, width=8, heads=3, segments=2)


def test_gradients_reach_only_the_generator_through_the_vlm():
    from vadbench.backbones.vlm import tiny_vlm

    vlm = tiny_vlm("chat", seed=0)
    vlm.model.requires_grad_(False)
    names = vd.target_modules(vlm.model, ("q_proj", "v_proj"))
    shapes = vd.module_shapes(vlm.model, names)
    tg = [Target(n, int(n.split("layers.")[1].split(".")[0]), n.rsplit(".", 1)[1], *shapes[n]) for n in names]
    torch.manual_seed(0)
    g = LoRAGenerator(tg, d_cond=32, rank=2, width=16, blocks=1, heads=2, segments=2)
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (4, 56, 56, 3), dtype=np.uint8) for _ in range(2)]
    batch = vd.encode(vlm, clips, "does this clip show an anomalous event ?", answer_prefix="<answer>")
    h = vd.forward(vlm, batch).hidden_states[-1]
    deltas = g(*vd.pool_valid(h, batch.attention_mask.bool(), 4))
    base = vd.forward(vlm, batch, hidden_states=False).logits
    with vd.low_rank_deltas(vlm.model, deltas, scale=4.0):
        out = vd.forward(vlm, batch, grad=True, hidden_states=False).logits
    assert torch.equal(out.detach(), base)  # zero update at initialisation: bit-identical
    out[:, -1].logsumexp(-1).sum().backward()
    assert all(p.grad is None for p in vlm.model.parameters())
    assert g.b_head["q_proj"].weight.grad.abs().sum() > 0
    assert g.b_head["v_proj"].weight.grad.abs().sum() > 0
