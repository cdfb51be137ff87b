"""Dataset validity audit: how far scores that ignore the video content get on a split's labels.

The content-free probes (:data:`PROBES`) give every frame a score from its position alone: ``index`` (frame
index), ``t/T`` (relative position), ``centre`` (closeness to the middle of its video) and ``length`` (the
video's length, a constant per video). Their micro frame AUC (either sign: a probe ``p`` with AUC ``a`` is
also the probe ``-p`` with ``1 - a``) is the floor a method must clear before its number says anything about
looking at the video. The audit also reports the share of abnormal frames and a histogram of the event
onsets (relative position of every rising edge; an event in progress at frame 0 counts at 0).

Labels only: real datasets are audited from their annotation files (no video needed); the synthetic
generator produces its labels without rendering.

Example:
    >>> import numpy as np
    >>> labels = {"a": np.r_[np.zeros(6), np.ones(4)], "b": np.r_[np.zeros(8), np.ones(2)]}
    >>> round(probe_aucs(labels)["t/T"], 2)
    1.0
    >>> audit_labels(labels)["best"]
    ('index', 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: The content-free probes, in report order.
PROBES = ("index", "t/T", "centre", "length")
#: Onset histogram bins over the relative position t / T.
ONSET_BINS = 10


def probe_scores(length: int) -> dict[str, np.ndarray]:
    """The content-free probe scores of a video of ``length`` frames (higher = "more abnormal").

    >>> probe_scores(4)["centre"].round(3).tolist()
    [-0.375, -0.125, -0.125, -0.375]
    """
    i = np.arange(length, dtype=np.float64)
    return {"index": i, "t/T": i / max(length, 1), "centre": -np.abs((i + 0.5) / max(length, 1) - 0.5),
            "length": np.full(length, float(length))}


def _auc(scores: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import rankdata

    pos = y.astype(bool)
    p = int(pos.sum())
    n = len(y) - p
    if p == 0 or n == 0:
        return float("nan")
    return float((rankdata(scores)[pos].sum() - p * (p + 1) / 2) / (p * n))


def probe_aucs(labels: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Micro frame AUC of every probe on ``labels`` (video -> 0/1 array; the array length is T)."""
    ys = [np.asarray(labels[v]).reshape(-1) for v in labels]
    y = np.concatenate(ys) > 0
    return {name: _auc(np.concatenate([probe_scores(len(a))[name] for a in ys]), y) for name in PROBES}


def onsets(labels: Mapping[str, np.ndarray]) -> np.ndarray:
    """Relative onset positions (start / T) of every abnormal run in every video."""
    out = []
    for y in labels.values():
        y = np.asarray(y).reshape(-1) > 0
        if len(y) == 0:
            continue
        starts = np.flatnonzero(np.diff(np.r_[False, y].astype(np.int8)) == 1)
        out.extend((starts / len(y)).tolist())
    return np.asarray(out, np.float64)


def audit_labels(labels: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Probe AUCs, the best probe with either sign (``(name, auc >= 0.5)``), sizes, abnormal share, onsets.

    ``best`` is the floor line of the leaderboard: ``max(a, 1 - a)`` over the probes.
    """
    aucs = probe_aucs(labels)
    folded = {k: max(a, 1 - a) for k, a in aucs.items() if a == a}
    best = max(folded.items(), key=lambda kv: kv[1]) if folded else ("none", float("nan"))
    y = np.concatenate([np.asarray(a).reshape(-1) for a in labels.values()]) > 0
    abnormal_videos = sum(bool(np.any(np.asarray(a) > 0)) for a in labels.values())
    hist = np.histogram(onsets(labels), bins=ONSET_BINS, range=(0.0, 1.0))[0]
    return {"probes": aucs, "best": best, "videos": len(labels), "abnormal_videos": abnormal_videos,
            "frames": int(y.size), "abnormal_share": float(y.mean()) if y.size else float("nan"),
            "onset_histogram": hist.tolist()}


def format_audit(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """An 80-column table: one line per ``name`` (dataset / split / convention) with the probe AUCs (in %),
    the best probe with its sign, the abnormal share, and the onset histogram below."""
    lines = [f"{'labels':<24} {'index':>6} {'t/T':>6} {'centre':>6} {'length':>6}  {'best':<14} {'abn%':>5}"]
    for name, r in rows.items():
        p = r["probes"]
        bname, bval = r["best"]
        sign = "" if p.get(bname, 0.5) >= 0.5 else "-"
        cells = " ".join(f"{100 * p[k]:6.1f}" for k in PROBES)
        lines.append(f"{name[:24]:<24} {cells}  {sign + bname + f' {100 * bval:.1f}':<14} "
                     f"{100 * r['abnormal_share']:5.1f}")
    lines.append("")
    lines.append("onsets per tenth of the video (t/T 0-0.1 ... 0.9-1):")
    for name, r in rows.items():
        lines.append(f"{name[:24]:<24} " + " ".join(f"{c:4d}" for c in r["onset_histogram"]))
    return "\n".join(lines)
