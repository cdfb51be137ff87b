"""``vadbench datasets check`` and ``vadbench gt export``.

Examples:
    $ vadbench datasets check --dataset ucf-crime --root /data/ucf-crime
    $ vadbench gt export --dataset ucf-crime --convention deepmil --feature-lengths T.csv --out gt-ucf.npy
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vadbench.commands._common import fail_on_error

DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Registered dataset name (e.g. ucf-crime).")]
RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help="Dataset root (default: $VADBENCH_DATA/<name> or datasets/<name>/)."),
]
CountsOpt = Annotated[
    Path | None, typer.Option("--frame-counts", help="CSV video,n_frames (no videos needed).")
]
LengthsOpt = Annotated[
    Path | None,
    typer.Option(
        "--feature-lengths",
        help="CSV video,T, or a folder of feature .npy files: snippet counts T of the features.",
    ),
]
MissingOpt = Annotated[
    bool,
    typer.Option(
        "--allow-missing",
        help="Evaluate without missing test videos (they are listed and recorded) instead of failing.",
    ),
]


def _open(
    dataset: str,
    root: Path | None,
    frame_counts: Path | None,
    feature_lengths: Path | None,
    allow_missing: bool = False,
    order: Path | None = None,
    generate: bool = True,
):
    from vadbench.registry import DATASETS

    cls = DATASETS.get(dataset)
    kwargs = {}
    if order is not None and getattr(cls, "accepts_test_list", False):
        kwargs["test_list"] = order
    if not generate and getattr(cls, "generates", False):
        kwargs["generate"] = False
    return cls(
        root=root,
        frame_counts=frame_counts,
        feature_lengths=feature_lengths,
        allow_missing=allow_missing,
        **kwargs,
    )


def _label_problems(ds) -> list:
    """What ``gt export`` would refuse, per split: an error when no convention's labels can be built from
    what was given, a warning for each convention that needs more (e.g. feature lengths for 16·T)."""
    from vadbench.datasets._io import Report
    from vadbench.errors import VadbenchError

    report = Report(card=ds.card)
    for split in ds.splits:
        failed: dict[str, str] = {}
        for convention in ds.conventions:
            try:
                ds.frame_labels(convention, split=split)
            except VadbenchError as err:
                failed[convention] = str(err).splitlines()[0]
        for convention, why in failed.items():
            severity = "error" if len(failed) == len(ds.conventions) else "warning"
            report.add("unlabelable", ds.root, f"split {split!r}, convention {convention!r}: {why}",
                       severity=severity)
    return report.problems


def check(
    dataset: DatasetOpt,
    root: RootOpt = None,
    frame_counts: CountsOpt = None,
    feature_lengths: LengthsOpt = None,
    decode: Annotated[bool, typer.Option("--decode", help="Decode every video fully (slow).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero on warnings too.")] = False,
) -> None:
    """Report present / missing / malformed files against the dataset's expected layout (exit 1 on errors)."""
    from vadbench.console import console as make_console

    console = make_console()
    ds = _open(dataset, root, frame_counts, feature_lengths, generate=False)
    problems = ds.check(decode=decode)
    if not any(p.severity == "error" for p in problems):
        problems = problems + _label_problems(ds)
    console.print(f"[bold]{ds.name}[/bold] at {ds.root}  (expected layout: {ds.card})")
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        table = ds.videos()
        for subset in ("train", "test"):
            part = table[table["subset"] == subset]
            console.print(
                f"  present: {subset}: {len(part)} videos, {int(part['path'].notna().sum())} with media, "
                f"{int(part['n_frames'].notna().sum())} with a frame count, "
                f"{int(part['n_snippets'].notna().sum())} with a feature length"
            )
    for p in problems:
        colour = "red" if p.severity == "error" else "yellow"
        console.print(f"  [{colour}]{p.severity}[/{colour}] {p}", markup=True)
    n_warn = len(problems) - len(errors)
    console.print(f"{len(errors)} error(s), {n_warn} warning(s)")
    if errors or (strict and n_warn):
        raise typer.Exit(1)


