"""The main path with the real pieces: synthetic data -> world-clip features -> VadCLIP (tiny preset) ->
protocol -> result row + run folder + report; a re-run resumes; the row passes the regression gate.

These tests are part of ``make test`` (about 2-3 minutes together on 2 cores). The command is exactly the one
``make regress`` runs: ``vadbench run --method vadclip --dataset synthetic
--preset tiny``. Data and features are generated into the session's cache (conftest), so the first test pays
for generation, extraction and training (about a minute on 2 shared cores) and the others reuse them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from vadbench.cli import app
from vadbench.paths import PROJECT_ROOT

BASELINES = PROJECT_ROOT / "leaderboards" / "baselines.csv"


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("e2e")
    return {"runs": base / "runs", "csv": base / "results.csv"}


def _cmd(e2e: dict[str, Path], *extra: str) -> list[str]:
    return [
        "run",
        "--method",
        "vadclip",
        "--dataset",
        "synthetic",
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--runs-dir",
        str(e2e["runs"]),
        "--leaderboard",
        str(e2e["csv"]),
        "--no-progress",
        *extra,
    ]


def test_vadclip_tiny_on_synthetic_writes_everything(e2e: dict[str, Path]) -> None:
    from vadbench.datasets import get_dataset
    from vadbench.leaderboard import read_results

    out = CliRunner().invoke(app, _cmd(e2e))
    assert out.exit_code == 0, out.output
    runs = list(e2e["runs"].iterdir())
    assert len(runs) == 1
    d = runs[0]
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    assert (cfg["method"], cfg["dataset"], cfg["preset"], cfg["selection"]) == (
        "vadclip",
        "synthetic",
        "tiny",
        "none",
    )
    assert cfg["features"]["backbone"] == "world-clip" and cfg["method_config"]["clip_model"] == "world-clip"
    test_videos = get_dataset("synthetic", None, **cfg["dataset_kwargs"]).split("weak").test
    with np.load(d / "scores.npz") as z:
        assert list(z.files) == test_videos  # every weak-split test video, in the convention's order
        assert all(z[v].ndim == 1 and np.isfinite(z[v]).all() for v in z.files)
    with np.load(d / "outputs.npz") as z:
        assert {k.split("/")[0] for k in z.files} >= {"c", "a"}  # both VadCLIP branches kept
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["split"] == "weak" and metrics["n_test"] == len(test_videos)
    assert 0.0 <= metrics["metrics"]["auc_micro"] <= 1.0
    assert metrics["per_type"], "the synthetic dataset records anomaly types"
    assert {"c", "a"} <= set(metrics["outputs"])
    for png in ("plots/roc_pr.png", "plots/scores.png"):
        assert (d / png).read_bytes()[:4] == b"\x89PNG"
    html = (d / "report.html").read_text()
    assert "AUC per anomaly type" in html and "data:image/png;base64," in html
    assert (d / "checkpoint.safetensors").is_file()

    rows = read_results(e2e["csv"])
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["status"], row["method"], row["dataset"], row["split"], row["preset"]) == (
        "ok",
        "vadclip",
        "synthetic",
        "weak",
        "tiny",
    )
    assert row["protocol"] == cfg["protocol"] and row["run_id"] == d.name
    assert row["backbone"] == "world-clip" and len(str(row["feature_hash"])) == 12
    assert math.isclose(row["auc_micro"], metrics["metrics"]["auc_micro"], rel_tol=1e-9)
    assert row["n_test"] == len(test_videos) and row["n_frames"] == metrics["n_frames"]


def test_rerun_resumes_without_refitting(e2e: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from vadbench.methods.vadclip import VadCLIP

    def no_fit(self, samples):
        raise AssertionError("the re-run refitted VadCLIP")

    before = json.loads(next(e2e["runs"].iterdir()).joinpath("metrics.json").read_text())["metrics"]
    monkeypatch.setattr(VadCLIP, "fit", no_fit)
    out = CliRunner().invoke(app, _cmd(e2e))
    assert out.exit_code == 0, out.output
    assert "resumed: fit, score" in out.output
    after = json.loads(next(e2e["runs"].iterdir()).joinpath("metrics.json").read_text())["metrics"]
    assert after["auc_micro"] == before["auc_micro"]


def test_row_passes_the_regression_gate(e2e: dict[str, Path]) -> None:
    """The committed synthetic baseline has this run's protocol string and passes (as make regress)."""
    from vadbench.leaderboard import read_baselines, read_results

    run_protocol = read_results(e2e["csv"]).iloc[-1]["protocol"]
    base = read_baselines(BASELINES)
    mine = base[(base["method"] == "vadclip") & (base["dataset"] == "synthetic")]
    assert len(mine) >= 1 and set(mine["protocol"]) == {run_protocol}  # auc_micro (3 points) + ap (ci)
    lines = BASELINES.read_text().splitlines(keepends=True)
    mine_file = e2e["csv"].with_name("vadclip-baselines.csv")  # the other methods' rows are make regress's
    mine_file.write_text(lines[0] + "".join(line for line in lines[1:] if line.startswith("vadclip,")))
    out = CliRunner().invoke(app, ["regress", "--results", str(e2e["csv"]), "--baseline", str(mine_file)])
    assert out.exit_code == 0, out.output


