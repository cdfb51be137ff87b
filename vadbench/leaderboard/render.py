"""Rendering leaderboard tables as Markdown, CSV or a standalone HTML page (values in percent, 2 decimals).

Example:
    >>> from vadbench.leaderboard import build_tables, read_published
    >>> from vadbench.paths import PROJECT_ROOT
    >>> tables = build_tables(None, read_published(PROJECT_ROOT / "leaderboards" / "published.csv"))
    >>> sorted(RENDERERS) == ["csv", "html", "md"] and render_csv(tables).startswith("dataset,method")
    True
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence

from vadbench.leaderboard.columns import COUNT_METRICS, _metric_order, format_percent
from vadbench.leaderboard.floors import floor_lines
from vadbench.leaderboard.tables import NOT_COMPARABLE, BoardRow, BoardTable

LEAK_FLAG = "⚠ selection=test"


NO_INTERVAL = "no interval (published number)"


def _cell(row: BoardRow, metric: str) -> str:
    value = row.values.get(metric)
    if value is None:
        return "–"
    if metric in COUNT_METRICS:
        return str(int(value))
    return format_percent(value)


def _cell_with_uncertainty(row: BoardRow, metric: str) -> str:
    """The value with its 95 % bootstrap interval ``[low, high]``, or ``± std`` over seeds."""
    text = _cell(row, metric)
    if metric in row.spread:
        return f"{text} ± {format_percent(row.spread[metric])}"
    if metric in row.intervals:
        low, high = row.intervals[metric]
        return f"{text} [{format_percent(low)}, {format_percent(high)}]"
    return text


def _uncertainty_cells(row: BoardRow, metric: str) -> tuple[str, str, str]:
    """CSV cells: interval low, interval high, std over seeds (blank when absent)."""
    low, high = (format_percent(b) for b in row.intervals[metric]) if metric in row.intervals else ("", "")
    return low, high, format_percent(row.spread[metric]) if metric in row.spread else ""


def _uncertainty_note(row: BoardRow) -> str:
    """Seeds, the no-interval mark of published rows, and the not-significant mark."""
    parts = []
    if row.source == "paper":
        parts.append(NO_INTERVAL)
    if row.n_seeds > 1:
        parts.append(f"mean ± std over {row.n_seeds} seeds")
    elif row.source == "vadbench" and row.seed:
        parts.append(f"seed {row.seed}")
    if row.similar_above:
        parts.append(f"≈ row above, not significant: {row.similar_above}")
    return "; ".join(parts)


def _source_label(row: BoardRow, table: BoardTable) -> str:
    if row.source == "vadbench":
        return "vadbench"
    ids = [k for k, v in table.references.items() if v in row.references]
    return f"paper [{', '.join(ids)}]" if ids else "paper"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(tables: Sequence[BoardTable]) -> str:
    """Markdown: one section per dataset, measured rows (by protocol id) then published rows; legends below.

    >>> from vadbench.leaderboard import build_tables, read_published
    >>> from vadbench.paths import PROJECT_ROOT
    >>> published = read_published(PROJECT_ROOT / "leaderboards" / "published.csv")
    >>> print(render_markdown(build_tables(None, published, dataset="ubnormal")))
    ... # doctest: +ELLIPSIS
    _Values in percent...
    ### ubnormal
    <BLANKLINE>
    | method | source | fidelity | split | protocol | selection | auc_frame | note |
    |---|---|---|---|---|---|---:|---|
    | vadclip | paper [1] | – | test | – |  | 62.32 | protocol not comparable / variant not stated ...
    ...
    """
    lines = [
        "_Values in percent (2 decimals). Measured rows (`vadbench`) are comparable only when their protocol "
        "ids match; published rows (`paper`) carry no protocol string. "
        f"`{LEAK_FLAG}` marks choices made on test labels (protocols.md section 12). "
        "`[low, high]`: 95 % bootstrap interval over test videos; `± x`: std over seeds; `≈`: not "
        "significantly different from the row above (paired bootstrap, p >= 0.05)._",
        "",
    ]
    for table in tables:
        lines.append(f"### {table.dataset}")
        lines.append("")
        if len(table.protocols) > 1:
            lines.append(
                f"⚠ {len(table.protocols)} different protocols below: rows are comparable only within one "
                "protocol id."
            )
            lines.append("")
        header = ["method", "source", "fidelity", "split", "protocol", "selection", *table.metrics, "note"]
        lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
        lines.append("|" + "|".join(["---"] * 6 + ["---:"] * len(table.metrics) + ["---"]) + "|")
        for row in table.rows:
            cells = [
                row.method,
                _source_label(row, table),
                row.fidelity or "–",
                row.split or "–",
                row.protocol_id or "–",
                LEAK_FLAG if row.test_selected else "",
                *[_cell_with_uncertainty(row, m) for m in table.metrics],
                "; ".join(
                    x
                    for x in (
                        row.comparability,
                        "" if row.source == "paper" else row.notes,
                        _uncertainty_note(row),
                    )
                    if x
                ),
            ]
            lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
        lines.append("")
        for pid, proto in table.protocols.items():
            lines.append(f"- {pid}: `{proto or '(blank)'}`")
        lines.extend(floor_lines(table.dataset, table.protocols))  # issue 9: the content-free floor
        for ref, text in table.references.items():
            lines.append(f"- [{ref}] {_md_escape(text)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_csv(tables: Sequence[BoardTable]) -> str:
    """CSV: one line per displayed row with the full protocol string, reference and notes (percent values).

    >>> from vadbench.leaderboard import build_tables, read_published
    >>> from vadbench.paths import PROJECT_ROOT
    >>> published = read_published(PROJECT_ROOT / "leaderboards" / "published.csv")
    >>> text = render_csv(build_tables(None, published, dataset="ubnormal"))
    >>> text.splitlines()[1].split(",")[:5]
    ['ubnormal', 'vadclip', 'paper', '', 'Papers with Code results listing for VadCLIP (third-party)']
    """
    metrics = _metric_order(m for t in tables for m in t.metrics)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "dataset",
            "method",
            "source",
            "fidelity",
            "reference",
            "split",
            "protocol_id",
            "protocol",
            "selection",
            "run_id",
            *metrics,
            "comparability",
            "notes",
            *[f"{m}_{kind}" for m in metrics for kind in ("ci_low", "ci_high", "std")],
            "n_seeds",
            "not_significant_vs_above",
        ]
    )
    for table in tables:
        for row in table.rows:
            writer.writerow(
                [
                    table.dataset,
                    row.method,
                    row.source,
                    row.fidelity,
                    " / ".join(row.references),
                    row.split,
                    row.protocol_id,
                    row.protocol,
                    "test" if row.test_selected else ("none" if row.source == "vadbench" else ""),
                    row.run_id,
                    *[(_cell(row, m) if m in row.values else "") for m in metrics],
                    row.comparability,
                    row.notes,
                    *[value for m in metrics for value in _uncertainty_cells(row, m)],
                    row.n_seeds if row.source == "vadbench" else "",
                    row.similar_above,
                ]
            )
    return buffer.getvalue()


def render_html(tables: Sequence[BoardTable]) -> str:
    """A standalone HTML page: one table per dataset, the leakage flag in red, notes in full.

    >>> from vadbench.leaderboard import build_tables, read_published
    >>> from vadbench.paths import PROJECT_ROOT
    >>> published = read_published(PROJECT_ROOT / "leaderboards" / "published.csv")
    >>> "<table>" in render_html(build_tables(None, published, dataset="ped2"))
    True
    """
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>vadbench leaderboard</title>',
        "<style>body{font-family:sans-serif;margin:1em;max-width:100%}"
        ".wrap{overflow-x:auto;max-width:100%}table{border-collapse:collapse;margin-bottom:1em;font-size:90%}"
        "td,th{border:1px solid #bbb;padding:2px 6px;vertical-align:top}td.num{text-align:right;"
        "white-space:nowrap}td.note{min-width:16em;max-width:28em;font-size:85%;color:#444}"
        ".leak{color:#b00;font-weight:bold}.nc{color:#a60}code{font-size:90%;white-space:pre-wrap;"
        "overflow-wrap:anywhere}li{margin-bottom:.3em}</style></head><body>",
        "<h1>vadbench leaderboard</h1>",
        "<p>Values in percent (2 decimals). Measured rows are comparable only when their protocol ids match; "
        f'published rows carry no protocol string. <span class="leak">{esc(LEAK_FLAG)}</span> marks choices '
        "made on test labels.</p>",
    ]
    for table in tables:
        parts.append(f"<h2>{esc(table.dataset)}</h2>")
        if len(table.protocols) > 1:
            parts.append(
                f'<p class="nc">⚠ {len(table.protocols)} different protocols: rows are comparable only '
                "within one protocol id.</p>"
            )
        header = ["method", "source", "fidelity", "split", "protocol", "selection", *table.metrics, "note"]
        parts.append('<div class="wrap"><table>')
        parts.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        for row in table.rows:
            leak = f'<span class="leak">{esc(LEAK_FLAG)}</span>' if row.test_selected else ""
            note = "; ".join(x for x in (row.comparability, row.notes, _uncertainty_note(row)) if x)
            css = ' class="note nc"' if NOT_COMPARABLE in row.comparability else ' class="note"'
            parts.append(
                "<tr>"
                + f"<td>{esc(row.method)}</td><td>{esc(_source_label(row, table))}</td>"
                + f"<td>{esc(row.fidelity or '–')}</td>"
                + f"<td>{esc(row.split or '–')}</td><td>{esc(row.protocol_id or '–')}</td><td>{leak}</td>"
                + "".join(
                    f'<td class="num">{esc(_cell_with_uncertainty(row, m))}</td>' for m in table.metrics
                )
                + f"<td{css}>{esc(note)}</td></tr>"
            )
        parts.append("</table></div><ul>")
        for pid, proto in table.protocols.items():
            parts.append(f"<li>{esc(pid)}: <code>{esc(proto or '(blank)')}</code></li>")
        for ref, text in table.references.items():
            parts.append(f"<li>[{esc(ref)}] {esc(text)}</li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


RENDERERS = {"md": render_markdown, "csv": render_csv, "html": render_html}
