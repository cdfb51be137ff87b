"""``knn``: the anomaly score of a snippet is its mean distance to the ``k`` nearest normal training
snippet features (Bergman, Cohen, Hoshen 2020, "Deep Nearest Neighbor Anomaly Detection"), with
L2-normalised features by default (cosine geometry). scikit-learn's exact ``NearestNeighbors``.

Example:
    >>> import numpy as np
    >>> from vadbench.methods.base import FeatureSample
    >>> train = [FeatureSample("n", np.array([[1, 0], [0.9, 0.1]], np.float32), label=0)]
    >>> m = KNN({"k": 1, "normalize": False}).fit(train)
    >>> m.score(FeatureSample("t", np.array([[1, 0], [0, 1]], np.float32))).round(3).tolist()
    [0.0, 1.345]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import Method


def _prep(x: np.ndarray, normalize: bool) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)
    return x


class KNN(Method):
    """Mean distance to the k nearest normal training snippets."""

    name = "knn"
    supervision = "semi"
    input_kind = "features"
    unit = "snippet16"
    fidelity = "paper"

    @dataclass(frozen=True)
    class Config:
        k: int = 5
        normalize: bool = True  # L2-normalise every feature first

        def __post_init__(self) -> None:
            if self.k < 1:
                raise ConfigError(f"knn: k must be at least 1, not {self.k!r}")

    def fit(self, samples: Sequence[Any]) -> KNN:
        normal = [s.features for s in samples if getattr(s, "label", 0) in (0, None)]
        if not normal:
            raise DataError("knn.fit: no normal training sample (semi-supervised: normal videos only)")
        self._set_bank(np.concatenate([_prep(f, self.cfg.normalize) for f in normal]))
        return self

    def _set_bank(self, bank: np.ndarray) -> None:
        from sklearn.neighbors import NearestNeighbors

        self.bank = np.asarray(bank, np.float32)
        self.nn = NearestNeighbors(n_neighbors=min(self.cfg.k, len(self.bank))).fit(self.bank)

    def score(self, sample: Any) -> np.ndarray:
        dist, _ = self.nn.kneighbors(_prep(sample.features, self.cfg.normalize))
        return dist.mean(axis=1)

    def state_dict(self) -> dict[str, Any]:
        return {"bank": self.bank}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._set_bank(np.asarray(state["bank"]))
