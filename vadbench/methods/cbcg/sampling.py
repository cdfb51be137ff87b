"""CBCG training data (spec 5.1, ``[reconstruction]``): S-segment resampling and paired normal/abnormal bags.

Example:
    >>> import numpy as np
    >>> resample_segments(np.arange(8, dtype=np.float32)[:, None], 4)[:, 0].tolist()
    [0.5, 2.5, 4.5, 6.5]
    >>> [b.tolist() for b in paired_batches(np.array([0, 0, 1, 1]), 1, np.random.default_rng(0))][0]
    [0, 2]
"""

from __future__ import annotations

import numpy as np


def resample_segments(x: np.ndarray, segments: int) -> np.ndarray:
    """``(T, d)`` -> ``(S, d)``: the mean of each of S uniform bins of rows (Sultani / RTFM); a bin that holds
    no row (``T < S``) takes the row at its start, so short videos repeat snippets."""
    t = x.shape[0]
    edges = np.linspace(0, t, segments + 1).astype(int)
    out = np.empty((segments, x.shape[1]), dtype=np.float32)
    for i in range(segments):
        a, b = edges[i], edges[i + 1]
        out[i] = x[a:b].mean(0) if b > a else x[min(a, t - 1)]
    return out


def paired_batches(labels: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of index batches: ``batch_size`` normal then ``batch_size`` abnormal samples, from two
    independently shuffled lists, ``min(#normal, #abnormal) // batch_size`` steps (drop_last)."""
    normal, abnormal = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    normal, abnormal = rng.permutation(normal), rng.permutation(abnormal)
    steps = min(len(normal), len(abnormal)) // batch_size
    return [
        np.concatenate(
            [normal[i * batch_size : (i + 1) * batch_size], abnormal[i * batch_size : (i + 1) * batch_size]]
        )
        for i in range(steps)
    ]