def export(
    dataset: DatasetOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .npy (a lengths CSV is written beside).")],
    root: RootOpt = None,
    convention: Annotated[
        str | None, typer.Option("--convention", "-c", help="Convention name (default: the dataset's).")
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="Split variant (e.g. semi / weak).")] = None,
    order: Annotated[
        Path | None,
        typer.Option(
            "--order", help="Community list giving the video order (.list, .txt, VadCLIP path,label csv)."
        ),
    ] = None,
    frame_counts: CountsOpt = None,
    feature_lengths: LengthsOpt = None,
    allow_missing: MissingOpt = False,
) -> None:
    """Write the concatenated frame labels of the test videos under a convention (and per-video lengths)."""
    import numpy as np

    from vadbench.console import console as make_console
    from vadbench.datasets._io import atomic_save_npy, atomic_write_bytes
    from vadbench.datasets.lists import read_order_list

    console = make_console()
    ds = _open(dataset, root, frame_counts, feature_lengths, allow_missing, order)
    videos = read_order_list(order) if order is not None else None
    labels = ds.frame_labels(convention, split=split, videos=videos)
    name = ds.convention_for(convention, split)
    arrays = list(labels.values())
    y = np.concatenate(arrays) if arrays else np.zeros(0)
    atomic_save_npy(out, y)
    lengths_path = out.with_name(out.stem + "_lengths.csv")
    text = "video,n_labels\n" + "".join(f"{v},{len(a)}\n" for v, a in labels.items())
    atomic_write_bytes(lengths_path, text.encode())
    clipped = [w for w in ds.warnings if w.kind == "clipped"]
    console.print(
        f"{ds.name} / {name}: {len(labels)} videos, {y.size} frames, {int(np.count_nonzero(y))} "
        f"abnormal, dtype {y.dtype} -> {out} (+ {lengths_path.name})"
    )
    if clipped:
        console.print(
            f"[yellow]{len(clipped)} video(s) with intervals clipped at the end[/yellow] "
            f"(as the community does): {', '.join(w.video or '?' for w in clipped[:8])}"
            + (" ..." if len(clipped) > 8 else ""),
            markup=True,
        )
    if ds.missing:
        console.print(
            f"[yellow]{len(ds.missing)} missing test video(s) left out (--allow-missing):[/yellow] "
            f"{', '.join(ds.missing)}",
            markup=True,
        )


def list_datasets() -> None:
    """List the registered datasets: splits, ground-truth conventions, card, and whether data is found."""
    from rich.table import Table

    from vadbench.console import console
    from vadbench.paths import card_dir, dataset_root
    from vadbench.registry import DATASETS

    table = Table(title="datasets", title_justify="left")
    for col in ("dataset", "splits", "conventions", "default root", "card"):
        table.add_column(col)
    for name in DATASETS.names():
        cls = DATASETS.get(name)
        if getattr(cls, "generates", False):
            where = "generated on first use (cache)"
        else:
            root = dataset_root(name)
            found = root.is_dir() and any(p.name != "README.md" for p in root.iterdir())
            where = f"{root} ({'data found' if found else 'no data'})"
        card = card_dir("datasets", name) / "README.md"
        splits, conventions = getattr(cls, "splits", ()), getattr(cls, "conventions", ())
        table.add_row(name, ", ".join(splits), ", ".join(conventions), where, str(card))
    console().print(table)


def register(apps: dict[str, typer.Typer]) -> None:
    """Add ``datasets check``, ``datasets list`` and ``gt export``."""
    apps["datasets"].command("check")(fail_on_error(check))
    apps["datasets"].command("list")(fail_on_error(list_datasets))
    apps["gt"].command("export")(fail_on_error(export))
    from vadbench.commands import audit

    audit.register(apps)
    # --- synthetic (H4) ---
    import importlib

    try:
        synthetic = importlib.import_module("vadbench.datasets.synthetic")
    except ModuleNotFoundError as err:  # the synthetic module is not written yet
        if err.name != "vadbench.datasets.synthetic":
            raise
    else:
        if hasattr(synthetic, "register_cli"):
            synthetic.register_cli(apps)
