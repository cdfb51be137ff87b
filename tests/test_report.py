"""Plots and the self-contained run report (vadbench.report)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from vadbench.report import (
    choose_videos,
    gt_spans,
    plot_roc_pr,
    plot_video_scores,
    render_html,
    write_run_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class _Aligned:
    videos: list[str]
    labels: np.ndarray
    scores: np.ndarray
    lengths: np.ndarray


def _aligned(rng: np.random.Generator) -> _Aligned:
    lab = [np.r_[np.zeros(20), np.ones(12), np.zeros(8)], np.zeros(32), np.r_[np.ones(5), np.zeros(11)]]
    sco = [y * 0.6 + rng.random(y.size) * 0.5 for y in lab]
    return _Aligned(["a1", "n1", "a2"], np.concatenate(lab), np.concatenate(sco), np.array([40, 32, 16]))


def test_gt_spans_runs_of_ones() -> None:
    assert gt_spans([0, 0, 0]) == []
    assert gt_spans([1, 1, 1]) == [(0, 3)]
    assert gt_spans(np.array([0, 1, 0, 1, 1, 0, 1])) == [(1, 2), (3, 5), (6, 7)]
    assert gt_spans([]) == []


def test_choose_videos_abnormal_first_and_capped() -> None:
    labels = {f"a{i}": 1 for i in range(10)}
    videos = [f"a{i}" for i in range(10)] + [f"n{i}" for i in range(10)]
    chosen = choose_videos(videos, labels, max_videos=6)
    assert len(chosen) == 6
    assert chosen[:4] == ["a0", "a1", "a2", "a3"] and chosen[4:] == ["n0", "n1"]
    # fewer normal videos than the quota: abnormal ones fill the rest
    assert choose_videos(["a0", "a1", "a2", "n0"], {"a0": 1, "a1": 1, "a2": 1}, max_videos=3) == [
        "a0",
        "a1",
        "n0",
    ]


def test_plots_are_pngs(tmp_path: Path, rng: np.random.Generator) -> None:
    al = _aligned(rng)
    p = plot_video_scores(
        tmp_path / "v.png",
        ["a1", "n1"],
        [al.scores[:40], al.scores[40:72]],
        [al.labels[:40], al.labels[40:72]],
    )
    assert p.read_bytes()[:8] == PNG_MAGIC
    curves = plot_roc_pr(tmp_path / "c.png", al.labels, al.scores)
    assert curves == tmp_path / "c.png" and curves.read_bytes()[:8] == PNG_MAGIC
    # one class only: no ROC / PR (undefined), no error
    assert plot_roc_pr(tmp_path / "none.png", np.zeros(10), np.arange(10.0)) is None
    assert not (tmp_path / "none.png").exists()
    with pytest.raises(ValueError, match="2 videos, 1 score"):
        plot_video_scores(tmp_path / "x.png", ["a", "b"], [al.scores], [al.labels, al.labels])


def test_render_html_escapes_and_formats() -> None:
    text = render_html(
        title="<run>",
        config={"method": "m<x>"},
        protocol="split=weak,gt=rtfm",
        metrics={"auc_micro": 0.91234, "far": float("nan"), "n_one_class": 2},
        branch_metrics={"c": {"auc_micro": 0.5}},
        per_type={"fire": {"auc_micro": 0.75, "n_videos": 3, "n_frames": 100}},
    )
    assert "&lt;run&gt;" in text and "<run>" not in text
    assert "m&lt;x&gt;" in text
    assert "<code>split=weak,gt=rtfm</code>" in text
    assert "91.23" in text and "n/a" in text and "<td>2</td>" in text
    assert "AUC per anomaly type" in text and "fire" in text and "75.00" in text
    assert "Metrics per method output" in text


def test_write_run_report_is_self_contained(tmp_path: Path, rng: np.random.Generator) -> None:
    al = _aligned(rng)
    path = write_run_report(
        tmp_path,
        config={"run_id": "r1", "method": "m"},
        protocol="p",
        metrics={"auc_micro": 0.8},
        aligned=al,
        video_labels={"a1": 1, "n1": 0, "a2": 1},
        per_type={"t": {"auc_micro": 0.7, "n_videos": 1, "n_frames": 72}},
    )
    html = path.read_text()
    assert path == tmp_path / "report.html"
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 2  # ROC + PR, and the per-video curves
    assert all(base64.b64decode(i)[:8] == PNG_MAGIC for i in images)
    assert not re.search(r'src="(?!data:)', html) and "<script" not in html  # nothing external
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["roc_pr.png", "scores.png"]
    assert "method: m" in html  # the config as YAML


def test_report_without_positive_frames_has_no_curves(tmp_path: Path) -> None:
    al = _Aligned(["n"], np.zeros(10), np.linspace(0, 1, 10), np.array([10]))
    html = write_run_report(
        tmp_path,
        config={},
        protocol="p",
        metrics={"auc_micro": float("nan")},
        aligned=al,
        video_labels={"n": 0},
    ).read_text()
    assert "ROC and PR" not in html and "Scores per video" in html and "n/a" in html
