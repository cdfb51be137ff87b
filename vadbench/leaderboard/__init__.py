"""Result rows, the locking CSV append, published numbers, baselines, leaderboard rendering, regression gate.

Three CSV kinds live in ``leaderboards/``:

- results (``results.csv`` or any ``--leaderboard`` file): one row per run, columns :data:`RESULT_COLUMNS`
  (+ ``anticipation_auc@<α>s`` columns). Metric values are **fractions** in [0, 1] (``n_one_class`` is a
  count).
- ``published.csv``: numbers from papers, long form (method, dataset, split, metric, value, source, notes),
  values in **percent** as the papers print them.
- ``baselines.csv``: regression anchors (method, dataset, protocol, metric, value, tolerance, notes), values
  in percent, tolerance in percentage points (blank = :data:`DEFAULT_TOLERANCE`).

One module per job; everything public is re-exported here:

- :mod:`~vadbench.leaderboard.columns`: column vocabulary, metric names, percent <-> fraction
  (:func:`to_percent` / :func:`from_percent` are the one place the two scales meet).
- :mod:`~vadbench.leaderboard.validate`: cell and row validation (:func:`validate_row`).
- :mod:`~vadbench.leaderboard.rows`: :func:`make_row` (run id, timestamp, version, git commit).
- :mod:`~vadbench.leaderboard.store`: results CSVs (:func:`read_results`, :func:`append_row` with a file lock
  and atomic replace, :func:`atomic_write_text`).
- :mod:`~vadbench.leaderboard.published`: :func:`read_published`, :func:`read_baselines` (percent files).
- :mod:`~vadbench.leaderboard.query`: :func:`concat_results`, :func:`latest_ok`, :func:`is_test_selected`.
- :mod:`~vadbench.leaderboard.tables`: :func:`build_tables`; :mod:`~vadbench.leaderboard.render`:
  Markdown / CSV / HTML; :mod:`~vadbench.leaderboard.readme`: :func:`update_readme`.
- :mod:`~vadbench.leaderboard.gate`: the regression gate :func:`regress`.

Importing the package imports the standard library and :mod:`vadbench.metrics` (numpy; the metric names live
there); ``filelock`` is imported inside :func:`append_row` and pandas inside the readers.

Example:
    >>> row = make_row(method="vadclip", dataset="synthetic", split="weak", protocol="p",
    ...                metrics={"auc_micro": 0.9}, commit="abc")
    >>> row["source"], row["status"], row["auc_micro"]
    ('vadbench', 'ok', 0.9)
"""

from __future__ import annotations

import types

from vadbench.leaderboard import (
    columns,
    gate,
    published,
    query,
    readme,
    render,
    rows,
    store,
    tables,
    validate,
)
from vadbench.leaderboard.columns import (
    BASELINE_COLUMNS,
    COUNT_METRICS,
    DEFAULT_TOLERANCE,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    LOWER_IS_BETTER,
    META_COLUMNS,
    METRIC_COLUMNS,
    PUBLISHED_COLUMNS,
    REQUIRED_BASELINE_COLUMNS,
    REQUIRED_RESULT_COLUMNS,
    RESULT_COLUMNS,
    SELECTIONS,
    SOURCES,
    STATUSES,
    UNSPECIFIED_METRICS,
    anticipation_column,
    canonical_metric,
    data_cells,
    data_label,
    data_text,
    format_percent,
    from_percent,
    is_published_metric,
    options_cells,
    options_text,
    to_percent,
)
from vadbench.leaderboard.gate import Check, regress
from vadbench.leaderboard.published import read_baselines, read_published
from vadbench.leaderboard.query import concat_results, is_test_selected, latest_ok
from vadbench.leaderboard.readme import README_END, README_START, replace_between_markers, update_readme
from vadbench.leaderboard.render import LEAK_FLAG, RENDERERS, render_csv, render_html, render_markdown
from vadbench.leaderboard.rows import git_commit, make_row, utc_timestamp, with_defaults
from vadbench.leaderboard.store import LOCK_TIMEOUT_S, append_row, atomic_write_text, read_results
from vadbench.leaderboard.tables import NOT_COMPARABLE, PAPER_PROTOCOL, BoardRow, BoardTable, build_tables
from vadbench.leaderboard.validate import validate_row

__all__ = [
    "BASELINE_COLUMNS",
    "COUNT_METRICS",
    "DEFAULT_TOLERANCE",
    "FLOAT_COLUMNS",
    "INT_COLUMNS",
    "LEAK_FLAG",
    "LOCK_TIMEOUT_S",
    "LOWER_IS_BETTER",
    "META_COLUMNS",
    "METRIC_COLUMNS",
    "NOT_COMPARABLE",
    "PAPER_PROTOCOL",
    "PUBLISHED_COLUMNS",
    "README_END",
    "README_START",
    "RENDERERS",
    "REQUIRED_BASELINE_COLUMNS",
    "REQUIRED_RESULT_COLUMNS",
    "RESULT_COLUMNS",
    "SELECTIONS",
    "SOURCES",
    "STATUSES",
    "UNSPECIFIED_METRICS",
    "BoardRow",
    "BoardTable",
    "Check",
    "anticipation_column",
    "append_row",
    "atomic_write_text",
    "build_tables",
    "canonical_metric",
    "concat_results",
    "data_cells",
    "data_label",
    "data_text",
    "format_percent",
    "from_percent",
    "git_commit",
    "is_published_metric",
    "options_cells",
    "options_text",
    "is_test_selected",
    "latest_ok",
    "make_row",
    "read_baselines",
    "read_published",
    "read_results",
    "regress",
    "render_csv",
    "render_html",
    "render_markdown",
    "replace_between_markers",
    "to_percent",
    "update_readme",
    "utc_timestamp",
    "validate_row",
    "with_defaults",
]

_PARTS: tuple[types.ModuleType, ...] = (
    columns,
    validate,
    rows,
    store,
    published,
    query,
    tables,
    render,
    readme,
    gate,
)
