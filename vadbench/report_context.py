"""What a run's report shows beside the method: the standard baselines under the same split and labels, the
content-free floor, the wrapped protocol string and a strip of the highest-scored test frames.

Example:
    >>> wrap_protocol("split=weak;gt=rtfm;unit=snippet16", width=24)
    ['split=weak;gt=rtfm;', 'unit=snippet16']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: The standard baselines (issue 9), in report order.
BASELINES = ("random", "position", "frame-diff", "knn", "mil")


def wrap_protocol(protocol: str, width: int = 78) -> list[str]:
    """The protocol string cut after ``;`` into lines of at most ``width`` characters."""
    lines, cur = [], ""
    for part in str(protocol).split(";"):
        piece = part + ";"
        if cur and len(cur) + len(piece) > width:
            lines.append(cur)
            cur = ""
        cur += piece
    if cur:
        lines.append(cur.rstrip(";"))
    return lines


def _fields(protocol: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in str(protocol).split(";") if "=" in p)


def baseline_rows(dataset: str, protocol: str, preset: str = "", seed: int | None = None,
                  sources: Sequence[str | os.PathLike[str]] = (), *, data: str = "") -> list[dict[str, Any]]:
    """Baseline rows measured on the same data, split and labels (gt) as ``protocol``: from the result
    CSVs ``sources`` (default: the committed measured rows ``leaderboards/results.csv``); the dataset preset
    must match when given, and the seed when given (else the mean over seeds). Only rows on the same
    ``data`` (the row column: blank = the default data, ``seed=1`` = synthetic data seed 1; a file without
    the column is default data) are used: a mean over seeds never mixes data; rows with method options
    on top of their preset (column ``options``) are left out. One dict per method:
    ``method``, ``auc_micro`` (fraction), ``seeds``, ``protocol``, ``data``."""
    import pandas as pd

    from vadbench.leaderboard import data_cells, data_text, options_cells
    from vadbench.paths import PROJECT_ROOT

    paths = [Path(p) for p in sources] or [PROJECT_ROOT / "leaderboards" / "results.csv"]
    frames = []
    for p in paths:
        if not Path(p).is_file():
            continue
        t = pd.read_csv(p, dtype={"data": str})
        if "auc_micro" not in t and {"metric", "value"} <= set(t):  # regression anchors (baselines.csv)
            t = t[t["metric"] == "auc_micro"].assign(auc_micro=lambda x: x["value"] / 100, preset="")
        frames.append(t)
    if not frames:
        return []
    table = pd.concat(frames, ignore_index=True)
    want = _fields(protocol)
    keep = table["method"].isin(BASELINES) & (table["dataset"] == dataset)
    keep &= data_cells(table) == data_text(data)
    keep &= options_cells(table) == ""  # a baseline as its preset runs it, not an ablation of it
    if "status" in table:
        keep &= table["status"].fillna("ok") == "ok"
    table = table[keep]
    rows = []
    for method in BASELINES:
        part = table[table["method"] == method]
        part = part[[(_fields(p).get("split"), _fields(p).get("gt")) == (want.get("split"), want.get("gt"))
                     for p in part["protocol"]]]
        if preset and "preset" in part:
            part = part[[str(x) in ("", "nan") or str(x).split("-")[0] == preset.split("-")[0]
                         for x in part["preset"]]]
        if seed is not None and "seed" in part and (part["seed"] == seed).any():
            part = part[part["seed"] == seed]
        # the last row of each seed of a configuration (a redefined preset's older rows drop out)
        keys = [c for c in ("preset", "backbone", "feature_hash", "seed") if c in part]
        if keys:
            part = part.drop_duplicates(subset=keys, keep="last")
        if part.empty or "auc_micro" not in part:
            continue
        rows.append({"method": method, "auc_micro": float(part["auc_micro"].mean()),
                     "seeds": len(part), "protocol": str(part["protocol"].iloc[-1]), "data": data_text(data)})
    return rows


def summary_lines(run_id: str, protocol: str, metrics: Mapping[str, Any], beside: Sequence[Mapping[str, Any]],
                  floor: Mapping[str, Any] | None, width: int = 80,
                  intervals: Mapping[str, str] | None = None, interval_title: str = "",
                  data: str = "") -> list[str]:
    """The terminal / log summary of a run: at most ``width`` characters per line; ``intervals`` gives the
    bootstrap interval text per metric (``interval_title`` says which interval); ``data`` is the run's
    ``data`` cell (named in the "beside it" line when it is not the default data)."""
    import math

    from vadbench.leaderboard import data_label, data_text

    intervals = intervals or {}
    out = [f"run {run_id}"[:width]]
    wrapped = wrap_protocol(protocol, width - 10)
    out += [("protocol  " if i == 0 else " " * 10) + line for i, line in enumerate(wrapped)]
    for key, value in metrics.items():
        if isinstance(value, float):
            text = "n/a" if math.isnan(value) else (f"{value:.4f}" if key == "n_one_class" else
                                                     f"{100 * value:.2f}")
        else:
            text = str(value)
        out.append(f"  {key:<24}{text:>10}  {intervals.get(key, '')}".rstrip()[:width])
    if interval_title and intervals:
        out.append(f"  [low, high]: {interval_title}"[:width])
    if beside or floor:
        on = f"same {data_label(data)}" if data_text(data) else "same data"
        out.append(f"beside it ({on}, split and labels; micro AUC, mean over seeds):"[:width])
        for r in beside:
            out.append(f"  {r['method']:<24}{100 * r['auc_micro']:>10.2f}  ({r['seeds']} seed(s))"[:width])
        if floor:
            name = "floor " + floor["probe"]
            out.append(f"  {name:<24}{100 * floor['auc']:>10.2f}  (content-free)"[:width])
    return out


def top_frames_strip(path: str | os.PathLike[str], dataset: Any, aligned: Any, k: int = 8,
                     height: int = 96) -> Path | None:
    """A PNG strip of the ``k`` highest-scored test frames (one per video, each with its score and label)
    with the ground-truth boxes of anomalous objects drawn in red (datasets with ``boxes``: synthetic).
    None when frames cannot be read."""
    from PIL import Image, ImageDraw

    from vadbench.video import open_video

    labels, scores = np.asarray(aligned.labels), np.asarray(aligned.scores, dtype=float)
    bounds = np.concatenate([[0], np.cumsum(np.asarray(aligned.lengths, dtype=int))])
    table = dataset.videos().set_index("video")
    picks: list[tuple[float, str, int, int]] = []
    for i, v in enumerate(aligned.videos):
        s = scores[bounds[i] : bounds[i + 1]]
        if len(s) == 0 or v not in table.index:
            continue
        n = int(table.loc[v, "n_frames"])
        j = int(np.argmax(s[:n]))
        picks.append((float(s[j]), str(v), j, int(labels[bounds[i] + j])))
    picks = sorted(picks, reverse=True)[:k]
    tiles = []
    for score, v, j, y in picks:
        try:
            with open_video(table.loc[v, "path"]) as reader:
                frame = np.asarray(reader.get_batch([j])[0], np.uint8)
        except Exception:  # noqa: BLE001 - a report must not fail on one unreadable video
            continue
        img = Image.fromarray(frame)
        draw = ImageDraw.Draw(img)
        if hasattr(dataset, "boxes"):
            b = dataset.boxes(v)
            for r in b[(b["frame"] == j) & (b["is_anomalous"] == 1)].itertuples():
                draw.rectangle([r.x1, r.y1, r.x2 - 1, r.y2 - 1], outline=(255, 0, 0))
        scale = height / img.height
        img = img.resize((max(1, round(img.width * scale)), height))
        ImageDraw.Draw(img).text((2, 2), f"{v}:{j} {'GT' if y else 'n'} {score:.2f}", fill=(255, 255, 0))
        tiles.append(img)
    if not tiles:
        return None
    strip = Image.new("RGB", (sum(t.width for t in tiles) + 2 * (len(tiles) - 1), height), (255, 255, 255))
    x = 0
    for t in tiles:
        strip.paste(t, (x, 0))
        x += t.width + 2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    strip.save(tmp)
    os.replace(tmp, path)
    return path
