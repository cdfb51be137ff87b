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
):
    from vadbench.registry import DATASETS

    cls = DATASETS.get(dataset)
    kwargs = {}
    if order is not None and getattr(cls, "accepts_test_list", False):
        kwargs["test_list"] = order
    return cls(
        root=root,
        frame_counts=frame_counts,
        feature_lengths=feature_lengths,
        allow_missing=allow_missing,
        **kwargs,
    )


def check(
    dataset: DatasetOpt,
    root: RootOpt = None,
    frame_counts: CountsOpt = None,
    feature_lengths: LengthsOpt = None,
    decode: Annotated[bool, typer.Option("--decode", help="Decode every video fully (slow).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero on warnings too.")] = False,
) -> None:
    """Report present / missing / malformed files against the dataset's expected layout (exit 1 on errors)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    ds = _open(dataset, root, frame_counts, feature_lengths)
    problems = ds.check(decode=decode)
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
    from rich.console import Console

    from vadbench.datasets._io import atomic_save_npy, atomic_write_bytes
    from vadbench.datasets.lists import read_order_list

    console = Console(highlight=False, soft_wrap=True)
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


def register(apps: dict[str, typer.Typer]) -> None:
    """Add ``datasets check`` and ``gt export``."""
    apps["datasets"].command("check")(fail_on_error(check))
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
