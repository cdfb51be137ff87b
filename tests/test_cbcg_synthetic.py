"""CBCG on the synthetic weak split against the ``mil`` baseline of the same (world-clip) features.

Both methods run through the runner exactly as the card's commands do: CBCG with its default synthetic preset
(``small``: world-clip, 64-d, centre crop; weak split; protocol ``sht-weak/rtfm``), ``mil`` with its ``small``
preset and the same feature spec (``--feature backbone=world-clip --feature pretrained=world``). Seeds 0, 1, 2
(model seeds; the data is the benchmark's seed-0 small set). Frame micro AUC.

Measured on 2026-12-02 (CPU, retrained world-clip weights sha256 67d4984d…, main 3cdf59f, generator v3; the
card's table, same commands): CBCG 50.43 / 52.81 / 58.13 (mean 53.79 ± 3.94), ``mil`` 60.26 / 59.11 / 58.68
(59.35 ± 0.82): CBCG is 5.56 points *below* ``mil``, every CBCG seed below every ``mil`` seed. On the previous
world-clip (sha256 19e01581…) CBCG was 3.75 points above (61.29 vs 57.54) and MARGIN (1.5 points) was 40 % of
that gain. The preset (``guidance=product``, chosen on dev worlds 100 / 101 with the previous weights) was not
re-tuned, and nothing is tuned on the benchmark's test labels: the test is a strict xfail that keeps the claim
(CBCG ≥ ``mil`` + MARGIN) so that an XPASS shows when a change makes CBCG learn on these features again.
``slow``: generating the small set and extracting its features takes a minute or two, six fits five to ten.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SEEDS = (0, 1, 2)
WORLD_CLIP = {"backbone": "world-clip", "pretrained": "world"}
MEASURED_CBCG = (0.5043, 0.5281, 0.5813)  # auc_micro, seeds 0 / 1 / 2, world-clip 67d4984d… (see above)
MEASURED_MIL = (0.6026, 0.5911, 0.5868)
MARGIN = 0.015  # 40 % of the gain measured on the previous world-clip (3.75 points)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """One torch thread (conftest ``one_torch_thread``)."""


def _auc(tmp_path: Path, method: str, seed: int, **kwargs) -> float:
    from vadbench.runner import run

    return run(
        method, "synthetic", preset="small", device="cpu", seed=seed, leaderboard=tmp_path / "rows.csv",
        runs_dir=tmp_path / "runs", progress=False, report=False, **kwargs,
    ).metrics["auc_micro"]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True, raises=AssertionError,
    reason="measured on the retrained world-clip (67d4984d…): CBCG 53.79 vs mil 59.35 (seeds 0-2), "
    "5.56 points below; not re-tuned (see the module docstring and the method card)",
)
def test_cbcg_beats_mil_with_the_same_features_on_the_synthetic_weak_split(tmp_path: Path) -> None:
    cbcg = [_auc(tmp_path, "cbcg", s) for s in SEEDS]
    mil = [_auc(tmp_path, "mil", s, features=WORLD_CLIP) for s in SEEDS]
    assert np.mean(cbcg) >= np.mean(mil) + MARGIN, (
        f"cbcg {cbcg} vs mil {mil} (margin {MARGIN}; measured cbcg {MEASURED_CBCG}, mil {MEASURED_MIL})"
    )
