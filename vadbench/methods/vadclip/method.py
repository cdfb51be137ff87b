"""VadCLIP as a vadbench :class:`~vadbench.methods.base.Method`: config, training loops, scoring, persistence.

Options and their defaults live in ``methods/vadclip/metafile.yaml`` (``Defaults``: the official UCF-Crime
code configuration; per-dataset presets beside it). Two options of spec section 10 are protocol fields, not
method options: ``test_crop`` is the protocol's ``crops`` (``ucf/vadclip`` = ``crop:5``, ``xd/vadclip`` =
``crop:0``) and ``map_variant`` its ``map``; ``device`` is the method's ``device`` argument.

Test-set checkpoint selection (``checkpoint_selection`` != ``none``, the official behaviour) is only possible
through the runner's hook :attr:`Method.test_evaluator` (set with ``--select-on-test``): the method calls it
(every ``selection_every`` steps in the ``ucf`` loop, after every epoch in the ``xd`` loop), keeps the best
state, reloads it at the end of every epoch, and reports ``selection == "test"``. It never sees the labels.

Example:
    >>> import numpy as np
    >>> from vadbench.methods.base import FeatureSample
    >>> cfg = {"clip_model": "tiny", "clip_pretrained": None, "embed_dim": 64, "classes": "binary",
    ...        "loop": "xd", "batch_size": 4, "epochs": 1, "layers": 1}
    >>> m = VadCLIP(cfg, seed=0)
    >>> m.progress = False
    >>> rng = np.random.default_rng(0)
    >>> feats = [rng.normal(size=(20, 64)).astype(np.float32) for _ in range(4)]
    >>> train = [FeatureSample(f"v{i}", x, i % 2) for i, x in enumerate(feats)]
    >>> m.fit(train).score(FeatureSample("t", np.zeros((300, 64), np.float32))).shape
    (300,)
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import FeatureSample, Method

#: Allowed values of the enumerated options (spec section 10).
CHOICES: dict[str, tuple[Any, ...]] = {
    "loop": ("ucf", "xd"),
    "lr_source": ("code", "paper"),
    "distance_adjacency": ("code", "paper"),
    "window_mode": ("non_overlapping", "overlapping"),
    "gcn": ("code", "paper"),
    "visual_prompt_source": ("logits", "sigmoid"),
    "mask_padding": (False, True),
    "checkpoint_selection": ("none", "test_auc_c", "test_ap_a"),
    "score_branch": ("c", "a", "both"),
    "published_branch": ("c", "a"),
}
#: What each selection option reads from the runner's evaluator: (output key, metric).
SELECTION_METRIC = {"test_auc_c": ("c", "auc_micro"), "test_ap_a": ("a", "ap")}
RESUME_FILE = "vadclip-resume.pt"


def resolve_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """The full config: metafile ``Defaults`` overlaid by ``config``; unknown keys and bad values raise.

    >>> resolve_config({"gcn": "paper"})["gcn"]
    'paper'
    """
    from vadbench.methods.presets import method_defaults

    cfg = method_defaults("vadclip")
    unknown = sorted(set(config or {}) - set(cfg))
    if unknown:
        raise ConfigError(f"unknown VadCLIP option(s) {unknown}; known: {', '.join(sorted(cfg))}")
    cfg.update(copy.deepcopy(dict(config or {})))
    for key, allowed in CHOICES.items():
        if cfg[key] not in allowed:
            raise ConfigError(f"VadCLIP option {key}={cfg[key]!r} is not one of {list(allowed)}")
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
        if (
            not isinstance(cfg[key], int)
            or isinstance(cfg[key], bool)
            or cfg[key] < (0 if key == "epochs" else 1)
        ):
            raise ConfigError(f"VadCLIP option {key} must be a positive integer, got {cfg[key]!r}")
    if cfg["embed_dim"] is not None and (not isinstance(cfg["embed_dim"], int) or cfg["embed_dim"] < 2):
        raise ConfigError(
            f"VadCLIP option embed_dim must be an integer >= 2 or null, got {cfg['embed_dim']!r}"
        )
    if cfg["lr"] is None and cfg["lr_source"] not in (cfg["lr_by_source"] or {}):
        raise ConfigError(
            f"lr_source={cfg['lr_source']!r} has no entry in lr_by_source {cfg['lr_by_source']}"
        )
    return cfg


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
        clip, _, tokenizer = load_clip(cfg["clip_model"], cfg["clip_pretrained"], "cpu", seed)
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


def _resolve_device(device: str) -> str:
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


class VadCLIP(Method):
    """VadCLIP (Wu et al., AAAI 2024): weakly supervised, on frozen CLIP snippet features.

    ``score`` returns the branch of ``score_branch`` (``both``: the preset's ``published_branch``);
    ``score_outputs`` returns ``{"c": sigmoid confidence, "a": 1 - P(normal), "probs": (T, C) softmax}``.
    """

    name = "vadclip"
    supervision = "weak"
    input_kind = "features"
    unit = "snippet16"

    def __init__(self, config: dict[str, Any] | None = None, *, device: str = "cpu", seed: int = 0) -> None:
        super().__init__(config, device=_resolve_device(device), seed=seed)
        self.config = resolve_config(config)
        #: Show a progress bar while training (the runner turns it off with ``progress=False``).
        self.progress = True
        #: Per-epoch losses, learning rate, time; selection results when used.
        self.history: list[dict[str, float]] = []
        self.fit_info: dict[str, Any] = {}
        self.model: Any = None
        self._version = 0
        self._text_cache: tuple[int, Any] | None = None
        self._out_cache: tuple[tuple, dict[str, np.ndarray]] | None = None

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
        self._version += 1
        self._text_cache = None
        self._out_cache = None

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

    # -- training --------------------------------------------------------------------------------------------
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

    def _fingerprint(self, samples: Sequence[FeatureSample], labels: np.ndarray) -> str:
        desc = json.dumps(
            {
                "config": self.config,
                "seed": self.seed,
                "samples": [[s.video, int(s.crop), list(np.shape(s.features))] for s in samples],
                "labels": labels.tolist(),
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(desc.encode()).hexdigest()

    def _trainable_state(self) -> dict[str, Any]:
        trainable = {n for n, p in self.model.named_parameters() if p.requires_grad}
        return {k: v.detach().clone() for k, v in self.model.state_dict().items() if k in trainable}

    def _select(self, best: dict[str, Any]) -> None:
        """Evaluate on the test set through the runner's hook and keep the best state (official selection)."""
        key, metric = SELECTION_METRIC[self.config["checkpoint_selection"]]
        self._changed()
        results = self.test_evaluator()  # type: ignore[misc]
        if key not in results or metric not in results[key]:
            raise ConfigError(
                f"checkpoint_selection={self.config['checkpoint_selection']}: the test evaluator "
                f"returned no {key}/{metric} (got {sorted(results)})"
            )
        value = float(results[key][metric])
        best["n_evaluations"] += 1
        if value > best["metric"]:  # official: strictly better (AP > ap_best, ap_best starting at 0)
            best["metric"], best["state"] = value, self._trainable_state()
        self.model.train()

    def fit(self, samples: Sequence[FeatureSample]) -> VadCLIP:
        """Train on weakly labelled feature samples (every crop is an independent sample, as in the code)."""
        import torch

        from vadbench.methods.vadclip.classes import label_matrix
        from vadbench.methods.vadclip.lengths import process_batch
        from vadbench.methods.vadclip.losses import vadclip_loss

        cfg = self.config
        samples = list(samples)
        if not samples:
            raise DataError("VadCLIP.fit got no training samples")
        if cfg["checkpoint_selection"] != "none" and self.test_evaluator is None:
            raise ConfigError(
                f"checkpoint_selection={cfg['checkpoint_selection']!r} selects on the test set and "
                f"needs the runner's test evaluator (run with --select-on-test), or set it to 'none'"
            )
        model = self._ensure_model()
        feats = [self._check_features(s) for s in samples]
        labels_np = label_matrix(
            [(s.label, s.classes) for s in samples], self.class_names, [s.video for s in samples]
        )
        normal = labels_np[:, 0] > 0
        if cfg["loop"] == "ucf" and (
            normal.sum() < cfg["batch_normal"] or (~normal).sum() < cfg["batch_abnormal"]
        ):
            raise DataError(
                f"loop=ucf needs at least batch_normal={cfg['batch_normal']} normal and batch_abnormal="
                f"{cfg['batch_abnormal']} abnormal training samples; found {int(normal.sum())} normal "
                f"and {int((~normal).sum())} abnormal (use smaller batches or loop=xd)"
            )
        labels = torch.from_numpy(labels_np).to(self.device)
        opt = torch.optim.AdamW(
            model.trainable_parameters(), lr=learning_rate(cfg), weight_decay=float(cfg["weight_decay"])
        )
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg["milestones"]), float(cfg["gamma"]))
        gen = torch.Generator().manual_seed(int(self.seed))
        best: dict[str, Any] = {"metric": float("-inf"), "state": None, "n_evaluations": 0}
        fingerprint = self._fingerprint(samples, labels_np)
        start, self.history = self._resume(fingerprint, opt, sched, gen, best)
        selecting = cfg["checkpoint_selection"] != "none"
        t_fit = time.perf_counter()
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        n_steps = len(self._batches(normal, torch.Generator().manual_seed(0)))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=True, disable=not self.progress) as bar:
            task = bar.add_task("vadclip", total=max(0, cfg["epochs"] - start) * n_steps)
            for epoch in range(start, cfg["epochs"]):
                model.train()
                t0, sums, n = time.perf_counter(), {"loss": 0.0, "bce": 0.0, "nce": 0.0, "cts": 0.0}, 0
                for i, idx in enumerate(self._batches(normal, gen)):
                    x, lens = process_batch(
                        [feats[j] for j in idx], cfg["visual_length"], [samples[j].video for j in idx]
                    )
                    x_t, lens_t = torch.from_numpy(x).to(self.device), torch.from_numpy(lens).to(self.device)
                    t_ori, logits1, logits2 = model(x_t, lens_t)
                    parts = vadclip_loss(
                        t_ori,
                        logits1,
                        logits2,
                        labels[torch.from_numpy(idx).to(self.device)],
                        lens_t,
                        float(cfg["lambda_cts"]),
                    )
                    opt.zero_grad(set_to_none=True)
                    parts["loss"].backward()
                    opt.step()
                    self._changed()
                    for k in sums:
                        sums[k] += float(parts[k].detach())
                    n += 1
                    bar.update(
                        task,
                        advance=1,
                        description=f"vadclip epoch {epoch + 1}/{cfg['epochs']} "
                        f"loss {float(parts['loss'].detach()):.4f}",
                    )
                    if selecting and cfg["loop"] == "ucf" and i % cfg["selection_every"] == 0 and i != 0:
                        self._select(best)
                lr_used = opt.param_groups[0]["lr"]
                sched.step()
                if selecting and cfg["loop"] == "xd":
                    self._select(best)
                if selecting and best["state"] is not None:  # official: reload the best at every epoch end
                    model.load_state_dict(best["state"], strict=False)
                    self._changed()
                record = {
                    "epoch": epoch + 1,
                    "steps": n,
                    "lr": lr_used,
                    "time_s": time.perf_counter() - t0,
                    **{k: v / max(n, 1) for k, v in sums.items()},
                }
                if selecting:
                    record["best_selection_metric"] = best["metric"]
                self.history.append(record)
                self._save_resume(fingerprint, epoch + 1, opt, sched, gen, best)
        self.fit_info = {
            "selection": self.selection,
            "epochs": cfg["epochs"],
            "steps_per_epoch": n_steps,
            "lr": learning_rate(cfg),
            "fit_s": time.perf_counter() - t_fit,
            "n_samples": len(samples),
            "n_normal": int(normal.sum()),
        }
        if selecting:
            self.fit_info.update(
                best_selection_metric=best["metric"],
                n_evaluations=best["n_evaluations"],
                selection_metric=SELECTION_METRIC[cfg["checkpoint_selection"]],
            )
        model.eval()
        self._changed()
        return self

    # -- resumable training state (runner's work_dir) --------------------------------------------------------
    def _resume_path(self) -> Path | None:
        return Path(self.work_dir) / RESUME_FILE if self.work_dir is not None else None

    def _save_resume(self, fingerprint: str, epoch: int, opt: Any, sched: Any, gen: Any, best: dict) -> None:
        import torch

        path = self._resume_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "fingerprint": fingerprint,
            "epoch": epoch,
            "model": self._trainable_state(),
            "optimizer": opt.state_dict(),
            "scheduler_last_epoch": int(sched.last_epoch),
            "generator": gen.get_state(),
            "best_metric": float(best["metric"]),
            "best_state": best["state"],
            "n_evaluations": int(best["n_evaluations"]),
            "history": json.dumps(self.history),
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def _resume(
        self, fingerprint: str, opt: Any, sched: Any, gen: Any, best: dict
    ) -> tuple[int, list[dict[str, float]]]:
        import torch

        path = self._resume_path()
        if path is None or not path.is_file():
            return 0, []
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state.get("fingerprint") != fingerprint:
            return 0, []
        self.model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        sched.last_epoch = int(state["scheduler_last_epoch"])
        gen.set_state(state["generator"])
        best.update(
            metric=float(state["best_metric"]),
            state=state["best_state"],
            n_evaluations=int(state["n_evaluations"]),
        )
        self._changed()
        return int(state["epoch"]), json.loads(state["history"])

    # -- scoring ---------------------------------------------------------------------------------------------
    def _text_features(self) -> Any:
        import torch

        if self._text_cache is None or self._text_cache[0] != self._version:
            with torch.no_grad():
                self._text_cache = (self._version, self.model.encode_text())
        return self._text_cache[1]

    def score_outputs(self, sample: FeatureSample) -> dict[str, np.ndarray]:
        """``{"c": (T,), "a": (T,), "probs": (T, C)}`` for one video (chunks of ``visual_length``, spec 4)."""
        import torch

        from vadbench.methods.vadclip.lengths import process_split

        feats = self._check_features(sample)
        key = (
            self._version,
            sample.video,
            sample.crop,
            feats.shape,
            feats.__array_interface__["data"][0],
            float(feats[:: max(1, feats.shape[0] // 7)].sum()),
        )
        if self._out_cache is not None and self._out_cache[0] == key:
            return self._out_cache[1]
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
        out = {
            "c": torch.sigmoid(logits1).cpu().numpy(),
            "a": (1 - probs[:, 0]).cpu().numpy(),
            "probs": probs.cpu().numpy(),
        }
        self._out_cache = (key, out)
        return out

    def score(self, sample: FeatureSample) -> np.ndarray:
        """One score per snippet: the ``score_branch`` (``both`` -> ``published_branch``)."""
        branch = self.config["score_branch"]
        return self.score_outputs(sample)[
            "c" if branch == "c" else "a" if branch == "a" else self.config["published_branch"]
        ]

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
        self.model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=False)
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
