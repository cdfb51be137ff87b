"""Object clips for ADSM (spec section 3): tracks -> runs of consecutive frames -> square crops -> clips.

- A track may miss frames (a lost object found again): it is split into **runs** of consecutive frames and a
  clip of ``n`` frames never spans a gap. Runs shorter than ``n`` give no clip [reconstruction].
- Crops are square, centred on the box, of side ``max(w, h) * (1 + enlarge)`` (``enlarge`` = 0.1), resized to
  ``crop_size`` (bilinear); the part of a square that leaves the frame repeats the border pixels
  [reconstruction]. A box that does not overlap the frame at all is an error.
- Pixels go to [-1, 1] (``x / 127.5 - 1``) only when a batch is built; runs keep ``uint8`` crops.

Trackers (spec section 9): ``bytetrack`` (the tracks the platform gives the method), ``whole_frame`` (one
"object" covering every frame) and ``boxes_file`` (precomputed boxes, one CSV per video; a file with any
column that could carry anomaly labels is refused).

Example:
    >>> import numpy as np
    >>> runs_of(np.array([3, 4, 5, 9, 10, 11, 12]))
    [(0, 3), (3, 7)]
    >>> window_starts(7, clip_len=4, stride=2).tolist()
    [0, 2, 3]
    >>> square_box(np.array([10.0, 20, 30, 60]), enlarge=0.1).tolist()
    [-2.0, 18.0, 42.0, 62.0]
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vadbench.errors import ConfigError, DataError

#: Column names (lower case) that a boxes file may not carry: they could hold anomaly labels.
FORBIDDEN_BOX_COLUMNS = ("anomal", "abnormal", "event", "label", "gt", "is_anomalous")
BOX_FILE_COLUMNS = ("frame", "object_id", "x1", "y1", "x2", "y2")


def runs_of(frames: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges of the runs of consecutive frame numbers in sorted ``frames``."""
    frames = np.asarray(frames, np.int64)
    if not len(frames):
        return []
    if np.any(np.diff(frames) <= 0):
        raise DataError(f"track frames must be strictly increasing, got {frames[:10].tolist()}...")
    cuts = np.flatnonzero(np.diff(frames) != 1) + 1
    bounds = [0, *cuts.tolist(), len(frames)]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def window_starts(run_len: int, *, clip_len: int, stride: int = 1) -> np.ndarray:
    """Start offsets of the ``clip_len``-frame windows of a run: every ``stride``-th one, plus the last window
    (so the end of the run is always covered). None when the run is shorter than ``clip_len``."""
    if stride < 1:
        raise ConfigError(f"clip stride must be >= 1, got {stride}")
    last = run_len - clip_len
    if last < 0:
        return np.zeros(0, np.int64)
    starts = np.arange(0, last + 1, stride)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts.astype(np.int64)


def square_box(box: np.ndarray, *, enlarge: float = 0.1) -> np.ndarray:
    """The square of side ``max(w, h) * (1 + enlarge)`` centred on ``box`` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * (1.0 + enlarge)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def crop_square(
    frame: np.ndarray, box: np.ndarray, size: int, *, enlarge: float = 0.1, where: str = ""
) -> np.ndarray:
    """The ``size x size`` uint8 crop of the enlarged square around ``box`` (border pixels repeated outside).

    >>> crop_square(np.zeros((20, 30, 3), np.uint8), np.array([25.0, 5, 35, 15]), 8).shape
    (8, 8, 3)
    """
    from PIL import Image

    h, w = frame.shape[:2]
    if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise DataError(f"{where}: invalid box {np.round(box, 1).tolist()} (expected x1 < x2, y1 < y2)")
    if box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h:
        raise DataError(
            f"{where}: box {np.round(box, 1).tolist()} lies outside the {w}x{h} frame "
            f"(expected a box overlapping the frame)"
        )
    sq = square_box(box, enlarge=enlarge)
    x1, y1 = math.floor(sq[0]), math.floor(sq[1])
    x2, y2 = max(x1 + 1, math.ceil(sq[2])), max(y1 + 1, math.ceil(sq[3]))
    pad = ((max(0, -y1), max(0, y2 - h)), (max(0, -x1), max(0, x2 - w)), (0, 0))
    inner = frame[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
    if any(p for pair in pad[:2] for p in pair):
        inner = np.pad(inner, pad, mode="edge")
    return np.asarray(Image.fromarray(np.ascontiguousarray(inner)).resize((size, size), Image.BILINEAR))


@dataclass
class ObjectRun:
    """One run of consecutive frames of one object: ``frames`` (m,) and ``crops`` (m, c, c, 3) uint8."""

    video: str
    track_id: int
    frames: np.ndarray
    crops: np.ndarray
    scene: int = 0

    def starts(self, clip_len: int, stride: int = 1) -> np.ndarray:
        return window_starts(len(self.frames), clip_len=clip_len, stride=stride)

    def clip(self, start: int, clip_len: int) -> np.ndarray:
        """(n, c, c, 3) uint8 frames ``start .. start + n - 1`` of the run."""
        return self.crops[start : start + clip_len]


def to_model_range(clips_uint8: np.ndarray):
    """uint8 ``(B, n, c, c, 3)`` -> float tensor ``(B, n, 3, c, c)`` in [-1, 1]."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(clips_uint8)).permute(0, 1, 4, 2, 3).float()
    return x / 127.5 - 1.0


