"""Input providers keyed by input kind: what the runner prepares for a method, and the samples built from it.

- ``features``: extracted by the feature store (:func:`vadbench.features.load_features`) or read from
  community files (``--feature source=rtfm-i3d --feature root=DIR [--feature list=FILE]``);
- ``frames``: decoded video through :func:`vadbench.video.open_video` (nothing prepared; read lazily);
- ``clips``: windows of ``window`` (W) frames every ``stride`` (S) frames with ``frames`` (F) frames sampled
  per window (:func:`vadbench.video.sampling.clip_windows`), the same scheme for training and test;
- ``tracks``: object tracks from a detector + tracker (:func:`vadbench.tracks.load_tracks`), configured by the
  preset's ``tracks:`` section and ``--tracks key=value``.

Every sample carries the video id, fps, path, scene, frame count and (training only) the video label and
classes; test samples raise on label access (:func:`vadbench.methods.base.unlabelled`). ``meta`` holds
only the dataset's ``subset``; nothing derived from test labels or a generator's anomaly flags.

Example:
    >>> ClipsSpec(window=16, stride=8, frames=4).windows(40)[0].tolist()
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

    def windows(self, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """``(windows (K, 2), frame_index (K, F))`` of a video
        (:func:`vadbench.video.sampling.clip_windows`)."""
        from vadbench.video.sampling import clip_windows

        return clip_windows(n_frames, self.window, self.stride, self.frames)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ClipsSpec:
        d = dict(d or {})
        known = {"window", "stride", "frames"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown clips option(s) {unknown}; known: window, stride, frames")
        return cls(**{k: int(v) for k, v in d.items()})


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
            windows, index = spec.windows(common["n_frames"])
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


def _feature_arrays(feats: Mapping[str, Any], videos: Sequence[str], what: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for video in videos:
        if video not in feats:
            raise DataError(f"features of video {video!r} missing from {what}")
        arr = np.asarray(feats[video], dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[:, None, :]
        if arr.ndim != 3:
            raise DataError(
                f"features of video {video!r} ({what}): expected (T, K, D), found shape {arr.shape}"
            )
        out[video] = arr
    return out


#: Keys of the ``features`` input options that select community files instead of extraction.
COMMUNITY_KEYS = ("source", "root", "list")


def is_community(options: Mapping[str, Any] | None) -> bool:
    """Whether feature options name community files (``source=...``) rather than an extraction spec."""
    return bool(options) and options.get("source") not in (None, "", "extract")  # type: ignore[union-attr]


def community_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Checked community-feature options ``{source, root, list}`` (``list`` optional).

    >>> community_options({"source": "rtfm-i3d", "root": "/x"})["list"] is None
    True
    """
    from vadbench.features_community import FORMATS

    unknown = sorted(set(options) - set(COMMUNITY_KEYS))
    if unknown:
        raise ConfigError(
            f"community features take source, root and list; unknown option(s) {unknown} "
            f"(extraction options such as backbone or crops do not apply to source={options.get('source')})"
        )
    source = str(options["source"])
    if source not in FORMATS:
        raise ConfigError(f"unknown feature source {source!r}; known: extract, {', '.join(FORMATS)}")
    if not options.get("root"):
        raise ConfigError(
            f"--feature source={source} needs --feature root=DIR (the folder of the feature files)"
        )
    lst = options.get("list")
    return {
        "source": source,
        "root": str(Path(str(options["root"])).expanduser()),
        "list": str(Path(str(lst)).expanduser()) if lst else None,
    }


def community_n_crops(options: Mapping[str, Any]) -> int:
    """The crops per snippet of a community source (what the protocol's crop rule is checked against)."""
    from vadbench.features_community import FORMATS

    return FORMATS[str(options["source"])].crops


