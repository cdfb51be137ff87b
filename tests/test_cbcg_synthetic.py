"""CBCG on the synthetic weak split against the ``mil`` baseline of the same (world-clip) features.

Both methods run through the runner exactly as the card's commands do: CBCG with its default synthetic preset
(``small``: world-clip, 64-d, centre crop; weak split; protocol ``sht-weak/rtfm``), ``mil`` with its ``small``
preset and the same feature spec (``--feature backbone=world-clip --feature pretrained=world``). Seeds 0, 1, 2
(model seeds; the data is the benchmark's seed-0 small set). Frame micro AUC.

Measured on 2026-12-02 (CPU, retrained world-clip weights sha256 67d4984d…, generator v3; the card's table,
same commands) with the preset re-chosen on dev worlds (data seeds 100 / 101, never these test labels: 100
epochs instead of 250, ``conv_padding=replicate``, ``guidance=product``): CBCG 57.83 / 55.59 / 56.32 (mean
56.58 ± 1.14), ``mil`` 60.11 / 59.19 / 58.68 (59.32 ± 0.72): CBCG is 2.74 points *below* ``mil``, every CBCG
seed below every ``mil`` seed. The same preset without the clustering branch (``small-no-clustering``, the
top-k MIL head on CBCG's encoder) is 60.15 ± 1.52, 0.83 above ``mil``: the recipe no longer loses to ``mil``
(it was 52.68 with 250 epochs and zero padding), the full model's clustering guidance does on this world (on
the dev worlds it was the best row: 61.73 against 60.52 without the branch and 56.87 for ``mil``). On the
previous world-clip (sha256 19e01581…) CBCG was 3.75 points above ``mil`` and MARGIN (1.5 points) was 40 %
of that gain. The test is a strict xfail that keeps the claim (CBCG ≥ ``mil`` + MARGIN), so that an XPASS
shows when a change makes CBCG beat ``mil`` on these features.
``slow``: generating the small set and extracting its features takes a minute or two, the six fits two to
four more (3 min 47 s with a warm feature cache, 2026-12-02).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SEEDS = (0, 1, 2)
WORLD_CLIP = {"backbone": "world-clip", "pretrained": "world"}
MEASURED_CBCG = (0.5783, 0.5559, 0.5632)  # auc_micro, seeds 0 / 1 / 2, world-clip 67d4984d… (see above)
MEASURED_MIL = (0.6011, 0.5919, 0.5868)
MARGIN = 0.015  # 40 % of the gain measured on the previous world-clip (3.75 points)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """One torch thread (conftest ``one_torch_thread``)."""


def _auc(tmp_path: Path, method: str, seed: int, world: int = 0, preset: str = "small", **kwargs) -> float:
    """Frame micro AUC of ``method``'s ``preset``; ``world``: the synthetic data seed (0 = default data)."""
    from vadbench.runner import run

    return run(
        method, "synthetic", preset=preset, device="cpu", seed=seed, leaderboard=tmp_path / "rows.csv",
        runs_dir=tmp_path / "runs", progress=False, report=False,
        dataset_options={"seed": world} if world else None, **kwargs,
    ).metrics["auc_micro"]


def _assert_cbcg_above_mil(
    tmp_path: Path, runs: list[tuple[int, int]], margin: float, measured: str, flow: bool = False
) -> None:
    """CBCG's mean AUC over ``runs`` ((model seed, data seed)) >= ``mil``'s on the same features + ``margin``:
    world-clip (CBCG ``small``), or world-clip + the flow stream (both ``small-flow``) with ``flow``."""
    cbcg_kw, mil_kw = (
        ({"preset": "small-flow"}, {"preset": "small-flow"}) if flow else ({}, {"features": WORLD_CLIP})
    )
    cbcg = [_auc(tmp_path, "cbcg", s, world=w, **cbcg_kw) for s, w in runs]
    mil = [_auc(tmp_path, "mil", s, world=w, **mil_kw) for s, w in runs]
    assert np.mean(cbcg) >= np.mean(mil) + margin, (
        f"cbcg {cbcg} vs mil {mil} over (seed, data seed) {runs} (margin {margin}; measured {measured})"
    )


def _claim(reason: str) -> pytest.MarkDecorator:
    """A strict xfail on the claim's assertion: an XPASS says CBCG now beats ``mil`` there."""
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


