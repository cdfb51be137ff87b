"""The column vocabulary of the three CSV kinds, metric names, and the percent <-> fraction scale.

Measured metric values are **fractions** in [0, 1] (``n_one_class`` is a count); ``published.csv`` and
``baselines.csv`` hold **percent** as the papers print them. :func:`to_percent` / :func:`from_percent` are
the one place the two scales meet; rendering shows percent with two decimals (:func:`format_percent`).

Imports the standard library and :mod:`vadbench.metrics` (numpy; the metric names live there).

Example:
    >>> canonical_metric("anticipation_auc@1s"), to_percent(0.25)
    ('anticipation_auc@1.0s', 25.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from vadbench.bootstrap import CI_METRICS, ci_columns
from vadbench.metrics import MAP_IOUS, METRIC_KEYS

# ----------------------------------------------------------------------------------------------------
# Column vocabulary
# ----------------------------------------------------------------------------------------------------

#: Metric columns of a result row, in display order: the keys of ``metrics.evaluate`` and ``metrics.map_iou``
#: (imported, not copied: vadbench.metrics is where these names live).
METRIC_COLUMNS: tuple[str, ...] = (
    *METRIC_KEYS,
    *(f"map_iou@{iou:g}" for iou in MAP_IOUS),
    "map_iou_avg",
)

#: Descriptive columns of a result row, in file order.
META_COLUMNS: tuple[str, ...] = (
    "run_id",
    "timestamp",
    "source",
    "reference",
    "status",
    "error",
    "method",
    "dataset",
    "data",
    "split",
    "protocol",
    "backbone",
    "feature_hash",
    "seed",
    "config_hash",
    "preset",
    "options",
    "fidelity",
    "selection",
    "epochs",
    "n_train",
    "n_test",
    "n_frames",
    "fit_s",
    "score_s",
    "device",
    "vadbench_version",
    "commit",
)

#: Bootstrap interval columns (vadbench.bootstrap): ``<metric>_ci_low`` / ``<metric>_ci_high`` (fractions) of
#: every AUC / AP metric, then how the interval was drawn (method, level, resamples, seed).
CI_BOUND_COLUMNS: tuple[str, ...] = tuple(c for m in CI_METRICS for c in ci_columns(m))
CI_COLUMNS: tuple[str, ...] = (*CI_BOUND_COLUMNS, "ci_method", "ci_level", "ci_resamples", "ci_seed")

#: Every fixed column of a results CSV; ``anticipation_auc@<α>s`` columns are added after these when used.
RESULT_COLUMNS: tuple[str, ...] = META_COLUMNS + METRIC_COLUMNS + CI_COLUMNS

#: Columns a results CSV must have (the others are filled with blanks when absent).
REQUIRED_RESULT_COLUMNS: tuple[str, ...] = ("source", "status", "method", "dataset", "split", "protocol")

#: Metric columns that are counts, not fractions.
COUNT_METRICS: frozenset[str] = frozenset({"n_one_class"})
#: Metrics where a lower value is better (a regression is a rise).
LOWER_IS_BETTER: frozenset[str] = frozenset({"far"})
#: Published-only metric names whose variant the source leaves open (protocols.md section 1, end).
UNSPECIFIED_METRICS: frozenset[str] = frozenset({"auc_frame", "ap_unspecified"})

INT_COLUMNS: frozenset[str] = frozenset(
    {"seed", "epochs", "n_train", "n_test", "n_frames", "ci_resamples", "ci_seed"}
)
FLOAT_COLUMNS: frozenset[str] = frozenset({"fit_s", "score_s", "ci_level"})
#: Text columns outside :data:`META_COLUMNS`.
TEXT_COLUMNS: frozenset[str] = frozenset({"ci_method"})

SOURCES: tuple[str, ...] = ("vadbench", "paper")
#: ``fidelity`` values (the method class's): code, paper, reconstruction; blank for older rows.
FIDELITIES: tuple[str, ...] = ("code", "paper", "reconstruction")
#: ``status`` values: ``ok`` (metrics valid) or ``failed`` (``error`` holds the message).
STATUSES: tuple[str, ...] = ("ok", "failed")
#: ``selection`` values (protocols.md section 12); blank reads as ``none``.
SELECTIONS: tuple[str, ...] = ("none", "test")
#: Values a result row gets for these columns when they are absent (``selection`` also when blank).
_ROW_DEFAULTS: dict[str, str] = {"source": "vadbench", "status": "ok", "selection": "none"}

PUBLISHED_COLUMNS: tuple[str, ...] = ("method", "dataset", "split", "metric", "value", "source", "notes")
#: ``preset`` / ``seed`` (optional) say how ``vadbench regress --rerun`` re-executes the baseline's run.
BASELINE_COLUMNS: tuple[str, ...] = (
    "method", "dataset", "protocol", "metric", "value", "tolerance", "notes", "preset", "seed"
)
REQUIRED_BASELINE_COLUMNS: tuple[str, ...] = ("method", "dataset", "protocol", "metric", "value")
#: Tolerance of a baseline row in percentage points when its ``tolerance`` cell is blank.
DEFAULT_TOLERANCE = 0.5

_ANTICIPATION_RE = re.compile(r"^anticipation_auc@(\d+(?:\.\d+)?)s$")
_FAR_RE = re.compile(r"^far_(normal|all)@\d+(?:\.\d+)?(?:\[>=?\])?$")


def _is_numeric_column(name: str) -> bool:
    """Whether a result column holds numbers (integers, seconds, metrics) rather than text."""
    return name in INT_COLUMNS or name in FLOAT_COLUMNS or not (name in META_COLUMNS or name in TEXT_COLUMNS)


def anticipation_column(horizon_s: float) -> str:
    """The metric column of anomaly anticipation at horizon ``horizon_s`` seconds (protocols.md section 9).

    >>> anticipation_column(1), anticipation_column(0.5)
    ('anticipation_auc@1.0s', 'anticipation_auc@0.5s')
    """
    return f"anticipation_auc@{float(horizon_s)!r}s"


def canonical_metric(name: str) -> str | None:
    """The canonical result-metric column for ``name``, or None when it is not a result metric.

    >>> canonical_metric("ap"), canonical_metric("anticipation_auc@1s"), canonical_metric("auc_frame")
    ('ap', 'anticipation_auc@1.0s', None)
    """
    if name in METRIC_COLUMNS:
        return name
    match = _ANTICIPATION_RE.match(name)
    if match:
        return anticipation_column(float(match.group(1)))
    return None


def is_published_metric(name: str) -> bool:
    """Whether ``name`` is a metric name allowed in ``published.csv`` (result metrics + open variants).

    >>> is_published_metric("auc_frame"), is_published_metric("far_normal@0.5"), is_published_metric("auc")
    (True, True, False)
    """
    return canonical_metric(name) is not None or name in UNSPECIFIED_METRICS or bool(_FAR_RE.match(name))


def _metric_sort_key(name: str) -> tuple[int, float, str]:
    if name in METRIC_COLUMNS:
        return (0, METRIC_COLUMNS.index(name), name)
    match = _ANTICIPATION_RE.match(name)
    if match:
        return (2, float(match.group(1)), name)
    if name in UNSPECIFIED_METRICS:
        return (1, 0.0, name)
    return (3, 0.0, name)


def _metric_order(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=_metric_sort_key)


def _ordered_columns(names: Iterable[str]) -> list[str]:
    """The columns of a results file: :data:`RESULT_COLUMNS`, then any extra metric column in metric order."""
    extra = sorted({n for n in names if n not in RESULT_COLUMNS}, key=_metric_sort_key)
    return list(RESULT_COLUMNS) + extra


# ----------------------------------------------------------------------------------------------------
# Percent <-> fraction (the one place the two scales meet)
# ----------------------------------------------------------------------------------------------------

_PERCENT = 100.0


def to_percent(fraction: float | None) -> float:
    """A measured fraction in [0, 1] as percent (NaN stays NaN; None reads as NaN).

    >>> to_percent(0.8802)
    88.02
    """
    if fraction is None:
        return math.nan
    return round(float(fraction) * _PERCENT, 10)


def from_percent(percent: float | None) -> float:
    """A percent value (papers, baselines, VadCLIP's mAP printout) as a fraction in [0, 1].

    >>> from_percent(24.7)
    0.247
    """
    if percent is None:
        return math.nan
    return round(float(percent) / _PERCENT, 12)


def format_percent(percent: float | None, digits: int = 2) -> str:
    """Render a percent value with ``digits`` decimals; NaN / None render as ``–``.

    >>> format_percent(99.0), format_percent(float("nan"))
    ('99.00', '–')
    """
    if percent is None or (isinstance(percent, float) and math.isnan(percent)):
        return "–"
    return f"{float(percent):.{digits}f}"


# ----------------------------------------------------------------------------------------------------
# Missing values in a frame cell
# ----------------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------------
# The data a row was measured on (column ``data``)
# ----------------------------------------------------------------------------------------------------


def data_text(options: Any) -> str:
    """The ``data`` cell: the dataset options that select other data than the default, as sorted
    ``key=value`` pairs joined by ``;`` (``seed=1`` for synthetic data seed 1); blank = the default data.

    A mapping or a cell (text, None, NaN) gives the canonical text, so two cells name the same data exactly
    when their texts are equal; rows written before the column existed read as blank, the default data.

    >>> data_text({"seed": 1, "preset": "small"}), data_text(" seed=2 "), data_text(None), data_text({})
    ('preset=small;seed=1', 'seed=2', '', '')
    """
    if options is None or _is_missing(options):
        return ""
    if isinstance(options, str):
        pairs = [p.strip().partition("=") for p in options.split(";") if p.strip()]
        items = {k.strip(): v.strip() for k, _, v in pairs}
    else:
        items = {str(k): str(v) for k, v in dict(options).items()}
    return ";".join(f"{k}={items[k]}" for k in sorted(items))


def options_text(options: Any) -> str:
    """The ``options`` cell: the method options a run set on top of its preset (``vadbench run --set``),
    as sorted ``key=value`` pairs joined by ``;``, values as YAML / JSON scalars (``false``, ``192``);
    blank = the preset as it is. Rows written before the column existed read as blank.

    >>> options_text({"scene_condition": False, "hidden": 192}), options_text(" hidden=192 ")
    ('hidden=192;scene_condition=false', 'hidden=192')
    >>> options_text(None)
    ''

    """
    import json

    if options is None or _is_missing(options) or isinstance(options, str):
        return data_text(options)
    return data_text({k: v if isinstance(v, str) else json.dumps(v) for k, v in dict(options).items()})


def options_cells(frame: Any) -> Any:
    """The canonical ``options`` cell of every row of a results table (all blank for an older table).

    >>> import pandas as pd
    >>> options_cells(pd.DataFrame({"options": [None, "hidden=192"]})).tolist()
    ['', 'hidden=192']
    """
    import pandas as pd

    if "options" in frame:
        return frame["options"].map(options_text)
    return pd.Series([""] * len(frame), index=frame.index, dtype=object)


def data_cells(frame: Any) -> Any:
    """The canonical ``data`` cell of every row of a results table (a Series; all blank, the default data,
    for a table written before the column existed).

    >>> import pandas as pd
    >>> data_cells(pd.DataFrame({"data": [None, " seed=1"]})).tolist()
    ['', 'seed=1']
    >>> data_cells(pd.DataFrame({"a": [1]})).tolist()
    ['']
    """
    import pandas as pd

    if "data" in frame:
        return frame["data"].map(data_text)
    return pd.Series("", index=frame.index, dtype=object)


def data_label(text: Any) -> str:
    """How a ``data`` cell reads in a table or a summary line: ``default data`` when blank.

    >>> data_label(""), data_label("seed=1")
    ('default data', 'data seed=1')
    """
    text = data_text(text)
    return f"data {text}" if text else "default data"


def _pd_na() -> Any:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return None
    return pd.NA


def _is_missing(value: Any) -> bool:
    """Whether a DataFrame cell holds no value (None, ``pd.NA`` or NaN)."""
    return value is None or value is _pd_na() or (isinstance(value, float) and math.isnan(value))
