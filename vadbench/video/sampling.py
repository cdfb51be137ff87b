"""Snippets and clips: fixed-length groups of frames taken from one sequential decode.

A clip ``j`` holds frames ``s_j, s_j + step, ..., s_j + (length - 1) * step`` with ``s_j = j * stride``.
A snippet is a clip of consecutive frames (``step=1``), 16 long by default, the unit of the community
features (one feature row per 16 frames). ``tail`` says what to do with the frames after the last complete
clip: ``drop`` them (T = floor((n - span) / stride) + 1, i.e. floor(n / 16) for 16-frame snippets), ``keep``
a shorter last clip, or ``pad`` it by repeating its last frame (with ``keep`` / ``pad`` every start
``< n`` gives a clip).

Example:
    >>> snippet_count(100), snippet_count(100, tail="keep")
    (6, 7)
    >>> clip_indices(10, length=4, stride=4, tail="pad")[-1].tolist()
    [8, 9, 9, 9]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

#: Allowed values of ``tail``.
TAILS = ("drop", "keep", "pad")


@dataclass
class Clip:
    """One clip: its number, the frame index of each of its frames and the frames ``(L, H, W, 3)``."""

    index: int
    frame_indices: np.ndarray
    frames: np.ndarray

    @property
    def start(self) -> int:
        return int(self.frame_indices[0])


def clip_indices(
    n_frames: int, length: int = 16, stride: int | None = None, step: int = 1, tail: str = "drop"
) -> list[np.ndarray]:
    """Frame indices of every clip of a video of ``n_frames`` frames (``stride`` defaults to the clip span).

    Example:
        >>> [c.tolist() for c in clip_indices(7, length=2, stride=3, step=2)]
        [[0, 2], [3, 5]]
    """
    if length < 1 or step < 1:
        raise ValueError(f"clip length and step must be >= 1, got length={length}, step={step}")
    if tail not in TAILS:
        raise ValueError(f"tail must be one of {TAILS}, got {tail!r}")
    span = (length - 1) * step + 1
    stride = span if stride is None else stride
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    clips = []
    offsets = np.arange(length, dtype=np.int64) * step
    for start in range(0, max(n_frames, 0), stride):
        idx = start + offsets
        if idx[-1] >= n_frames:
            if tail == "drop":
                break
            real = idx[idx < n_frames]
            idx = real if tail == "keep" else np.concatenate([real, np.full(length - len(real), real[-1])])
        clips.append(idx)
    return clips


def snippet_count(n_frames: int, length: int = 16, stride: int | None = None, tail: str = "drop") -> int:
    """Number of snippets ``T`` of a video (``floor(n / 16)`` with the defaults)."""
    return len(clip_indices(n_frames, length, stride, 1, tail))


def iter_clips(
    reader: object,
    length: int = 16,
    stride: int | None = None,
    step: int = 1,
    tail: str = "drop",
) -> Iterator[Clip]:
    """Clips of ``reader`` (see :func:`vadbench.video.open_video`), decoding each needed frame once.

    Frames shared by overlapping clips are decoded once and kept only while a pending clip needs them.
    """
    n = len(reader)  # type: ignore[arg-type]
    clips = clip_indices(n, length, stride, step, tail)
    if not clips:
        return
    needed = np.unique(np.concatenate(clips))
    # last clip that needs each frame, so that a frame is dropped from the buffer after it
    last_use: dict[int, int] = {}
    for j, idx in enumerate(clips):
        for i in idx.tolist():
            last_use[i] = j
    buffer: dict[int, np.ndarray] = {}
    next_clip = 0
    for i, frame in reader.iter_indexed(indices=needed.tolist()):  # type: ignore[attr-defined]
        buffer[i] = frame
        while next_clip < len(clips) and int(clips[next_clip].max()) <= i:
            idx = clips[next_clip]
            yield Clip(next_clip, idx, np.stack([buffer[k] for k in idx.tolist()]))
            for k in set(idx.tolist()):
                if last_use[k] == next_clip:
                    buffer.pop(k, None)
            next_clip += 1


def iter_snippets(
    reader: object, length: int = 16, stride: int | None = None, tail: str = "drop"
) -> Iterator[Clip]:
    """Snippets of ``length`` consecutive frames every ``stride`` frames (default: non-overlapping).

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from vadbench.video import open_video
        >>> from vadbench.video.writer import write_frames
        >>> frames = np.zeros((40, 8, 8, 3), np.uint8)
        >>> folder = write_frames(pathlib.Path(tempfile.mkdtemp()), frames, ext="png")
        >>> [s.frames.shape for s in iter_snippets(open_video(folder))]
        [(16, 8, 8, 3), (16, 8, 8, 3)]
    """
    return iter_clips(reader, length=length, stride=stride, step=1, tail=tail)


def clip_windows(n_frames: int, window: int, stride: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``(windows (K, 2) [start, stop), frame_index (K, F))`` of a video of ``n_frames`` frames: starts
    0, S, 2S, ... while a full window fits, plus a last window ending at the last frame when the video is not
    covered; a video shorter than W gives one window ``[0, n)``. The one home of the clip scheme (inputs and
    the protocol's ``window_mean`` / ``window_max`` expansion both use it).

    >>> w, f = clip_windows(10, window=4, stride=4, frames=2)
    >>> w.tolist(), f.tolist()
    ([[0, 4], [4, 8], [6, 10]], [[0, 3], [4, 7], [6, 9]])
    """
    if n_frames < 1:
        raise ValueError(f"clip_windows: a video needs at least one frame, got n_frames={n_frames}")
    w = min(int(window), int(n_frames))
    starts = list(range(0, n_frames - w + 1, int(stride)))
    if starts[-1] + w < n_frames:
        starts.append(n_frames - w)
    windows = np.array([[s, s + w] for s in starts], dtype=np.int64)
    f = min(int(frames), w)
    if f == 1:
        offsets = np.array([w // 2], dtype=np.int64)
    else:  # evenly spread, first and last frame of the window included
        offsets = np.round(np.linspace(0, w - 1, f)).astype(np.int64)
    frame_index = windows[:, :1] + offsets[None, :]
    return windows, frame_index