def read_runs(
    path: str | os.PathLike[str],
    video: str,
    tracks: Sequence[tuple[int, np.ndarray, np.ndarray]],
    *,
    crop_size: int,
    enlarge: float = 0.1,
    clip_len: int = 1,
    scene: int = 0,
) -> list[ObjectRun]:
    """Decode ``path`` once and crop every object: ``tracks`` is ``[(track_id, frames (N,), boxes (N, 4))]``.
    Runs shorter than ``clip_len`` are not read. Errors name the video, the track, the frame and the box."""
    from vadbench.video import open_video

    plans: list[tuple[int, np.ndarray, np.ndarray]] = []
    for tid, frames, boxes in tracks:
        frames = np.asarray(frames, np.int64)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(frames) != len(boxes):
            raise DataError(f"video {video!r} track {tid}: {len(frames)} frames but {len(boxes)} boxes")
        order = np.argsort(frames, kind="stable")
        frames, boxes = frames[order], boxes[order]
        for a, b in runs_of(frames):
            if b - a >= clip_len:
                plans.append((int(tid), frames[a:b], boxes[a:b]))
    if not plans:
        return []
    need: dict[int, list[tuple[int, int]]] = {}
    for p, (_, frames, _) in enumerate(plans):
        for k, f in enumerate(frames):
            need.setdefault(int(f), []).append((p, k))
    out = [np.zeros((len(fr), crop_size, crop_size, 3), np.uint8) for _, fr, _ in plans]
    with open_video(path) as reader:
        n = len(reader)
        if min(need) < 0 or max(need) >= n:
            bad = min(need) if min(need) < 0 else max(need)
            raise DataError(
                f"video {video!r} ({path}): a track reaches frame {bad} but the video has {n} frames"
            )
        for f, frame in reader.iter_indexed(indices=sorted(need)):
            for p, k in need[f]:
                tid, _, boxes = plans[p]
                out[p][k] = crop_square(
                    frame,
                    boxes[k],
                    crop_size,
                    enlarge=enlarge,
                    where=f"video {video!r} ({path}) track {tid} frame {f}",
                )
    return [
        ObjectRun(video, tid, frames, crops, scene)
        for (tid, frames, _), crops in zip(plans, out, strict=True)
    ]


def whole_frame_track(n_frames: int, height: int, width: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The ``whole_frame`` tracker: one object whose box is the full frame in every frame."""
    frames = np.arange(n_frames, dtype=np.int64)
    boxes = np.tile(np.array([0.0, 0.0, float(width), float(height)]), (n_frames, 1))
    return 0, frames, boxes


def read_boxes_file(path: str | os.PathLike[str], video: str) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Precomputed boxes of one video: a CSV with columns ``frame, object_id, x1, y1, x2, y2``
    (0-based frames; other columns such as a detector score are ignored). A column whose name
    suggests anomaly labels (:data:`FORBIDDEN_BOX_COLUMNS`) is refused."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"boxes file for video {video!r} not found: expected {path}")
    table = pd.read_csv(path)
    cols = [str(c).strip().lower() for c in table.columns]
    bad = [c for c in cols if any(key == c or (len(key) > 3 and key in c) for key in FORBIDDEN_BOX_COLUMNS)]
    if bad:
        raise DataError(
            f"boxes file {path} (video {video!r}) carries column(s) {bad} that may hold anomaly "
            f"labels; a boxes file may only hold {', '.join(BOX_FILE_COLUMNS)} (and scores)"
        )
    table.columns = cols
    missing = [c for c in BOX_FILE_COLUMNS if c not in cols]
    if missing:
        raise DataError(
            f"boxes file {path} (video {video!r}): missing column(s) {missing}; expected "
            f"{', '.join(BOX_FILE_COLUMNS)}, found {', '.join(cols)}"
        )
    out = []
    for oid, grp in table.groupby("object_id", sort=True):
        grp = grp.sort_values("frame")
        frames = grp["frame"].to_numpy(np.int64)
        if len(np.unique(frames)) != len(frames):
            raise DataError(f"boxes file {path}: object {oid} has several boxes in one frame")
        out.append((int(oid), frames, grp[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)))
    return out


def tracks_as_tuples(tracks: Iterable) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``vadbench.tracks.Track`` objects (the ``bytetrack`` input) -> ``[(id, frames, boxes)]``."""
    return [(int(t.id), np.asarray(t.frames), np.asarray(t.boxes)) for t in tracks]
