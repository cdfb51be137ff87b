"""COPRA as a Method on tiny random Qwen2.5-VL models: options, zero-shot read-out, segment labels, GRPO
training of the conditional generator on a toy where only the window content tells the answer, persistence
and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.vlm_format import format_primed_tiny_vlm
from vadbench.errors import ConfigError, DataError
from vadbench.methods.copra.method import QUESTION, TINY_GENERATOR, Copra, toy_clips_sample

TINY = {
    **TINY_GENERATOR,
    "group": 4,
    "lr": 1e-3,
    "batch_size": 8,
    "train_window_step": 1,
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test of this module runs on one torch thread."""


@pytest.fixture(scope="module")
def primed():
    return format_primed_tiny_vlm(QUESTION, steps=100, seed=0)


def video(name, bright, label=None, seed=0, meta=None):
    """16 frames, 4 windows of 4 frames; ``bright`` (one flag per window) marks the 'anomalous' content."""
    rng = np.random.default_rng(seed)
    base = np.repeat(np.where(np.asarray(bright), 200.0, 40.0), 4)[:, None, None, None]
    frames = np.clip(rng.normal(base, 30, (16, 56, 56, 3)), 0, 255).astype(np.uint8)
    return toy_clips_sample(name, frames, window=4, stride=4, frames_per_window=4, label=label, meta=meta)


def method(vlm, **cfg):
    m = Copra({**TINY, **cfg}, seed=0)
    m.vlm = vlm
    m.progress = False
    return m


def test_options_are_validated():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) colour; known options: backbone"):
        Copra({"colour": 1})
    with pytest.raises(ConfigError, match=r"adaptation must be one of \['none', 'static', 'conditional'\]"):
        Copra({"adaptation": "dynamic"})
    with pytest.raises(ConfigError, match="group must be a positive integer"):
        Copra({"group": 0})
    m = Copra()
    assert (m.cfg.rank, m.cfg.alpha, m.cfg.width, m.cfg.blocks, m.cfg.segments, m.cfg.group) == (
        8,
        16,
        768,
        4,
        4,
        8,
    )
    assert m.cfg.modules == ("q_proj", "v_proj") and m.config["segment_labels"] == "pseudo_topk"
    assert (Copra.supervision, Copra.input_kind, Copra.unit, Copra.fidelity) == (
        "weak",
        "clips",
        "clip",
        "reconstruction",
    )


def test_zero_shot_equals_the_vlm_yes_no_read_out_and_bad_input():
    m = Copra({"backbone": "tiny-chat", "adaptation": "none"})
    s = video("v", [0, 1, 0, 1], seed=1)
    scores = m.fit([]).score(s)
    assert scores.shape == (4,) and scores.dtype == np.float32
    ref = m.vlm.yes_no([s.read_window(k) for k in range(4)], QUESTION, answer_prefix="<answer>")
    np.testing.assert_allclose(scores, ref.score, atol=1e-5)
    short = toy_clips_sample("short", np.zeros((3, 56, 56, 3), np.uint8), window=4, stride=4)
    with pytest.raises(DataError, match="video 'short' has 3 frames, shorter than one window of 4 frames"):
        m.score(short)
    with pytest.raises(DataError, match="expected a clips sample"):
        m.score(object())


def test_segment_labels(primed):
    normal = [video("n0", [0] * 4, label=0)]
    abn = video("a0", [0, 1, 1, 0], label=1, seed=2, meta={"frame_labels": np.repeat([0, 1, 1, 0], 4)})
    m = method(primed)
    segs = m.segment_labels([*normal, abn])
    assert [s for s in segs if s[0] == 0] == [(0, k, 0) for k in range(4)]
    top = [s for s in segs if s[0] == 1]
    assert len(top) == 2 and all(y == 1 for *_, y in top)  # ceil(30 % of 4) windows of the abnormal video
    assert m.train_info["uses_frame_labels"] is False
    m = method(primed, segment_labels="frame_gt")
    assert [s for s in m.segment_labels([*normal, abn]) if s[0] == 1] == [
        (1, 0, 0),
        (1, 1, 1),
        (1, 2, 1),
        (1, 3, 0),
    ]
    assert m.train_info["uses_frame_labels"] is True and m.extra_state()["uses_frame_labels"] is True
    with pytest.raises(DataError, match="frame_gt needs frame labels of training video 'a1'"):
        m.segment_labels([*normal, video("a1", [1] * 4, label=1)])
    with pytest.raises(DataError, match="needs normal and abnormal segments"):
        method(primed, segment_labels="video").segment_labels(normal)
    m = method(primed, segment_labels="video", train_window_step=2)
    assert [k for i, k, _ in m.segment_labels([*normal, abn]) if i == 1] == [0, 2]


