"""``vadbench score``: evaluate anomaly scores written by any program against frame labels, under a protocol.

Only typer / pathlib / typing at module level (``vadbench score --help`` stays fast); numpy, rich and the
scorer are imported inside the command.

File formats (by suffix):
    .npy   one concatenated 1-D array (community (1, N) arrays are accepted); scores may be (N, K) crops
    .npz   one array per video, keyed by video name
    .csv   ``video,score`` rows (frames of a video in order) or a single column; a header row is optional
Lengths (``--lengths``): ``video,n_frames`` csv or a 1-D .npy of frame counts, in concatenation order.

Example:
    $ vadbench score --labels gt.npz --scores scores.npz --protocol ped2/official
    $ vadbench score --labels gt-ucf.npy --lengths ucf_lengths.csv --scores s.npy --protocol ucf/rtfm --json
    $ vadbench score --dataset ped2 --root data/ped2 --scores s.npz --record runs/results.csv --method mine

With video boundaries, every AUC / AP gets a 95 % bootstrap interval over the test videos
(``vadbench.bootstrap``; ``--ci-resamples``, ``--ci-seed``, ``--ci-method``), printed beside the value and
recorded in the row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vadbench.commands._common import fail_on_error

SUFFIXES = (".npy", ".npz", ".csv", ".txt")


# ----------------------------------------------------------------------------------------------------------
# reading inputs


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, what: str, value_name: str) -> Any:
    """A ``video,value`` csv -> {video: array} (first-appearance order); a single column -> 1-D array."""
    import csv

    import numpy as np

    from vadbench.errors import DataError

    with open(path, newline="") as fh:
        rows = [[c.strip() for c in r] for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if rows and not _is_number(rows[0][-1]):  # header
        rows = rows[1:]
    if not rows:
        raise DataError(f"{what} file {path}: no data rows; expected `video,{value_name}` rows or one column")
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width or width not in (1, 2) or not _is_number(r[-1]):
            raise DataError(
                f"{what} file {path}: row {i + 1} is {','.join(r)!r}; expected `video,{value_name}` or a "
                f"single numeric column throughout"
            )
    if width == 1:
        return np.array([float(r[0]) for r in rows])
    groups: dict[str, list[float]] = {}
    for video, value in rows:
        groups.setdefault(video, []).append(float(value))
    return {v: np.array(x) for v, x in groups.items()}


def load_values(path: Path, what: str, value_name: str = "value") -> Any:
    """Scores or labels from .npy (concatenated), .npz (per video) or .csv; errors name the file."""
    import numpy as np

    from vadbench.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if arr.ndim == 2 and arr.shape[0] == 1:
                arr = arr[0]
            if arr.ndim not in (1, 2) or arr.size == 0:
                raise DataError(f"{what} file {path}: array of shape {arr.shape}; expected a 1-D array")
            return arr
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
            if not out:
                raise DataError(f"{what} file {path}: no arrays in the npz; expected one per video")
            return out
        if suffix in (".csv", ".txt"):
            return _read_csv(path, what, value_name)
    except (ValueError, OSError) as err:
        raise DataError(f"{what} file {path}: cannot read it ({err})") from None
    raise DataError(f"{what} file {path}: unknown format {suffix!r}; expected one of {', '.join(SUFFIXES)}")


def load_lengths(path: Path) -> tuple[list[str] | None, Any]:
    """Frame counts per video: (names or None, int array) from a ``video,n_frames`` csv or a 1-D .npy."""
    import numpy as np

    from vadbench.errors import DataError

    values = load_values(path, "lengths", "n_frames")
    if isinstance(values, dict):
        bad = [v for v, x in values.items() if x.shape != (1,)]
        if bad:
            raise DataError(f"lengths file {path}: video {bad[0]!r} appears {values[bad[0]].size} times")
        names, arr = list(values), np.array([x[0] for x in values.values()])
    else:
        names, arr = None, np.asarray(values)
    if arr.ndim != 1 or not np.all(arr == np.round(arr)) or np.any(arr < 1):
        raise DataError(f"lengths file {path}: expected positive integer frame counts, got {arr[:5]} ...")
    return names, arr.astype(np.int64)


def _split(flat: Any, counts: list[int], names: list[str]) -> dict[str, Any]:
    import numpy as np

    ends = np.cumsum(counts)
    return {v: flat[e - n : e] for v, e, n in zip(names, ends.tolist(), counts, strict=True)}


def per_video_inputs(
    protocol: Any, labels: Any, scores: Any, names: list[str] | None, lengths: Any
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Bring labels and scores to per-video mappings. Returns (scores, labels, per_video); per_video is
    False when no video boundaries are known (one concatenation, only micro metrics)."""
    from vadbench.errors import ConfigError, ScoreError

    if isinstance(labels, dict) and lengths is not None:
        raise ConfigError("--lengths splits concatenated labels; these labels are already per video")
    if not isinstance(labels, dict):
        if lengths is None:
            if isinstance(scores, dict):
                raise ConfigError(
                    "the labels are one concatenated array and the scores are per video: give --lengths "
                    "(video,n_frames) to split the labels"
                )
            per_video_steps = [
                f"{k}={getattr(protocol, k)}"
                for k, none in (
                    ("smooth", "none"),
                    ("normalise", "none"),
                    ("border", "none"),
                    ("align", "strict"),
                )
                if getattr(protocol, k) != none
            ] + (["anticipation"] if protocol.anticipation is not None else [])
            if per_video_steps:
                raise ConfigError(
                    f"protocol steps {', '.join(per_video_steps)} work per video: give --lengths "
                    "(video,n_frames) or per-video files (npz, csv video,score)"
                )
            return {"all": scores}, {"all": labels}, False
        if int(lengths.sum()) != labels.shape[0]:
            raise ScoreError(
                f"lengths sum to {int(lengths.sum())} frames over {lengths.size} videos but the labels "
                f"have {labels.shape[0]}"
            )
        names = names or [f"#{i}" for i in range(lengths.size)]
        labels = _split(labels, lengths.tolist(), names)
    if not isinstance(scores, dict):
        counts = [x.shape[0] for x in labels.values()]
        if protocol.expand == "repeat16":
            odd = [v for v, n in zip(labels, counts, strict=True) if n % 16]
            if odd:
                raise ScoreError(
                    f"video {odd[0]!r}: {counts[list(labels).index(odd[0])]} labels, not a multiple of 16; "
                    "concatenated snippet scores cannot be split (give scores per video)"
                )
            counts = [n // 16 for n in counts]
        elif protocol.align != "strict":
            raise ConfigError(
                f"align={protocol.align} needs scores per video (npz or csv video,score): the score count "
                "of each video is unknown in a concatenation"
            )
        if sum(counts) != scores.shape[0]:
            unit = " snippet" if protocol.expand == "repeat16" else ""
            raise ScoreError(
                f"{scores.shape[0]}{unit} scores but the labels' {len(counts)} videos need {sum(counts)}"
                f"{' (16 frames per snippet score)' if unit else ''}"
            )
        scores = _split(scores, counts, list(labels))
    return scores, labels, True


def _protocol(spec: str | None) -> Any:
    from vadbench.protocol import Protocol

    return Protocol() if spec is None else Protocol.from_string(spec)


def _dataset_labels(
    name: str,
    root: Path | None,
    convention: str | None,
    protocol: Any,
    explicit_protocol: bool,
    frame_counts: Path | None,
    feature_lengths: Path | None,
) -> tuple[dict[str, Any], dict[str, int], Any]:
    """Labels and video labels from a dataset loader; returns (labels, video_labels, protocol with gt set)."""
    from vadbench.datasets import get_dataset
    from vadbench.errors import ConfigError

    ds = get_dataset(name, root, frame_counts=frame_counts, feature_lengths=feature_lengths)
    if convention is None:
        if protocol.gt in ds.conventions:
            convention = protocol.gt
        elif explicit_protocol:
            raise ConfigError(
                f"protocol gt={protocol.gt} is not a convention of {name} "
                f"(known: {', '.join(ds.conventions)})"
            )
        else:
            convention = ds.default_convention
    split = protocol.split if protocol.split in ds.splits else None
    labels = ds.frame_labels(convention, split=split)
    table = ds.videos().set_index("video")
    video_labels = {v: int(table.loc[v, "label"]) for v in labels}
    return labels, video_labels, protocol.replace(gt=convention)


# ----------------------------------------------------------------------------------------------------------
# output

_NOTES = {
    "auc_macro": "per-video AUC needs video boundaries (--lengths or per-video files)",
    "auc_abnormal": "needs video labels (--video-labels or --dataset) or abnormal_def=gt_positive",
    "auc_abnormal_macro": "needs video labels (--video-labels or --dataset) or abnormal_def=gt_positive",
    "far": "scores outside [0, 1] (declare --calibrated), or no normal video",
}


def interval_text(cells: dict[str, Any], metric: str) -> str:
    """``[low, high]`` in percent from a row's ``<metric>_ci_low`` / ``_ci_high`` cells, or ``""``.

    >>> interval_text({"ap_ci_low": 0.5, "ap_ci_high": 0.625}, "ap"), interval_text({}, "ap")
    ('[50.00, 62.50]', '')
    """
    low, high = cells.get(f"{metric}_ci_low"), cells.get(f"{metric}_ci_high")
    if low is None or high is None:
        return ""
    return f"[{100 * low:.2f}, {100 * high:.2f}]"


def interval_title(cells: dict[str, Any]) -> str:
    """The interval column's title: level, method, resamples and seed (``""`` without an interval)."""
    if not cells.get("ci_method"):
        return ""
    return (
        f"{100 * cells['ci_level']:g} % CI ({cells['ci_method']}, {cells['ci_resamples']} video resamples, "
        f"seed {cells['ci_seed']})"
    )


def _print_table(result: dict[str, Any], metrics: dict[str, Any], ci: dict[str, Any]) -> None:
    import math

    from rich.table import Table

    from vadbench.console import console as make_console

    console = make_console()
    console.print(f"[bold]protocol[/bold] {result['protocol']}", highlight=False)
    console.print(f"{result['n_videos']} videos, {result['n_frames']:,} frames", highlight=False)
    table = Table("metric", "value", "%", interval_title(ci) or "95 % CI", "note")
    for key, value in metrics.items():
        if key == "n_one_class":
            table.add_row(key, str(value), "", "", "one-class videos (rule: see protocol auc_macro_rule)")
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            table.add_row(key, "n/a", "", "", _NOTES.get(key, "undefined"))
        else:
            pct = f"{value:.2f}" if key.startswith("map_iou") else f"{100 * value:.2f}"
            val = "" if key.startswith("map_iou") else f"{value:.4f}"
            table.add_row(key, val, pct, interval_text(ci, key), "")
    console.print(table)
    if not ci:
        console.print("no interval: the bootstrap needs video boundaries (--lengths or per-video files)"
                      if result["n_videos"] == "?" else "no interval (--ci-resamples 0)", highlight=False)


def _jsonable(value: Any) -> Any:
    import math

    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# ----------------------------------------------------------------------------------------------------------
# the command


@fail_on_error
def score(
    scores: Annotated[Path, typer.Option(help="Scores: .npy (concatenated), .npz (per video) or .csv.")],
    labels: Annotated[
        Path | None, typer.Option(help="Frame labels: .npy, .npz or .csv (or build them with --dataset).")
    ] = None,
    lengths: Annotated[
        Path | None,
        typer.Option(help="Frames per video (csv video,n_frames or .npy) for concatenated labels."),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            help="A preset name (e.g. ped2/official) or a protocol string; 'preset;field=value' too."
        ),
    ] = None,
    video_labels: Annotated[
        Path | None, typer.Option("--video-labels", help="0/1 per video (csv video,label / npz / npy).")
    ] = None,
    calibrated: Annotated[
        bool, typer.Option("--calibrated", help="Scores are calibrated: FAR at θ also outside [0, 1].")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    record: Annotated[
        Path | None, typer.Option(help="Append a result row to this results CSV (needs --method, --dataset).")
    ] = None,
    method: Annotated[str | None, typer.Option(help="Method name for --record.")] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="Dataset name (for --record); without --labels, its loader builds them."),
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Dataset root for --dataset.")] = None,
    convention: Annotated[
        str | None, typer.Option(help="Ground-truth convention for --dataset (default: the protocol's gt).")
    ] = None,
    frame_counts: Annotated[
        Path | None, typer.Option("--frame-counts", help="--dataset without videos: csv video,n_frames.")
    ] = None,
    feature_lengths: Annotated[
        Path | None, typer.Option("--feature-lengths", help="--dataset 16·T conventions: csv video,T.")
    ] = None,
    ci_resamples: Annotated[
        int, typer.Option("--ci-resamples", help="Video resamples of the 95 % bootstrap interval (0: none).")
    ] = 1000,
    ci_seed: Annotated[int, typer.Option("--ci-seed", help="Seed of the video resampling.")] = 0,
    ci_method: Annotated[
        str, typer.Option("--ci-method", help="Interval: percentile or bca.")
    ] = "percentile",
) -> None:
    """Evaluate scores produced by any program (higher = more anomalous) under a named protocol."""
    import json

    import numpy as np

    from vadbench.errors import ConfigError
    from vadbench.protocol import apply, evaluate_aligned

    p = _protocol(protocol)
    if record is not None and (method is None or dataset is None):
        raise ConfigError("--record needs --method and --dataset (the row's method and dataset names)")
    vl_map: dict[str, int] | None = None
    if labels is not None:
        lab = load_values(labels, "labels", "label")
        names, lens = load_lengths(lengths) if lengths is not None else (None, None)
    elif dataset is not None:
        if lengths is not None:
            raise ConfigError("--lengths splits a labels file; the labels of --dataset are already per video")
        lab, vl_map, p = _dataset_labels(
            dataset, root, convention, p, protocol is not None, frame_counts, feature_lengths
        )
        names, lens = None, None
    else:
        raise ConfigError("give --labels (a labels file) or --dataset (with --root) to build the labels")
    if convention is not None and labels is not None:
        p = p.replace(gt=convention)
    sco = load_values(scores, "scores", "score")
    s_map, y_map, per_video = per_video_inputs(p, lab, sco, names, lens)
    if video_labels is not None:
        raw = load_values(video_labels, "video labels", "label")
        if isinstance(raw, dict):
            vl_map = {k: int(np.asarray(x).reshape(-1)[0]) for k, x in raw.items()}
        else:
            arr = np.asarray(raw).reshape(-1)
            if arr.size != len(y_map):
                raise ConfigError(f"--video-labels has {arr.size} values for {len(y_map)} videos")
            vl_map = dict(zip(y_map, arr.astype(int).tolist(), strict=True))
    aligned = apply(p, s_map, y_map)
    vl = None
    if vl_map is not None and per_video:
        missing = [v for v in y_map if v not in vl_map]
        if missing:
            raise ConfigError(f"video labels missing for {len(missing)} videos ({', '.join(missing[:5])})")
        vl = [vl_map[v] for v in y_map]
    metrics = evaluate_aligned(p, aligned, vl, per_video=per_video, scores_calibrated=calibrated)
    ci: dict[str, Any] = {}
    if per_video and ci_resamples:
        from vadbench.bootstrap import bootstrap

        ci = bootstrap(
            aligned.labels, aligned.scores, aligned.lengths, video_labels=vl, one_class=p.auc_macro_rule,
            abnormal_def=p.abnormal_def, n_resamples=ci_resamples, seed=ci_seed, method=ci_method,
        ).row_fields()
    result = {
        "protocol": str(p),
        "n_videos": len(aligned.videos) if per_video else None,
        "n_frames": int(aligned.labels.shape[0]),
    }
    if record is not None:
        from vadbench.leaderboard import append_row, make_row

        row = make_row(
            method=method,
            dataset=dataset,
            protocol=str(p),
            split=p.split,
            selection=p.selection,
            n_test=result["n_videos"],
            n_frames=result["n_frames"],
            metrics={**metrics, **ci},
        )
        append_row(record, row)
        result["run_id"] = row["run_id"]
    if as_json:
        cells = {**result, **{k: _jsonable(v) for k, v in metrics.items()}, **ci}
        typer.echo(json.dumps(cells, indent=2))
    else:
        _print_table({**result, "n_videos": result["n_videos"] or "?"}, metrics, ci)
        if record is not None:
            typer.echo(f"recorded run {result['run_id']} in {record}")


def register(apps: dict[str, typer.Typer]) -> None:
    """Add ``score`` to the root app."""
    apps["root"].command("score")(score)
