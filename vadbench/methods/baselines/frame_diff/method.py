"""``frame-diff``: zero-shot motion energy, the mean absolute difference of consecutive grey frames.

Per frame t: ``mean |g_t - g_{t-1}|`` over the pixels whose difference exceeds ``threshold`` grey levels
(sensor noise is not motion; 0 keeps every pixel), optionally pooled as the ``top`` share of the largest
differences; frame 0 takes frame 1's value. Reads the frames in chunks.

Example:
    >>> import numpy as np
    >>> frames = np.zeros((3, 4, 4, 3), np.uint8); frames[2, :2, :2] = 200
    >>> motion_energy(frames, threshold=0).round(2).tolist()
    [0.0, 0.0, 50.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vadbench.errors import ConfigError
from vadbench.methods.base import Method


def motion_energy(frames: np.ndarray, threshold: float = 0.0, top: float = 1.0,
                  previous: np.ndarray | None = None) -> np.ndarray:
    """Motion energy of ``frames`` (N, H, W, 3) uint8: one value per frame (see the module doc);
    ``previous`` is the grey frame before the first (None: the first frame gets 0)."""
    g = frames.astype(np.float32).mean(axis=3)
    prev = g[:1] if previous is None else previous[None]
    d = np.abs(np.diff(np.concatenate([prev, g]), axis=0)).reshape(len(g), -1)
    d = np.where(d > threshold, d, 0.0)
    if top < 1.0:
        k = max(1, int(round(top * d.shape[1])))
        d = np.partition(d, d.shape[1] - k, axis=1)[:, -k:]
    return d.mean(axis=1)


class FrameDiff(Method):
    """Zero-shot motion energy per frame."""

    name = "frame-diff"
    aliases = ("frame_diff", "motion-energy")
    supervision = "zero-shot"
    input_kind = "frames"
    unit = "frame"
    fidelity = "code"

    @dataclass(frozen=True)
    class Config:
        threshold: float = 6.0  # grey levels: smaller differences are noise
        top: float = 1.0  # share of the largest pixel differences averaged (1 = all pixels)
        chunk: int = 64  # frames decoded at a time

        def __post_init__(self) -> None:
            if not 0 < self.top <= 1:
                raise ConfigError(f"frame-diff: top must be in (0, 1], not {self.top!r}")
            if self.chunk < 2:
                raise ConfigError(f"frame-diff: chunk must be at least 2, not {self.chunk!r}")

    def fit(self, samples: Sequence[Any]) -> FrameDiff:
        return self

    def score(self, sample: Any) -> np.ndarray:
        n = int(sample.n_frames)
        out, prev = [], None
        for start in range(0, n, self.cfg.chunk):
            frames = sample.read(range(start, min(n, start + self.cfg.chunk)))
            out.append(motion_energy(frames, self.cfg.threshold, self.cfg.top, prev))
            prev = frames[-1].astype(np.float32).mean(axis=2)
        e = np.concatenate(out) if out else np.zeros(0)
        if len(e) > 1:
            e[0] = e[1]
        return e
