"""``vadbench compare``: the paired video bootstrap between two methods (run folders or result rows).

Only typer / pathlib / typing at module level; numpy and the bootstrap are imported inside the command.

Examples:
    $ vadbench compare runs/vadclip-synthetic-tiny-1a2b3c4d runs/mil-synthetic-tiny-5e6f7a8b
    $ vadbench compare method=vadclip method=mil --results runs/results.csv --dataset synthetic --preset tiny
    $ vadbench compare run-a1,run-a2,run-a3 run-b1,run-b2,run-b3 --metric auc_micro --json
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vadbench.commands._common import fail_on_error


@fail_on_error
def compare(
    a: Annotated[
        str,
        typer.Argument(help="Side A: run folder(s) or run id(s), comma-separated (several = seeds), or "
                            "method=<name> (every seed in --results)."),
    ],
    b: Annotated[str, typer.Argument(help="Side B, same forms as A.")],
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="Where run folders live (run ids).")
    ] = Path("runs"),
    results: Annotated[
        Path | None, typer.Option(help="Results CSV for method=<name> (default runs/results.csv).")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Only rows of this dataset (method=<name>).")] = None,
    preset: Annotated[str | None, typer.Option(help="Only rows of this preset (method=<name>).")] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Only rows on this data (method=<name>; the data column: seed=1 = synthetic data "
                          "seed 1, 'default' = the default data)."),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="AUC / AP metric (repeatable; default auc_micro, ap)."),
    ] = None,
    resamples: Annotated[int, typer.Option(help="Video resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the video resampling.")] = 0,
    ci_method: Annotated[str, typer.Option("--ci-method", help="percentile or bca.")] = "percentile",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Paired bootstrap over the same resampled test videos: A − B, its 95 % interval, a two-sided p-value,
    and with several seeds per side the seed spread and which source of variation dominates."""
    import json

    from vadbench.compare import compare as run_compare
    from vadbench.compare import resolve, summary_lines

    frame = None
    needs_rows = a.strip().startswith("method=") or b.strip().startswith("method=")
    if needs_rows:
        from vadbench import leaderboard as lb

        frame = lb.read_results(results or Path("runs") / "results.csv")

    def side(text: str) -> list:
        return [r for item in text.split(",") if item.strip()
                for r in resolve(item, runs_dir, frame, dataset=dataset, preset=preset,
                                 data="" if data == "default" else data)]

    c = run_compare(side(a), side(b), metrics=tuple(metric or ("auc_micro", "ap")), n_resamples=resamples,
                    seed=seed, method=ci_method)
    if as_json:
        doc = {
            "a": [r.run_id for r in c.side_a], "b": [r.run_id for r in c.side_b],
            "dataset": c.side_a[0].dataset, "data": c.side_a[0].data, "protocol": c.side_a[0].protocol,
            "n_videos": c.n_videos,
            "n_resamples": c.n_resamples, "seed": c.seed, "ci_method": c.method,
            "metrics": {m: {"a": r.a, "b": r.b, "diff": r.diff, "ci_low": r.low, "ci_high": r.high,
                            "p_value": r.p_value, "sd_videos": r.sd_videos,
                            "sd_seeds": None if r.sd_seeds != r.sd_seeds else r.sd_seeds,
                            "dominant": r.dominant, "seeds_a": r.seeds_a, "seeds_b": r.seeds_b}
                        for m, r in c.results.items()},
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    for line in summary_lines(c):
        typer.echo(line)


def register(apps: dict[str, typer.Typer]) -> None:
    """Add ``compare`` to the root app."""
    apps["root"].command("compare")(compare)
