"""Results CSVs on disk: reading with line numbers, the locking append, and the atomic text write.

A results CSV (``results.csv`` or any ``--leaderboard`` file) has one row per run, columns
:data:`~vadbench.leaderboard.RESULT_COLUMNS` (+ ``anticipation_auc@<α>s`` columns), metrics as fractions.
``filelock`` is imported inside :func:`append_row` and pandas inside :func:`read_results`.

Example:
    >>> import tempfile, pathlib
    >>> from vadbench.leaderboard import make_row
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> append_row(p, make_row(method="m", dataset="d", protocol="p", metrics={"ap": 0.25}, commit="c"))
    >>> list(read_results(p)["method"])
    ['m']
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vadbench.errors import DataError
from vadbench.leaderboard.columns import (
    COUNT_METRICS,
    INT_COLUMNS,
    REQUIRED_RESULT_COLUMNS,
    _is_numeric_column,
    _ordered_columns,
)
from vadbench.leaderboard.rows import with_defaults
from vadbench.leaderboard.validate import _check_choices, _check_number, _column_name, validate_row

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: Seconds :func:`append_row` waits for the lock before giving up.
LOCK_TIMEOUT_S = 120.0


# ----------------------------------------------------------------------------------------------------
# CSV reading with line numbers
# ----------------------------------------------------------------------------------------------------


def _read_records(path: Path, kind: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read a CSV: header and (first line number, cells) per record; ragged lines raise DataError."""
    if not path.is_file():
        raise DataError(f"{kind} file {path} not found")
    records: list[tuple[int, list[str]]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            header: list[str] | None = None
            last_line = 0
            for cells in reader:
                start = last_line + 1
                last_line = reader.line_num
                if not cells or all(c.strip() == "" for c in cells) and len(cells) <= 1:
                    continue  # blank line
                if header is None:
                    header = [c.strip() for c in cells]
                    continue
                if len(cells) != len(header):
                    raise DataError(
                        f"{path}: line {start}: {len(cells)} fields, but the header has {len(header)} "
                        f"({', '.join(header)})"
                    )
                records.append((start, cells))
    except csv.Error as err:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({err})") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err})") from None
    if header is None:
        raise DataError(f"{path}: empty {kind} file, expected a header line")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path}: line 1: column {name!r} appears twice in the header")
        seen.add(name)
    return header, records


def _results_header(path: Path, header: Sequence[str]) -> list[str]:
    """Map a results file header to canonical column names; unknown / missing required raise DataError."""
    unknown: list[str] = []
    names = [_column_name(h, unknown) for h in header]
    if unknown:
        raise DataError(
            f"{path}: line 1: unknown column(s) {unknown} in the results header; expected columns of "
            "vadbench.leaderboard.RESULT_COLUMNS (+ anticipation_auc@<α>s)"
        )
    if len(set(names)) != len(names):
        raise DataError(f"{path}: line 1: the header names one anticipation horizon twice ({list(header)})")
    missing = [c for c in REQUIRED_RESULT_COLUMNS if c not in names]
    if missing:
        raise DataError(f"{path}: line 1: missing required column(s) {missing} in the results header")
    return names  # type: ignore[return-value]


def _parse_result_records(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    header, records = _read_records(path, "results")
    names = _results_header(path, header)
    rows: list[tuple[int, dict[str, Any]]] = []
    for line, cells in records:
        where = f"{path}: line {line}"
        row: dict[str, Any] = {}
        for name, cell in zip(names, cells, strict=True):
            if _is_numeric_column(name):
                row[name] = _check_number(name, cell.strip(), where, DataError)
            else:
                row[name] = cell
        _check_choices(row, where, DataError)
        stamp = row.get("timestamp", "")
        if stamp:
            try:
                datetime.fromisoformat(stamp)
            except ValueError:
                raise DataError(f"{where}: column 'timestamp': expected ISO 8601, found {stamp!r}") from None
        rows.append((line, row))
    return names, rows


def read_results(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a results CSV into a DataFrame with every column of :data:`RESULT_COLUMNS` (+ anticipation
    columns), metrics as float fractions, counts as nullable integers, plus ``_line`` (line in the file).

    Missing required columns, non-numeric or out-of-range metrics, bad choices and ragged lines raise
    :class:`DataError` naming the file, the line and the column.

    >>> import tempfile, pathlib
    >>> from vadbench.leaderboard import make_row
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> append_row(p, make_row(method="m", dataset="d", protocol="p", metrics={"ap": 0.25}, commit="c"))
    >>> float(read_results(p)["ap"].iloc[0])
    0.25
    """
    import pandas as pd

    path = Path(path)
    names, rows = _parse_result_records(path)
    columns = _ordered_columns(names)
    data = {c: [row.get(c) for _, row in rows] for c in columns}
    frame = pd.DataFrame(data, columns=columns)
    for column in columns:
        if column in INT_COLUMNS or column in COUNT_METRICS:
            frame[column] = pd.array(frame[column], dtype="Int64")
        elif _is_numeric_column(column):
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
        else:
            frame[column] = frame[column].fillna("").astype(str)
    frame["_line"] = [line for line, _ in rows]
    frame.attrs["path"] = str(path)
    return frame


# ----------------------------------------------------------------------------------------------------
# Appending rows (file lock + atomic replace)
# ----------------------------------------------------------------------------------------------------


def _format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`vadbench.atomic.atomic_write_text`).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> atomic_write_text(p, "hi\\n"); p.read_text()
    'hi\\n'
    """
    from vadbench.atomic import atomic_write_text as write  # the one home of atomic writes

    write(path, text)


def append_row(path: str | os.PathLike[str], row: Mapping[str, Any]) -> None:
    """Append one result row to a results CSV, safely under concurrency.

    Fills run_id / timestamp / version / commit when absent (:func:`with_defaults`), takes ``<path>.lock``
    (filelock), re-reads and validates the existing file, appends the row (adding any
    new anticipation column to the header), writes a temporary file in the same folder and ``os.replace``s
    it: concurrent appenders lose no row and readers never see a partial line. Unknown keys raise
    :class:`ConfigError`; a malformed existing file raises :class:`DataError` (the file is left as is).

    >>> import tempfile, pathlib
    >>> from vadbench.leaderboard import make_row
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> for seed in (0, 1):
    ...     append_row(p, make_row(method="m", dataset="d", protocol="p", seed=seed, commit="c"))
    >>> len(p.read_text().splitlines())
    3
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    new = validate_row(with_defaults(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path.with_name(path.name + ".lock")), timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            if path.exists() and path.stat().st_size > 0:
                names, existing = _parse_result_records(path)
            else:
                names, existing = [], []
            columns = _ordered_columns([*names, *new])
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(columns)
            for _, old in existing:
                writer.writerow([_format_cell(old.get(c)) for c in columns])
            writer.writerow([_format_cell(new.get(c)) for c in columns])
            atomic_write_text(path, buffer.getvalue())
    except Timeout:
        raise DataError(
            f"could not lock {path} within {LOCK_TIMEOUT_S:.0f} s (held by {lock.lock_file})"
        ) from None
