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

from vadbench.report_context import top_frames_strip, wrap_protocol

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
    from vadbench.atomic import atomic_path

    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    return path


def _draw_scores(ax: Any, video: str, scores: np.ndarray, labels: np.ndarray,
                 ylim: tuple[float, float] | None = None) -> None:
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    for i, (s, e) in enumerate(gt_spans(labels)):
        ax.axvspan(s, e, color="tab:red", alpha=0.2, lw=0, label="ground-truth anomaly" if i == 0 else None)
    ax.plot(np.arange(scores.size), scores, color="tab:blue", lw=1, label="score")
    ax.set_xlim(0, max(scores.size - 1, 1))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_ylabel("score", fontsize=7)
    kind = "abnormal" if labels.any() else "normal"
    ax.set_title(f"{video}  ({kind}, {scores.size} frames)", fontsize=8, loc="left")
    ax.tick_params(labelsize=7)


def plot_video_scores(
    path: str | os.PathLike[str],
    videos: Sequence[str],
    scores: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
) -> Path:
    """Frame scores of each video as a curve, ground-truth anomalous spans shaded: one panel per video in
    one PNG (a single figure keeps the report fast). Returns the PNG path."""
    plt = _pyplot()
    n = len(videos)
    if n == 0 or not (len(scores) == len(labels) == n):
        raise ValueError(f"plot_video_scores: {n} videos, {len(scores)} score and {len(labels)} label arrays")
    height = 0.3 + 1.45 * n
    fig, axes = plt.subplots(n, 1, figsize=(7, height), squeeze=False)
    finite = np.concatenate([np.asarray(x, dtype=float).ravel() for x in scores])
    finite = finite[np.isfinite(finite)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo) or 0.05
    ylim = (lo - pad, hi + pad)  # one scale for every panel: the curves compare across videos
    try:
        for ax, v, s, y in zip(axes[:, 0], videos, scores, labels, strict=True):
            _draw_scores(ax, v, s, y, ylim)
        handles = {}
        for ax in axes[:, 0]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        axes[0, 0].legend(handles.values(), handles.keys(), fontsize=7, loc="upper right")
        axes[-1, 0].set_xlabel("frame (shaded: ground-truth anomaly)", fontsize=8)
        fig.subplots_adjust(left=0.07, right=0.98, top=1 - 0.25 / height, bottom=0.45 / height, hspace=0.6)
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def plot_roc_pr(path: str | os.PathLike[str], labels: np.ndarray, scores: np.ndarray) -> Path | None:
    """ROC and precision-recall curves of the concatenated frames, side by side in one PNG; None when the
    labels hold a single class (both curves undefined)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    if labels.size == 0 or labels.min() == labels.max():
        return None
    plt = _pyplot()
    fpr, tpr, _ = roc_curve(labels, scores)
    prec, rec, _ = precision_recall_curve(labels, scores)
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(7, 3.4))
    try:
        ax_roc.plot(fpr, tpr, color="tab:blue", lw=1.2)
        ax_roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax_pr.plot(rec, prec, color="tab:blue", lw=1.2)
        ax_pr.axhline(labels.mean(), color="grey", lw=0.8, ls="--")
        panels = (
            (ax_roc, "ROC", "false positive rate", "true positive rate"),
            (ax_pr, "PR", "recall", "precision"),
        )
        for ax, title, xl, yl in panels:
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.01)
            ax.set_xlabel(xl, fontsize=8)
            ax.set_ylabel(yl, fontsize=8)
            ax.set_title(title, fontsize=9)
            ax.tick_params(labelsize=7)
        fig.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.14, wspace=0.3)
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


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
    beside: Sequence[Mapping[str, Any]] = (),
    floor: Mapping[str, Any] | None = None,
    run_facts: Mapping[str, Any] | None = None,
    headline: str = "score",
    absent_types: Sequence[str] = (),
) -> str:
    """The report as one HTML string (images inlined as base64, no external file or script).
    ``run_facts``: dataset, seed, commit, feature hash, date, timings (shown first); ``headline``: the
    method's headline output; ``absent_types``: anomaly types with no test video (listed, not dropped).

    >>> "<code>p</code>" in render_html(title="t", config={}, protocol="p", metrics={"auc_micro": 0.5})
    True
    """
    import yaml

    facts = [(html.escape(k), html.escape(str(v))) for k, v in (run_facts or {}).items()]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        *([_table(facts, ("run", ""))] if facts else []),
        "<p>Protocol:<br><code>" + "<br>".join(html.escape(x) for x in wrap_protocol(protocol, 100))
        + "</code></p>",
        "<p>Fractions are shown in percent; n/a = undefined under this protocol.</p>",
        "<h2>Metrics</h2>",
        _table([(html.escape(k), _fmt(k, v)) for k, v in metrics.items()], ("metric", "value")),
    ]
    if beside or floor:  # issue 9: the standard baselines and the content-free floor beside the method
        rows = [(html.escape(r["method"]), _fmt("auc_micro", r["auc_micro"]), str(r["seeds"]),
                 "<code>" + "<br>".join(html.escape(x) for x in wrap_protocol(r["protocol"], 60)) + "</code>")
                for r in beside]
        if floor:
            rows.append((f"floor ({html.escape(floor['probe'])})", _fmt("auc_micro", floor["auc"]), "",
                         html.escape(str(floor.get("labels", "")))))
        parts += ["<h2>Beside it: baselines on the same data, split and labels</h2>",
                  "<p>Micro AUC, mean over the seeds measured (the committed leaderboards/results.csv and "
                  "this run's results file); the floor is the best content-free probe "
                  "(<code>vadbench datasets audit</code>).</p>",
                  _table(rows, ("method", "auc_micro", "seeds", "protocol"))]
    if branch_metrics:
        keys = sorted({k for m in branch_metrics.values() for k in m})
        parts += [
            "<h2>Metrics per method output</h2>",
            "<p>Each per-unit output of the method, under the same protocol. The headline output "
            f"(<code>{html.escape(headline)}</code>) gives the metrics above; the method's card says what "
            "the other outputs are (e.g. VadCLIP: <code>c</code> the sigmoid confidence of the binary "
            "branch, <code>a</code> 1 - P(normal) of the class-alignment branch).</p>",
            _table(
                [
                    [html.escape(b) + (" (headline)" if b == headline else "")]
                    + [_fmt(k, m.get(k, float("nan"))) for k in keys]
                    for b, m in branch_metrics.items()
                ],
                ["output", *keys],
            ),
        ]
    if per_type:
        parts += [
            "<h2>AUC per anomaly type</h2>",
            "<p>Micro AUC of the anomalous frames of each type against all normal test frames.</p>",
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
                ("type", "auc_micro", "videos", "frames kept"),
            ),
        ]
    if absent_types:
        parts.append("<p>Anomaly types with no test video in this split (no AUC): "
                     + ", ".join(html.escape(t) for t in absent_types) + ".</p>")
    for alt, path in images:
        heading = {"ROC / PR": "ROC and PR curves (all test frames)",
                   "top frames": "Highest-scored test frames (one per video; red: ground-truth boxes)"}.get(
            alt, "Scores per video")
        parts += [f"<h2>{heading}</h2>", f"<div>{_img(path, alt)}</div>"]
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
    dataset: Any = None,
    beside: Sequence[Mapping[str, Any]] = (),
    floor: Mapping[str, Any] | None = None,
    run_facts: Mapping[str, Any] | None = None,
    headline: str = "score",
    absent_types: Sequence[str] = (),
) -> Path:
    """Write ``plots/*.png`` and ``report.html`` into ``run_dir`` from the protocol-aligned frames
    (``aligned``: ``videos``, ``labels``, ``scores``, ``lengths``, from :func:`vadbench.protocol.apply`)."""
    run_dir = Path(run_dir)
    plots = run_dir / "plots"
    labels, scores = np.asarray(aligned.labels), np.asarray(aligned.scores, dtype=float)
    bounds = np.concatenate([[0], np.cumsum(np.asarray(aligned.lengths, dtype=int))])
    index = {v: i for i, v in enumerate(aligned.videos)}
    images: list[tuple[str, Path]] = []
    curves = plot_roc_pr(plots / "roc_pr.png", labels, scores)
    if curves is not None:
        images.append(("ROC / PR", curves))
    chosen = choose_videos(list(aligned.videos), video_labels, max_videos)
    if chosen:
        sl = [slice(int(bounds[index[v]]), int(bounds[index[v] + 1])) for v in chosen]
        path = plot_video_scores(
            plots / "scores.png", chosen, [scores[x] for x in sl], [labels[x] for x in sl]
        )
        images.append(("scores per video (shaded: ground truth)", path))
    if dataset is not None:
        strip = top_frames_strip(plots / "top_frames.png", dataset, aligned)
        if strip is not None:
            images.append(("top frames", strip))
    text = render_html(
        title=f"vadbench run {config.get('run_id', run_dir.name)}",
        config=config,
        protocol=protocol,
        metrics=metrics,
        branch_metrics=branch_metrics,
        per_type=per_type,
        images=images,
        beside=beside,
        floor=floor,
        run_facts=run_facts,
        headline=headline,
        absent_types=absent_types,
    )
    from vadbench.atomic import atomic_write_text

    return atomic_write_text(run_dir / "report.html", text)
