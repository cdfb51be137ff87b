"""Small reference methods for the input kinds no built-in method uses yet (frames, clips, tracks).

They exist to prove the platform end to end on real decoded media (``tests/test_method_contract.py``): each
reads its input through the sample API, keeps a non-tensor state (``extra_state``) or tensors
(``state_dict``), and scores by distance to what it saw in training (semi-supervised). They are not
benchmark methods (no card, not registered).

Example:
    >>> FrameMotion.input_kind, ClipStats.unit, TrackCount.input_kind
    ('frames', 'clip', 'tracks')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vadbench.methods.base import Method


def _motion(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference to the previous frame, per frame (the first frame copies the second)."""
    x = frames.astype(np.float32).mean(axis=3)
    d = np.abs(np.diff(x, axis=0)).mean(axis=(1, 2))
    return np.concatenate([d[:1], d]) if len(d) else np.zeros(len(frames), np.float32)


class FrameMotion(Method):
    """frames -> one score per frame: |z| of the frame's motion energy against the training frames."""

    name = "ref-frame-motion"
    supervision = "semi"
    input_kind = "frames"
    unit = "frame"
    fidelity = "code"

    @dataclass(frozen=True)
    class Config:
        eps: float = 1e-6

    def fit(self, samples):
        m = np.concatenate([_motion(s.read()) for s in samples])
        self.mu, self.sd = float(m.mean()), float(m.std() + self.cfg.eps)
        return self

    def score(self, sample):
        return np.abs(_motion(sample.read()) - self.mu) / self.sd

    def extra_state(self):
        return {"mu": self.mu, "sd": self.sd}

    def load_extra_state(self, state):
        self.mu, self.sd = float(state["mu"]), float(state["sd"])


class ClipStats(Method):
    """clips -> one score per window: distance of (mean colour, motion) to the nearest training window."""

    name = "ref-clip-stats"
    supervision = "semi"
    input_kind = "clips"
    unit = "clip"
    fidelity = "code"

    @dataclass(frozen=True)
    class Config:
        max_bank: int = 512

    @staticmethod
    def _features(sample) -> np.ndarray:
        rows = []
        for _, frames in sample.iter_windows():
            x = frames.astype(np.float32) / 255.0
            rows.append(np.concatenate([x.mean(axis=(0, 1, 2)), [_motion(frames).mean() / 255.0]]))
        return np.asarray(rows, np.float32)

    def fit(self, samples):
        bank = np.concatenate([self._features(s) for s in samples])
        rng = np.random.default_rng(self.seed)
        if len(bank) > self.cfg.max_bank:
            bank = bank[rng.choice(len(bank), self.cfg.max_bank, replace=False)]
        self.bank = bank
        return self

    def score_outputs(self, sample):
        f = self._features(sample)
        d = np.sqrt(((f[:, None, :] - self.bank[None]) ** 2).sum(-1)).min(1)
        return {"score": d, "features": f}

    def state_dict(self):
        return {"bank": self.bank}

    def load_state_dict(self, state):
        self.bank = np.asarray(state["bank"], np.float32)


class TrackCount(Method):
    """tracks -> one score per frame: -log frequency (in training) of the number of tracked objects, plus
    their mean speed against the training speeds (a table as state)."""

    name = "ref-track-count"
    supervision = "semi"
    input_kind = "tracks"
    unit = "frame"
    fidelity = "code"

    @dataclass(frozen=True)
    class Config:
        max_count: int = 8

    def _per_frame(self, sample) -> tuple[np.ndarray, np.ndarray]:
        count = np.zeros(sample.n_frames, np.int64)
        speed = np.zeros(sample.n_frames, np.float64)
        for t in sample.tracks:
            frames = np.asarray(t.frames)
            count[frames[frames < sample.n_frames]] += 1
            centers = (t.boxes[:, :2] + t.boxes[:, 2:]) / 2
            if len(frames) > 1:
                v = np.linalg.norm(np.diff(centers, axis=0), axis=1)
                keep = frames[1:] < sample.n_frames
                speed[frames[1:][keep]] += v[keep]
        return np.minimum(count, self.cfg.max_count), speed / np.maximum(count, 1)

    def fit(self, samples):
        counts, speeds = zip(*(self._per_frame(s) for s in samples), strict=True)
        c = np.concatenate(counts)
        hist = np.bincount(c, minlength=self.cfg.max_count + 1) + 1.0
        self.table = (hist / hist.sum()).tolist()
        s = np.concatenate(speeds)
        self.speed_mu, self.speed_sd = float(s.mean()), float(s.std() + 1e-6)
        return self

    def score(self, sample):
        c, s = self._per_frame(sample)
        return -np.log(np.asarray(self.table)[c]) + np.abs(s - self.speed_mu) / self.speed_sd

    def extra_state(self) -> dict[str, Any]:
        return {"table": self.table, "speed": [self.speed_mu, self.speed_sd]}

    def load_extra_state(self, state):
        self.table = list(state["table"])
        self.speed_mu, self.speed_sd = state["speed"]


REFERENCE_METHODS: tuple[type[Method], ...] = (FrameMotion, ClipStats, TrackCount)
