"""Leaderboard tables: measured and published rows grouped per dataset, protocol ids, comparability marks.

Values in the tables are percent (counts stay counts); :mod:`vadbench.leaderboard.render` formats them.

Example:
    >>> from vadbench.leaderboard import read_published
    >>> from vadbench.paths import PROJECT_ROOT
    >>> published = read_published(PROJECT_ROOT / "leaderboards" / "published.csv")
    >>> [t.dataset for t in build_tables(None, published, dataset="xd-violence")]
    ['xd-violence']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vadbench.leaderboard.columns import (
    COUNT_METRICS,
    LOWER_IS_BETTER,
    UNSPECIFIED_METRICS,
    _is_missing,
    _metric_order,
    canonical_metric,
    data_label,
    data_text,
    options_text,
    to_percent,
)
from vadbench.leaderboard.query import is_test_selected, latest_ok

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

NOT_COMPARABLE = "protocol not comparable / variant not stated"
PAPER_PROTOCOL = "paper protocol (string not recorded)"


@dataclasses.dataclass
class BoardRow:
    """One displayed row: a measured run or a published paper entry (values in percent)."""

    method: str
    source: str  # "vadbench" or "paper"
    references: list[str]  # paper references (empty for measured rows)
    split: str
    protocol: str  # full protocol string ("" when none is recorded)
    protocol_id: str  # "P1", ... or "" when no protocol string
    test_selected: bool
    comparability: str
    notes: str
    values: dict[str, float]  # metric -> percent (counts as counts); the seed mean for aggregated rows
    run_id: str = ""
    fidelity: str = ""  # code / paper / reconstruction (measured rows; blank for older rows and papers)
    intervals: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)  # percent bounds
    spread: dict[str, float] = dataclasses.field(default_factory=dict)  # std over seeds (percent points)
    n_seeds: int = 1
    run_ids: list[str] = dataclasses.field(default_factory=list)  # every run behind the row
    similar_above: str = ""  # "paired p=0.41 (auc_micro)" when not significantly different from the row above
    seed: str = ""  # the seed of a single measured run (aggregated rows give n_seeds instead)


@dataclasses.dataclass
class BoardTable:
    """The leaderboard of one dataset."""

    dataset: str
    metrics: list[str]
    rows: list[BoardRow]
    protocols: dict[str, str]  # protocol id -> protocol string
    references: dict[str, str]  # reference id ("1", ...) -> reference text


def _measured_rows(results: pd.DataFrame, dataset: str | None, all_runs: bool) -> list[tuple[str, BoardRow]]:
    """Measured rows (latest ok per configuration and seed), repeated seeds aggregated unless ``all_runs``."""
    frame = results if dataset is None else results[results["dataset"] == dataset]
    if all_runs:
        frame = frame[frame["status"] == "ok"]
    else:  # the latest row of each seed of a configuration (a redefined preset's older rows drop out)
        frame = latest_ok(frame, [k for k in [*SEED_GROUP_KEYS, "seed"] if k in frame])
    metric_cols = [c for c in frame.columns if canonical_metric(str(c)) is not None]
    out = []
    for record in frame.to_dict("records"):
        values = {}
        for column in metric_cols:
            value = record.get(column)
            if not _is_missing(value):
                values[column] = float(value) if column in COUNT_METRICS else to_percent(value)
        intervals = {}
        for column in metric_cols:
            low, high = record.get(f"{column}_ci_low"), record.get(f"{column}_ci_high")
            if column in values and not (_is_missing(low) or _is_missing(high)):
                intervals[column] = (to_percent(low), to_percent(high))
        source = record.get("source") or "vadbench"
        preset = record.get("preset", "")
        data = data_text(record.get("data"))
        options = options_text(record.get("options"))
        row = BoardRow(
            method=record["method"],
            source=source,
            references=[record["reference"]] if source == "paper" and record.get("reference") else [],
            split=record.get("split", ""),
            protocol=record.get("protocol", ""),
            protocol_id="",
            test_selected=is_test_selected(record.get("selection", ""), record.get("protocol", "")),
            comparability="",
            notes="; ".join(x for x in (f"preset {preset}" if preset else "",
                                        f"options {options}" if options else "",
                                        data_label(data) if data else "") if x),
            values=values,
            run_id=record.get("run_id", ""),
            fidelity="" if _is_missing(record.get("fidelity")) else str(record.get("fidelity", "")),
            intervals=intervals,
            run_ids=[record.get("run_id", "")] if record.get("run_id") else [],
            seed="" if _is_missing(record.get("seed")) else str(record.get("seed")),
        )
        out.append((record["dataset"], row, _seed_key(record)))
    if all_runs:
        return [(ds, row) for ds, row, _ in out]
    return _aggregate_seeds(out)


#: Columns that identify one configuration apart from its seed (repeated seeds of it are aggregated; rows on
#: other data, column ``data``, and rows with method options set on top of the preset, column ``options``
#: (an ablation such as ``scene_condition=false``), are other configurations and never averaged in). The run
#: config hash covers the seed, so it cannot be used.
SEED_GROUP_KEYS = (
    "source", "reference", "method", "dataset", "data", "split", "protocol", "backbone", "feature_hash",
    "preset", "options", "selection", "epochs", "n_train", "n_test", "n_frames",
)


def _seed_key(record: dict[str, Any]) -> tuple:
    return tuple(data_text(record.get(k)) if k == "data" else options_text(record.get(k)) if k == "options"
                 else "" if _is_missing(record.get(k)) else str(record.get(k)) for k in SEED_GROUP_KEYS)


def _aggregate_seeds(rows: list[tuple[str, BoardRow, tuple]]) -> list[tuple[str, BoardRow]]:
    """Rows of one configuration run with several seeds become one row: seed mean, std over seeds (ddof 1),
    the number of seeds; the per-run intervals are dropped (the spread over seeds is shown instead)."""
    groups: dict[tuple, list[tuple[str, BoardRow]]] = {}
    for ds, row, key in rows:
        groups.setdefault(key if row.source == "vadbench" else (id(row),), []).append((ds, row))
    out = []
    for members in groups.values():
        if len(members) == 1:
            out.append(members[0])
            continue
        ds, first = members[0]
        metrics = [m for m in first.values if all(m in r.values for _, r in members)]
        values, spread = {}, {}
        for m in metrics:
            xs = [r.values[m] for _, r in members]
            values[m] = sum(xs) / len(xs)
            if m not in COUNT_METRICS:
                spread[m] = math.sqrt(sum((x - values[m]) ** 2 for x in xs) / (len(xs) - 1))
        row = dataclasses.replace(
            first, values=values, spread=spread, intervals={}, n_seeds=len(members),
            run_id=",".join(r.run_id for _, r in members), run_ids=[i for _, r in members for i in r.run_ids],
        )
        out.append((ds, row))
    return out


def _published_rows(published: pd.DataFrame, dataset: str | None) -> list[tuple[str, BoardRow]]:
    """Published numbers pivoted to one row per (dataset, method, split), references kept per row."""
    frame = published if dataset is None else published[published["dataset"] == dataset]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for record in frame.to_dict("records"):
        groups.setdefault((record["dataset"], record["method"], record["split"]), []).append(record)
    out = []
    for (ds, method, split), records in groups.items():
        unspecified = sorted({r["metric"] for r in records if r["metric"] in UNSPECIFIED_METRICS})
        row = BoardRow(
            method=method,
            source="paper",
            references=list(dict.fromkeys(r["source"] for r in records)),
            split=split,
            protocol="",
            protocol_id="",
            test_selected=False,
            comparability=f"{NOT_COMPARABLE} ({', '.join(unspecified)})" if unspecified else PAPER_PROTOCOL,
            notes=" / ".join(dict.fromkeys(r["notes"] for r in records if r.get("notes"))),
            values={r["metric"]: float(r["value"]) for r in records},
        )
        out.append((ds, row))
    return out


def build_tables(
    results: pd.DataFrame | None,
    published: pd.DataFrame | None,
    *,
    dataset: str | None = None,
    metrics: Sequence[str] | None = None,
    all_runs: bool = False,
    paired: Callable[[BoardRow, BoardRow, str], float | None] | None = None,
) -> list[BoardTable]:
    """Group result rows (latest ok per configuration unless ``all_runs``) and published rows by dataset.

    Rows with a protocol string get ids P1, P2, ... per dataset (rows are comparable only within one id);
    published rows carry no protocol string and get a comparability mark (``NOT_COMPARABLE`` when the
    metric is ``auc_frame`` / ``ap_unspecified``). ``metrics`` restricts the columns (rows without any of
    them are dropped). Measured rows carry their bootstrap intervals; repeated seeds of one configuration
    (:data:`SEED_GROUP_KEYS`) become one row with the seed mean, std and count (unless ``all_runs``).
    ``paired(upper, lower, metric)`` returns the p-value of the paired test between two adjacent measured
    rows of one protocol (None when it cannot be computed); a lower row with p >= 0.05 on the ranking metric
    gets :attr:`BoardRow.similar_above`.

    >>> from vadbench.leaderboard import read_published
    >>> from vadbench.paths import PROJECT_ROOT
    >>> tables = build_tables(None, read_published(PROJECT_ROOT / "leaderboards" / "published.csv"),
    ...                       dataset="ped2")
    >>> tables[0].dataset, tables[0].rows[0].comparability
    ('ped2', 'protocol not comparable / variant not stated (auc_frame)')
    """
    pairs: list[tuple[str, BoardRow]] = []
    if results is not None and len(results):
        pairs += _measured_rows(results, dataset, all_runs)
    if published is not None and len(published):
        pairs += _published_rows(published, dataset)
    if metrics is not None:
        wanted = [canonical_metric(m) or m for m in metrics]
        for _, row in pairs:
            row.values = {m: v for m, v in row.values.items() if m in wanted}
        pairs = [(ds, row) for ds, row in pairs if row.values]
    tables = []
    for ds in sorted({ds for ds, _ in pairs}):
        rows = [r for d, r in pairs if d == ds]
        protocols: dict[str, str] = {}
        for proto in sorted({r.protocol for r in rows if r.protocol}):
            protocols[f"P{len(protocols) + 1}"] = proto
        ids = {proto: pid for pid, proto in protocols.items()}
        for row in rows:
            if row.protocol:
                row.protocol_id = ids[row.protocol]
                if len(protocols) > 1:
                    row.comparability = f"comparable only with {row.protocol_id} rows"
            elif row.source == "paper" and not row.comparability:
                row.comparability = PAPER_PROTOCOL
        present = _metric_order(m for r in rows for m in r.values)
        if metrics is not None:
            present = [m for m in wanted if m in present]
        rows.sort(  # ranked by value, measured and published together (a random scorer does not sit above
            key=lambda r: (  # a strong published number); the protocol id and note say what compares
                "/ablation:" in r.method,
                r.split,
                *_rank_key(r, present),
                r.protocol_id == "",
                r.protocol_id,
                r.method.lower(),
                r.run_id,
            )
        )
        references: dict[str, str] = {}
        for row in rows:
            for ref in row.references:
                if ref not in references.values():
                    references[str(len(references) + 1)] = ref
        if paired is not None:
            _mark_similar(rows, present, paired)
        tables.append(BoardTable(ds, present, rows, protocols, references))
    return tables


#: Adjacent rows whose paired p-value is at least this are marked as not significantly different.
SIGNIFICANCE = 0.05


def _mark_similar(
    rows: list[BoardRow], metrics: Sequence[str], paired: Callable[[BoardRow, BoardRow, str], float | None]
) -> None:
    for upper, lower in zip(rows, rows[1:], strict=False):
        if upper.source != "vadbench" or lower.source != "vadbench" or upper.protocol != lower.protocol:
            continue
        index, _ = _rank_key(upper, metrics)
        if index >= len(metrics) or metrics[index] not in lower.values:
            continue
        p = paired(upper, lower, metrics[index])
        if p is not None and p >= SIGNIFICANCE:
            lower.similar_above = f"paired p={p:.2f} ({metrics[index]})"


def _rank_key(row: BoardRow, metrics: Sequence[str]) -> tuple[int, float]:
    """Rows rank by the first table metric they have (table order), best first."""
    for index, metric in enumerate(metrics):
        if metric in row.values and metric not in COUNT_METRICS:
            value = row.values[metric]
            return (index, value if metric in LOWER_IS_BETTER else -value)
    return (len(metrics), 0.0)
