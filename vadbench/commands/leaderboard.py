"""``vadbench leaderboard`` (measured and published numbers side by side) and ``vadbench regress`` (the gate).

Only typer / pathlib / typing at module level: pandas and rich are imported inside the commands.

Example:
    $ vadbench leaderboard --dataset xd-violence --format md
    $ vadbench regress --results runs/ci-results.csv --baseline leaderboards/baselines.csv
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vadbench.commands._common import fail_on_error

FORMATS = ("md", "csv", "html")
DEFAULT_RESULTS = Path("leaderboards") / "results.csv"
DEFAULT_PUBLISHED = Path("leaderboards") / "published.csv"
DEFAULT_BASELINE = Path("leaderboards") / "baselines.csv"


def _published_path(path: Path | None) -> Path | None:
    """An explicit --published, else leaderboards/published.csv of the cwd, else of the checkout."""
    if path is not None:
        return path
    from vadbench.paths import PROJECT_ROOT

    for candidate in (DEFAULT_PUBLISHED, PROJECT_ROOT / DEFAULT_PUBLISHED):
        if candidate.is_file():
            return candidate
    return None


@fail_on_error
def leaderboard(
    dataset: Annotated[str | None, typer.Option(help="Show only this dataset.")] = None,
    results: Annotated[
        list[Path] | None,
        typer.Option(
            "--results",
            help="A results CSV (repeatable); leaderboards/results.csv of the current folder is always "
            "included when present.",
        ),
    ] = None,
    published: Annotated[
        Path | None,
        typer.Option(help="Published numbers (default: leaderboards/published.csv of the cwd or checkout)."),
    ] = None,
    no_published: Annotated[bool, typer.Option("--no-published", help="Show measured rows only.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="Output format: md, csv or html.")] = "md",
    metrics: Annotated[
        str | None, typer.Option(help="Comma-separated metric columns to show (default: all present).")
    ] = None,
    all_runs: Annotated[
        bool, typer.Option("--all-runs", help="Every ok row, not only the latest per configuration.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Write to this file (atomic) instead of stdout.")] = None,
    update_readme: Annotated[
        Path | None,
        typer.Option(
            "--update-readme",
            help="Replace the text between <!-- leaderboard:start --> and <!-- leaderboard:end --> in this "
            "README (md only).",
        ),
    ] = None,
) -> None:
    """Render measured results and published numbers side by side, grouped by dataset and protocol."""
    from vadbench import leaderboard as lb
    from vadbench.errors import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
    if update_readme is not None and fmt != "md":
        raise ConfigError(f"--update-readme writes markdown; drop --format {fmt} or use --format md")
    files = ([DEFAULT_RESULTS] if DEFAULT_RESULTS.is_file() else []) + list(results or [])
    seen: set[Path] = set()
    frames = []
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            frames.append(lb.read_results(path))
    measured = lb.concat_results(frames)
    published_path = None if no_published else _published_path(published)
    published_frame = lb.read_published(published_path) if published_path is not None else None
    wanted = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    if wanted:
        bad = [m for m in wanted if not lb.is_published_metric(m)]
        if bad:
            raise ConfigError(f"--metrics: unknown metric(s) {bad}; see protocols.md section 1 for the names")
    tables = lb.build_tables(measured, published_frame, dataset=dataset, metrics=wanted, all_runs=all_runs)
    if not tables:
        known = sorted(
            set(measured["dataset"]) | set([] if published_frame is None else published_frame["dataset"])
        )
        if dataset is not None:
            raise ConfigError(
                f"--dataset {dataset!r}: no measured or published rows; datasets present: {known}"
            )
        n_ok = int((measured["status"] == "ok").sum())
        raise ConfigError(
            f"no rows to show: {len(frames)} results file(s) with {n_ok} ok "
            f"row(s) ({DEFAULT_RESULTS} is read when present), published numbers: {published_path or 'none'}"
        )
    text = lb.RENDERERS[fmt](tables)
    if update_readme is not None:
        changed = lb.update_readme(update_readme, text)
        typer.echo(f"{update_readme}: leaderboard section {'updated' if changed else 'unchanged'}", err=True)
    elif out is not None:
        lb.atomic_write_text(out, text)
        typer.echo(f"wrote {out}", err=True)
    else:
        typer.echo(text, nl=False)


@fail_on_error
def regress(
    results: Annotated[
        list[Path], typer.Option("--results", help="Results CSV(s) of the runs to check (repeatable).")
    ],
    baseline: Annotated[
        Path, typer.Option(help="Baseline CSV (percent; tolerance in points).")
    ] = DEFAULT_BASELINE,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty/--no-allow-empty",
            help="A baseline file with a header and no rows passes with a warning (default) or fails "
            "(exit 1).",
        ),
    ] = True,
    rerun: Annotated[
        bool,
        typer.Option(
            "--rerun/--no-rerun",
            help="First re-execute the run of every baseline row (method, dataset, preset, seed, protocol "
            "from the baseline file) on the CPU, appending to the first --results file.",
        ),
    ] = False,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Run folders of --rerun.")] = Path("runs"),
) -> None:
    """The regression gate: exit 1 when a baseline metric fell by more than its tolerance or has no result.

    Exit 0: every baseline holds (improvements beyond tolerance are reported and pass).

    Exit 1: a regression or a missing result (or an empty baseline with --no-allow-empty).

    Exit 2: a missing or malformed CSV.
    """
    from rich.console import Console
    from rich.table import Table

    from vadbench import leaderboard as lb

    console = Console()
    if not console.is_terminal:  # logs and CI: do not squeeze the table into 80 columns
        console = Console(width=160)
    base = lb.read_baselines(baseline)
    if rerun and not base.empty:
        from vadbench.runner import rerun_baselines

        failed_runs = [r for r in rerun_baselines(base, results[0], runs_dir=runs_dir) if r.status != "ok"]
        for r in failed_runs:
            console.print(f"[red]run failed[/red] {_escape(r.run_id)}: {_escape(r.error.splitlines()[0])}",
                          highlight=False)
    measured = lb.concat_results([lb.read_results(path) for path in results])
    if base.empty:
        message = f"{baseline}: no baseline rows (header only): nothing to check"
        if not allow_empty:
            console.print(f"[red]FAIL[/red] {message} (--no-allow-empty)", highlight=False)
            raise typer.Exit(1)
        console.print(f"[yellow]warning:[/yellow] {message}; the gate passes vacuously", highlight=False)
        return
    checks = lb.regress(measured, base)
    styles = {"ok": "green", "improved": "cyan", "regression": "bold red", "missing": "bold red"}
    table = Table(title=f"regression gate: {baseline}", show_lines=False)
    for name, justify in (
        ("status", "left"),
        ("method", "left"),
        ("dataset", "left"),
        ("metric", "left"),
        ("baseline", "right"),
        ("tol", "right"),
        ("measured", "right"),
        ("delta", "right"),
        ("run / detail", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold", no_wrap=name != "run / detail")  # type: ignore[arg-type]
    for check in checks:
        delta = "–" if check.delta is None else f"{check.delta:+.2f}"
        detail = " ".join(x for x in (check.run_id, check.detail) if x)
        table.add_row(
            f"[{styles[check.status]}]{check.status.upper()}[/]",
            _escape(check.method),
            _escape(check.dataset),
            _escape(check.metric),
            lb.format_percent(check.baseline),
            f"{check.tolerance:.2f}",
            lb.format_percent(check.measured),
            delta,
            _escape(detail),
        )
    console.print(table)
    failed = [c for c in checks if c.failed]
    counts = {s: sum(c.status == s for c in checks) for s in styles}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if failed:
        for check in failed:
            console.print(
                f"[red]{check.status}[/red] {_escape(check.method)} / {_escape(check.dataset)} / "
                f"{_escape(check.metric)} (baseline line {check.line}), protocol: {_escape(check.protocol)}",
                highlight=False,
            )
        console.print(f"[bold red]FAIL[/bold red]: {summary} ({len(checks)} baseline rows)", highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold green]PASS[/bold green]: {summary} ({len(checks)} baseline rows)", highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def register(apps: dict[str, typer.Typer]) -> None:
    """Add ``leaderboard`` and ``regress`` to the root app."""
    apps["root"].command("leaderboard")(leaderboard)
    apps["root"].command("regress")(regress)
