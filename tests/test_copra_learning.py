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

#: Measured (card, "Learning on synthetic"): `copra --preset small` (world-vlm sha256 60d456fa..., the vision
#: tower with the motion target; rollout=answer; epochs 8 and frame_geometry=world, both chosen on dev data
#: seeds 100-102 before these runs) on the tiny synthetic weak split, synthetic DATA seeds 0, 1, 2
#: (`--dataset-opt seed=D`), method seed 0; auc_micro in percent; mil with its tiny preset on the same videos;
#: `none` trains nothing.
MEASURED = {
    "conditional": (63.82, 75.76, 43.38),
    "none": (62.08, 91.42, 68.09),
    "static": (65.48, 84.65, 64.70),
    "mil": (46.40, 41.14, 40.01),
}
#: What "beats" must mean here: the mean over the data seeds at least this many points above each
#: comparison, and above zero-shot and the static LoRA on every data seed. Measured: the generator is below
#: the static LoRA on every data seed (by 1.7, 8.9 and 21.3) and below zero-shot on data seeds 1 and 2, though
#: it beat both on all three dev seeds (78.92 vs 66.69 / 71.11 on their mean): -12.9 under zero-shot on the
#: mean, so the test is an expected failure; +18.5 over mil. With the decoded 128 x 96 frames (before
#: frame_geometry) it measured 71.75 / 73.93 / 56.78 (static 66.06 / 70.39 / 72.39, zero-shot 64.25 / 69.46 /
#: 71.38).
MARGIN = 3.0
DATA_SEEDS = (0, 1, 2)


def _synthetic_auc(tmp_path, method: str, preset: str, data_seed: int, **overrides) -> float:
    from vadbench.runner import run

    res = run(method, "synthetic", preset=preset, device="cpu", seed=0, runs_dir=tmp_path / "runs",
              overrides=overrides or None, dataset_options={"seed": data_seed}, progress=False, report=False)
    return 100 * float(res.metrics["auc_micro"])


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="measured with world-vlm 60d456fa (rollout=answer, 8 epochs, frame_geometry=world), data seeds "
    "0-2: conditional 63.82 / 75.76 / 43.38 (mean 60.99) vs static LoRA 65.48 / 84.65 / 64.70 (71.61), "
    "zero-shot 62.08 / 91.42 / 68.09 (73.86), mil 42.5: below the static LoRA on every data seed (card: "
    "Learning on synthetic)",
)
def test_generator_beats_zero_shot_static_and_mil_on_synthetic_with_world_vlm(tmp_path, one_torch_thread):
    """Weak labels only: COPRA's trained generator against the frozen world-vlm zero-shot, one static LoRA
    trained with the same GRPO, and the mil baseline, on the same videos, over synthetic data seeds."""
    got = {a: [_synthetic_auc(tmp_path, "copra", "small", d, adaptation=a) for d in DATA_SEEDS]
           for a in ("conditional", "static", "none")}
    got["mil"] = [_synthetic_auc(tmp_path, "mil", "tiny", d) for d in DATA_SEEDS]
    print({k: [round(x, 2) for x in v] for k, v in got.items()}, "measured:", MEASURED)
    mean = {k: float(np.mean(v)) for k, v in got.items()}
    for other in ("none", "static", "mil"):
        assert mean["conditional"] >= mean[other] + MARGIN, (other, mean)
    for i in range(len(DATA_SEEDS)):
        assert got["conditional"][i] > max(got["none"][i], got["static"][i]), (i, got)
