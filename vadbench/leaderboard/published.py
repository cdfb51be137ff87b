"""The percent-valued reference files: ``published.csv`` (numbers from papers) and ``baselines.csv``.

- ``published.csv``: long form (method, dataset, split, metric, value, source, notes), values in **percent**
  as the papers print them.
- ``baselines.csv``: regression anchors (method, dataset, protocol, metric, value, tolerance, notes), values
  in percent, tolerance in percentage points (blank = :data:`~vadbench.leaderboard.DEFAULT_TOLERANCE`).

Example:
    >>> from vadbench.paths import PROJECT_ROOT
    >>> "xd-violence" in set(read_published(PROJECT_ROOT / "leaderboards" / "published.csv")["dataset"])
    True
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vadbench.errors import DataError
from vadbench.leaderboard.columns import (
    BASELINE_COLUMNS,
    COUNT_METRICS,
    DEFAULT_TOLERANCE,
    METRIC_COLUMNS,
    PUBLISHED_COLUMNS,
    REQUIRED_BASELINE_COLUMNS,
    canonical_metric,
    is_published_metric,
)
from vadbench.leaderboard.store import _read_records

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def _check_columns(
    path: Path, header: Sequence[str], expected: Sequence[str], required: Sequence[str]
) -> None:
    unknown = [h for h in header if h not in expected]
    if unknown:
        raise DataError(f"{path}: line 1: unknown column(s) {unknown}; expected {list(expected)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path}: line 1: missing required column(s) {missing}; expected {list(expected)}")


def _seed_cell(path: Path, line: int, cell: str) -> int | None:
    text = (cell or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}: line {line}: column 'seed': expected an integer, found {text!r}") from None


def _check_not_blank(path: Path, line: int, row: Mapping[str, str], columns: Sequence[str]) -> None:
    for column in columns:
        if not row[column].strip():
            raise DataError(f"{path}: line {line}: column {column!r} is blank")


def _percent_cell(path: Path, line: int, column: str, cell: str, *, blank_ok: bool = False) -> float | None:
    text = cell.strip()
    if text == "":
        if blank_ok:
            return None
        raise DataError(f"{path}: line {line}: column {column!r} is blank, expected a number")
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"{path}: line {line}: column {column!r}: expected a number, found {cell!r}"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{path}: line {line}: column {column!r}: expected a finite number, found {cell!r}")
    return value


def _check_percent(path: Path, line: int, value: float) -> None:
    if not 0.0 <= value <= 100.0:
        raise DataError(f"{path}: line {line}: column 'value': expected percent in [0, 100], found {value}")


def read_published(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``published.csv`` (percent values, one metric per row) into a DataFrame (+ ``_line``).

    >>> from vadbench.paths import PROJECT_ROOT
    >>> df = read_published(PROJECT_ROOT / "leaderboards" / "published.csv")
    >>> row = df[(df.method == "vadclip") & (df.dataset == "xd-violence") & (df.metric == "ap")]
    >>> float(row["value"].iloc[0])
    84.51
    """
    import pandas as pd

    path = Path(path)
    header, records = _read_records(path, "published")
    _check_columns(path, header, PUBLISHED_COLUMNS, PUBLISHED_COLUMNS[:6])
    rows = []
    for line, cells in records:
        row = dict(zip(header, cells, strict=True))
        _check_not_blank(path, line, row, ("method", "dataset", "split", "metric", "source"))
        if not is_published_metric(row["metric"]):
            raise DataError(
                f"{path}: line {line}: column 'metric': unknown metric {row['metric']!r}; expected one of "
                f"{', '.join(METRIC_COLUMNS)}, auc_frame, ap_unspecified, far_normal@θ, far_all@θ, "
                "anticipation_auc@<α>s (protocols.md section 1)"
            )
        row["metric"] = canonical_metric(row["metric"]) or row["metric"]
        value = _percent_cell(path, line, "value", row["value"])
        if row["metric"] not in COUNT_METRICS:
            _check_percent(path, line, value)
        row["value"] = value
        row.setdefault("notes", "")
        row["_line"] = line
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*PUBLISHED_COLUMNS, "_line"])
    frame["value"] = frame["value"].astype("float64")
    frame.attrs["path"] = str(path)
    return frame


def read_baselines(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``baselines.csv`` (percent values, tolerance in points; blank tolerance = 0.5) (+ ``_line``).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.csv"
    >>> _ = p.write_text("method,dataset,protocol,metric,value,tolerance,notes\\nm,d,p,ap,80,,\\n")
    >>> float(read_baselines(p)["tolerance"].iloc[0])
    0.5
    """
    import pandas as pd

    path = Path(path)
    header, records = _read_records(path, "baseline")
    _check_columns(path, header, BASELINE_COLUMNS, REQUIRED_BASELINE_COLUMNS)
    rows = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for line, cells in records:
        row = dict(zip(header, cells, strict=True))
        _check_not_blank(path, line, row, ("method", "dataset", "protocol", "metric"))
        metric = canonical_metric(row["metric"])
        if metric is None or metric in COUNT_METRICS:
            raise DataError(
                f"{path}: line {line}: column 'metric': {row['metric']!r} is not a result metric; "
                f"expected one of {', '.join(c for c in METRIC_COLUMNS if c not in COUNT_METRICS)}, "
                "anticipation_auc@<α>s"
            )
        row["metric"] = metric
        value = _percent_cell(path, line, "value", row["value"])
        _check_percent(path, line, value)
        tolerance = _percent_cell(path, line, "tolerance", row.get("tolerance", ""), blank_ok=True)
        if tolerance is None:
            tolerance = DEFAULT_TOLERANCE
        if tolerance < 0:
            raise DataError(
                f"{path}: line {line}: column 'tolerance': expected points >= 0, found {tolerance}"
            )
        key = (row["method"], row["dataset"], row["protocol"], metric)
        if key in seen:
            raise DataError(f"{path}: line {line}: duplicates the baseline of line {seen[key]} ({key})")
        seen[key] = line
        rows.append(
            {
                "method": row["method"],
                "dataset": row["dataset"],
                "protocol": row["protocol"],
                "metric": metric,
                "value": value,
                "tolerance": tolerance,
                "notes": row.get("notes", ""),
                "preset": row.get("preset", "").strip(),
                "seed": _seed_cell(path, line, row.get("seed", "")),
                "_line": line,
            }
        )
    frame = pd.DataFrame(rows, columns=[*BASELINE_COLUMNS, "_line"])
    frame.attrs["path"] = str(path)
    return frame