def test_grpo_training_plumbing_and_persistence(primed, tmp_path):
    """GRPO on the format-primed model (which answers yes / no at random whatever the clip shows): the update
    is zero at initialisation, after training it is nonzero and differs between two windows; the loop logs
    finite terms; save / load gives the same scores. (On this toy, 10 epochs do not yet make the answer follow
    the content; the learning test needs world-vlm, see the card.)"""
    train = [video(f"n{i}", [0] * 4, label=0, seed=i) for i in range(3)]
    train += [video(f"a{i}", [1] * 4, label=1, seed=10 + i) for i in range(3)]
    test = video("t", [0, 1, 0, 1], seed=100)
    m = method(primed, segment_labels="video", epochs=2)
    m.build()
    clips = [test.read_window(0), test.read_window(1)]
    before = m.deltas(clips)
    assert all(float(b.abs().max()) == 0 for _, b in before.values())  # zero update at initialisation
    zero_shot = method(primed, adaptation="none").fit([]).score(test)
    np.testing.assert_allclose(m.score(test), zero_shot, atol=1e-6)  # so the scores are the frozen model's
    m.fit(train)
    a, b = next(iter(m.deltas(clips).values()))
    dw = (b @ a).detach()
    assert float(dw.abs().max()) > 0 and float((dw[0] - dw[1]).abs().max()) > 1e-6  # per-window update
    assert len(m.history) == 2 * 3 and all(np.isfinite(h["loss"]) and h["format"] > 0 for h in m.history)
    assert np.abs(m.score(test) - zero_shot).max() > 1e-6
    path = m.save(tmp_path / "copra.safetensors")
    m2 = method(primed, segment_labels="video")
    m2.load(path)
    np.testing.assert_allclose(m2.score(test), m.score(test), atol=1e-6)
    assert m2.train_info == m.train_info and m2.train_info["segments"] == 24


def test_micro_batches_give_the_same_gradient(primed):
    """Training in micro-batches of windows (memory) gives the gradient of the whole batch."""
    import torch

    from vadbench.methods.copra.training import grpo_step

    vids = [video("n", [0] * 4, label=0, seed=1), video("a", [1] * 4, label=1, seed=2)]
    segs = [(0, 0, 0), (1, 1, 1), (0, 2, 0), (1, 3, 1)]
    grads, stats = [], []
    for micro in (0, 1, 3):
        m = method(primed, segment_labels="video", micro_batch=micro, max_grad_norm=0.0)
        m.build()
        opt = torch.optim.SGD(m.adapter.parameters(), lr=0.0)
        stats.append(grpo_step(m, vids, segs, opt, seed=5))
        grads.append([p.grad.clone() for p in m.adapter.parameters() if p.grad is not None])
    assert sum(float(g.abs().sum()) for g in grads[0]) > 0
    for other, st in zip(grads[1:], stats[1:], strict=True):
        assert len(other) == len(grads[0])
        for a, b in zip(grads[0], other, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
        assert st["loss"] == pytest.approx(stats[0]["loss"], rel=1e-4, abs=1e-7)
        assert st["reward"] == stats[0]["reward"]


def test_answer_rollouts_reward_a_vlm_that_never_writes_the_tags():
    """``rollout=answer``: G answers (yes / no) per window sampled from the score's own distribution after the
    ``<answer>`` prefix. The random tiny VLM never writes the tags itself (free rollouts: every reward 0,
    nothing learns); answer rollouts are rewarded, the generator leaves zero and the scores move."""
    train = [video(f"n{i}", [0] * 4, label=0, seed=i) for i in range(2)]
    train += [video(f"a{i}", [1] * 4, label=1, seed=10 + i) for i in range(2)]
    test = video("t", [0, 1, 0, 1], seed=100)
    free = Copra({**TINY, "segment_labels": "video", "epochs": 1}, seed=0)
    free.progress = False
    free.fit(train)
    assert all(h["format"] == 0 and h["reward"] == 0 for h in free.history)
    zero_shot = Copra({**TINY, "adaptation": "none"}).fit([]).score(test)
    m = Copra({**TINY, "segment_labels": "video", "epochs": 2, "rollout": "answer"}, seed=0)
    m.progress = False
    m.fit(train)
    h = m.history
    assert all(x["format"] == 1 and x["reward"] >= 0.5 and np.isfinite(x["loss"]) for x in h)
    assert any(0 < x["accuracy"] < 1 for x in h)  # both answers sampled: nonzero advantages
    a, b = next(iter(m.deltas([test.read_window(0), test.read_window(1)]).values()))
    assert float((b @ a).detach().abs().max()) > 0 and np.abs(m.score(test) - zero_shot).max() > 1e-6
    with pytest.raises(ConfigError, match="rollout=answer .* excludes reasoning=true"):
        Copra({"rollout": "answer", "reasoning": True})


def test_world_frame_geometry_resizes_each_frame_to_the_world_vlms_clip_frames():
    from vadbench.world.data import CLIP_FRAME_SIZE, resize

    frames = np.random.default_rng(0).integers(0, 255, (8, 96, 128, 3)).astype(np.uint8)
    s = toy_clips_sample("v", frames, window=4, stride=4, frames_per_window=4)
    decoded = Copra({"backbone": "tiny-chat"})
    world = Copra({"backbone": "tiny-chat", "frame_geometry": "world"})
    assert decoded._clip(s, 1).shape == (4, 96, 128, 3)
    clip = world._clip(s, 1)
    assert clip.shape == (4, CLIP_FRAME_SIZE[1], CLIP_FRAME_SIZE[0], 3)
    assert np.array_equal(clip[0], resize(frames[4], *CLIP_FRAME_SIZE))
    with pytest.raises(ConfigError, match="frame_geometry must be one of"):
        Copra({"frame_geometry": "square"})