@pytest.mark.slow
@_claim(
    "measured on the retrained world-clip (67d4984d…) with the preset re-chosen on dev worlds: CBCG "
    "56.58 vs mil 59.32 (seeds 0-2), 2.74 points below (see the module docstring and the method card)",
)
def test_cbcg_beats_mil_with_the_same_features_on_the_synthetic_weak_split(tmp_path: Path) -> None:
    measured = f"cbcg {MEASURED_CBCG}, mil {MEASURED_MIL}"
    _assert_cbcg_above_mil(tmp_path, [(s, 0) for s in SEEDS], MARGIN, measured)


# Over worlds: the same comparison on data seeds 0-5 (method seed 0), registered on 2026-12-03 before worlds
# 3-5 were generated: the rule was fixed after measuring six dev worlds (data seeds 102-107, never used
# before): CBCG - mil = +11.29 / -4.53 / -1.42 / +3.85 / +9.35 / -3.67 points, mean gain +2.48, so the margin
# is 40 % of it (the rule of MARGIN above). Measured once on worlds 0-5 after that (the card's "More
# worlds"): MEASURED_WORLDS.
WORLDS = (0, 1, 2, 3, 4, 5)
WORLD_MARGIN = 0.0099  # 0.4 x 2.48 points, from the dev worlds 102-107
MEASURED_WORLDS = {  # auc_micro on data seeds 0-5, method seed 0, 2026-12-03
    "cbcg": (0.5783, 0.5128, 0.5757, 0.5004, 0.5504, 0.5353),  # mean 54.21
    "mil": (0.6011, 0.4228, 0.5104, 0.5708, 0.5106, 0.5977),  # mean 53.56: gain +0.66 < 0.99
}


@pytest.mark.slow
@_claim(
    "measured over data seeds 0-5 (method seed 0): CBCG 54.21 vs mil 53.56, +0.66 against the "
    "registered margin 0.99; the features show vehicles, not the motion anomalies (the card's 'More worlds')",
)
def test_cbcg_beats_mil_over_synthetic_worlds(tmp_path: Path) -> None:
    """Mean over six synthetic worlds (data seeds 0-5) of CBCG's small preset against ``mil`` on the same
    world-clip features, method seed 0: one world's 42 test videos move both by 5-15 points (about 20 min)."""
    _assert_cbcg_above_mil(tmp_path, [(0, w) for w in WORLDS], WORLD_MARGIN, str(MEASURED_WORLDS))


# With the motion stream: both methods' small-flow presets (world-clip + flow, 128-d), data seeds 0-5 x
# model seeds 0-2. Rule registered on 2026-12-03 before any world 0-5 run on these features, from the eight
# dev worlds (data seeds 100-107 x model seeds 0-2): CBCG 64.94 vs mil 63.59, gain +1.36 points; margin 40 %.
# Measured once after that (the card's "With a motion stream"): MEASURED_FLOW.
FLOW_MARGIN = 0.0054  # 0.4 x 1.36 points, from the dev worlds 100-107
MEASURED_FLOW = {  # auc_micro per data seed 0-5, model seeds 0 / 1 / 2, 2026-12-03
    "cbcg": ((0.5867, 0.6258, 0.6046), (0.5678, 0.5666, 0.5625), (0.4988, 0.5639, 0.5540),
             (0.6294, 0.6261, 0.6392), (0.4374, 0.4951, 0.3806), (0.5770, 0.6011, 0.6361)),  # mean 56.40
    "mil": ((0.6992, 0.6632, 0.6896), (0.7029, 0.5533, 0.5479), (0.4537, 0.5206, 0.4594),
            (0.6480, 0.6480, 0.6325), (0.3664, 0.5760, 0.5128), (0.5488, 0.5874, 0.5216)),  # mean 57.40
}


@pytest.mark.slow
@_claim(
    "measured over data seeds 0-5 x model seeds 0-2 on world-clip + flow: CBCG 56.40 vs mil 57.40, -0.99 "
    "against the registered margin +0.54; the flow stream lifts both on the dev worlds, CBCG no more "
    "than mil",
)
def test_cbcg_beats_mil_with_a_motion_stream_over_synthetic_worlds(tmp_path: Path) -> None:
    """Mean over six synthetic worlds x three model seeds of CBCG's small-flow preset against ``mil``'s
    small-flow (the same two-stream features): 36 fits and six feature extractions (about 25 min)."""
    runs = [(s, w) for w in WORLDS for s in SEEDS]
    _assert_cbcg_above_mil(tmp_path, runs, FLOW_MARGIN, str(MEASURED_FLOW), flow=True)
