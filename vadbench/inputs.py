"""Input providers keyed by input kind: what the runner prepares for a method, and the samples built from it.

- ``features``: extracted by the feature store (:func:`vadbench.features.load_features`) or read from
  community files (``--feature source=rtfm-i3d --feature root=DIR [--feature list=FILE]``);
- ``frames``: decoded video through :func:`vadbench.video.open_video` (nothing prepared; read lazily);
- ``clips``: windows of ``window`` (W) frames every ``stride`` (S) frames with ``frames`` (F) frames sampled
  per window (:func:`clip_windows`), the same scheme for training and test;
- ``tracks``: object tracks from a detector + tracker (:func:`vadbench.tracks.load_tracks`), configured by the
  preset's ``tracks:`` section and ``--tracks key=value``.

Every sample carries the video id, fps, path, scene, frame count and (training only) the video label and
classes; test samples raise on label access (:func:`vadbench.methods.base.unlabelled`). ``meta`` holds
only the dataset's ``subset``; nothing derived from test labels or a generator's anomaly flags.

Example:
    >>> clip_windows(40, window=16, stride=8, frames=4)[0].tolist()
    [[0, 16], [8, 24], [16, 32], [24, 40]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError

#: Sample fields taken from the dataset table (besides video / path / n_frames / fps / label / classes).
META_COLUMNS = ("subset",)


# -- clips ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipsSpec:
    """The window scheme of ``clips`` inputs: ``window`` W frames every ``stride`` S frames, ``frames`` F
    frames sampled evenly per window (``F <= W``). Videos shorter than W give one window over the whole video.
    The last window is moved back so that it ends at the last frame (every frame is covered)."""

    window: int = 16
    stride: int = 16
    frames: int = 8

    def __post_init__(self) -> None:
        for key in ("window", "stride", "frames"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"clips option {key} must be a positive integer, got {value!r}")
        if self.frames > self.window:
            raise ConfigError(
                f"clips: frames={self.frames} sampled per window cannot exceed window={self.window}"
            )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ClipsSpec:
        d = dict(d or {})
        known = {"window", "stride", "frames"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown clips option(s) {unknown}; known: window, stride, frames")
        return cls(**{k: int(v) for k, v in d.items()})


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
        raise DataError(f"clip_windows: a video needs at least one frame, got n_frames={n_frames}")
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


# -- samples ----------------------------------------------------------------------------------------------


def _common(rec: Any, train: bool) -> dict[str, Any]:
    """The fields every sample kind takes from one row of the dataset table."""

    def isna(x: Any) -> bool:
        return x is None or (isinstance(x, float) and math.isnan(x))

    path = rec.get("path")
    scene = rec.get("scene")
    n = rec.get("n_frames")
    fps = rec.get("fps")
    out: dict[str, Any] = {
        "fps": 25.0 if isna(fps) else float(fps),
        "path": None if isna(path) or path in ("", None) else Path(str(path)),
        "scene": None if isna(scene) or scene in ("", None) else str(scene),
        "n_frames": 0 if isna(n) or n is None else int(n),
        "meta": {k: rec.get(k) for k in META_COLUMNS if k in rec and not isna(rec.get(k))},
    }
    if train:
        classes = rec.get("classes")
        out["label"] = int(rec["label"])
        out["classes"] = tuple(classes) if isinstance(classes, (tuple, list)) else ()
    return out


def make_samples(
    kind: str,
    table: Any,
    videos: Sequence[str],
    inputs: Mapping[str, Any] | None,
    *,
    train: bool,
    crops: str | None = None,
) -> dict[str, list[Any]]:
    """Per video, the samples of input ``kind`` (one per crop for features). Labels only when ``train``;
    test samples are :func:`~vadbench.methods.base.unlabelled` (reading a label raises).

    ``inputs`` per kind: features ``{video: (T, K, D)}``, tracks ``{video: [Track]}``, clips a
    :class:`ClipsSpec`, frames None. ``crops``: ``crop:<k>`` keeps crop k only (test).
    """
    from vadbench.methods.base import ClipsSample, FeatureSample, FramesSample, TracksSample, unlabelled

    rows = table.set_index("video", drop=False)
    out: dict[str, list[Any]] = {}
    for video in videos:
        rec = rows.loc[video].to_dict()
        common = _common(rec, train)
        if kind == "features":
            arr = inputs[video]  # type: ignore[index]
            ks: Sequence[int] = range(arr.shape[1])
            if crops and crops.startswith("crop:"):
                ks = [int(crops.split(":")[1])]
            samples: list[Any] = [
                FeatureSample(video, np.ascontiguousarray(arr[:, k, :]), crop=k, **common) for k in ks
            ]
        elif kind == "frames":
            _need_media(video, common)
            samples = [FramesSample(video, **common)]
        elif kind == "clips":
            _need_media(video, common)
            spec = inputs if isinstance(inputs, ClipsSpec) else ClipsSpec.from_dict(inputs)  # type: ignore[arg-type]
            windows, index = clip_windows(common["n_frames"], spec.window, spec.stride, spec.frames)
            samples = [
                ClipsSample(video, windows, index, window_frames=spec.window, stride=spec.stride, **common)
            ]
        elif kind == "tracks":
            samples = [TracksSample(video, list(inputs[video]), **common)]  # type: ignore[index]
        else:
            raise ConfigError(f"unknown input kind {kind!r}; expected features, frames, clips or tracks")
        out[video] = samples if train else [unlabelled(s) for s in samples]
    return out


def _need_media(video: str, common: Mapping[str, Any]) -> None:
    if common["path"] is None or not common["n_frames"]:
        raise DataError(
            f"video {video!r}: decoded frames are needed but the dataset table has no "
            f"{'path' if common['path'] is None else 'frame count'} for it (the videos or frame folders are "
            f"missing from the dataset root)"
        )


# -- providers --------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """What a provider prepared for one run: inputs per video for training and test, what to record."""

    train: Any
    test: Any
    #: Row fields: ``backbone`` (features: the backbone or the community source), ``feature_hash``.
    record: dict[str, Any] = field(default_factory=dict)
    #: The feature spec (features only), for alignment hints.
    spec: Any = None


Provider = Callable[..., Prepared]
