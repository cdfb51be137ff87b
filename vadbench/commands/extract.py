"""``vadbench extract``: CLIP snippet features of a dataset into the feature store (resumable, shardable).

vadbench extract --dataset synthetic --method vadclip --preset tiny   # the features `run` will reuse
vadbench extract --dataset synthetic --backbone tiny --crops center
torchrun --nproc_per_node 4 -m vadbench extract --dataset ucf-crime --root /data/ucf --device cuda
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(apps: dict[str, typer.Typer]) -> None:
    """Add ``extract`` to the root app."""
    from vadbench.commands._common import fail_on_error

    @apps["root"].command("extract")
    @fail_on_error
    def extract_cmd(
        dataset: Annotated[str, typer.Option("--dataset", "-d", help="Registered dataset name.")],
        root: Annotated[Path | None, typer.Option(help="Dataset root (default: see vadbench.paths).")] = None,
        dataset_opt: Annotated[
            list[str] | None,
            typer.Option("--dataset-opt", help="Dataset option key=value (seed=1: synthetic data seed 1)."),
        ] = None,
        backbone: Annotated[
            str, typer.Option(help="'tiny' or an open_clip model name (ViT-B-16).")
        ] = "ViT-B-16",
        pretrained: Annotated[
            str,
            typer.Option(help="'default' (openai; none for tiny), 'none', an open_clip tag or a checkpoint."),
        ] = "default",
        crops: Annotated[
            str, typer.Option(help="center, 5crop, 10crop or full (the whole frame, squashed).")
        ] = "10crop",
        snippet: Annotated[int, typer.Option(help="Frames per snippet.")] = 16,
        stride: Annotated[
            int | None, typer.Option(help="Frames between snippet starts (default: snippet).")
        ] = None,
        reduce: Annotated[
            str, typer.Option(help="mean of the snippet's frames, or the middle frame.")
        ] = "mean",
        tail: Annotated[str, typer.Option(help="drop / keep / pad the last incomplete snippet.")] = "drop",
        precision: Annotated[str, typer.Option(help="fp32, fp16 or bf16.")] = "fp32",
        seed: Annotated[int, typer.Option(help="Initialisation seed (random weights only).")] = 0,
        motion: Annotated[
            str, typer.Option(help="none, or flow: append the optical-flow stream (vadbench.video.motion).")
        ] = "none",
        videos: Annotated[str | None, typer.Option(help="Comma-separated video ids (default: all).")] = None,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1 or auto.")] = "auto",
        batch_frames: Annotated[int, typer.Option(help="Frames per model batch.")] = 64,
        store: Annotated[
            Path | None, typer.Option(help="Feature store root (default: <cache>/features).")
        ] = None,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
        method: Annotated[
            str | None,
            typer.Option(
                "--method", "-m",
                help="Extract exactly the features `vadbench run --method M` uses (its preset's feature "
                "spec; the individual feature options above are then not used).",
            ),
        ] = None,
        preset: Annotated[
            str | None, typer.Option("--preset", "-p", help="With --method: the method's preset.")
        ] = None,
    ) -> None:
        """Extract CLIP snippet features [T, K, D] of every video of a dataset (skips those stored)."""
        from vadbench.commands.run import _parse_sets
        from vadbench.console import console as make_console
        from vadbench.datasets import get_dataset
        from vadbench.errors import ConfigError
        from vadbench.features import FeatureSpec, FeatureStore, dist_env, extract_distributed

        options = _parse_sets(dataset_opt, "--dataset-opt")
        reuse = ""
        if method is not None:
            from vadbench.runner import resolve_config

            config, _, _ = resolve_config(method, dataset, root, preset=preset, device=device,
                                          dataset_options=options)
            if config["input_kind"] != "features" or "source" in (config["features"] or {}):
                raise ConfigError(f"method {method!r} does not take extracted features on {dataset!r} "
                                  f"(input kind {config['input_kind']}); nothing to extract")
            spec = FeatureSpec.from_dict(dict(config["features"]))
            reuse = f"vadbench run --method {method} --dataset {dataset}" + (
                f" --preset {config['preset']}" if config["preset"] else "") + "".join(
                f" --dataset-opt {k}={v}" for k, v in options.items())
            dataset_kwargs = dict(config["dataset_kwargs"])
        else:
            if preset is not None:
                raise ConfigError("--preset needs --method (the preset of which method?)")
            spec = FeatureSpec(
                backbone=backbone,
                pretrained=None if pretrained.lower() == "none" else pretrained,
                crops=crops,
                snippet=snippet,
                stride=stride,
                reduce=reduce,
                tail=tail,
                precision=precision,
                seed=seed,
                motion=motion,
            )
            dataset_kwargs = dict(options)
        ds = get_dataset(dataset, root, **dataset_kwargs)
        chosen = [v.strip() for v in videos.split(",") if v.strip()] if videos else None
        rank, world, _ = dist_env()
        report = extract_distributed(
            ds,
            chosen,
            spec,
            device,
            FeatureStore(store),
            batch_frames=batch_frames,
            progress=progress and rank == 0,
        )
        if rank == 0:
            console = make_console()
            where = f" (rank 0 of {world})" if world > 1 else ""
            console.print(f"feature hash [bold]{spec.hash}[/bold]  folder {report.folder}")
            if reuse:
                console.print(f"reused by: {reuse} (same feature spec and hash)")
            console.print(
                f"extracted {len(report.extracted)} video(s){where}, {len(report.skipped)} already stored; "
                f"{report.n_frames} frames in {report.seconds - report.load_s:.1f} s "
                f"({report.frames_per_s:.1f} frames/s; model loading {report.load_s:.1f} s)"
            )
