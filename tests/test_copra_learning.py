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

#: Measured (card, "Learning on synthetic"): `copra --preset small` (world-vlm sha256 463f356a..., shipped
#: 2026-12-05: dense stage-1 target, clip frames 224 x 168; rollout=answer; epochs 8 and frame_geometry=world,
#: both chosen on dev data seeds 100-102 with world-vlm 60d456fa before these runs) on the `small` synthetic
#: weak split (48 training / 42 test videos; moved here from the tiny set by a rule written before the runs:
#: the generator beat both comparisons on the mean of dev seeds 100-102 on this data with 60d456fa, 63.24 vs
#: static 62.87 and zero-shot 62.97), synthetic DATA seeds 0, 1, 2, method seed 0; auc_micro in percent;
#: mil with its small preset on the same videos; `none` trains nothing.
MEASURED = {
    "conditional": (57.59, 56.92, 59.01),
    "none": (63.87, 58.95, 64.90),
    "static": (69.63, 59.73, 65.76),
    "mil": (59.21, 52.01, 51.73),  # 2026-12-05 (51.04 / 51.74 on data seeds 1 / 2 on the machine before)
}
#: What "beats" must mean here: the mean over the data seeds at least this many points above each
#: comparison, and above zero-shot and the static LoRA on every data seed. Measured: the generator is below
#: the static LoRA and zero-shot on every data seed (-7.2 and -4.7 on the mean), so the test is an expected
#: failure; +3.5 over mil. With world-vlm 55e59f91 (112 x 84 clips): 62.03 / 55.86 / 64.28 (static 59.84 /
#: 54.72 / 73.66, zero-shot 63.69 / 58.13 / 70.06); with 60d456fa (every answer drawn alike): 58.78 / 57.77 /
#: 67.93; on the tiny set (11-12 test videos per world) with 60d456fa 63.82 / 75.76 / 43.38.
MARGIN = 3.0
DATA_SEEDS = (0, 1, 2)


def _synthetic_auc(tmp_path, method: str, preset: str, data_seed: int, **overrides) -> float:
    from vadbench.runner import run

    res = run(method, "synthetic", preset=preset, device="cpu", seed=0, runs_dir=tmp_path / "runs",
              overrides=overrides or None, dataset_options={"preset": "small", "seed": data_seed},
              progress=False, report=False)
    return 100 * float(res.metrics["auc_micro"])


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="measured with world-vlm 463f356a (rollout=answer, 8 epochs, frame_geometry=world) on the small "
    "synthetic data, data seeds 0-2: conditional 57.59 / 56.92 / 59.01 (mean 57.84) vs static LoRA 69.63 / "
    "59.73 / 65.76 (65.04), zero-shot 63.87 / 58.95 / 64.90 (62.57), mil 54.3: beats neither on any data "
    "seed (card: Learning on synthetic)",
)
def test_generator_beats_zero_shot_static_and_mil_on_synthetic_with_world_vlm(tmp_path, one_torch_thread):
    """Weak labels only: COPRA's trained generator against the frozen world-vlm zero-shot, one static LoRA
    trained with the same GRPO, and the mil baseline, on the same videos, over synthetic data seeds."""
    got = {a: [_synthetic_auc(tmp_path, "copra", "small", d, adaptation=a) for d in DATA_SEEDS]
           for a in ("conditional", "static", "none")}
    got["mil"] = [_synthetic_auc(tmp_path, "mil", "small", d) for d in DATA_SEEDS]
    print({k: [round(x, 2) for x in v] for k, v in got.items()}, "measured:", MEASURED)
    mean = {k: float(np.mean(v)) for k, v in got.items()}
    for other in ("none", "static", "mil"):
        assert mean["conditional"] >= mean[other] + MARGIN, (other, mean)
    for i in range(len(DATA_SEEDS)):
        assert got["conditional"][i] > max(got["none"][i], got["static"][i]), (i, got)
