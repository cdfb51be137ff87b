"""``vadbench run``, ``vadbench grid`` and ``vadbench methods list``: thin wrappers over the runner.

Example:
    $ vadbench run --method vadclip --dataset synthetic --preset tiny
    $ vadbench grid --methods vadclip --datasets synthetic --preset tiny
    $ vadbench methods list
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vadbench.commands._common import fail_on_error

RESULTS_HELP = (
    "{what} appended to this results CSV (default: runs/results.csv or $VADBENCH_RESULTS, the file that "
    "`vadbench leaderboard` and `vadbench regress` read)."
)

DATASET_OPT_HELP = (
    "Dataset option key=value on top of the preset's (repeatable): seed=1 runs on synthetic data seed 1 "
    "(generated on first use); the row's data column records it."
)


def _parse_sets(values: list[str] | None, flag: str = "--set") -> dict[str, Any]:
    """``key=value`` method options (values read as YAML scalars: ``lr=1e-4``, ``mask_padding=true``)."""
    import yaml

    from vadbench.errors import ConfigError

    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects key=value, found {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _print_metrics(result: Any, leaderboard: Any = None) -> None:
    """The run summary in plain lines of at most 80 characters (a terminal or a log file): the wrapped
    protocol, the metrics, the baselines on the same split and labels and the content-free floor."""
    from vadbench.leaderboard.floors import floor_for
    from vadbench.paths import shipped_file
    from vadbench.report_context import baseline_rows, summary_lines

    row = result.row
    preset = str(row.get("preset", "") or "")
    sources = [p for p in (leaderboard, shipped_file("leaderboards/results.csv")) if p]
    data = str(row.get("data", "") or "")
    beside = baseline_rows(row.get("dataset", ""), row.get("protocol", ""), preset, None, sources, data=data)
    beside = [r for r in beside if r["method"] != row.get("method")]
    floor = floor_for(row.get("dataset", ""), row.get("protocol", ""), _dataset_preset(result))
    from vadbench.commands.score import interval_text, interval_title

    cis = {key: interval_text(row, key) for key in result.metrics}
    for line in summary_lines(result.run_id, row.get("protocol", ""), result.metrics, beside, floor,
                              intervals=cis, interval_title=interval_title(row), data=data):
        typer.echo(line)
    if result.resumed:
        typer.echo(f"resumed: {', '.join(result.resumed)} (use --fresh to refit)")
    typer.echo(f"run folder: {result.run_dir}")
    typer.echo(f"report: {result.run_dir / 'report.html'}")


def _dataset_preset(result: Any) -> str:
    """The synthetic dataset preset of a run (from its config.yaml), else ''."""
    import yaml

    try:
        cfg = yaml.safe_load((result.run_dir / "config.yaml").read_text())
        return str((cfg.get("dataset_kwargs") or {}).get("preset", "") or "")
    except (OSError, AttributeError, yaml.YAMLError):
        return ""


def register(apps: dict[str, typer.Typer]) -> None:
    """Add ``run`` and ``grid`` to the root app and ``list`` to ``vadbench methods``."""
    root, methods_app = apps["root"], apps["methods"]

    @root.command("run")
    @fail_on_error
    def run_cmd(
        method: Annotated[
            str, typer.Option("--method", "-m", help="Registered method name (vadbench methods list).")
        ],
        dataset: Annotated[
            str, typer.Option("--dataset", "-d", help="Registered dataset name.")
        ] = "synthetic",
        root_: Annotated[
            Path | None,
            typer.Option("--root", help="Dataset root (default: $VADBENCH_DATA/<name> or the card)."),
        ] = None,
        dataset_opt: Annotated[list[str] | None, typer.Option("--dataset-opt", help=DATASET_OPT_HELP)] = None,
        preset: Annotated[
            str | None,
            typer.Option(
                "--preset", "-p", help="Preset of the method's metafile.yaml (none: the code defaults)."
            ),
        ] = None,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda[:i].")] = "auto",
        seed: Annotated[int | None, typer.Option(help="Seed (default: the preset's, else 0).")] = None,
        epochs: Annotated[int | None, typer.Option(help="Override the number of training epochs.")] = None,
        leaderboard: Annotated[
            Path | None,
            typer.Option("--results", "--leaderboard", help=RESULTS_HELP.format(what="The row is")),
        ] = None,
        runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where run folders go.")] = Path("runs"),
        protocol: Annotated[
            str | None,
            typer.Option(help="Protocol preset name or string (default: the preset's / dataset's)."),
        ] = None,
        set_: Annotated[
            list[str] | None, typer.Option("--set", help="Method option key=value (repeatable).")
        ] = None,
        feature: Annotated[
            list[str] | None,
            typer.Option(
                "--feature",
                help="Feature option key=value: a FeatureSpec field (tail=pad, crops=center) or community "
                "files "
                "(source=rtfm-i3d|deepmil-i3d|xd-i3d|xd-vggish|vadclip-clip, root=DIR, list=FILE).",
            ),
        ] = None,
        tracks: Annotated[
            list[str] | None,
            typer.Option("--tracks", help="Tracks option key=value (preset=bgsub, detector.threshold=30)."),
        ] = None,
        clips: Annotated[
            list[str] | None,
            typer.Option("--clips", help="Clips option key=value (window=16, stride=8, frames=8)."),
        ] = None,
        fresh: Annotated[
            bool, typer.Option("--fresh", help="Ignore an earlier run of this config; refit.")
        ] = False,
        select_on_test: Annotated[
            bool,
            typer.Option(
                "--select-on-test", help="Allow test-set checkpoint selection (recorded selection=test)."
            ),
        ] = False,
        train_dataset: Annotated[
            str | None,
            typer.Option(
                "--train-dataset",
                help="Cross-domain: train on this dataset's training videos, test on --dataset's "
                "(recorded in the config and the row's split).",
            ),
        ] = None,
        train_root: Annotated[
            Path | None, typer.Option("--train-root", help="Root of --train-dataset (default as --root).")
        ] = None,
        progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
    ) -> None:
        """Train and evaluate one method on one dataset; write runs/<id>/ and a result row."""
        from vadbench.paths import results_file
        from vadbench.registry import DATASETS, METHODS
        from vadbench.runner import run

        leaderboard = results_file(leaderboard)
        DATASETS.get(dataset), METHODS.get(method)  # unknown name: one line naming the known ones

        result = run(
            method,
            dataset,
            root=root_,
            preset=preset,
            device=device,
            seed=seed,
            epochs=epochs,
            leaderboard=leaderboard,
            runs_dir=runs_dir,
            overrides=_parse_sets(set_),
            features=_parse_sets(feature, "--feature"),
            inputs={"tracks": _parse_sets(tracks, "--tracks"), "clips": _parse_sets(clips, "--clips")},
            fresh=fresh,
            select_on_test=select_on_test,
            protocol=protocol,
            progress=progress,
            train_dataset=train_dataset,
            train_root=train_root,
            dataset_options=_parse_sets(dataset_opt, "--dataset-opt"),
        )
        _print_metrics(result, leaderboard)
        if result.appended:
            data = result.row.get("data") or ""
            typer.echo(f"row appended to {leaderboard} (seed {result.row.get('seed')}"
                       f"{', data ' + data if data else ''})")
        else:
            typer.echo(f"identical to an earlier run ({result.run_id}: same config, data and code); its "
                       f"row is already in {leaderboard}, not appended again (--fresh re-runs it)")

    @root.command("grid")
    @fail_on_error
    def grid_cmd(
        methods: Annotated[str, typer.Option("--methods", help="Comma-separated method names.")],
        datasets: Annotated[
            str, typer.Option("--datasets", help="Comma-separated dataset names.")
        ] = "synthetic",
        executor: Annotated[
            str, typer.Option(help="local (this process) or slurm (submitit jobs).")
        ] = "local",
        cluster: Annotated[
            str | None, typer.Option(help="submitit cluster: none = auto (Slurm), local, debug.")
        ] = None,
        preset: Annotated[
            str | None,
            typer.Option(
                "--preset", "-p", help="Preset for every run; a comma-separated list runs each (ablations)."
            ),
        ] = None,
        root_: Annotated[Path | None, typer.Option("--root", help="Dataset root (one dataset only).")] = None,
        dataset_opt: Annotated[list[str] | None, typer.Option("--dataset-opt", help=DATASET_OPT_HELP)] = None,
        protocol: Annotated[str | None, typer.Option(help="Protocol name or string for every run.")] = None,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda[:i].")] = "auto",
        seed: Annotated[int | None, typer.Option(help="Seed of every run.")] = None,
        epochs: Annotated[int | None, typer.Option(help="Override the epochs of every run.")] = None,
        leaderboard: Annotated[
            Path | None,
            typer.Option("--results", "--leaderboard", help=RESULTS_HELP.format(what="Rows are")),
        ] = None,
        runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where run folders go.")] = Path("runs"),
        partition: Annotated[str | None, typer.Option(help="Slurm partition.")] = None,
        timeout_min: Annotated[int, typer.Option(help="Slurm time limit per job (minutes).")] = 600,
        gpus: Annotated[int, typer.Option(help="GPUs per Slurm job.")] = 0,
        feature: Annotated[
            list[str] | None, typer.Option("--feature", help="Feature option key=value (every run).")
        ] = None,
        tracks: Annotated[
            list[str] | None, typer.Option("--tracks", help="Tracks option key=value (every tracks run).")
        ] = None,
        clips: Annotated[
            list[str] | None, typer.Option("--clips", help="Clips option key=value (every clips run).")
        ] = None,
        fresh: Annotated[bool, typer.Option("--fresh", help="Refit every run.")] = False,
        progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
    ) -> None:
        """Run every (method, dataset) pair; a failed run is recorded (status=failed) and the grid goes on."""
        from rich.table import Table

        from vadbench.console import console as make_console
        from vadbench.executors import resolve_executor
        from vadbench.paths import results_file
        from vadbench.runner import grid

        leaderboard = results_file(leaderboard)
        executor, cluster = resolve_executor(
            executor, cluster, slurm_options={"partition": partition, "gpus": gpus}
        )
        slurm: dict[str, Any] = {"timeout_min": timeout_min}
        if executor == "slurm":
            if partition:
                slurm["slurm_partition"] = partition
            if gpus:
                slurm["gpus_per_node"] = gpus
        presets = [p.strip() for p in preset.split(",") if p.strip()] if preset else [None]
        results = []
        for one in presets:
            results += grid(
                [m.strip() for m in methods.split(",") if m.strip()],
                [d.strip() for d in datasets.split(",") if d.strip()],
                executor=executor,
                cluster=cluster,
                slurm=slurm,
                leaderboard=leaderboard,
                runs_dir=runs_dir,
                preset=one,
                root=root_,
                dataset_options=_parse_sets(dataset_opt, "--dataset-opt"),
                protocol=protocol,
                features=_parse_sets(feature, "--feature"),
                inputs={"tracks": _parse_sets(tracks, "--tracks"), "clips": _parse_sets(clips, "--clips")},
                device=device,
                seed=seed,
                epochs=epochs,
                fresh=fresh,
                progress=progress,
            )
        table = Table(title="grid", title_justify="left")
        for col in ("method", "dataset", "preset", "status", "auc_micro", "run / error"):
            table.add_column(col)
        for res in results:
            auc = res.metrics.get("auc_micro")
            table.add_row(
                str(res.row.get("method", "")),
                str(res.row.get("dataset", "")),
                str(res.row.get("preset", "") or ""),
                "[green]ok[/green]" if res.status == "ok" else "[red]failed[/red]",
                "" if auc is None else f"{100 * float(auc):.2f}",
                str(res.run_dir) if res.status == "ok" else res.error.splitlines()[0][:120],
            )
        make_console().print(table)
        typer.echo(f"rows appended to {leaderboard}")
        if any(r.status != "ok" for r in results):
            raise typer.Exit(1)

    @methods_app.command("list")
    @fail_on_error
    def methods_list() -> None:
        """Show the registered methods: supervision, inputs, unit and the datasets that have presets."""
        from rich.table import Table

        from vadbench.console import console as make_console
        from vadbench.registry import METHODS
        from vadbench.runner import method_presets

        table = Table(title="methods", title_justify="left")
        for col in ("method", "supervision", "inputs", "unit", "fidelity", "presets (dataset: names)"):
            table.add_column(col)
        for name in METHODS.names():
            try:
                cls = METHODS.get(name)
            except Exception as err:  # noqa: BLE001 - one broken plugin must not hide the others
                table.add_row(name, "[red]error[/red]", "", "", "", f"{type(err).__name__}: {err}"[:100])
                continue
            presets = method_presets(name)
            text = "; ".join(f"{ds}: {', '.join(names)}" for ds, names in presets.items()) or "-"
            table.add_row(name, cls.supervision, cls.input_kind, getattr(cls, "unit", ""),
                          getattr(cls, "fidelity", ""), text)
        make_console().print(table)
