"""VLAVAD learns on the synthetic semi split with world-vlm answers: frame AUC above the standard baselines
of its supervision (``knn`` on tiny CLIP features and ``frame-diff``) on every method seed, and above a floor.

Measured with ``vadbench run`` (tiny synthetic, generator version "2", dataset seed 0, ``world`` preset =
Adam 1e-3): VLAVAD 0.6411 / 0.6403 / 0.6410 (method seeds 0 / 1 / 2; A_s alone 0.6289 on all), frame-diff
0.5943, knn 0.5709. FLOOR sits between the best baseline and the lowest seed. The seeds vary the S3M's
initialisation and batch order only (the answers, and so A_s, are the same). This test itself has not been
run end to end in the session that wrote it (the runs above were made by the CLI); it takes ~15 min on CPU.
Skipped with the reason when the world models' weights are not installed.
"""

from __future__ import annotations

import pytest

SEEDS = (0, 1, 2)
FLOOR = 0.62  # best baseline 0.594 < FLOOR < lowest measured seed 0.640


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
def test_vlavad_beats_knn_and_frame_diff_on_synthetic(tmp_path, one_torch_thread):
    _world_weights_or_skip()
    from vadbench.runner import run

    def auc(method: str, preset: str, seed: int) -> float:
        res = run(method, "synthetic", preset=preset, seed=seed, device="cpu", runs_dir=tmp_path / "runs",
                  leaderboard=tmp_path / "rows.csv", progress=False, report=False)
        assert res.status == "ok", res.error
        return float(res.metrics["auc_micro"])

    baseline = {m: [auc(m, "tiny", s) for s in SEEDS] for m in ("knn", "frame-diff")}
    ours = [auc("vlavad", "world", s) for s in SEEDS]
    print("synthetic semi AUC per seed:", {"vlavad": ours, **baseline})
    best = [max(baseline["knn"][i], baseline["frame-diff"][i]) for i in range(len(SEEDS))]
    assert all(o > b for o, b in zip(ours, best, strict=True)), (ours, baseline)
    assert min(ours) > FLOOR, (ours, FLOOR)
