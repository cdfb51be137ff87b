"""VLAVAD's scoring rules (pure numpy): the Selective Prompt Adapter, the static score A_s, the temporal score
A_t, frame scores (max over objects) and the fusion ``A_s + lambda * A_t`` (spec 4.3, 4.4, 4.8, 4.9).

The Gaussian smoothing of spec 4.9 is NOT here: it is the protocol's ``smooth=gauss(sigma,reflect)`` step
(the presets set it), so it happens once and is recorded in the result row.

Example:
    >>> table = AnswerTable.count({"pose?": ["standing", "standing", "walking"],
    ...                            "look?": ["a man", "a woman", "a child"]})
    >>> [q for q, _ in spa_rank(table, k=1)]
    ['pose?', 'look?']
    >>> static_scores(["standing", "sitting"], table.counts["pose?"], table.n["pose?"]).tolist()
    [0.3333333333333333, 1.0]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError

#: ``static_floor``: how an answer frequency f becomes a score (spec 4.4). ``plus_one``: 1 / (f + 1)
#: (unseen -> 1); ``zero_is_one``: 1 / max(f, f1) with f1 the frequency of one crop (1 for counts, so
#: unseen -> 1 as the spec says; 1/N for relative frequencies, so unseen counts as seen once).
STATIC_FLOORS = ("plus_one", "zero_is_one")
#: ``static_frequency``: ``count`` (raw counts) or ``relative`` (count / N_train).
STATIC_FREQUENCIES = ("count", "relative")


@dataclass
class AnswerTable:
    """Answer counts per question over the normal training crops: ``counts[q][answer]``, ``n[q]`` crops."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)

    @classmethod
    def count(cls, answers: Mapping[str, Sequence[str]]) -> AnswerTable:
        """Count ``{question: [answer of every training crop]}``."""
        table = cls()
        for q, ans in answers.items():
            table.counts[q] = dict(Counter(ans))
            table.n[q] = len(ans)
        return table

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "n": self.n}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AnswerTable:
        return cls({q: {a: int(c) for a, c in t.items()} for q, t in d["counts"].items()},
                   {q: int(v) for q, v in d["n"].items()})


def f_topk(counts: Mapping[str, int], n: int, k: int) -> float:
    """F_topk = (sum of the k largest answer counts) / N (spec 4.3 [reconstruction]).

    >>> f_topk({"a": 5, "b": 3, "c": 2}, 10, 2)
    0.8
    """
    if n <= 0:
        raise DataError("SPA: the answer table is empty (no training crop was answered)")
    top = sorted(counts.values(), reverse=True)[:k]
    return float(sum(top)) / n


def spa_rank(table: AnswerTable, k: int = 10) -> list[tuple[str, float]]:
    """Questions sorted by decreasing F_topk (ties: pool order); the first is P_selected."""
    if k < 1:
        raise ConfigError(f"spa_k must be >= 1, got {k}")
    if not table.counts:
        raise DataError("SPA: the answer table has no question")
    scored = [(q, f_topk(table.counts[q], table.n[q], k)) for q in table.counts]
    order = sorted(range(len(scored)), key=lambda i: (-scored[i][1], i))
    return [scored[i] for i in order]


def spa_degenerate(table: AnswerTable, k: int) -> bool:
    """True when SPA cannot choose: two or more questions and none has more than ``k`` distinct answers, so
    every F_topk is 1 and the selection falls back to pool order (a VLM with a small answer vocabulary, such
    as the synthetic world's, needs a smaller k).

    >>> spa_degenerate(AnswerTable.count({"a?": ["x", "y"], "b?": ["x", "x"]}), 2)
    True
    >>> spa_degenerate(AnswerTable.count({"a?": ["x", "y"], "b?": ["x", "x"]}), 1)
    False
    """
    return len(table.counts) > 1 and all(len(c) <= k for c in table.counts.values())


