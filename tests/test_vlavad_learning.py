"""VLAVAD learns on the synthetic semi split with world-vlm answers: frame AUC above the standard baselines
of its supervision (``knn`` on tiny CLIP features and ``frame-diff``) on every method seed.

Needs the world models' shipped weights (``vadbench/world/weights/``, issue 10); skipped with the reason
until they exist. NOT YET RUN: no world weights existed when it was written (issue 13 session), so no
numeric floor has been measured; once it has run, replace the comparison by a floor set from the measured
AUCs over seeds (as issue 13 asks).
"""

from __future__ import annotations

import pytest

SEEDS = (0, 1, 2)


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
