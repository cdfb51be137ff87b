"""Validation of result rows and cells: canonical column names, typed numbers, allowed choices.

One checker serves rows built in Python (errors are :class:`ConfigError`) and rows read from a results CSV
(errors are :class:`DataError` naming the file and line).

Example:
    >>> validate_row({"method": "m", "dataset": "d", "protocol": "p", "ap": "0.5"})["ap"]
    0.5
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from vadbench.bootstrap import CI_METHODS
from vadbench.errors import ConfigError
from vadbench.leaderboard.columns import (
    _ROW_DEFAULTS,
    CI_COLUMNS,
    COUNT_METRICS,
    FIDELITIES,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    META_COLUMNS,
    REQUIRED_RESULT_COLUMNS,
    RESULT_COLUMNS,
    SELECTIONS,
    SOURCES,
    STATUSES,
    _is_numeric_column,
    canonical_metric,
    data_text,
    options_text,
)


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(float(value))


def _check_number(column: str, value: Any, where: str, err: type[Exception]) -> float | int | None:
    """Validate one numeric cell (already a number, or a string from a CSV); returns the number or None."""
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        raise err(f"{where}: column {column!r}: expected a number, found a boolean {value!r}")
    if isinstance(value, str):
        try:
            number: float | int = float(value)
        except ValueError:
            raise err(f"{where}: column {column!r}: expected a number, found {value!r}") from None
    elif isinstance(value, numbers.Real):
        number = value  # type: ignore[assignment]
    else:
        raise err(f"{where}: column {column!r}: expected a number, found {type(value).__name__} {value!r}")
    number = float(number)
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise err(f"{where}: column {column!r}: expected a finite number, found {value!r}")
    if column in INT_COLUMNS or column in COUNT_METRICS:
        if not float(number).is_integer():
            raise err(f"{where}: column {column!r}: expected an integer, found {value!r}")
        if column in COUNT_METRICS and number < 0:
            raise err(f"{where}: column {column!r}: expected a count >= 0, found {value!r}")
        return int(number)
    if column in FLOAT_COLUMNS:
        if number < 0:
            raise err(f"{where}: column {column!r}: expected seconds >= 0, found {value!r}")
        return number
    # a metric: a fraction
    if not 0.0 <= number <= 1.0:
        raise err(
            f"{where}: column {column!r}: metric values are fractions in [0, 1], found {value!r}"
            + (
                " (looks like percent: convert with vadbench.leaderboard.from_percent)"
                if number <= 100
                else ""
            )
        )
    return number


def _check_text(column: str, value: Any, where: str, err: type[Exception]) -> str:
    if _is_blank(value):
        return ""
    text = str(value)
    # one physical line per row: keep error messages and tracebacks greppable
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _check_choices(row: dict[str, Any], where: str, err: type[Exception]) -> None:
    """Fill a blank ``selection`` with ``none``, canonicalise ``data`` and ``options``, then check the
    required and the choice columns."""
    row["selection"] = row.get("selection") or _ROW_DEFAULTS["selection"]
    if "data" in row:  # canonical text (blank = the default data), so equal data compare equal
        row["data"] = data_text(row["data"])
    if "options" in row:  # canonical text (blank = the preset as it is)
        row["options"] = options_text(row["options"])
    for column in REQUIRED_RESULT_COLUMNS[:4]:  # source, status, method, dataset
        if not row.get(column):
            raise err(f"{where}: column {column!r} is required and is blank")
    if row["source"] not in SOURCES:
        raise err(f"{where}: column 'source': expected one of {list(SOURCES)}, found {row['source']!r}")
    if row["status"] not in STATUSES:
        raise err(f"{where}: column 'status': expected one of {list(STATUSES)}, found {row['status']!r}")
    fidelity = row.get("fidelity")
    if fidelity not in (None, "") and fidelity not in FIDELITIES:
        allowed = list(FIDELITIES)
        raise err(f"{where}: column 'fidelity': expected one of {allowed} or blank, found {fidelity!r}")
    selection = row["selection"]
    if selection not in SELECTIONS:
        raise err(f"{where}: column 'selection': expected one of {list(SELECTIONS)}, found {selection!r}")
    if row["source"] == "vadbench" and not row.get("protocol"):
        raise err(f"{where}: column 'protocol' is required for a measured (source=vadbench) row and is blank")
    method = row.get("ci_method") or ""
    if method and method not in CI_METHODS:
        raise err(f"{where}: column 'ci_method': expected one of {list(CI_METHODS)}, found {method!r}")
    if row["source"] == "paper" and not row.get("reference"):
        raise err(f"{where}: column 'reference' is required for a source=paper row and is blank")


def _column_name(key: Any, unknown: list[str]) -> str | None:
    key = str(key)
    if key in META_COLUMNS or key in CI_COLUMNS:
        return key
    metric = canonical_metric(key)
    if metric is None:
        unknown.append(key)
    return metric


def validate_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Check a result row and return it normalised (canonical column names, numbers typed, blanks as None).

    Unknown columns raise :class:`ConfigError` naming them.

    >>> validate_row({"method": "m", "dataset": "d", "protocol": "p", "source": "vadbench", "status": "ok",
    ...               "anticipation_auc@1s": 0.6})["anticipation_auc@1.0s"]
    0.6
    >>> validate_row({"method": "m", "dataset": "d", "auc": 0.5})
    Traceback (most recent call last):
    ...
    vadbench.errors.ConfigError: result row: unknown column(s) ['auc']; known: ...
    """
    unknown: list[str] = []
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = _column_name(key, unknown)
        if name is None:
            continue
        if name in out:
            raise ConfigError(f"result row: column {name!r} given twice (as {key!r})")
        out[name] = value
    if unknown:
        raise ConfigError(
            f"result row: unknown column(s) {sorted(unknown)}; known: {', '.join(RESULT_COLUMNS)}, "
            "anticipation_auc@<α>s"
        )
    where = f"result row (method={out.get('method')!r}, dataset={out.get('dataset')!r})"
    for name, value in list(out.items()):
        if _is_numeric_column(name):
            out[name] = _check_number(name, value, where, ConfigError)
        else:
            out[name] = _check_text(name, value, where, ConfigError)
    out.setdefault("source", _ROW_DEFAULTS["source"])
    out.setdefault("status", _ROW_DEFAULTS["status"])
    _check_choices(out, where, ConfigError)
    return out
