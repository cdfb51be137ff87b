"""Comparing two methods on the same test videos: run folders (or result rows) in, the paired video bootstrap
out (:func:`vadbench.bootstrap.paired_bootstrap`), with the seed spread when a side has several seeds.

A run folder (``runs/<id>/``, written by ``vadbench run``) holds ``row.json`` (the result row: method,
dataset, protocol, seed) and ``frames.npz`` (the aligned test frames: labels, scores, lengths, videos,
video labels; :func:`vadbench.bootstrap.run_intervals` writes it). Two sides are comparable only on the
same dataset, the same data (row column ``data``), the same protocol string and the same test frames;
otherwise :class:`ConfigError` names what differs (for protocols: each differing field with both values).

Example:
    >>> protocol_differences("ucf/rtfm", "ucf/deepmil")
    ['gt: rtfm vs deepmil']
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    FRAMES_FILE,
    Paired,
    paired_bootstrap,
)
from vadbench.errors import ConfigError, DataError

#: The result-row file of a run folder (``vadbench.runner`` writes it).
ROW_FILE = "row.json"


@dataclasses.dataclass
class RunInfo:
    """One run: where it lives and what its row says."""

    run_dir: Path
    run_id: str
    method: str
    dataset: str
    protocol: str
    seed: Any
    data: str = ""  # the row's ``data`` cell (blank = the default data; runs before the column: blank)

    @property
    def label(self) -> str:
        return f"{self.method} (seed {self.seed})" if self.seed not in (None, "") else self.method


@dataclasses.dataclass
class Frames:
    """Aligned test frames of one run (``frames.npz``)."""

    labels: np.ndarray
    scores: np.ndarray
    lengths: np.ndarray
    videos: list[str]
    video_labels: np.ndarray | None


def protocol_differences(a: str, b: str) -> list[str]:
    """The protocol fields in which two protocol strings (or preset names) differ, as ``field: a vs b``.

    >>> protocol_differences("ped2/official", "ped2/official;smooth=gauss(3,reflect)")
    ['smooth: none vs gauss(3,reflect)']
    """
    from vadbench.protocol import FIELDS, Protocol

    pa, pb = Protocol.from_string(a), Protocol.from_string(b)
    out = []
    for name in FIELDS:
        va, vb = pa._value_text(name), pb._value_text(name)
        if va != vb:
            out.append(f"{name}: {va} vs {vb}")
    return out


def read_run(path: str | Path) -> RunInfo:
    """The run of a folder, from its ``row.json``; a missing or unreadable file is a :class:`DataError`."""
    run_dir = Path(path)
    row_path = run_dir / ROW_FILE
    if not row_path.is_file():
        raise DataError(f"run folder {run_dir}: no {ROW_FILE} (expected a folder written by `vadbench run`)")
    try:
        row = json.loads(row_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{row_path}: cannot read the result row ({err})") from None
    missing = [k for k in ("method", "dataset", "protocol") if not row.get(k)]
    if missing:
        raise DataError(f"{row_path}: the result row has no {', '.join(missing)}")
    from vadbench.leaderboard import data_text

    return RunInfo(run_dir, str(row.get("run_id") or run_dir.name), str(row["method"]), str(row["dataset"]),
                   str(row["protocol"]), row.get("seed"), data_text(row.get("data")))


def read_frames(run: RunInfo) -> Frames:
    """The aligned test frames of a run (``frames.npz``); a clear :class:`DataError` when absent."""
    path = run.run_dir / FRAMES_FILE
    if not path.is_file():
        raise DataError(
            f"run {run.run_id}: {path} not found; the paired test needs the aligned frames that "
            "`vadbench run` writes since the bootstrap intervals were added (re-run it; it resumes from its "
            "checkpoint)"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            vl = z["video_labels"] if "video_labels" in z.files else None
            return Frames(z["labels"], z["scores"], z["lengths"], [str(v) for v in z["videos"]], vl)
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: cannot read the aligned frames ({err})") from None


def resolve(
    item: str, runs_dir: str | Path = "runs", results: Any = None, dataset: str | None = None,
    preset: str | None = None, data: str | None = None, options: str | None = "",
) -> list[RunInfo]:
    """Runs named by one item: a run folder, a run id (a folder under ``runs_dir``), or ``method=<name>``:
    every seed of that method in the ``results`` DataFrame (latest ok row per seed and data, optionally
    filtered by ``dataset`` / ``preset`` / ``data``: ``""`` the default data, ``seed=1`` synthetic data
    seed 1) and ``options`` (default ``""``: the preset as it is, no ablation; ``None``: any), each located
    under ``runs_dir`` by its run id. Rows on several data or options are refused (never taken as seeds of
    one configuration)."""
    item = item.strip()
    if item.startswith("method="):
        if results is None:
            raise ConfigError(f"{item}: selecting runs by method needs a results CSV (--results)")
        from vadbench.leaderboard import data_cells, data_text, latest_ok, options_cells, options_text

        name = item.partition("=")[2]
        frame = results[(results["method"] == name) & (results["source"] == "vadbench")]
        if dataset:
            frame = frame[frame["dataset"] == dataset]
        if preset:
            frame = frame[frame["preset"] == preset]
        frame = frame.assign(data=data_cells(frame), options=options_cells(frame))
        if data is not None:
            frame = frame[frame["data"] == data_text(data)]
        if options is not None:
            frame = frame[frame["options"] == options_text(options)]
        frame = latest_ok(frame, ["dataset", "data", "options", "protocol", "preset", "seed"])
        if frame.empty:
            raise ConfigError(
                f"{item}: no ok result row (dataset {dataset or 'any'}, preset {preset or 'any'}, "
                f"data {'any' if data is None else data_text(data) or 'default'}, "
                f"options {'any' if options is None else options_text(options) or 'none'})")
        configs = sorted({(r["dataset"], r["preset"], r["protocol"], r["data"], r["options"])
                          for r in frame.to_dict("records")})
        if len(configs) > 1:
            shown = "; ".join(f"dataset={d} preset={p} data={x or 'default'}" + (f" options={o}" if o else "")
                              for d, p, _, x, o in configs[:4])
            raise ConfigError(f"{item}: rows of {len(configs)} configurations ({shown} ...); narrow it with "
                              "--dataset / --preset / --data")
        return [read_run(Path(runs_dir) / str(r)) for r in frame["run_id"]]
    path = Path(item)
    if path.is_dir():
        return [read_run(path)]
    candidate = Path(runs_dir) / item
    if candidate.is_dir():
        return [read_run(candidate)]
    raise ConfigError(f"{item!r}: not a run folder, not a run id under {runs_dir}, not method=<name>")


def check_comparable(side_a: Sequence[RunInfo], side_b: Sequence[RunInfo]) -> None:
    """Refuse runs on different datasets, data (column ``data``: e.g. synthetic data seeds) or protocols,
    naming the differing protocol fields."""
    from vadbench.leaderboard import data_label

    runs = [*side_a, *side_b]
    first = runs[0]
    for run in runs[1:]:
        if run.dataset != first.dataset:
            raise ConfigError(f"runs on different datasets: {first.run_id} on {first.dataset}, "
                              f"{run.run_id} on {run.dataset}")
        if run.data != first.data:
            raise ConfigError(f"runs on different data: {first.run_id} on {data_label(first.data)}, "
                              f"{run.run_id} on {data_label(run.data)}")
        if run.protocol != first.protocol:
            diffs = protocol_differences(first.protocol, run.protocol)
            raise ConfigError(
                f"runs on different protocols ({first.run_id} vs {run.run_id}); differing fields: "
                + ("; ".join(diffs) if diffs else "the strings differ but parse to the same protocol")
            )


def _same_frames(ref: Frames, other: Frames, who: str) -> None:
    if ref.videos != other.videos:
        extra = sorted(set(other.videos) - set(ref.videos))[:3]
        missing = sorted(set(ref.videos) - set(other.videos))[:3]
        raise ConfigError(f"{who}: a different test-video list ({len(other.videos)} vs {len(ref.videos)} "
                          f"videos; not in the first run: {extra}, missing: {missing})")
    if not (np.array_equal(ref.lengths, other.lengths) and np.array_equal(ref.labels, other.labels)):
        bad = np.flatnonzero(ref.lengths != other.lengths) if ref.lengths.shape == other.lengths.shape else []
        where = f" (first at video {ref.videos[int(bad[0])]!r})" if len(bad) else ""
        raise ConfigError(f"{who}: different frame labels or lengths on the same videos{where}")


@dataclasses.dataclass
class Comparison:
    """The outcome of :func:`compare`: the runs of both sides and one :class:`Paired` per metric."""

    side_a: list[RunInfo]
    side_b: list[RunInfo]
    results: dict[str, Paired]
    n_videos: int
    n_resamples: int
    seed: int
    method: str


def compare(
    side_a: Sequence[RunInfo],
    side_b: Sequence[RunInfo],
    *,
    metrics: Sequence[str] = ("auc_micro", "ap"),
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    method: str = "percentile",
) -> Comparison:
    """The paired video bootstrap of side A against side B (several runs on a side: its seeds)."""
    from vadbench.protocol import Protocol

    if not side_a or not side_b:
        raise ConfigError("compare needs at least one run on each side")
    check_comparable(side_a, side_b)
    frames_a = [read_frames(r) for r in side_a]
    frames_b = [read_frames(r) for r in side_b]
    ref = frames_a[0]
    for run, fr in zip([*side_a, *side_b][1:], [*frames_a, *frames_b][1:], strict=True):
        _same_frames(ref, fr, f"run {run.run_id}")
    p = Protocol.from_string(side_a[0].protocol)
    results = paired_bootstrap(
        ref.labels, [f.scores for f in frames_a], [f.scores for f in frames_b], ref.lengths,
        video_labels=ref.video_labels, one_class=p.auc_macro_rule, abnormal_def=p.abnormal_def,
        metrics=metrics, n_resamples=n_resamples, seed=seed, level=level, method=method,
    )
    return Comparison(list(side_a), list(side_b), results, len(ref.videos), n_resamples, seed, method)


def summary_lines(c: Comparison) -> list[str]:
    """Plain-text lines (percent): per metric the two sides, the difference with its interval and p-value,
    and which source of variation dominates."""
    def side(xs: list[float]) -> str:
        mean = 100 * float(np.mean(xs))
        if len(xs) > 1:
            return f"{mean:.2f} ± {100 * float(np.std(xs, ddof=1)):.2f} (mean ± std, {len(xs)} seeds)"
        return f"{mean:.2f}"

    from vadbench.leaderboard import data_label

    a_name = " / ".join(dict.fromkeys(r.method for r in c.side_a))
    b_name = " / ".join(dict.fromkeys(r.method for r in c.side_b))
    data = f" ({data_label(c.side_a[0].data)})" if c.side_a[0].data else ""
    lines = [f"{a_name} vs {b_name} on {c.side_a[0].dataset}{data}: paired bootstrap over {c.n_videos} test "
             f"videos, {c.n_resamples} resamples (seed {c.seed}, {c.method})"]
    for m, r in c.results.items():
        lines.append(f"{m}: A {side(r.seeds_a)}; B {side(r.seeds_b)}")
        verdict = "significant" if r.p_value < 0.05 else "not significant"
        lines.append(f"  A − B = {100 * r.diff:+.2f} points, 95 % CI [{100 * r.low:+.2f}, "
                     f"{100 * r.high:+.2f}], p = {r.p_value:.3g} ({verdict} at 0.05)")
        sd_seeds = "n/a (one seed per side)" if math.isnan(r.sd_seeds) else f"{100 * r.sd_seeds:.2f}"
        lines.append(f"  spread of A − B: test videos sd {100 * r.sd_videos:.2f} points, seeds (se of the "
                     f"seed means) {sd_seeds}: {r.dominant} dominate")
    return lines
