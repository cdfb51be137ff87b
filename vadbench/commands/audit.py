"""``vadbench datasets audit``: content-free probe AUCs, abnormal share and onset histogram of a dataset.

Examples:
    $ vadbench datasets audit --dataset synthetic --preset small --seeds 0,1,2
    $ vadbench datasets audit --dataset shanghaitech --root /data/sht --feature-lengths T.csv
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vadbench.commands.datasets import CountsOpt, DatasetOpt, LengthsOpt, RootOpt, _open


def audit(
    dataset: DatasetOpt,
    root: RootOpt = None,
    split: Annotated[str | None, typer.Option("--split", help="One split variant (default: all).")] = None,
    convention: Annotated[
        str | None, typer.Option("--convention", "-c", help="Convention (default: the split's).")
    ] = None,
    preset: Annotated[str, typer.Option("--preset", help="Synthetic: tiny or small.")] = "tiny",
    seeds: Annotated[str, typer.Option("--seeds", help="Synthetic: comma-separated seeds.")] = "0",
    frame_counts: CountsOpt = None,
    feature_lengths: LengthsOpt = None,
) -> None:
    """Print the AUC of scores that ignore the video (frame index, t/T, closeness to the centre, video
    length; either sign), the share of abnormal frames and the onset histogram, from the labels alone."""
    from vadbench.audit import audit_labels, format_audit

    rows = {}
    if dataset == "synthetic" and root is None:
        from vadbench.datasets import synthetic as syn

        for seed in [int(s) for s in seeds.split(",") if s.strip()]:
            for name, labels in syn.split_labels(seed, preset).items():
                if split is None or name == split:
                    rows[f"{preset} s{seed} {name}"] = audit_labels(labels)
    else:
        ds = _open(dataset, root, frame_counts, feature_lengths)
        for name in [split] if split else list(getattr(ds, "splits", ("test",))):
            labels = ds.frame_labels(convention, split=name)
            rows[f"{name}/{ds.convention_for(convention, name)}"] = audit_labels(labels)
    typer.echo(f"{dataset}: content-free probes (micro frame AUC, %; chance = 50)")
    typer.echo(format_audit(rows))


def register(apps: dict[str, typer.Typer]) -> None:
    apps["datasets"].command("audit")(_fail(audit))


def _fail(fn):
    from vadbench.commands._common import fail_on_error

    return fail_on_error(fn)


__all__ = ["audit", "register", "Path"]
