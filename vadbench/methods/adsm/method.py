"""ADSM as a vadbench method: object clips from tracks, DSM training of the NCST, Algorithm-1 scoring.

Only this module depends on the method contract; the pure parts are :mod:`.clips`, :mod:`.torch_model`,
:mod:`.losses` and :mod:`.inference`. Options and their code defaults: :class:`ADSMConfig` (spec section 9);
presets in ``methods/adsm/metafile.yaml``, reconstructed choices on the card ``methods/adsm/README.md``.

The scene of a sample is ``sample.scene`` (the platform's field), else ``sample.meta["scene"]``, else one
scene for the whole dataset. A scene unseen in training gets the learned null embedding (trained by scene
dropout); with ``scene_dropout = 0`` and the scene condition on, an unseen scene is an error.

Example:
    >>> cfg = ADSMConfig(depth=1, hidden=32, heads=2, crop_size=16, patch=8)
    >>> cfg.clip_len, cfg.levels, cfg.motion_weights
    (8, 20, True)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vadbench.errors import ConfigError, DataError
from vadbench.methods.adsm.clips import (
    ObjectRun,
    read_boxes_file,
    read_runs,
    tracks_as_tuples,
    whole_frame_track,
)
from vadbench.methods.training import TorchMethod

CHOICES: dict[str, tuple[Any, ...]] = {
    "tracker": ("bytetrack", "whole_frame", "boxes_file"),
    "score_norm": ("l2", "motion"),
    "object_agg": ("max", "mean"),
    "clip_frame": ("last", "next"),
    "indicator": ("score_psnr", "dsm_loss"),
}


@dataclass(frozen=True)
class ADSMConfig:
    """Every ADSM option with its code default (paper scale, spec sections 3-6 and 9)."""

    tracker: str = "bytetrack"  # bytetrack | whole_frame | boxes_file
    boxes_dir: str | None = None  # tracker=boxes_file: folder of <video>.csv
    crop_size: int = 160
    clip_len: int = 8  # n
    patch: int = 16  # d
    enlarge: float = 0.1  # square box enlarged by 10 % [reconstruction]
    hidden: int = 768  # DiT-B [reconstruction]
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    cond_dim: int = 0  # width of each of the sigma and scene embeddings; 0 = hidden (768 + 768 = 1536)
    sigma_min: float = 1e-3
    sigma_max: float = 1.0
    levels: int = 20  # L, linear in [sigma_min, sigma_max]
    level_weights: tuple[float, ...] | None = None  # None = uniform [reconstruction]
    motion_weights: bool = True  # off = ablation
    scene_condition: bool = True  # off = ablation (every clip gets the null scene)
    scene_dropout: float = 0.1  # probability of the null scene in training [reconstruction]
    appearance_term: bool = True  # divide by PSNR; off = ablation
    autoregressive: bool = True  # off = plain DSM inference (noise added to x at every level)
    score_norm: str = "l2"  # l2 | motion (motion-weighted norm)
    #: The per-clip indicator: ``score_psnr`` (the paper's ||s|| / PSNR per level, Algorithm 1) or
    #: ``dsm_loss`` (the training objective of the clip, mean over the L levels, one noise draw per clip;
    #: not in the paper, a vadbench option). Both go through the same aggregation (objects, segments,
    #: min-max per video).
    indicator: str = "score_psnr"
    segment_len: int = 8  # T [reconstruction]
    object_agg: str = "max"  # max | mean over objects of a frame [reconstruction]
    clip_frame: str = "last"  # last | next: the frame a clip score belongs to [reconstruction]
    epochs: int = 100
    batch_size: int = 20
    lr: float = 1e-4  # Adamax, cosine annealing per step to 0
    train_stride: int = 1  # window stride in training [reconstruction]
    test_stride: int = 1  # window stride at inference (frames between take the last score)
    infer_batch: int = 64

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"ADSM option {key}={getattr(self, key)!r} is not one of {list(allowed)}")
        if self.crop_size % self.patch:
            raise ConfigError(f"ADSM crop_size {self.crop_size} must be a multiple of patch {self.patch}")
        if self.hidden % self.heads:
            raise ConfigError(f"ADSM hidden {self.hidden} must be a multiple of heads {self.heads}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ConfigError(f"ADSM needs 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")
        if not 0.0 <= self.scene_dropout < 1.0:
            raise ConfigError(f"ADSM scene_dropout must be in [0, 1), got {self.scene_dropout}")
        if self.tracker == "boxes_file" and not self.boxes_dir:
            raise ConfigError("ADSM tracker=boxes_file needs boxes_dir (a folder of <video>.csv files)")
        if self.level_weights is not None and self.indicator == "dsm_loss":
            raise ConfigError(
                "ADSM level_weights weigh the levels of indicator=score_psnr; dsm_loss has one level"
            )
        if self.indicator == "dsm_loss":
            ignored = [f"{k}=false" for k in ("autoregressive", "appearance_term") if not getattr(self, k)]
            ignored += [f"score_norm={self.score_norm}"] if self.score_norm != "l2" else []
            if ignored:
                raise ConfigError(
                    f"ADSM {', '.join(ignored)}: options of the paper's indicator (score_psnr); "
                    "indicator=dsm_loss scores a clip by its training loss and would ignore them"
                )
        if self.level_weights is not None and len(self.level_weights) != self.levels:
            raise ConfigError(
                f"ADSM level_weights has {len(self.level_weights)} values for {self.levels} levels"
            )
        for key in (
            "clip_len",
            "levels",
            "epochs",
            "batch_size",
            "train_stride",
            "test_stride",
            "infer_batch",
            "depth",
            "segment_len",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(f"ADSM option {key} must be >= 1, got {getattr(self, key)}")


def scene_key(sample: Any) -> str:
    """The scene (camera) id of a sample as a string ('' when the dataset has one scene)."""
    scene = getattr(sample, "scene", None)
    if scene is None:
        scene = (getattr(sample, "meta", None) or {}).get("scene")
    return "" if scene is None else str(scene)


def _video_path(sample: Any) -> Path | None:
    path = getattr(sample, "path", None) or (getattr(sample, "meta", None) or {}).get("path")
    if path is None:
        for t in getattr(sample, "tracks", None) or []:
            if getattr(t, "path", None) is not None:
                return Path(t.path)
        return None
    return Path(path)


class ADSM(TorchMethod):
    """Autoregressive denoising score matching on object clips (Zhang, Cao et al., ICCV 2025)."""

    name: ClassVar[str] = "adsm"
    aliases: ClassVar[tuple[str, ...]] = ("score-matching",)
    supervision: ClassVar[str] = "semi"
    input_kind: ClassVar[str] = "tracks"
    unit: ClassVar[str] = "frame"
    fidelity: ClassVar[str] = "reconstruction"
    Config: ClassVar[type] = ADSMConfig
    headline: ClassVar[str] = "score"
    #: The cosine schedule anneals over every optimisation step.
    scheduler_interval = "step"

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, device: str = "cpu", seed: int = 0
    ) -> None:
        super().__init__(config, device=device, seed=seed)
        self.model: Any = None
        self.scenes: list[str] = []
        self._runs: list[ObjectRun] = []
        self._windows: list[tuple[int, int]] = []
        #: Seeds the noise draw per clip at inference; saved with the state (a loaded model scores the same).
        self.inference_seed = self.seed

    @classmethod
    def contract_config(cls) -> dict[str, Any]:
        """A tiny NCST on whole-frame "objects" (seconds on a CPU; spec section 9's tiny config)."""
        return {
            "tracker": "whole_frame",
            "crop_size": 16,
            "patch": 8,
            "clip_len": 4,
            "hidden": 32,
            "depth": 1,
            "heads": 2,
            "levels": 4,
            "segment_len": 4,
            "epochs": 1,
            "batch_size": 32,
            "train_stride": 8,
            "test_stride": 2,
            "lr": 1e-3,
        }

    # -- data ----------------------------------------------------------------------------------------------
    def object_runs(self, sample: Any, *, scene: int = 0) -> list[ObjectRun]:
        """The runs of cropped objects of one sample under the configured tracker."""
        cfg = self.cfg
        path = _video_path(sample)
        if cfg.tracker == "bytetrack":
            tracks = tracks_as_tuples(getattr(sample, "tracks", None) or [])
        elif cfg.tracker == "boxes_file":
            tracks = read_boxes_file(Path(cfg.boxes_dir) / f"{sample.video}.csv", sample.video)
        else:
            if path is None:
                raise DataError(f"video {sample.video!r}: tracker=whole_frame needs the video path")
            from vadbench.video import open_video

            with open_video(path) as reader:
                h, w = reader.frame_shape()
                n = len(reader)
            tracks = [whole_frame_track(n, h, w)]
        if tracks and path is None:
            raise DataError(f"video {sample.video!r}: object crops need the video file (sample.path)")
        if not tracks:
            return []
        return read_runs(
            path,
            sample.video,
            tracks,
            crop_size=cfg.crop_size,
            enlarge=cfg.enlarge,
            clip_len=cfg.clip_len,
            scene=scene,
        )

    def scene_index(self, sample: Any) -> int:
        """The embedding row for a sample's scene (the null row when unconditioned or unseen)."""
        null = max(1, len(self.scenes))  # the model's null row (NCST.null_scene)
        if not self.cfg.scene_condition:
            return null
        key = scene_key(sample)
        if key in self.scenes:
            return self.scenes.index(key)
        if self.cfg.scene_dropout <= 0:
            raise DataError(
                f"video {sample.video!r}: scene {key!r} was not seen in training (scenes "
                f"{self.scenes}) and no null scene embedding was trained (scene_dropout=0); "
                f"train with scene_dropout > 0 or scene_condition=false"
            )
        return null

    # -- model ---------------------------------------------------------------------------------------------
    def build_model(self) -> None:
        import torch

        from vadbench.methods.adsm.torch_model import NCST

        cfg = self.cfg
        torch.manual_seed(self.seed)
        self.model = NCST(
            clip_len=cfg.clip_len,
            crop_size=cfg.crop_size,
            patch=cfg.patch,
            hidden=cfg.hidden,
            depth=cfg.depth,
            heads=cfg.heads,
            mlp_ratio=cfg.mlp_ratio,
            cond_dim=cfg.cond_dim or None,
            n_scenes=max(1, len(self.scenes)),
            sigma_min=cfg.sigma_min,
            sigma_max=cfg.sigma_max,
        ).to(self.device)

    def build(self, samples: Sequence[Any]) -> None:
        """Scene vocabulary, the object runs of the training videos (uint8 crops), the windows, the NCST."""
        cfg = self.cfg
        self.scenes = sorted({scene_key(s) for s in samples}) if cfg.scene_condition else []
        runs: list[ObjectRun] = []
        for s in samples:
            runs.extend(self.object_runs(s, scene=self.scene_index(s)))
        windows = [
            (r, int(st)) for r, run in enumerate(runs) for st in run.starts(cfg.clip_len, cfg.train_stride)
        ]
        if not windows:
            raise DataError(
                f"ADSM found no object clip of {cfg.clip_len} consecutive frames in the {len(samples)} "
                f"training video(s) (tracker={cfg.tracker}): no track in the whole training set is long "
                f"enough; check the tracks input or use tracker=whole_frame"
            )
        self._runs, self._windows = runs, windows
        self.steps_per_epoch = math.ceil(len(windows) / cfg.batch_size)
        self.build_model()

    def modules(self) -> dict[str, Any]:
        return {"ncst": self.model} if self.model is not None else {}

    def configure_optimizers(self) -> tuple[Any, Any]:
        """Adamax (lr 1e-4) with cosine annealing to 0 over all steps (spec section 5)."""
        import torch

        opt = torch.optim.Adamax(self.model.parameters(), lr=self.cfg.lr)
        steps = max(1, self.cfg.epochs * getattr(self, "steps_per_epoch", 1))
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)

    def train_batches(self, samples: Sequence[Any], epoch: int, rng: np.random.Generator) -> Iterable[Any]:
        """Shuffled batches of ``batch_size`` windows: (clips in [-1, 1], scene indices)."""
        import torch

        from vadbench.methods.adsm.clips import to_model_range

        order = rng.permutation(len(self._windows))
        n = self.cfg.clip_len
        for b in range(0, len(order), self.cfg.batch_size):
            sel = [self._windows[i] for i in order[b : b + self.cfg.batch_size]]
            x = to_model_range(np.stack([self._runs[r].clip(st, n) for r, st in sel])).to(self.device)
            yield x, torch.tensor([self._runs[r].scene for r, _ in sel], device=self.device)

    def training_step(self, batch: Any) -> Any:
        """Motion-weighted DSM with lambda(sigma) = sigma^2, sigma log-uniform (torch's seeded generator)."""
        from vadbench.methods.adsm.losses import training_loss

        cfg = self.cfg
        x, scene = batch
        return training_loss(
            self.model,
            x,
            scene,
            patch=cfg.patch,
            sigma_min=cfg.sigma_min,
            sigma_max=cfg.sigma_max,
            motion=cfg.motion_weights,
            scene_dropout=cfg.scene_dropout if cfg.scene_condition else 0.0,
            null_scene=self.model.null_scene,
        )

    def on_epoch_end(self, epoch: int) -> None:
        if epoch + 1 >= self.cfg.epochs:  # the crops are not needed after training
            self._runs, self._windows = [], []

    # -- scoring -------------------------------------------------------------------------------------------
    def _score_windows(self, runs: Sequence[ObjectRun], score_batch) -> list[np.ndarray]:
        """Every window of ``runs`` (stride ``test_stride``) through ``score_batch(clips, scene) -> (B, K)``
        in batches of ``infer_batch``; per run, its windows' rows (n_windows, K)."""
        import torch

        from vadbench.methods.adsm.clips import to_model_range

        cfg = self.cfg
        if self.model is None:
            raise RuntimeError("ADSM: fit or load the model before scoring")
        items = [
            (r, int(st)) for r, run in enumerate(runs) for st in run.starts(cfg.clip_len, cfg.test_stride)
        ]
        rows: list[np.ndarray] = []
        self.model.eval()
        with torch.no_grad():
            for b in range(0, len(items), cfg.infer_batch):
                sel = items[b : b + cfg.infer_batch]
                clips = np.stack([runs[r].clip(st, cfg.clip_len) for r, st in sel])
                x = to_model_range(clips).to(self.device)
                scene = torch.tensor([runs[r].scene for r, _ in sel], device=self.device)
                rows.append(score_batch(x, scene).double().cpu().numpy().reshape(len(sel), -1))
        scores = np.concatenate(rows) if rows else np.zeros((0, 1))
        out, k = [], 0
        for run in runs:
            n = len(run.starts(cfg.clip_len, cfg.test_stride))
            out.append(scores[k : k + n])
            k += n
        return out

    def _window_last_frames(self, run: ObjectRun) -> np.ndarray:
        return run.frames[run.starts(self.cfg.clip_len, self.cfg.test_stride) + self.cfg.clip_len - 1]

    def clip_level_scores(
        self, runs: Sequence[ObjectRun], *, video: str = ""
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per run: (last frames of its windows (K,), raw level scores (K, L)) of Algorithm 1."""
        import torch

        from vadbench.methods.adsm.inference import inference_sigmas, level_scores
        from vadbench.methods.adsm.losses import motion_weights

        cfg = self.cfg
        sigmas = inference_sigmas(cfg.levels, cfg.sigma_min, cfg.sigma_max)
        digest = int(hashlib.sha256(f"{self.inference_seed}:{video}".encode()).hexdigest()[:12], 16)
        gen = torch.Generator().manual_seed(digest)

        def batch(x, scene):
            w = motion_weights(x, cfg.patch) if cfg.score_norm == "motion" else None
            return level_scores(
                self.model,
                x,
                scene,
                sigmas,
                autoregressive=cfg.autoregressive,
                appearance_term=cfg.appearance_term,
                weights=w,
                patch=cfg.patch,
                generator=gen,
            )

        scores = self._score_windows(runs, batch)
        return [(self._window_last_frames(run), sc) for run, sc in zip(runs, scores, strict=True)]

    def clip_dsm_losses(self, runs: Sequence[ObjectRun], *, video: str = "") -> list[np.ndarray]:
        """Per run: the training objective of each window (stride ``test_stride``), averaged over the L
        inference noise levels with one noise draw per clip (``x~ = x + sigma_i eps``; patch weights as in
        training). The ``dsm_loss`` indicator and a diagnostic of what the model learned."""
        import torch

        from vadbench.methods.adsm.inference import dsm_loss_scores, inference_sigmas

        cfg = self.cfg
        sigmas = inference_sigmas(cfg.levels, cfg.sigma_min, cfg.sigma_max)
        gen = torch.Generator().manual_seed(
            int(hashlib.sha256(f"dsm:{self.inference_seed}:{video}".encode()).hexdigest()[:12], 16)
        )

        def batch(x, scene):
            return dsm_loss_scores(
                self.model, x, scene, sigmas, patch=cfg.patch, motion=cfg.motion_weights, generator=gen
            )

        return [sc[:, 0] for sc in self._score_windows(runs, batch)]

    def clip_indicator(
        self, runs: Sequence[ObjectRun], *, video: str = ""
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per run: (last frames of its windows (K,), indicator (K, L) or (K, 1)) under ``indicator``."""
        if self.cfg.indicator == "score_psnr":
            return self.clip_level_scores(runs, video=video)
        return [
            (self._window_last_frames(run), loss[:, None])
            for run, loss in zip(runs, self.clip_dsm_losses(runs, video=video), strict=True)
        ]

    def score_outputs(self, sample: Any) -> dict[str, np.ndarray]:
        """``score``: one value in [0, 1] per frame (min-max per video inside the method, spec section 6),
        from the clip indicator chosen by ``indicator`` (the paper's levels, or the one DSM-loss level)."""
        from vadbench.methods.adsm.inference import (
            clip_frame_index,
            fill_leading,
            frame_level_scores,
            video_scores_from_levels,
        )

        cfg = self.cfg
        n_frames = int(sample.n_frames)
        runs = self.object_runs(sample, scene=self.scene_index(sample))
        frames_per_obj, scores_per_obj = [], []
        for run, (last, sc) in zip(runs, self.clip_indicator(runs, video=sample.video), strict=True):
            at = clip_frame_index(last, cfg.clip_frame)
            # frames of the run between scored frames take the last score; the first ones the first score
            run_frames = run.frames if cfg.clip_frame == "last" else run.frames + 1
            idx = np.searchsorted(at, run_frames, side="right") - 1
            frames, vals = run_frames[idx >= 0], sc[idx[idx >= 0]]
            frames, vals = fill_leading(frames, vals, run_frames)
            keep = (frames >= 0) & (frames < n_frames)
            frames_per_obj.append(frames[keep])
            scores_per_obj.append(vals[keep])
        if not any(len(f) for f in frames_per_obj):
            return {"score": np.zeros(n_frames, np.float32)}
        per_frame = frame_level_scores(n_frames, frames_per_obj, scores_per_obj, object_agg=cfg.object_agg)
        final = video_scores_from_levels(
            per_frame,
            segment_len=cfg.segment_len,
            level_weights=cfg.level_weights if cfg.indicator == "score_psnr" else None,
        )
        return {"score": final.astype(np.float32)}

    def score(self, sample: Any) -> np.ndarray:
        return self.score_outputs(sample)[self.headline]

    # -- persistence ---------------------------------------------------------------------------------------
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Build the NCST for the saved scene table (its size is in the weights), then load (strict)."""
        key = "ncst.scene_embed.weight"
        if key not in state:
            raise DataError(f"ADSM weights lack {key!r}: not an ADSM checkpoint")
        if self.model is None or self.model.scene_embed.num_embeddings != state[key].shape[0]:
            self.scenes = [""] * (int(state[key].shape[0]) - 1)  # placeholders until load_extra_state
            self.build_model()
        super().load_state_dict(state)

    def extra_state(self) -> dict[str, Any]:
        return {"scenes": list(self.scenes), "inference_seed": self.inference_seed}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.scenes = [str(s) for s in state.get("scenes", [])]
        self.inference_seed = int(state.get("inference_seed", self.seed))
