"""``vadbench world train|eval``: rebuild and evaluate the synthetic world's models (world-clip, world-vlm).

vadbench world train --seed 0            # CPU, writes vadbench/world/weights (or --out DIR)
vadbench world eval --json               # accuracies on unseen world seeds
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(apps: dict[str, typer.Typer]) -> None:
    """Add the ``world`` sub-app."""
    from vadbench.commands._common import fail_on_error

    world = typer.Typer(help="The synthetic world's pretrained models (world-clip, world-vlm).",
                        no_args_is_help=True)
    apps["root"].add_typer(world, name="world")

    @world.command("train")
    @fail_on_error
    def train_cmd(
        seed: Annotated[int, typer.Option(help="Training seed (world seeds, initialisation, sampling).")] = 0,
        out: Annotated[Path | None, typer.Option(help="Folder for weights + manifest (default: the "
                                                      "package's vadbench/world/weights).")] = None,
        threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
        smoke: Annotated[bool, typer.Option(help="A few steps only (checks the pipeline).")] = False,
        clip_steps: Annotated[int | None, typer.Option(help="world-clip steps (default: config).")] = None,
        vlm_steps: Annotated[int | None, typer.Option(help="world-vlm steps (default: config).")] = None,
        eval_seeds: Annotated[int, typer.Option(help="Unseen world seeds (14 videos each) to report.")] = 2,
        clip_from: Annotated[Path | None, typer.Option(help="Weights folder whose world-clip is kept (only "
                                                             "world-vlm is trained).")] = None,
        distill_dense: Annotated[float | None, typer.Option(
            help="Weight of stage 1's dense target on clip tokens (default: config, 0.3; 0 = off).")] = None,
        clip_frame_size: Annotated[str | None, typer.Option(
            help="Clip frames of the yes / no questions, WxH (default: config, 224x168).")] = None,
        vlm_balance: Annotated[float | None, typer.Option(
            min=0.0, max=1.0,
            help="Stage 2: 0 = the answers of a question in their natural mix (default), 0.5 = square-root "
                 "sampling, 1 = every answer alike (the recipe before 2026-12-04).")] = None,
    ) -> None:
        """Train world-clip and world-vlm on renders of the synthetic world (CPU) and save them."""
        import json

        from vadbench.world import WEIGHTS_DIR
        from vadbench.world.train import TrainConfig, build

        make = TrainConfig.smoke if smoke else TrainConfig
        steps = {k: v for k, v in (("clip_steps", clip_steps), ("vlm_steps", vlm_steps),
                                   ("distill_dense", distill_dense), ("vlm_balance", vlm_balance))
                 if v is not None}
        if clip_frame_size is not None:
            try:
                w, h = (int(x) for x in clip_frame_size.lower().split("x"))
            except ValueError:
                raise typer.BadParameter(f"--clip-frame-size: expected WxH such as 224x168, got "
                                         f"{clip_frame_size!r}") from None
            steps["clip_frame_size"] = (w, h)
        cfg = make(seed=seed, threads=threads, **steps)
        man = build(cfg, out or WEIGHTS_DIR, log=typer.echo, eval_seeds=1 if smoke else eval_seeds,
                    eval_per_question=8 if smoke else 240, clip_from=clip_from)
        typer.echo(json.dumps({"clip": man["accuracy"]["clip"], "vlm": man["accuracy"]["vlm"],
                               "train_seconds": man["training"]["train_seconds"],
                               "bytes": sum(m["bytes"] for m in man["models"].values())}, indent=1))

    @world.command("eval")
    @fail_on_error
    def eval_cmd(
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
        seeds: Annotated[int, typer.Option(help="Unseen world seeds to render (14 videos each).")] = 2,
        folder: Annotated[Path | None, typer.Option(help="Weights folder (default: shipped).")] = None,
        threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    ) -> None:
        """Accuracies of the shipped world-clip and world-vlm on renders of unseen world seeds."""
        import json

        import torch

        from vadbench.world import WEIGHTS_DIR
        from vadbench.world.evaluate import evaluate
        from vadbench.world.store import clip_frame_size, load_world_clip, load_world_vlm

        torch.set_num_threads(threads)
        where = folder or WEIGHTS_DIR
        model, _, tok = load_world_clip(folder=where)
        report = evaluate((model, tok), load_world_vlm(folder=where), n_seeds=seeds,
                          log=(lambda _m: None) if as_json else typer.echo,
                          clip_frame_size=clip_frame_size(where))
        if as_json:
            typer.echo(json.dumps(report, sort_keys=True))
            return
        typer.echo("world-clip (zero-shot on crops):")
        for k, v in report["clip"].items():
            typer.echo(f"  {k:<10} {v:.3f}")
        typer.echo("world-vlm (answer accuracy | balanced):")
        for q, v in report["vlm"].items():
            typer.echo(f"  {q:<66} {v:.3f} | {report['balanced']['vlm'][q]:.3f}")
