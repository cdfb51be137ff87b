"""VadCLIP as a vadbench :class:`~vadbench.methods.base.Method`: config, training step, scoring, persistence.

Options and their defaults live in :class:`VadCLIPConfig` (the official UCF-Crime code configuration, spec
sections 5-7 and 10); the per-dataset presets of ``metafile.yaml`` (beside this module) hold the differences.
Two options of spec section 10 are protocol fields, not method options: ``test_crop`` is the protocol's
``crops`` (``ucf/vadclip`` = ``crop:5``, ``xd/vadclip`` = ``crop:0``) and ``map_variant`` its ``map``;
``device`` is the method's ``device`` argument.

Training runs on the shared loop (:func:`vadbench.methods.training.fit_loop`): this module gives the batches
(the official ``ucf`` / ``xd`` loaders) and the loss. Test-set checkpoint selection (``checkpoint_selection``
!= ``none``, the official behaviour) is only possible through the runner's hook (``--select-on-test``): the
loop evaluates every ``selection_every`` steps in the ``ucf`` loop (after every epoch in the ``xd`` loop),
keeps the best state, reloads it at the end of every epoch, and the row records ``selection=test``.

Example:
    >>> import numpy as np
    >>> from vadbench.methods.base import FeatureSample
    >>> cfg = {"clip_model": "tiny", "clip_pretrained": None, "embed_dim": 64, "classes": "binary",
    ...        "loop": "xd", "batch_size": 4, "epochs": 1, "layers": 1}
    >>> m = VadCLIP(cfg, seed=0)
    >>> m.progress = False
    >>> rng = np.random.default_rng(0)
    >>> feats = [rng.normal(size=(20, 64)).astype(np.float32) for _ in range(4)]
    >>> train = [FeatureSample(f"v{i}", x, label=i % 2, classes=("abnormal",) * (i % 2))
    ...          for i, x in enumerate(feats)]
    >>> m.fit(train).score(FeatureSample("t", np.zeros((300, 64), np.float32))).shape
    (300,)
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import FeatureSample, config_dict, validate_config
from vadbench.methods.training import TorchMethod

#: What each selection option reads from the runner's evaluator: (output key, metric).
SELECTION_METRIC = {"test_auc_c": ("c", "auc_micro"), "test_ap_a": ("a", "ap")}


@dataclass(frozen=True)
class VadCLIPConfig:
    """Every VadCLIP option with its default: the official UCF-Crime code configuration."""

    classes: str | tuple[str, ...] = "ucf-crime"  # class list name (classes.py) or explicit, normal first
    loop: Literal["ucf", "xd"] = "ucf"  # ucf: 64 normal + 64 abnormal per step, drop_last; xd: one loader
    batch_normal: int = 64
    batch_abnormal: int = 64
    batch_size: int = 96  # loop=xd only
    epochs: int = 10  # paper: XD-Violence 20
    lr: float | None = None  # explicit rate; None -> lr_by_source[lr_source]
    lr_source: Literal["code", "paper"] = "code"  # paper swaps the UCF / XD rates
    lr_by_source: dict[str, float] = field(default_factory=lambda: {"code": 2.0e-5, "paper": 1.0e-5})
    weight_decay: float = 0.01  # torch AdamW default, as the code
    milestones: tuple[int, ...] = (4, 8)  # MultiStepLR, stepped per epoch
    gamma: float = 0.1
    lambda_cts: float = 0.1
    tau: float = 0.07
    visual_length: int = 256
    embed_dim: int | None = 512  # D; must equal the CLIP text projection output (None: take it from CLIP)
    layers: int = 2
    heads: int = 1
    window: int = 8
    prompt_prefix: int = 10
    prompt_postfix: int = 10
    sim_threshold: float = 0.7
    clip_model: str = "ViT-B-16"
    clip_pretrained: str | None = "openai"
    clip_quick_gelu: bool | None = None  # activation for a local CLIP checkpoint (None: the tag's / file's)
    distance_adjacency: Literal["code", "paper"] = "code"  # code: exp(-|i-j|/e); paper: softmax, sigma=1
    window_mode: Literal["non_overlapping", "overlapping"] = "non_overlapping"  # overlapping: reconstruction
    gcn: Literal["code", "paper"] = "code"  # code: two 2-layer paths + linear; paper: one concatenated layer
    visual_prompt_source: Literal["logits", "sigmoid"] = "logits"  # logits (code) | sigmoid (paper)
    mask_padding: bool = False  # true masks the transformer keys, distance graph and visual prompt
    checkpoint_selection: Literal["none", "test_auc_c", "test_ap_a"] = "none"  # needs --select-on-test
    selection_every: int = 10  # loop=ucf: steps between test evaluations when selecting on test
    score_branch: Literal["c", "a", "both"] = "both"  # both: score() returns published_branch
    published_branch: Literal["c", "a"] = "c"  # the branch the paper reports for this dataset

    def __post_init__(self) -> None:
        for key in (
            "epochs",
            "batch_normal",
            "batch_abnormal",
            "batch_size",
            "visual_length",
            "layers",
            "heads",
            "window",
            "prompt_prefix",
            "prompt_postfix",
            "selection_every",
        ):
            if getattr(self, key) < (0 if key == "epochs" else 1):
                raise ConfigError(
                    f"VadCLIP option {key} must be a positive integer, got {getattr(self, key)!r}"
                )
        if self.embed_dim is not None and self.embed_dim < 2:
            raise ConfigError(
                f"VadCLIP option embed_dim must be an integer >= 2 or null, got {self.embed_dim!r}"
            )
        if self.lr is None and self.lr_source not in (self.lr_by_source or {}):
            raise ConfigError(
                f"lr_source={self.lr_source!r} has no entry in lr_by_source {self.lr_by_source}"
            )


def resolve_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """The full config as plain values: :class:`VadCLIPConfig` defaults overlaid by ``config`` (validated).

    >>> resolve_config({"gcn": "paper"})["gcn"]
    'paper'
    """
    return config_dict(validate_config(VadCLIPConfig, config, "vadclip"))


def learning_rate(cfg: dict[str, Any]) -> float:
    """``lr`` when given, else ``lr_by_source[lr_source]`` (code: UCF 2e-5 / XD 1e-5; paper: swapped)."""
    return float(cfg["lr"] if cfg["lr"] is not None else cfg["lr_by_source"][cfg["lr_source"]])


def build_model(cfg: dict[str, Any], device: str = "cpu", seed: int = 0) -> Any:
    """A :class:`VadCLIPModel` for a resolved config: the frozen CLIP text tower comes from
    :func:`vadbench.backbones.clip.load_clip`; our layers are initialised from ``seed``."""
    import torch

    from vadbench.backbones.clip import load_clip
    from vadbench.methods.vadclip.classes import resolve_class_list
    from vadbench.methods.vadclip.torch_model import VadCLIPModel

    names = resolve_class_list(cfg["classes"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clip, _, tokenizer = load_clip(
            cfg["clip_model"], cfg["clip_pretrained"], "cpu", seed, quick_gelu=cfg.get("clip_quick_gelu")
        )
        tokens = tokenizer(list(names))
        out_dim = _projection_dim(clip)
        model = VadCLIPModel(
            clip,
            tokens,
            embed_dim=int(cfg["embed_dim"] or out_dim),
            length=cfg["visual_length"],
            layers=cfg["layers"],
            heads=cfg["heads"],
            window=cfg["window"],
            prompt_prefix=cfg["prompt_prefix"],
            prompt_postfix=cfg["prompt_postfix"],
            window_mode=cfg["window_mode"],
            distance_adjacency=cfg["distance_adjacency"],
            gcn=cfg["gcn"],
            visual_prompt_source=cfg["visual_prompt_source"],
            mask_padding=bool(cfg["mask_padding"]),
            sim_threshold=float(cfg["sim_threshold"]),
            tau=float(cfg["tau"]),
            class_names=names,
        )
    return model.to(device)


def _projection_dim(clip: Any) -> int:
    p = getattr(clip, "text_projection", None)
    if p is None:
        return int(clip.token_embedding.weight.shape[1])
    return int(p.out_features if hasattr(p, "out_features") else p.shape[1])


class VadCLIP(TorchMethod):
    """VadCLIP (Wu et al., AAAI 2024): weakly supervised, on frozen CLIP snippet features.

    ``score_outputs`` returns ``{"c": sigmoid confidence, "a": 1 - P(normal), "probs": (T, C) softmax}``;
    the headline (``score``) is the branch of ``score_branch`` (``both``: the preset's ``published_branch``).
    """

    name = "vadclip"
    supervision = "weak"
    input_kind = "features"
    unit = "snippet16"
    fidelity = "code"
    Config = VadCLIPConfig
    selection_reload_each_epoch = True  # official: reload the best state at every epoch end

    def __init__(self, config: dict[str, Any] | None = None, *, device: str = "cpu", seed: int = 0) -> None:
        super().__init__(config, device=device, seed=seed)
        self.fit_info: dict[str, Any] = {}
        self.model: Any = None
        self._text_cache: Any = None
        self._gen: Any = None
        self.steps_per_epoch: int | None = None
        branch = self.cfg.score_branch
        self.headline = self.cfg.published_branch if branch == "both" else branch

    @classmethod
    def contract_config(cls) -> dict[str, Any]:
        """A tiny random CLIP (64-d) and one short mixed loader: seconds on a CPU."""
        return {
            "clip_model": "tiny",
            "clip_pretrained": None,
            "embed_dim": 64,
            "classes": "binary",
            "loop": "xd",
            "batch_size": 4,
            "epochs": 2,
            "lr": 1.0e-3,
            "layers": 1,
            "visual_length": 32,
        }

    @classmethod
    def default_inputs(cls, cfg: Any) -> dict[str, dict[str, Any]]:
        """Features of the CLIP image tower that matches the text tower (``clip_model`` /
        ``clip_pretrained``), 16-frame snippets averaged, as the official features (the crops follow the
        protocol's crop rule: 10 for UCF-Crime, 5 for XD-Violence)."""
        return {"features": {"backbone": cfg.clip_model, "pretrained": cfg.clip_pretrained, "snippet": 16,
                             "reduce": "mean", "quick_gelu": cfg.clip_quick_gelu}}

    # -- properties ------------------------------------------------------------------------------------------
    @property
    def selection(self) -> str:
        """``test`` when the checkpoint is chosen on the test set (:attr:`test_evaluator`), else ``none``."""
        return "none" if self.config["checkpoint_selection"] == "none" else "test"

    @property
    def class_names(self) -> tuple[str, ...]:
        from vadbench.methods.vadclip.classes import resolve_class_list

        return resolve_class_list(self.config["classes"])

    def _ensure_model(self) -> Any:
        if self.model is None:
            self.model = build_model(self.config, self.device, self.seed)
            self._changed()
        return self.model

    def _changed(self) -> None:
        self._text_cache = None

    def _check_features(self, sample: FeatureSample) -> np.ndarray:
        feats = np.asarray(sample.features)
        dim = self._ensure_model().embed_dim
        if feats.ndim != 2 or feats.shape[0] == 0 or feats.shape[1] != dim:
            raise DataError(
                f"video {sample.video!r} (crop {sample.crop}): VadCLIP needs features of shape (T, "
                f"{dim}) with T >= 1 (embed_dim, from the CLIP text projection), found {feats.shape}"
            )
        if not np.all(np.isfinite(feats)):
            raise DataError(f"video {sample.video!r} (crop {sample.crop}): features contain NaN or inf")
        return feats.astype(np.float32, copy=False)

    # -- training (the shared loop calls these) --------------------------------------------------------------
    def _batches(self, normal: np.ndarray, gen: Any) -> list[np.ndarray]:
        """Index batches of one epoch: ``ucf`` = shuffled normal + shuffled abnormal, drop_last, normal first;
        ``xd`` = one shuffled loader, no drop_last."""
        import torch

        cfg = self.config
        if cfg["loop"] == "xd":
            perm = torch.randperm(len(normal), generator=gen).numpy()
            bs = cfg["batch_size"]
            return [perm[i : i + bs] for i in range(0, len(perm), bs)]
        idx_n, idx_a = np.flatnonzero(normal), np.flatnonzero(~normal)
        perm_n = idx_n[torch.randperm(len(idx_n), generator=gen).numpy()]
        perm_a = idx_a[torch.randperm(len(idx_a), generator=gen).numpy()]
        bn, ba = cfg["batch_normal"], cfg["batch_abnormal"]
        steps = min(len(perm_n) // bn, len(perm_a) // ba)
        return [
            np.concatenate([perm_n[i * bn : (i + 1) * bn], perm_a[i * ba : (i + 1) * ba]])
            for i in range(steps)
        ]

    def build(self, samples: Sequence[FeatureSample]) -> None:
        """The model, the checked features, the label matrix and the loader's generator (seeded)."""
        import torch

        from vadbench.methods.vadclip.classes import label_matrix

        cfg = self.config
        self._ensure_model()
        self._feats = [self._check_features(s) for s in samples]
        labels_np = label_matrix(
            [(s.label, s.classes) for s in samples], self.class_names, [s.video for s in samples]
        )
        self._normal = labels_np[:, 0] > 0
        if cfg["loop"] == "ucf" and (
            self._normal.sum() < cfg["batch_normal"] or (~self._normal).sum() < cfg["batch_abnormal"]
        ):
            raise DataError(
                f"loop=ucf needs at least batch_normal={cfg['batch_normal']} normal and batch_abnormal="
                f"{cfg['batch_abnormal']} abnormal training samples; found {int(self._normal.sum())} normal "
                f"and {int((~self._normal).sum())} abnormal (use smaller batches or loop=xd)"
            )
        self._labels = torch.from_numpy(labels_np).to(self.device)
        self._gen = torch.Generator().manual_seed(int(self.seed))
        self.steps_per_epoch = len(self._batches(self._normal, torch.Generator().manual_seed(0)))
        self.selection_every_steps = cfg["selection_every"] if cfg["loop"] == "ucf" else 0

    def modules(self) -> dict[str, Any]:
        return {"model": self.model} if self.model is not None else {}

    def train_mode(self, training: bool) -> None:
        self._ensure_model().train(training)
        self._changed()

    def configure_optimizers(self) -> tuple[Any, Any]:
        import torch

        cfg = self.config
        opt = torch.optim.AdamW(
            self.model.trainable_parameters(), lr=learning_rate(cfg), weight_decay=float(cfg["weight_decay"])
        )
        return opt, torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg["milestones"]), float(cfg["gamma"]))

    def train_batches(self, samples: Sequence[FeatureSample], epoch: int, rng: Any) -> Iterator[Any]:
        """The official loaders, drawn with VadCLIP's own torch generator (seeded once per fit)."""
        import torch

        from vadbench.methods.vadclip.lengths import process_batch

        for idx in self._batches(self._normal, self._gen):
            x, lens = process_batch(
                [self._feats[j] for j in idx], self.config["visual_length"], [samples[j].video for j in idx]
            )
            yield (
                torch.from_numpy(x).to(self.device),
                torch.from_numpy(lens).to(self.device),
                self._labels[torch.from_numpy(idx).to(self.device)],
            )

    def training_step(self, batch: Any) -> dict[str, Any]:
        from vadbench.methods.vadclip.losses import vadclip_loss

        x_t, lens_t, labels = batch
        t_ori, logits1, logits2 = self.model(x_t, lens_t)
        return vadclip_loss(t_ori, logits1, logits2, labels, lens_t, float(self.config["lambda_cts"]))

    def selection_metric(self) -> tuple[str, str] | None:
        return SELECTION_METRIC.get(self.config["checkpoint_selection"])

    def resume_state(self) -> dict[str, Any]:
        return {"generator": self._gen.get_state()}

    def load_resume_state(self, state: dict[str, Any]) -> None:
        self._gen.set_state(state["generator"])

    def fit(self, samples: Sequence[FeatureSample]) -> VadCLIP:
        """Train on weakly labelled feature samples (every crop is an independent sample, as in the code)."""
        if not list(samples):
            raise DataError("VadCLIP.fit got no training samples")
        super().fit(samples)
        self.fit_info.update(
            steps_per_epoch=self.steps_per_epoch,
            lr=learning_rate(self.config),
            n_normal=int(self._normal.sum()),
        )
        self._feats = []
        return self

    # -- scoring ---------------------------------------------------------------------------------------------
    def _text_features(self) -> Any:
        import torch

        if self._text_cache is None:
            with torch.no_grad():
                self._text_cache = self.model.encode_text()
        return self._text_cache

    def score_outputs(self, sample: FeatureSample) -> dict[str, np.ndarray]:
        """``{"c": (T,), "a": (T,), "probs": (T, C)}`` for one video (chunks of ``visual_length``, spec 4)."""
        import torch

        from vadbench.methods.vadclip.lengths import process_split

        feats = self._check_features(sample)
        model = self.model
        model.eval()
        chunks, lengths = process_split(feats, self.config["visual_length"], sample.video)
        with torch.no_grad():
            _, logits1, logits2 = model(
                torch.from_numpy(chunks).to(self.device),
                torch.from_numpy(lengths).to(self.device),
                self._text_features(),
            )
        n = feats.shape[0]
        logits1 = logits1.reshape(-1)[:n]
        probs = torch.softmax(logits2.reshape(-1, logits2.shape[-1])[:n], dim=-1)
        return {
            "c": torch.sigmoid(logits1).cpu().numpy(),
            "a": (1 - probs[:, 0]).cpu().numpy(),
            "probs": probs.cpu().numpy(),
        }

    # -- persistence -----------------------------------------------------------------------------------------
    def _persisted_keys(self) -> set[str]:
        keep_clip = self.config["clip_pretrained"] is None  # random CLIP weights cannot be reloaded by name
        return {k for k in self._ensure_model().state_dict() if keep_clip or not k.startswith("clipmodel.")}

    def state_dict(self) -> dict[str, Any]:
        """The trained weights (+ the CLIP text tower when it is random, i.e. ``clip_pretrained: null``)."""
        keys = self._persisted_keys()
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items() if k in keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; missing or unexpected keys raise :class:`ConfigError`."""
        import torch

        want = self._persisted_keys()
        missing, unexpected = sorted(want - set(state)), sorted(set(state) - set(self.model.state_dict()))
        if missing or unexpected:
            raise ConfigError(
                f"VadCLIP weights do not fit this config: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        self.model.load_state_dict(
            {k: torch.as_tensor(v).to(self.device) for k, v in state.items()}, strict=False
        )
        self.model.eval()
        self._changed()

    def load_official(self, path: str | os.PathLike[str]) -> VadCLIP:
        """Load an official checkpoint (``model_ucf.pth`` / ``model_xd.pth``, read with weights_only=True)."""
        import torch

        from vadbench.methods.vadclip.torch_model import official_state_dict

        state = torch.load(str(path), map_location="cpu", weights_only=True)
        state = official_state_dict(state.get("model_state_dict", state))
        ours = {k for k in self._ensure_model().state_dict() if not k.startswith("clipmodel.")}
        missing, unexpected = sorted(ours - set(state)), sorted(set(state) - ours)
        if missing or unexpected:
            raise DataError(
                f"{path}: not a VadCLIP checkpoint for this config; missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
        self.model.load_state_dict(state, strict=False)
        self.model.eval()
        self._changed()
        return self


def lr_at_epoch(cfg: dict[str, Any], epoch: int) -> float:
    """The MultiStepLR rate used during ``epoch`` (0-based): ``lr * gamma ** #milestones <= epoch``.

    >>> cfg = {"lr": 1.0, "lr_source": "code", "lr_by_source": {}, "milestones": [4, 8], "gamma": 0.1}
    >>> lr_at_epoch(cfg, 4)
    0.1
    """
    return learning_rate(cfg) * float(cfg["gamma"]) ** bisect.bisect_right(sorted(cfg["milestones"]), epoch)
