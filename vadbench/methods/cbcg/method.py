"""CBCG as a vadbench method: paired-bag training of :mod:`~vadbench.methods.cbcg.torch_model`, guided scores.

A :class:`~vadbench.methods.training.TorchMethod`: the platform's ``fit_loop`` owns epochs, seeding, progress,
history and resumable checkpoints; this module writes the step (spec 5.3-5.5) and the scoring (5.7).

Example:
    >>> import numpy as np
    >>> from vadbench.methods.base import FeatureSample
    >>> rng = np.random.default_rng(0)
    >>> train = [FeatureSample(f"v{i}", rng.normal(size=(9, 8)).astype(np.float32), label=i % 2)
    ...          for i in range(8)]
    >>> m = CBCG({"segments": 4, "batch_size": 2, "epochs": 2, "hidden_dim": 16, "embed_dim": 8}, seed=0)
    >>> m.progress = False
    >>> m.fit(train).score(FeatureSample("t", np.zeros((7, 8), np.float32))).shape
    (7,)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import FeatureSample
from vadbench.methods.cbcg.config import Config
from vadbench.methods.training import TorchMethod


class CBCG(TorchMethod):
    """CBCG (Cao et al., ICME 2023; spec section 5 reconstruction): weakly supervised, snippet features.

    ``score_outputs`` returns ``{"score": guided score, "regression": s, "cluster": g}`` per snippet
    (``cluster`` only with the clustering branch); the headline ``score`` follows the ``guidance`` option.
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
        super().__init__(config, device=device, seed=seed)
        self.cfg: Config
        self.fit_info: dict[str, Any] = {}
        self.model: Any = None
        self.memory: Any = None
        self.in_dim: int | None = None
        self.steps_per_epoch: int | None = None
        self._epoch = 0
        self._data: tuple[np.ndarray, np.ndarray] | None = None
        self._pending: Any = None
        self._last_centres: tuple[Any, Any] | None = None

    @classmethod
    def contract_config(cls) -> dict[str, Any]:
        """Small sizes for the contract test (tiny synthetic set: b = 2, S = 4, 2 epochs)."""
        return {
            "segments": 4,
            "batch_size": 2,
            "epochs": 2,
            "hidden_dim": 32,
            "head_dim": 16,
            "embed_dim": 16,
        }

    # -- TorchMethod ---------------------------------------------------------------------------------------
    def build(self, samples: Sequence[FeatureSample]) -> None:
        """Check and resample the training samples (kept for :meth:`train_batches`), then create the network
        and the centre memory for their feature width."""
        self._data = self._training_arrays(list(samples))
        y = self._data[1]
        self.steps_per_epoch = min(int((y == 0).sum()), int((y == 1).sum())) // self.cfg.batch_size
        self.build_modules(int(self._data[0].shape[-1]))

    def build_modules(self, in_dim: int) -> None:
        """Create the network and the centre memory (seeded by ``seed``) for ``in_dim``-wide features."""
        import torch

        from vadbench.methods.cbcg.torch_model import CBCGModel, CentreMemory

        cfg = self.cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = CBCGModel(
                in_dim,
                cfg.hidden_dim,
                cfg.head_dim,
                cfg.embed_dim,
                cfg.dropout,
                clustering_branch=cfg.clustering_branch == "on",
                padding_mode=cfg.conv_padding,
                centring=cfg.embed_centring,
            ).to(self.device)
        self.memory = CentreMemory(cfg.embed_dim, cfg.memory, cfg.memory_size, cfg.memory_momentum)
        self.memory.to(self.device)
        self.in_dim = in_dim
        self._pending = None
        self._last_centres = None

    def modules(self) -> dict[str, Any]:
        """What is trained and saved: the network and the memory (its buffers)."""
        if self.model is None:
            return {}
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

        self._epoch = epoch
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

    def fit(self, samples: Sequence[FeatureSample]) -> CBCG:
        """Train on weakly labelled feature samples (every crop is its own sample, spec 3): ``build``, then
        the platform's ``fit_loop``."""
        super().fit(samples)
        self.flush_memory()
        self.fit_info.update(
            steps_per_epoch=self.steps_per_epoch, n_abnormal=int(self._data[1].sum()), topk=self.cfg.topk_k
        )
        return self

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

    # -- persistence ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Network weights (``model.*``), memory buffers (``memory.*``) and the last batch's centres."""
        if self.model is None:
            raise ConfigError("CBCG has no weights before fit()")
        out = super().state_dict()
        last = self._last_centres
        if last is not None and last[1] is not None:
            out["last_centres"] = _stack(last)
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (the feature width is read from the first conv's weight)."""
        import torch

        if "model.conv1.weight" not in state:
            raise ConfigError(f"not CBCG weights: no model.conv1.weight among {sorted(state)[:5]}")
        in_dim = int(state["model.conv1.weight"].shape[1])
        if self.model is None or self.in_dim != in_dim:
            self.build_modules(in_dim)
        try:
            super().load_state_dict({k: v for k, v in state.items() if k != "last_centres"})
        except RuntimeError as err:
            raise ConfigError(f"CBCG weights do not fit this config: {err}") from None
        if "last_centres" in state:
            last = torch.as_tensor(state["last_centres"]).to(self.device)
            self._last_centres = (last[0], last[1])


def _stack(pair: tuple[Any, Any]) -> Any:
    """``(c_n, c_a)`` -> a ``(2, e)`` CPU tensor."""
    import torch

    return torch.stack([pair[0].detach().cpu(), pair[1].detach().cpu()])
