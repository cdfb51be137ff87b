"""VLAVAD on the synthetic semi split with world-vlm answers against the standard baselines of its supervision
(``knn`` on tiny CLIP features, ``frame-diff``) over three synthetic DATA seeds (tiny preset; method seed 0).

Measured (generator v3, world weights of 2026-12-05: world-vlm sha256 463f356a... (dense stage-1 target,
224 x 168 clip frames, stage 2 in the natural mix of the answers), world-clip 67d4984d...; ``world`` preset =
the world models' own crops (``crop_geometry: world``, chosen on dev worlds 100-102, see the card), SPA top-1,
Adam 1e-3; frame AUC, protocol ``sht-semi/official;smooth=gauss(6,reflect)``):

    data seed   VLAVAD   knn     frame-diff
    0           70.84    63.49   62.24
    1           70.08    60.39   61.07
    2           65.41    61.42   76.23

VLAVAD is above both baselines on data seeds 0 and 1 (+7.4 and +9.0 over the better one), above knn but below
frame-diff on data seed 2 (-10.8); its mean (68.78) is 2.3 above frame-diff's. Data seeds 3-5 (measured, not
tested here): VLAVAD 63.97 / 69.37 / 66.00, knn 48.24 / 59.38 / 60.11, frame-diff 59.75 / 72.48 / 70.96 (lost
on 4 and 5); over the six worlds the paired margin over the better baseline is +0.3 +- 7.6. With world-vlm
55e59f91 (2026-12-04, no dense target, 112 x 84 clips) it measured 68.67 / 68.99 / 72.51 (+3.5 +- 5.0 over
six), with 60d456fa (every answer drawn alike) 67.92 / 64.62 / 67.00. So the learning claim does not hold over
data seeds: this test is a strict expected failure carrying the numbers, and passes (XPASS -> failure) only
when VLAVAD beats both baselines on every data seed and stays above FLOOR. Slow: dataset generation, tracks,
3 questions x every crop through world-vlm and the S3M for three data seeds (XFAIL in 514 s on 2 cores shared
with two other runs, cold answer cache). Skipped with the reason when the world models' weights are not
installed.
"""

from __future__ import annotations

import pytest

DATA_SEEDS = (0, 1, 2)
MEASURED = {"vlavad": (0.7084, 0.7008, 0.6541), "knn": (0.6349, 0.6039, 0.6142),
            "frame-diff": (0.6224, 0.6107, 0.7623)}
FLOOR = 0.64  # set with world-vlm 2da72dd6 (above the best baseline on its winning data seeds 0 and 1)


def _world_weights_or_skip() -> None:
    from vadbench.errors import DataError

    try:
        from vadbench.world.store import read_manifest

        manifest = read_manifest()
    except (ImportError, DataError) as err:
        pytest.skip(f"world models not available: {err}")
    missing = {"world-vlm", "world-clip"} - set(manifest.get("models", {}))
    if missing:
        pytest.skip(f"world models not shipped: {sorted(missing)}")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="world-vlm 463f356a, world crops: VLAVAD beats knn and frame-diff on data seeds 0 "
                   "and 1, knn alone on data seed 2 (MEASURED)")
def test_vlavad_beats_knn_and_frame_diff_on_synthetic_data_seeds(tmp_path, one_torch_thread):
    _world_weights_or_skip()
    from vadbench.datasets.synthetic import make_synthetic
    from vadbench.runner import run

    def auc(method: str, preset: str, root) -> float:
        res = run(method, "synthetic", root, preset=preset, seed=0, device="cpu", runs_dir=tmp_path / "runs",
                  leaderboard=tmp_path / "rows.csv", progress=False, report=False)
        assert res.status == "ok", res.error
        return float(res.metrics["auc_micro"])

    got: dict[str, list[float]] = {"vlavad": [], "knn": [], "frame-diff": []}
    for d in DATA_SEEDS:
        root = make_synthetic(tmp_path / f"synthetic-tiny-s{d}", d, "tiny")
        got["vlavad"].append(auc("vlavad", "world", root))
        got["knn"].append(auc("knn", "tiny", root))
        got["frame-diff"].append(auc("frame-diff", "tiny", root))
    print("synthetic semi AUC per data seed:", got, "measured:", MEASURED)
    best = [max(k, f) for k, f in zip(got["knn"], got["frame-diff"], strict=True)]
    assert all(o > b for o, b in zip(got["vlavad"], best, strict=True)), (got, MEASURED)
    assert min(got["vlavad"]) > FLOOR, (got, FLOOR)