#: VadCLIP must beat the best standard baseline of its supervision on the weak split (weak methods and the
#: zero-shot ones under the same labels) by this margin, mean over dataset seeds 0-2 of the tiny preset.
#: Measured 2026-12-02 with the retrained world-clip (sha256 67d4984d...), generator v3, micro AUC %:
#: vadclip 69.88 / 51.58 / 52.61 (mean 58.02); best baseline (frame-diff tiny-weak) 59.46 / 76.95 / 72.24
#: (mean 69.55). Seed 0 alone (12 test videos) passes by 10 points, which the other dataset seeds and the
#: 42-video small preset (vadclip 55.14 +/- 1.87 over method seeds vs mil 60.00, frame-diff 59.78) do not
#: confirm: VadCLIP does not learn this benchmark's anomalies yet, and this test is an expected failure.
LEARNING_MARGIN = 0.03
LEARNING_SEEDS = (0, 1, 2)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="VadCLIP with world-clip does not beat the best baseline over dataset seeds "
                   "(measured, see LEARNING_MARGIN)")
def test_vadclip_beats_the_best_baseline_of_its_supervision(tmp_path: Path) -> None:
    """Trained VadCLIP (tiny) beats the best weak / zero-shot baseline on the weak split by a margin, mean
    over dataset seeds 0-2 (method seed = dataset seed; each baseline on the same dataset seed)."""
    from vadbench.datasets.synthetic import default_root, make_synthetic
    from vadbench.runner import run

    def auc(method: str, preset: str, root: Path, seed: int) -> float:
        return run(method, "synthetic", root=root, preset=preset, device="cpu", seed=seed,
                   leaderboard=tmp_path / "rows.csv", runs_dir=tmp_path / "runs", progress=False,
                   report=False).metrics["auc_micro"]

    trained, best = [], []
    for s in LEARNING_SEEDS:
        root = make_synthetic(default_root(s, "tiny"), seed=s, preset="tiny")
        trained.append(auc("vadclip", "tiny", root, s))
        best.append(max(auc(m, p, root, 0) for m, p in (("frame-diff", "tiny-weak"), ("mil", "tiny"),
                                                         ("random", "tiny-weak"))))
    shown = ", ".join(f"seed {s}: {t:.4f} vs {b:.4f}" for s, t, b in zip(LEARNING_SEEDS, trained, best,
                                                                      strict=True))
    assert np.mean(trained) >= np.mean(best) + LEARNING_MARGIN, f"vadclip vs best baseline: {shown}"
