"""Plots and the self-contained per-run HTML report (``runs/<id>/report.html``).

Plots use matplotlib's Agg backend (imported inside the functions): one score curve per test video with the
ground-truth spans shaded, and the ROC and PR curves of the concatenated frames. The report embeds every image
(base64 PNG), the resolved config, the protocol string, the metrics table and, when the dataset records
anomaly types, the AUC per type.

Example:
    >>> from vadbench.report import gt_spans
    >>> gt_spans([0, 1, 1, 0, 1])
    [(1, 3), (4, 5)]
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Metrics shown as percentages in the tables (the others, e.g. counts, are shown as they are).
_FRACTION_METRICS = ("auc", "ap", "pr_auc", "far")


def gt_spans(labels: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
    """Runs of ones of a 0/1 frame-label vector as ``[start, end)`` pairs.

    >>> gt_spans([1, 1, 0])
    [(0, 2)]
    """
    y = np.asarray(labels).astype(bool).astype(np.int8)
    if y.size == 0:
        return []
    d = np.diff(np.concatenate([[0], y, [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=90, format="png")
    os.replace(tmp, path)
    return path


def plot_video_scores(
    path: str | os.PathLike[str], video: str, scores: np.ndarray, labels: np.ndarray
) -> Path:
    """One video's frame scores as a curve, ground-truth anomalous spans shaded. Returns the PNG path."""
    plt = _pyplot()
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    fig, ax = plt.subplots(figsize=(7, 2.2))
    try:
        for s, e in gt_spans(labels):
            ax.axvspan(s, e, color="tab:red", alpha=0.2, lw=0)
        ax.plot(np.arange(scores.size), scores, color="tab:blue", lw=1)
        ax.set_xlim(0, max(scores.size - 1, 1))
        ax.set_title(
            f"{video}  ({'abnormal' if labels.any() else 'normal'}, {scores.size} frames)", fontsize=9
        )
        ax.set_xlabel("frame", fontsize=8)
        ax.set_ylabel("score", fontsize=8)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def plot_roc_pr(directory: str | os.PathLike[str], labels: np.ndarray, scores: np.ndarray) -> dict[str, Path]:
    """ROC and precision-recall curves of the concatenated frames (``roc.png``, ``pr.png``); empty when the
    labels hold a single class."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    if labels.size == 0 or labels.min() == labels.max():
        return {}
    plt = _pyplot()
    directory = Path(directory)
    out: dict[str, Path] = {}
    fpr, tpr, _ = roc_curve(labels, scores)
    prec, rec, _ = precision_recall_curve(labels, scores)
    for name, (x, y, xl, yl, diag) in {
        "roc": (fpr, tpr, "false positive rate", "true positive rate", True),
        "pr": (rec, prec, "recall", "precision", False),
    }.items():
        fig, ax = plt.subplots(figsize=(3.6, 3.4))
        try:
            ax.plot(x, y, color="tab:blue", lw=1.2)
            if diag:
                ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
            else:
                ax.axhline(labels.mean(), color="grey", lw=0.8, ls="--")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.01)
            ax.set_xlabel(xl, fontsize=8)
            ax.set_ylabel(yl, fontsize=8)
            ax.set_title(name.upper(), fontsize=9)
            ax.tick_params(labelsize=7)
            fig.tight_layout()
            out[name] = _save(fig, directory / f"{name}.png")
        finally:
            plt.close(fig)
    return out


def choose_videos(videos: Sequence[str], video_labels: Mapping[str, int], max_videos: int = 12) -> list[str]:
    """The videos to plot: abnormal ones first (up to 2/3 of ``max_videos``), then normal ones, in test order.

    >>> choose_videos(["n1", "a1", "n2", "a2"], {"a1": 1, "a2": 1}, max_videos=3)
    ['a1', 'a2', 'n1']
    """
    abnormal = [v for v in videos if int(video_labels.get(v, 0)) == 1]
    normal = [v for v in videos if int(video_labels.get(v, 0)) != 1]
    n_ab = min(len(abnormal), max(max_videos - min(len(normal), max_videos // 3), 0))
    chosen = abnormal[:n_ab] + normal[: max_videos - n_ab]
    return chosen


def _fmt(key: str, value: Any) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(float(value)):
            return "n/a"
        if key.startswith(_FRACTION_METRICS):
            return f"{100 * float(value):.2f}"
        return f"{float(value):.4g}"
    return html.escape(str(value))


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def render_html(
    *,
    title: str,
    config: Mapping[str, Any],
    protocol: str,
    metrics: Mapping[str, Any],
    branch_metrics: Mapping[str, Mapping[str, Any]] | None = None,
    per_type: Mapping[str, Mapping[str, Any]] | None = None,
    images: Sequence[tuple[str, Path]] = (),
) -> str:
    """The report as one HTML string (images inlined as base64, no external file or script).

    >>> "<code>p</code>" in render_html(title="t", config={}, protocol="p", metrics={"auc_micro": 0.5})
    True
    """
    import yaml

    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Protocol: <code>{html.escape(protocol)}</code></p>",
        "<p>Fractions are shown in percent; n/a = undefined under this protocol.</p>",
        "<h2>Metrics</h2>",
        _table([(html.escape(k), _fmt(k, v)) for k, v in metrics.items()], ("metric", "value")),
    ]
    if branch_metrics:
        keys = sorted({k for m in branch_metrics.values() for k in m})
        parts += [
            "<h2>Metrics per method output</h2>",
            _table(
                [
                    [html.escape(b)] + [_fmt(k, m.get(k, float("nan"))) for k in keys]
                    for b, m in branch_metrics.items()
                ],
                ["output", *keys],
            ),
        ]
    if per_type:
        parts += [
            "<h2>AUC per anomaly type</h2>",
            "<p>Micro AUC over the frames of the videos of that type plus all normal test videos.</p>",
            _table(
                [
                    (
                        html.escape(t),
                        _fmt("auc_micro", d.get("auc_micro", float("nan"))),
                        _fmt("n", d.get("n_videos", "")),
                        _fmt("n", d.get("n_frames", "")),
                    )
                    for t, d in per_type.items()
                ],
                ("type", "auc_micro", "videos", "frames"),
            ),
        ]
    curves = [(a, p) for a, p in images if a in ("ROC", "PR")]
    videos = [(a, p) for a, p in images if a not in ("ROC", "PR")]
    if curves:
        parts += ["<h2>ROC and PR curves (all test frames)</h2>", "".join(_img(p, a) for a, p in curves)]
    if videos:
        parts += [
            "<h2>Scores per video (ground truth shaded)</h2>",
            "".join(f"<div>{_img(p, a)}</div>" for a, p in videos),
        ]
    parts += [
        "<h2>Resolved config</h2>",
        f"<pre>{html.escape(yaml.safe_dump(dict(config), sort_keys=False))}</pre>",
    ]
    style = (
        "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
        "text-align:left}code,pre{background:#f4f4f4;padding:2px 4px}pre{padding:8px;overflow-x:auto}"
        "img{max-width:100%}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def write_run_report(
    run_dir: str | os.PathLike[str],
    *,
    config: Mapping[str, Any],
    protocol: str,
    metrics: Mapping[str, Any],
    aligned: Any,
    video_labels: Mapping[str, int],
    branch_metrics: Mapping[str, Mapping[str, Any]] | None = None,
    per_type: Mapping[str, Mapping[str, Any]] | None = None,
    max_videos: int = 12,
) -> Path:
    """Write ``plots/*.png`` and ``report.html`` into ``run_dir`` from the protocol-aligned frames
    (``aligned``: ``videos``, ``labels``, ``scores``, ``lengths``, from :func:`vadbench.protocol.apply`)."""
    run_dir = Path(run_dir)
    plots = run_dir / "plots"
    labels, scores = np.asarray(aligned.labels), np.asarray(aligned.scores, dtype=float)
    bounds = np.concatenate([[0], np.cumsum(np.asarray(aligned.lengths, dtype=int))])
    index = {v: i for i, v in enumerate(aligned.videos)}
    images: list[tuple[str, Path]] = [(k.upper(), p) for k, p in plot_roc_pr(plots, labels, scores).items()]
    for video in choose_videos(list(aligned.videos), video_labels, max_videos):
        i = index[video]
        sl = slice(int(bounds[i]), int(bounds[i + 1]))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in video)
        images.append((video, plot_video_scores(plots / f"scores_{safe}.png", video, scores[sl], labels[sl])))
    text = render_html(
        title=f"vadbench run {config.get('run_id', run_dir.name)}",
        config=config,
        protocol=protocol,
        metrics=metrics,
        branch_metrics=branch_metrics,
        per_type=per_type,
        images=images,
    )
    path = run_dir / "report.html"
    tmp = path.with_name(f".report.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
