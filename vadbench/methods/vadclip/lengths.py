"""VadCLIP's sequence-length handling (spec ``vadclip.md`` section 4), vectorised numpy.

- Training (official ``process_feat``): a video longer than ``max_len`` is averaged into ``max_len`` uniform
  bins (``linspace(0, T, max_len+1)`` cast to int32; an empty bin takes the single row at its start) and gets
  length ``max_len``; a shorter one is zero-padded and keeps its length.
- Test (official ``process_split`` + the length loop of ``ucf_test.py``): ``T < max_len`` -> one padded chunk;
  otherwise ``int(T / max_len) + 1`` chunks of ``max_len``, the last zero-padded (all padding when T is a
  multiple of ``max_len``), valid lengths with the official quirk (an exact remainder of ``max_len`` is never
  decreased, so an all-padding last chunk reports ``max_len``).

Example:
    >>> import numpy as np
    >>> feats, n = process_feat(np.ones((600, 4), np.float32), 256)
    >>> feats.shape, n
    ((256, 4), 256)
    >>> chunks, lengths = process_split(np.ones((600, 4), np.float32), 256)
    >>> chunks.shape, lengths.tolist()
    ((3, 256, 4), [256, 256, 88])
"""

from __future__ import annotations

import numpy as np

from vadbench.errors import DataError


def _check(feat: np.ndarray, video: str) -> np.ndarray:
    feat = np.asarray(feat)
    if feat.ndim != 2 or feat.shape[0] == 0:
        raise DataError(
            f"video {video!r}: VadCLIP needs features of shape (T, D) with T >= 1, found {feat.shape}"
        )
    return feat


def pad(feat: np.ndarray, min_len: int) -> np.ndarray:
    """Zero-pad ``(T, D)`` to ``min_len`` rows (unchanged when longer), as the official ``pad``."""
    if feat.shape[0] >= min_len:
        return feat
    out = np.zeros((min_len, feat.shape[1]), dtype=np.float32)
    out[: feat.shape[0]] = feat
    return out


def uniform_bins(n: int, max_len: int) -> np.ndarray:
    """The ``max_len + 1`` bin edges of the official ``uniform_extract`` (``linspace`` cast to int32)."""
    return np.linspace(0, n, max_len + 1, dtype=np.int32)


def uniform_extract(feat: np.ndarray, max_len: int) -> np.ndarray:
    """Average ``(T, D)`` into ``max_len`` uniform bins (official ``uniform_extract(avg=True)``), vectorised.

    ``np.add.reduceat`` returns the single row at an index when two consecutive edges are equal, which is
    exactly the official rule for empty bins.
    """
    edges = uniform_bins(feat.shape[0], max_len)
    starts = edges[:-1]
    counts = np.maximum(np.diff(edges), 1).astype(np.float64)
    sums = np.add.reduceat(feat.astype(np.float64), starts, axis=0)
    return (sums / counts[:, None]).astype(np.float32)


def process_feat(feat: np.ndarray, max_len: int = 256, video: str = "?") -> tuple[np.ndarray, int]:
    """Training input of one video: ``(max_len, D)`` float32 and its valid length (official process_feat)."""
    feat = _check(feat, video).astype(np.float32, copy=False)
    if feat.shape[0] > max_len:
        return uniform_extract(feat, max_len), max_len
    return pad(feat, max_len), int(feat.shape[0])


def process_batch(
    feats: list[np.ndarray], max_len: int = 256, videos: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``process_feat`` over a batch: ``(B, max_len, D)`` float32 and ``(B,)`` int64 lengths."""
    videos = videos or ["?"] * len(feats)
    out = [process_feat(f, max_len, v) for f, v in zip(feats, videos, strict=True)]
    return np.stack([o[0] for o in out]), np.asarray([o[1] for o in out], dtype=np.int64)


def split_lengths(n: int, max_len: int = 256) -> np.ndarray:
    """Valid length of each test chunk, with the official quirk (see the module docstring).

    >>> split_lengths(512, 256).tolist(), split_lengths(100, 256).tolist()
    ([256, 256, 256], [100])
    """
    if n < max_len:
        return np.asarray([n], dtype=np.int64)
    n_chunks = n // max_len + 1
    # Transcribes the loop of ucf_test.py: subtract max_len while the remainder is strictly larger.
    full = np.arange(n_chunks, dtype=np.int64)
    remaining = n - max_len * full  # remainder seen by chunk j if every previous chunk subtracted
    lengths = np.where(remaining > max_len, max_len, remaining)
    # once the remainder reaches exactly max_len it is no longer decreased
    stuck = np.flatnonzero(remaining == max_len)
    if stuck.size:
        lengths[stuck[0] :] = max_len
    return lengths


def process_split(feat: np.ndarray, max_len: int = 256, video: str = "?") -> tuple[np.ndarray, np.ndarray]:
    """Test input of one video: ``(n_chunks, max_len, D)`` float32 chunks and their valid lengths."""
    feat = _check(feat, video).astype(np.float32, copy=False)
    n, d = feat.shape
    n_chunks = 1 if n < max_len else n // max_len + 1
    out = np.zeros((n_chunks * max_len, d), dtype=np.float32)
    out[:n] = feat
    return out.reshape(n_chunks, max_len, d), split_lengths(n, max_len)
