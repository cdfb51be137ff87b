"""``mil``: the classic MIL ranking head on snippet features (Sultani, Chen, Shah, CVPR 2018).

Training: each video is cut into ``segments`` equal spans (32, the paper) whose snippet features are
averaged; each step draws ``batch`` abnormal and ``batch`` normal videos (30 + 30 in the released code) and
minimises the ranking hinge between the top-``k`` segment scores of the abnormal and the normal bag, with
the smoothness and sparsity terms (8e-5 each). Adagrad (lr 0.01, eps 1e-8), l2 0.001 on the first layer's
weight (Keras ``W_regularizer``; here weight decay on every weight), dropout 0.6. Test: one score per
snippet (the common practice of the later repositories; the paper scored 32 segments).

Example:
    >>> import numpy as np
    >>> from vadbench.methods.base import FeatureSample
    >>> rng = np.random.default_rng(0)
    >>> train = [FeatureSample(f"v{i}", rng.normal(size=(6, 4)).astype(np.float32) + i % 2, label=i % 2)
    ...          for i in range(8)]
    >>> m = MIL({"epochs": 2, "steps": 3, "batch": 2}); m.progress = False
    >>> m.fit(train).score(train[0]).shape
    (6,)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError
from vadbench.methods.training import TorchMethod


class MIL(TorchMethod):
    """Sultani et al.'s MIL ranking head (weak supervision, snippet features)."""

    name = "mil"
    aliases = ("sultani", "mil-ranking")
    supervision = "weak"
    input_kind = "features"
    unit = "snippet16"
    fidelity = "code"

    @dataclass(frozen=True)
    class Config:
        segments: int = 32
        k: int = 1  # top-k of the bag (1: the paper's max)
        batch: int = 30  # abnormal and as many normal videos per step
        steps: int = 50  # steps per epoch
        epochs: int = 20
        lr: float = 0.01
        weight_decay: float = 1e-3
        dropout: float = 0.6
        hidden: tuple[int, int] = (512, 32)
        lambda_smooth: float = 8e-5
        lambda_sparse: float = 8e-5

        def __post_init__(self) -> None:
            for key in ("segments", "k", "batch", "steps", "epochs"):
                if getattr(self, key) < 1:
                    raise ConfigError(f"mil: {key} must be at least 1, not {getattr(self, key)!r}")

    @classmethod
    def contract_config(cls) -> dict[str, Any]:
        return {"epochs": 2, "steps": 5, "batch": 4}

    def build(self, samples: Sequence[Any]) -> None:
        import torch

        from vadbench.methods.baselines.mil.torch_model import MILHead

        torch.manual_seed(self.seed)
        dim = int(np.asarray(samples[0].features).shape[1])
        self.head = MILHead(dim, tuple(self.cfg.hidden), self.cfg.dropout)

    def modules(self) -> dict[str, Any]:
        return {"head": self.head}

    def configure_optimizers(self) -> tuple[Any, Any]:
        import torch

        opt = torch.optim.Adagrad(self.head.parameters(), lr=self.cfg.lr, eps=1e-8,
                                  weight_decay=self.cfg.weight_decay)
        return opt, None

    def train_batches(self, samples: Sequence[Any], epoch: int, rng: np.random.Generator) -> Iterable[Any]:
        from vadbench.methods.baselines.mil.torch_model import to_segments

        if not hasattr(self, "_bags"):
            self._bags = {0: [], 1: []}
            for s in samples:
                self._bags[int(s.label)].append(to_segments(np.asarray(s.features, np.float32),
                                                            self.cfg.segments))
            if not self._bags[0] or not self._bags[1]:
                raise DataError("mil.fit needs normal and abnormal training videos (weak supervision)")
        abn, nor = np.stack(self._bags[1]), np.stack(self._bags[0])
        for _ in range(self.cfg.steps):
            yield (abn[rng.integers(len(abn), size=self.cfg.batch)],
                   nor[rng.integers(len(nor), size=self.cfg.batch)])

    def training_step(self, batch: Any) -> Any:
        import torch

        from vadbench.methods.baselines.mil.torch_model import mil_ranking_loss

        a, n = (torch.from_numpy(np.ascontiguousarray(x)) for x in batch)
        return mil_ranking_loss(self.head(a), self.head(n), self.cfg.k, self.cfg.lambda_smooth,
                                self.cfg.lambda_sparse)

    def score(self, sample: Any) -> np.ndarray:
        import torch

        self.head.eval()
        with torch.no_grad():
            return self.head(torch.from_numpy(np.asarray(sample.features, np.float32))).numpy()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not self._built():  # a fresh method loading a checkpoint: the input size is in the weights
            from vadbench.methods.baselines.mil.torch_model import MILHead

            w = np.asarray(state["head.net.0.weight"])
            self.head = MILHead(int(w.shape[1]), tuple(self.cfg.hidden), self.cfg.dropout)
        super().load_state_dict(state)
