"""CBCG as a vadbench method: paired-bag training of :mod:`~vadbench.methods.cbcg.torch_model`, guided scores.

The method is written in the shape of the platform's ``TorchMethod`` (``build`` / ``modules`` /
``configure_optimizers`` / ``train_batches`` / ``training_step`` / ``on_epoch_end``); until that contract is
merged, :meth:`CBCG.fit` runs the same steps in its own short loop.

Example:
    >>> import numpy as np
    >>> from vadbench.methods.base import FeatureSample
    >>> rng = np.random.default_rng(0)
    >>> train = [FeatureSample(f"v{i}", rng.normal(size=(9, 8)).astype(np.float32), i % 2) for i in range(8)]
    >>> m = CBCG({"segments": 4, "batch_size": 2, "epochs": 2, "hidden_dim": 16, "embed_dim": 8}, seed=0)
    >>> m.fit(train).score(FeatureSample("t", np.zeros((7, 8), np.float32))).shape
    (7,)
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import FeatureSample, Method
from vadbench.methods.cbcg.config import Config, make_config

RESUME_FILE = "cbcg-resume.pt"


def _resolve_device(device: str | None) -> str:
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


class CBCG(Method):
    """CBCG (Cao et al., ICME 2023; spec section 5 reconstruction): weakly supervised, snippet features.

    ``score_outputs`` returns ``{"score": guided score, "regression": s, "cluster": g}`` per snippet
    (``cluster`` only with the clustering branch); ``score`` is the guided score (``guidance`` option).
    """

    name = "cbcg"
    aliases = ("clustering-guided",)
    supervision = "weak"
    input_kind = "features"
    unit = "snippet16"
    fidelity = "reconstruction"
    headline = "score"
    Config = Config

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, device: str = "cpu", seed: int = 0
    ) -> None:
        super().__init__(dict(config or {}), device=_resolve_device(device), seed=seed)
        self.cfg: Config = make_config(config)
        self.config = dataclasses.asdict(self.cfg)
        #: Show a progress bar while training (the runner turns it off).
        self.progress = False
        #: Per-epoch mean losses, learning rate and time.
        self.history: list[dict[str, float]] = []
        self.fit_info: dict[str, Any] = {}
        self.model: Any = None
        self.memory: Any = None
        self.in_dim: int | None = None
        self._epoch = 0
        self._data: tuple[np.ndarray, np.ndarray] | None = None
        self._pending: Any = None
        self._last_centres: tuple[Any, Any] | None = None

    # -- TorchMethod-shaped pieces ---------------------------------------------------------------------------
    def build(self, samples: Sequence[FeatureSample]) -> None:
        """Check and resample the training samples (kept for :meth:`train_batches`), then create the network
        and the centre memory for their feature width."""
        self._data = self._training_arrays(list(samples))
        self._digest = None
        self.build_modules(int(self._data[0].shape[-1]))

    def build_modules(self, in_dim: int) -> None:
        """Create the network and the centre memory (seeded by ``seed``) for ``in_dim``-wide features."""
        import torch

        from vadbench.methods.cbcg.torch_model import CBCGModel, CentreMemory

        cfg = self.cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            self.model = CBCGModel(
                in_dim,
                cfg.hidden_dim,
                cfg.head_dim,
                cfg.embed_dim,
                cfg.dropout,
                clustering_branch=cfg.clustering_branch == "on",
            ).to(self.device)
        self.memory = CentreMemory(cfg.embed_dim, cfg.memory, cfg.memory_size, cfg.memory_momentum)
        self.memory.to(self.device)
        self.in_dim = in_dim
        self._pending = None
        self._last_centres = None

    def modules(self) -> dict[str, Any]:
        """What is trained and saved: the network and the memory (its buffers)."""
        return {"model": self.model, "memory": self.memory}

    def configure_optimizers(self) -> tuple[Any, Any]:
        """Adam (lr, weight decay) and cosine decay over the epochs (spec 5.6)."""
        import torch

        opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        sched = (
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.cfg.epochs))
            if self.cfg.scheduler == "cosine"
            else None
        )
        return opt, sched

    def train_batches(self, samples: Sequence[FeatureSample], epoch: int, rng: np.random.Generator) -> list:
        """Paired bags of one epoch: ``(x (2b, S, d), labels (2b,))`` tensors, normal first."""
        import torch

        from vadbench.methods.cbcg.sampling import paired_batches

        x, y = self._data
        return [
            (torch.from_numpy(x[idx]).to(self.device), torch.from_numpy(y[idx]).to(self.device))
            for idx in paired_batches(y, self.cfg.batch_size, rng)
        ]

    def training_step(self, batch: tuple[Any, Any]) -> dict[str, Any]:
        """One step (spec 5.3-5.5): scores, batch clustering, memory centres, losses; then the memory push."""
        from vadbench.methods.cbcg.losses import clustering_loss, guidance_loss, mil_loss, smooth_sparse
        from vadbench.methods.cbcg.torch_model import batch_clustering

        self.flush_memory()
        cfg, (x, labels) = self.cfg, batch
        k = cfg.topk_k
        s, z = self.model(x)
        parts = {"mil": mil_loss(s, labels, k)}
        smooth, sparse = smooth_sparse(s, labels)
        loss = parts["mil"] + cfg.lambda_smooth * smooth + cfg.lambda_sparse * sparse
        parts.update(smooth=smooth, sparse=sparse)
        if z is not None:
            _, mem_a = self.memory.stored()
            clusters = batch_clustering(z, s, labels, k, cfg.kmeans_iters, fallback_abnormal=mem_a)
            c_n, c_a = self.memory.centres(clusters.centre_normal, clusters.centre_abnormal)
            clu = clustering_loss(z, s, labels, clusters, c_n, c_a, k, cfg.margin)
            parts.update(clu)
            loss = loss + cfg.lambda_clu * clu["clu"]
            lam_g = 0.0 if (cfg.guidance == "off" or self._epoch < cfg.warmup_epochs) else cfg.lambda_guide
            if c_a is not None and lam_g > 0:
                parts["guide"] = guidance_loss(s, z, labels, c_n, c_a, cfg.tau_g)
                loss = loss + lam_g * parts["guide"]
            self._pending = clusters
        parts["loss"] = loss
        return parts

    def flush_memory(self) -> None:
        """Store the last step's batch centres in the memory: after its loss and optimiser step (spec 5.4),
        i.e. at the start of the next step or at the end of an epoch."""
        clusters = self._pending
        if clusters is not None:
            self.memory.push(clusters.centre_normal, clusters.centre_abnormal)
            self._last_centres = (clusters.centre_normal.detach(), clusters.centre_abnormal)
            self._pending = None

    def on_epoch_end(self, epoch: int) -> None:
        """Push the epoch's last batch centres into the memory."""
        self.flush_memory()

    # -- data checks -----------------------------------------------------------------------------------------
    def _check(self, sample: FeatureSample, width: int | None) -> np.ndarray:
        feats = np.asarray(sample.features)
        if feats.ndim != 2 or feats.shape[0] == 0:
            raise DataError(
                f"video {sample.video!r} (crop {sample.crop}): CBCG needs features of shape (T, D) "
                f"with T >= 1, found {feats.shape}"
            )
        if width is not None and feats.shape[1] != width:
            where = (
                "the preset's feature_dim" if self.cfg.feature_dim is not None else "the training features"
            )
            raise DataError(
                f"video {sample.video!r} (crop {sample.crop}): CBCG expects {width}-d features ({where}), "
                f"found {feats.shape[1]}-d (shape {feats.shape}); check the feature backbone of the preset"
            )
        if not np.all(np.isfinite(feats)):
            raise DataError(f"video {sample.video!r} (crop {sample.crop}): features contain NaN or inf")
        return feats.astype(np.float32, copy=False)

    def _training_arrays(self, samples: Sequence[FeatureSample]) -> tuple[np.ndarray, np.ndarray]:
        from vadbench.methods.cbcg.sampling import resample_segments

        cfg = self.cfg
        if not samples:
            raise DataError("CBCG.fit got no training samples")
        width = cfg.feature_dim if cfg.feature_dim is not None else int(np.shape(samples[0].features)[-1])
        labels = []
        for s in samples:
            if s.label not in (0, 1):
                raise DataError(
                    f"training video {s.video!r} (crop {s.crop}): label must be 0 or 1, found {s.label!r}"
                )
            labels.append(int(s.label))
        y = np.asarray(labels, dtype=np.int64)
        if cfg.crops is not None:
            per_video: dict[str, set[int]] = {}
            for s in samples:
                per_video.setdefault(s.video, set()).add(int(s.crop))
            bad = {v: sorted(c) for v, c in per_video.items() if len(c) != cfg.crops}
            if bad:
                v, c = next(iter(bad.items()))
                raise DataError(
                    f"CBCG preset expects {cfg.crops} crop(s) per training video; {len(bad)} video(s) "
                    f"differ, e.g. {v!r} has crops {c}; check the feature spec's crops"
                )
        n_normal, n_abnormal = int((y == 0).sum()), int((y == 1).sum())
        if n_abnormal == 0 or n_normal == 0:
            raise DataError(
                f"CBCG trains on paired normal/abnormal bags; the training set has {n_normal} normal and "
                f"{n_abnormal} abnormal samples (a weak split with both labels is needed)"
            )
        if cfg.batch_size > min(n_normal, n_abnormal):
            raise DataError(
                f"CBCG batch_size={cfg.batch_size} (videos per bag) is larger than the training set allows: "
                f"{n_normal} normal and {n_abnormal} abnormal samples; "
                f"set batch_size <= {min(n_normal, n_abnormal)}"
            )
        x = np.stack([resample_segments(self._check(s, width), cfg.segments) for s in samples])
        return x, y

    # -- training loop (until the platform's fit_loop is merged) ---------------------------------------------
    def fit(self, samples: Sequence[FeatureSample]) -> CBCG:
        """Train on weakly labelled feature samples (every crop is its own sample, spec 3)."""
        import torch

        samples = list(samples)
        self.build(samples)
        data = self._data
        opt, sched = self.configure_optimizers()
        rng = np.random.default_rng(int(self.seed))
        start = self._resume(opt, sched, rng)
        t_fit = time.perf_counter()
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(int(self.seed) + 1)  # dropout stream, independent of the caller's global state
        try:
            for epoch in range(start, self.cfg.epochs):
                self._epoch = epoch
                self.model.train()
                t0, sums, n = time.perf_counter(), {}, 0
                for batch in self.train_batches(samples, epoch, rng):
                    parts = self.training_step(batch)
                    opt.zero_grad(set_to_none=True)
                    parts["loss"].backward()
                    opt.step()
                    for key, val in parts.items():
                        sums[key] = sums.get(key, 0.0) + float(val.detach())
                    n += 1
                record = {
                    "epoch": epoch + 1,
                    "steps": n,
                    "lr": opt.param_groups[0]["lr"],
                    "time_s": time.perf_counter() - t0,
                    **{k: v / max(n, 1) for k, v in sums.items()},
                }
                if sched is not None:
                    sched.step()
                self.on_epoch_end(epoch)
                self.history.append(record)
                self._save_resume(epoch + 1, opt, sched, rng)
        finally:
            torch.random.set_rng_state(gen_state)
        self.model.eval()
        self.fit_info = {
            "epochs": self.cfg.epochs,
            "steps_per_epoch": min(int((data[1] == 0).sum()), int((data[1] == 1).sum()))
            // self.cfg.batch_size,
            "fit_s": time.perf_counter() - t_fit,
            "n_samples": len(samples),
            "n_abnormal": int(data[1].sum()),
            "topk": self.cfg.topk_k,
        }
        return self

    def _resume_path(self) -> Path | None:
        return Path(self.work_dir) / RESUME_FILE if self.work_dir is not None else None

    def _fingerprint(self) -> str:
        import hashlib

        if getattr(self, "_digest", None) is None:  # once per fit: the training arrays can be gigabytes
            x, y = self._data if self._data is not None else (np.zeros(0), np.zeros(0))
            h = hashlib.sha256(y.tobytes())
            for row in x:
                h.update(np.ascontiguousarray(row).tobytes())
            self._digest = h.hexdigest()
        return json.dumps({"config": self.config, "seed": self.seed, "data": self._digest}, sort_keys=True)

    def _save_resume(self, epoch: int, opt: Any, sched: Any, rng: np.random.Generator) -> None:
        import torch

        path = self._resume_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "fingerprint": self._fingerprint(),
            "epoch": epoch,
            "weights": self.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else {},
            "rng": json.dumps(rng.bit_generator.state),
            "history": json.dumps(self.history),
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def _resume(self, opt: Any, sched: Any, rng: np.random.Generator) -> int:
        import torch

        path = self._resume_path()
        if path is None or not path.is_file():
            return 0
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state.get("fingerprint") != self._fingerprint():
            return 0
        self.load_state_dict(state["weights"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        rng.bit_generator.state = json.loads(state["rng"])
        self.history = json.loads(state["history"])
        return int(state["epoch"])

    # -- scoring ---------------------------------------------------------------------------------------------
    def inference_centres(self) -> tuple[Any, Any]:
        """The centres frozen at the end of training: the memory's (``memory=off``: the last batch's)."""
        c_n, c_a = self.memory.stored()
        if (c_n is None or c_a is None) and self._last_centres is not None:
            c_n, c_a = self._last_centres
        return c_n, c_a

    def score_outputs(self, sample: FeatureSample) -> dict[str, np.ndarray]:
        """``{"score", "regression", "cluster"}`` for all T snippets of one crop (no resampling, spec 5.7)."""
        import torch

        from vadbench.methods.cbcg.torch_model import cluster_score, guided_score

        if self.model is None:
            raise ConfigError("CBCG.score_outputs called before fit() or load()")
        feats = self._check(sample, self.in_dim)
        self.model.eval()
        with torch.no_grad():
            s, z = self.model(torch.from_numpy(feats)[None].to(self.device))
            out = {"regression": s[0]}
            c_n, c_a = self.inference_centres() if z is not None else (None, None)
            g = cluster_score(z[0], c_n, c_a, self.cfg.tau_g) if c_n is not None and c_a is not None else None
            if g is not None:
                out["cluster"] = g
            out["score"] = guided_score(s[0], g, self.cfg.guidance)
        return {k: v.float().cpu().numpy() for k, v in out.items()}

    def score(self, sample: FeatureSample) -> np.ndarray:
        """One guided score per snippet (``score_outputs(sample)["score"]``)."""
        return self.score_outputs(sample)[self.headline]

    # -- persistence -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Network weights (``model.*``), memory buffers (``memory.*``) and the last batch centres."""
        if self.model is None:
            raise ConfigError("CBCG has no weights before fit()")
        out = {f"model.{k}": v.detach().cpu() for k, v in self.model.state_dict().items()}
        out.update({f"memory.{k}": v.detach().cpu() for k, v in self.memory.state_dict().items()})
        last = self._last_centres
        if last is not None and last[1] is not None:
            out["last_centres"] = torch_stack(last)
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (the feature width is read from the first conv's weight)."""
        import torch

        if "model.conv1.weight" not in state:
            raise ConfigError(f"not CBCG weights: no model.conv1.weight among {sorted(state)[:5]}")
        in_dim = int(state["model.conv1.weight"].shape[1])
        if self.model is None or self.in_dim != in_dim:
            self.build_modules(in_dim)
        model_state = {k[6:]: torch.as_tensor(v) for k, v in state.items() if k.startswith("model.")}
        mem_state = {k[7:]: torch.as_tensor(v) for k, v in state.items() if k.startswith("memory.")}
        try:
            self.model.load_state_dict(model_state)
            self.memory.load_state_dict(mem_state)
        except RuntimeError as err:
            raise ConfigError(f"CBCG weights do not fit this config: {err}") from None
        if "last_centres" in state:
            last = torch.as_tensor(state["last_centres"]).to(self.device)
            self._last_centres = (last[0], last[1])
        self.model.eval()


def torch_stack(pair: tuple[Any, Any]) -> Any:
    """``(c_n, c_a)`` -> a ``(2, e)`` CPU tensor."""
    import torch

    return torch.stack([pair[0].detach().cpu(), pair[1].detach().cpu()])