def prepare_features(
    ds: Any,
    train: Sequence[str],
    test: Sequence[str],
    options: Mapping[str, Any],
    *,
    device: str = "cpu",
    progress: bool = True,
) -> Prepared:
    """Features ``(T, K, D)`` per video: extracted and cached (:func:`vadbench.features.load_features`) or
    read from community files (``source`` / ``root`` / ``list``,
    :func:`vadbench.features_community.read_community`)."""
    if is_community(options):
        from vadbench.features_community import read_community

        opts = community_options(options)
        videos = list(dict.fromkeys([*train, *test]))
        got = read_community(opts["list"], opts["root"], opts["source"], videos=videos)
        what = f"the {opts['source']} files under {opts['root']}"
        arrays = _feature_arrays(got.features, videos, what)
        import hashlib
        import json

        digest = hashlib.sha256(
            json.dumps(
                {v: list(arrays[v].shape) + [float(arrays[v][:, :, :8].sum())] for v in videos},
                sort_keys=True,
            ).encode()
        ).hexdigest()[:16]
        return Prepared(
            {v: arrays[v] for v in train},
            {v: arrays[v] for v in test},
            {"backbone": opts["source"], "feature_hash": digest},
            None,
        )
    from vadbench.features import FeatureSpec, load_features

    spec = FeatureSpec.from_dict(dict(options))
    what = f"the feature store ({spec!r})"
    tr = (
        _feature_arrays(load_features(ds, list(train), spec, device=device, progress=progress), train, what)
        if train
        else {}
    )
    te = _feature_arrays(load_features(ds, list(test), spec, device=device, progress=progress), test, what)
    return Prepared(tr, te, {"backbone": str(spec.backbone), "feature_hash": str(spec.hash)}, spec)


def prepare_frames(
    ds: Any,
    train: Sequence[str],
    test: Sequence[str],
    options: Mapping[str, Any],
    *,
    device: str = "cpu",
    progress: bool = True,
) -> Prepared:
    """Nothing to prepare: frames are decoded lazily from each sample's ``path``."""
    if options:
        raise ConfigError(f"frames inputs take no options; got {sorted(options)}")
    return Prepared(None, None, {})


def prepare_clips(
    ds: Any,
    train: Sequence[str],
    test: Sequence[str],
    options: Mapping[str, Any],
    *,
    device: str = "cpu",
    progress: bool = True,
) -> Prepared:
    """The window scheme; windows are cut per sample (decoded lazily), the same for training and test."""
    spec = ClipsSpec.from_dict(options)
    return Prepared(spec, spec, {"backbone": f"clips(W={spec.window},S={spec.stride},F={spec.frames})"})


def tracks_settings(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"preset": name, "overrides": {...}}`` from the ``tracks`` input options: ``preset`` (default
    ``bgsub``, the weight-free detector) and any setting as ``detector.threshold=30`` / ``min_box_area=50``.

    >>> tracks_settings({"preset": "bgsub", "detector.threshold": 30})
    {'preset': 'bgsub', 'overrides': {'detector': {'threshold': 30}}}
    """
    from vadbench.tracks import TRACK_PRESETS, resolve_preset

    opts = dict(options or {})
    preset = str(opts.pop("preset", "bgsub"))
    if preset not in TRACK_PRESETS:
        raise ConfigError(f"unknown tracks preset {preset!r}; known: {', '.join(TRACK_PRESETS)}")
    overrides: dict[str, Any] = dict(opts.pop("overrides", {}) or {})
    for key, value in opts.items():
        head, _, rest = str(key).partition(".")
        if rest:
            overrides.setdefault(head, {})[rest] = value
        else:
            overrides[head] = value
    resolve_preset(preset, overrides)  # checks every key now (config time)
    return {"preset": preset, "overrides": overrides}


def prepare_tracks(
    ds: Any,
    train: Sequence[str],
    test: Sequence[str],
    options: Mapping[str, Any],
    *,
    device: str = "cpu",
    progress: bool = True,
) -> Prepared:
    """Object tracks per video (detector + tracker, cached) per the ``tracks`` settings."""
    from vadbench.tracks import load_tracks, resolve_preset, spec_hash

    settings = tracks_settings(options)
    kwargs = {
        "preset": settings["preset"],
        "overrides": settings["overrides"],
        "device": device,
        "progress": progress,
    }
    tr = load_tracks(ds, list(train), **kwargs) if train else {}
    te = load_tracks(ds, list(test), **kwargs)
    spec = resolve_preset(settings["preset"], settings["overrides"])
    return Prepared(tr, te, {"backbone": f"tracks:{settings['preset']}", "feature_hash": spec_hash(spec)})


#: The input providers, keyed by input kind (a new kind adds one entry here).
PROVIDERS: dict[str, Provider] = {
    "features": prepare_features,
    "frames": prepare_frames,
    "clips": prepare_clips,
    "tracks": prepare_tracks,
}


def prepare(
    kind: str,
    ds: Any,
    train: Sequence[str],
    test: Sequence[str],
    options: Mapping[str, Any] | None,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> Prepared:
    """Run the provider of ``kind``."""
    if kind not in PROVIDERS:
        raise ConfigError(f"unknown input kind {kind!r}; providers: {', '.join(PROVIDERS)}")
    return PROVIDERS[kind](ds, train, test, dict(options or {}), device=device, progress=progress)
