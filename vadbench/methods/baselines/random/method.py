"""``random``: one uniform random score per frame, seeded by the run seed and the video id.

Example:
    >>> from vadbench.methods.base import FramesSample
    >>> m = RandomScores(seed=0).fit([])
    >>> s = m.score(FramesSample("v", n_frames=5))
    >>> s.shape, bool(((s >= 0) & (s < 1)).all())
    ((5,), True)
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vadbench.methods.base import Method


class RandomScores(Method):
    """Uniform random frame scores (reads no pixels)."""

    name = "random"
    supervision = "zero-shot"
    input_kind = "frames"
    unit = "frame"
    fidelity = "code"

    @dataclass(frozen=True)
    class Config:
        """No options: the scores depend on the run seed and the video id only."""

    def fit(self, samples: Sequence[Any]) -> RandomScores:
        return self

    def extra_state(self) -> dict[str, Any]:
        """The seed the scores are drawn with: a saved run scores the same when loaded elsewhere."""
        return {"seed": int(self.seed)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.seed = int(state.get("seed", self.seed))

    def score(self, sample: Any) -> np.ndarray:
        rng = np.random.default_rng([self.seed, zlib.crc32(str(sample.video).encode())])
        return rng.random(int(sample.n_frames))
