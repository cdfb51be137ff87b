"""COPRA learns what the frozen model does not know, on a toy (slow: minutes on CPU).

The frozen tiny VLM was taught that red clips are anomalous (:func:`colour_primed_tiny_vlm`); the target task
calls bright windows anomalous, whatever their colour, with video labels only (``segment_labels=video``:
normal training videos are dark, abnormal ones bright). The generator trained with GRPO must make the answer
follow the brightness of each window; the same GRPO on one static LoRA and the frozen model zero-shot are the
paper's comparisons. Margins measured over method seeds 0-2 are on the card; the
assertions hold per seed.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.helpers.vlm_format import colour_primed_tiny_vlm, toy_video
from vadbench.methods.copra.method import QUESTION, TINY_GENERATOR, Copra

TOY = {
    **TINY_GENERATOR,
    "group": 8,
    "lr": 3e-3,
    "batch_size": 16,
    "train_window_step": 1,
    "segment_labels": "video",
    "epochs": 20,
}
FLAGS = [[0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 1, 0]]


def toy_data():
    train = [toy_video(f"n{i}", [0] * 4, label=0, seed=i) for i in range(8)]
    train += [toy_video(f"a{i}", [1] * 4, label=1, seed=10 + i) for i in range(8)]
    test = [toy_video(f"t{i}", f, seed=100 + i) for i, f in enumerate(FLAGS)]
    return train, test, np.concatenate(FLAGS)


def run(vlm, adaptation: str, seed: int) -> float:
    train, test, y = toy_data()
    m = Copra({**TOY, "adaptation": adaptation}, seed=seed)
    m.vlm = vlm
    m.progress = False
    m.fit(train)
    return float(roc_auc_score(y, np.concatenate([m.score(v) for v in test])))


@pytest.fixture(scope="module")
def vlm():
    return colour_primed_tiny_vlm(QUESTION, steps=150, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conditional_beats_zero_shot_and_static(vlm, seed, one_torch_thread):
    zero_shot = run(vlm, "none", seed)
    conditional = run(vlm, "conditional", seed)
    static = run(vlm, "static", seed)
    print(f"seed {seed}: zero-shot {zero_shot:.3f} static {static:.3f} conditional {conditional:.3f}")
    assert conditional >= 0.9
    assert conditional >= zero_shot + 0.25 and conditional >= static + 0.25


# -- the synthetic weak split with world-vlm (weak labels only) ---------------------------------------------

#: Measured (card, "Learning on synthetic"): `copra --preset small` (world-vlm sha256 2da72dd6...,
#: rollout=answer, 4 epochs) on the tiny synthetic weak split (data seed 0), seeds 0, 1, 2; auc_micro in
#: percent; mil with its tiny preset on the same videos. `none` trains nothing (one number).
MEASURED = {
    "conditional": (58.56, 58.26, 60.87),
    "none": (58.06, 58.06, 58.06),
    "static": (57.99, 58.32, 57.84),
    "mil": (46.51, 46.34, 46.60),
}
#: What "beats" must mean here: the mean over the seeds at least this many points above each comparison
#: (more than the conditional runs' own seed spread, 2.6 points), and above zero-shot and the static LoRA on
#: every seed. Measured: +1.2 over zero-shot and the static LoRA on the mean (seed 1: below the static LoRA),
#: inside the seed spread, so the test is an expected failure; +12.8 over mil.
MARGIN = 3.0
SYNTH_SEEDS = (0, 1, 2)


def _synthetic_auc(tmp_path, method: str, preset: str, seed: int, **overrides) -> float:
    from vadbench.runner import run

    res = run(method, "synthetic", preset=preset, device="cpu", seed=seed, runs_dir=tmp_path / "runs",
              overrides=overrides or None, progress=False, report=False)
    return 100 * float(res.metrics["auc_micro"])


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="measured with world-vlm ecadd3cf (rollout=answer, 4 epochs), seeds 0-2: conditional 31.81 / "
    "54.10 / 46.38 (mean 44.09) vs zero-shot 50.85, static LoRA 50.90 / 49.84 / 50.66, mil 46.5: -6.8 under "
    "zero-shot on the mean, below it on seeds 0 and 2, not the asserted +3 (was +1.2 with 2da72dd6; card: "
    "Learning on synthetic)",
)
def test_generator_beats_zero_shot_static_and_mil_on_synthetic_with_world_vlm(tmp_path, one_torch_thread):
    """Weak labels only: COPRA's trained generator against the frozen world-vlm zero-shot, one static LoRA
    trained with the same GRPO, and the mil baseline, on the same videos and seeds."""
    got = {a: [_synthetic_auc(tmp_path, "copra", "small", s, adaptation=a) for s in SYNTH_SEEDS]
           for a in ("conditional", "static")}
    got["none"] = [_synthetic_auc(tmp_path, "copra", "small", 0, adaptation="none")] * len(SYNTH_SEEDS)
    got["mil"] = [_synthetic_auc(tmp_path, "mil", "tiny", s) for s in SYNTH_SEEDS]
    print({k: [round(x, 2) for x in v] for k, v in got.items()})
    mean = {k: float(np.mean(v)) for k, v in got.items()}
    for other in ("none", "static", "mil"):
        assert mean["conditional"] >= mean[other] + MARGIN, (other, mean)
    for i in range(len(SYNTH_SEEDS)):
        assert got["conditional"][i] > max(got["none"][i], got["static"][i]), (i, got)