def static_scores(answers: Sequence[str], counts: Mapping[str, int], n: int, *, floor: str = "plus_one",
                  frequency: str = "count") -> np.ndarray:
    """A_s per object crop: the reciprocal of its answer's training frequency (spec 4.4).

    >>> static_scores(["x", "y"], {"x": 3}, 4, floor="zero_is_one").tolist()
    [0.3333333333333333, 1.0]
    >>> static_scores(["x", "y"], {"x": 3}, 4, frequency="relative").tolist()
    [0.5714285714285714, 1.0]
    """
    if floor not in STATIC_FLOORS:
        raise ConfigError(f"static_floor must be one of {STATIC_FLOORS}, got {floor!r}")
    if frequency not in STATIC_FREQUENCIES:
        raise ConfigError(f"static_frequency must be one of {STATIC_FREQUENCIES}, got {frequency!r}")
    if n <= 0 or not counts:
        raise DataError("static score: the answer table is empty (no training crop was answered)")
    unit = 1.0 if frequency == "count" else 1.0 / n
    f = np.array([counts.get(a, 0) for a in answers], np.float64) * unit
    return 1.0 / (f + 1.0) if floor == "plus_one" else 1.0 / np.maximum(f, unit)


def temporal_errors(emb: np.ndarray, pred: np.ndarray, l_in: int, *, horizon: str = "first") -> np.ndarray:
    """A_t per step of one track (spec 4.8): ``emb`` (n, d) the track's answer embeddings, ``pred``
    (n - l_in, p, d) the predictions made from ``emb[t - l_in : t]`` for t = l_in .. n-1. ``first``:
    ``||E(t) - E_hat(t)||^2``; ``all``: mean over the predicted steps that exist in the track. Steps with
    fewer than ``l_in`` past steps get 0.

    >>> e = np.eye(3)[[0, 1, 2, 0]]
    >>> temporal_errors(e, np.zeros((2, 1, 3)), 2).tolist()
    [0.0, 0.0, 1.0, 1.0]
    """
    n = len(emb)
    out = np.zeros(n, np.float64)
    if n <= l_in:
        return out
    if horizon not in ("first", "all"):
        raise ConfigError(f"horizon must be 'first' or 'all', got {horizon!r}")
    if pred.shape[0] != n - l_in:
        raise ValueError(f"expected {n - l_in} predictions for a track of {n} steps, got {pred.shape[0]}")
    steps = 1 if horizon == "first" else pred.shape[1]
    for t in range(l_in, n):
        m = min(steps, n - t)
        out[t] = float(((emb[t : t + m] - pred[t - l_in, :m]) ** 2).sum(-1).mean())
    return out


def frame_max(n_frames: int, per_object: Sequence[tuple[np.ndarray, np.ndarray]], *,
              empty: float = 0.0) -> np.ndarray:
    """Frame scores = max over the objects present (spec 4.4 / 4.8): ``per_object`` is a list of
    ``(frames, scores)`` per track; frames with no object get ``empty``.

    >>> frame_max(4, [(np.array([0, 1]), np.array([0.2, 0.5])), (np.array([1]), np.array([0.9]))]).tolist()
    [0.2, 0.9, 0.0, 0.0]
    """
    out = np.full(n_frames, -np.inf)
    for frames, scores in per_object:
        frames = np.asarray(frames, np.int64)
        if len(frames) and (frames.min() < 0 or frames.max() >= n_frames):
            raise DataError(f"a track reaches frame {frames.max()} of a video with {n_frames} frames")
        np.maximum.at(out, frames, np.asarray(scores, np.float64))
    out[~np.isfinite(out)] = empty
    return out


def fuse(a_s: np.ndarray, a_t: np.ndarray, lam: float = 0.1) -> np.ndarray:
    """``A_s + lambda * A_t`` per frame (spec 4.9; no normalisation before fusion, the default)."""
    return np.asarray(a_s, np.float64) + lam * np.asarray(a_t, np.float64)
