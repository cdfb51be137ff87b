"""Object tracks per video (detector + ByteTrack), cached like features, with crops read on demand.

``load_tracks(dataset, videos, preset="vlavad")`` returns ``{video: [Track, ...]}``. Tracks are computed once
per (dataset, preset) and cached under ``cache_dir()/"tracks"/<dataset>/<preset>-<hash>/``: one ``.npz`` per
video plus ``manifest.json`` (the resolved settings and the sha256 of every file). Files are written
atomically and the manifest after each video, so an interrupted run resumes where it stopped; a video whose
source file changed (path or size) or whose cache file fails its checksum is tracked again.

Presets (:data:`TRACK_PRESETS`) hold every setting that changes a box; ``overrides`` change any of them
(``{"detector": {"threshold": 30}, "min_box_area": 50}``) and the change is part of the cache key.

Example:
    >>> import numpy as np
    >>> boxes = np.array([[0, 0, 4, 4], [1, 0, 5, 4]], np.float32)
    >>> t = Track(1, np.array([3, 4]), boxes, np.ones(2, np.float32))
    >>> len(t), t.box_at(4).tolist()
    (2, [1.0, 0.0, 5.0, 4.0])
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError

#: Bumped when the file format or the pipeline changes in a way that changes stored tracks.
TRACKS_FORMAT = 1

#: The person detector used when no YOLOX-MOT17 weights exist in transformers: RT-DETR (R50, COCO + O365).
DEFAULT_PERSON_DETECTOR = "PekingU/rtdetr_r50vd_coco_o365"

#: Named track settings. ``detector``: :func:`vadbench.backbones.detector.make_detector` spec; ``tracker``:
#: :class:`vadbench.backbones.tracker.ByteTracker` options; ``min_box_area`` / ``aspect_ratio_thresh``: the
#: ByteTrack demo's output filter (a box is kept when w*h > min_box_area and w/h <= aspect_ratio_thresh).
TRACK_PRESETS: dict[str, dict[str, Any]] = {
    # VLAVAD (BMVC 2024) [paper]: track confidence 0.5, NMS 0.3, boxes under 300 px^2 dropped; ByteTrack
    # (MOT17) finds people only. [reconstruction]: the YOLOX-MOT17 detector is replaced by RT-DETR's person
    # class; the 1.6 aspect filter is ByteTrack's demo default for pedestrians.
    "vlavad": {
        "detector": {
            "kind": "hf", "model": DEFAULT_PERSON_DETECTOR, "score_threshold": 0.1, "nms_iou": 0.3,
            "classes": ["person"], "batch_size": 8,
        },
        "tracker": {"track_thresh": 0.5},
        "min_box_area": 300.0,
        "aspect_ratio_thresh": 1.6,
    },
    # Weight-free, class-agnostic: background subtraction for static cameras (Ped2, Avenue, ShanghaiTech,
    # NWPU Campus, synthetic) with VLAVAD's tracker settings; no aspect filter (vehicles, bikes are wide).
    "bgsub": {
        "detector": {
            "kind": "bgsub", "threshold": 25.0, "open_iter": 1, "close_iter": 2, "min_pixels": 20,
            "score_ref": 64.0, "bg_frames": 50,
        },
        "tracker": {"track_thresh": 0.5},
        "min_box_area": 300.0,
        "aspect_ratio_thresh": None,
    },
}


def resolve_preset(preset: str | Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict:
    """The full settings of ``preset`` (a name or a dict) with ``overrides`` merged (one level deep).

    >>> resolve_preset("bgsub", {"min_box_area": 20})["min_box_area"]
    20
    """
    if isinstance(preset, str):
        if preset not in TRACK_PRESETS:
            raise ConfigError(f"unknown track preset {preset!r}; known: {', '.join(TRACK_PRESETS)}")
        spec = copy.deepcopy(TRACK_PRESETS[preset])
    else:
        spec = copy.deepcopy(dict(preset))
    for key, value in (overrides or {}).items():
        if key in ("detector", "tracker") and isinstance(value, Mapping):
            old_kind = spec.get("detector", {}).get("kind")
            if key == "detector" and value.get("kind", old_kind) != old_kind:  # another detector
                spec["detector"] = dict(value)
            else:
                spec.setdefault(key, {}).update(value)
        else:
            spec[key] = value
    missing = {"detector", "tracker", "min_box_area", "aspect_ratio_thresh"} - set(spec)
    unknown = set(spec) - {"detector", "tracker", "min_box_area", "aspect_ratio_thresh"}
    if missing or unknown:
        raise ConfigError(
            f"track settings need detector, tracker, min_box_area, aspect_ratio_thresh; "
            f"missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    from vadbench.backbones.tracker import BYTETRACK_DEFAULTS

    bad = set(spec["tracker"]) - set(BYTETRACK_DEFAULTS) - {"frame_rate"}
    if bad or "frame_rate" in spec["tracker"]:
        raise ConfigError(
            f"unknown tracker option(s) {sorted(bad) or ['frame_rate (taken from the video)']}; "
            f"known: {sorted(set(BYTETRACK_DEFAULTS) - {'frame_rate'})}"
        )
    return spec


def spec_hash(spec: Mapping[str, Any]) -> str:
    """A 12-hex-digit hash of the resolved settings (and the file format)."""
    text = json.dumps({"format": TRACKS_FORMAT, **spec}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------------
# tracks
# ---------------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Track:
    """One object: ``frames`` (N,) 0-based frame indices, ``boxes`` (N, 4) x1 y1 x2 y2 (ByteTrack's Kalman
    boxes), ``scores`` (N,), ``det_boxes`` the matched detections; ``path`` is the source video for crops."""

    id: int
    frames: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    det_boxes: np.ndarray | None = None
    video: str = ""
    path: Path | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.frames)

    def box_at(self, frame: int) -> np.ndarray:
        """The box of this track in ``frame`` (raises ``KeyError`` when the track is absent there)."""
        hit = np.flatnonzero(self.frames == frame)
        if not len(hit):
            raise KeyError(f"track {self.id} of {self.video!r} has no box in frame {frame}")
        return self.boxes[hit[0]]

    def crops(self, *, size: int | tuple[int, int] | None = None, which: str = "boxes",
              margin: float = 0.0) -> list[np.ndarray]:
        """The object's image in each of its frames, read from the video now (see :func:`crop_tracks`)."""
        return crop_tracks([self], size=size, which=which, margin=margin)[self.id]


def square_box(box: Sequence[float], width: int, height: int, scale: float,
               min_side: int) -> tuple[int, int, int, int]:
    """A square of ``scale`` times the longest side of ``box`` (at least ``min_side``, at most the frame),
    centred on it and shifted (not cut) to lie inside a ``width`` x ``height`` frame.

    >>> square_box((2, 3, 6, 9), 20, 20, 1.6, 12)
    (0, 0, 12, 12)
    """
    x1, y1, x2, y2 = box
    side = int(min(max(min_side, round(max(x2 - x1, y2 - y1) * scale)), width, height))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a = int(round(min(max(cx - side / 2, 0), width - side)))
    b = int(round(min(max(cy - side / 2, 0), height - side)))
    return a, b, a + side, b + side


def crop_box(frame: np.ndarray, box: np.ndarray, *, margin: float = 0.0,
             size: int | tuple[int, int] | None = None,
             square: tuple[float, int] | None = None) -> np.ndarray:
    """The RGB crop of ``box`` (enlarged by ``margin`` x its size on each side, clipped to the frame),
    resized to ``size`` (``(w, h)`` or a square side) with bilinear interpolation when given.
    ``square=(scale, min_side)`` cuts :func:`square_box` of the box instead (``margin`` must be 0).

    >>> crop_box(np.zeros((10, 10, 3), np.uint8), np.array([2.0, 3, 6, 9])).shape
    (6, 4, 3)
    >>> crop_box(np.zeros((10, 10, 3), np.uint8), np.array([2.0, 3, 6, 9]), square=(1.6, 4)).shape
    (10, 10, 3)
    """
    h, w = frame.shape[:2]
    if square is not None:
        if margin:
            raise ConfigError(f"a crop takes a margin ({margin}) or a square, not both")
        box = np.array(square_box([float(v) for v in box], w, h, *square), dtype=float)
    x1, y1, x2, y2 = (float(v) for v in box)
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    x1, x2 = max(0, math.floor(x1 - mw)), min(w, math.ceil(x2 + mw))
    y1, y2 = max(0, math.floor(y1 - mh)), min(h, math.ceil(y2 + mh))
    if x2 <= x1 or y2 <= y1:  # box outside the frame: keep one pixel at the nearest border
        x1, y1 = min(max(x1, 0), w - 1), min(max(y1, 0), h - 1)
        x2, y2 = x1 + 1, y1 + 1
    crop = np.ascontiguousarray(frame[y1:y2, x1:x2])
    if size is not None:
        from PIL import Image

        wh = (size, size) if isinstance(size, int) else tuple(size)
        crop = np.asarray(Image.fromarray(crop).resize(wh, Image.BILINEAR))
    return crop


def crop_tracks(tracks: Sequence[Track], *, size: int | tuple[int, int] | None = None, which: str = "boxes",
                margin: float = 0.0, square: tuple[float, int] | None = None) -> dict[int, list[np.ndarray]]:
    """Crops of several tracks of one video, decoding the video once: ``{track id: [crop per frame]}``.

    ``which`` is ``boxes`` (the tracker's boxes) or ``det_boxes`` (the matched detections); ``margin``,
    ``size`` and ``square`` as in :func:`crop_box`.
    """
    if which not in ("boxes", "det_boxes"):
        raise ConfigError(f"crop 'which' must be 'boxes' or 'det_boxes', got {which!r}")
    if not tracks:
        return {}
    paths = {t.path for t in tracks}
    if len(paths) != 1 or None in paths:
        raise DataError("crop_tracks needs tracks of one video with a source path (Track.path)")
    need: dict[int, list[tuple[int, int]]] = {}
    for t in tracks:
        for k, f in enumerate(t.frames):
            need.setdefault(int(f), []).append((t.id, k))
    from vadbench.video import open_video

    out: dict[int, list[np.ndarray | None]] = {t.id: [None] * len(t) for t in tracks}
    by_id = {t.id: t for t in tracks}
    path = next(iter(paths))
    with open_video(path) as reader:
        if max(need) >= len(reader):
            raise DataError(f"{path}: tracks reach frame {max(need)} but the video has {len(reader)} frames")
        for f, frame in reader.iter_indexed(indices=sorted(need)):
            for tid, k in need[f]:
                boxes = by_id[tid].boxes if which == "boxes" else by_id[tid].det_boxes
                out[tid][k] = crop_box(frame, boxes[k], margin=margin, size=size, square=square)
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------------
# tracking one video
# ---------------------------------------------------------------------------------------------------------
def track_video(path: str | os.PathLike[str], spec: Mapping[str, Any], *, fps: float = math.nan,
                detector: Any = None, device: str = "cpu",
                reference: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Detect and track every frame of ``path`` under the resolved ``spec``; returns the flat table
    ``{"track_id", "frame", "box", "det_box", "score", "n_frames", "frame_rate"}`` stored in the cache.

    ``fps`` sets ByteTrack's lost-track buffer (read from the video when not given, else 30). ``reference``:
    the camera's background for a background-subtraction detector with ``bg_scope="scene"``.
    """
    from vadbench.backbones.detector import BackgroundSubtractionDetector, make_detector
    from vadbench.backbones.tracker import ByteTracker
    from vadbench.video import open_video

    path = Path(path)
    det = detector if detector is not None else make_detector(spec["detector"], device=device)
    reader = open_video(path)
    frame_rate = fps if fps and math.isfinite(fps) and fps > 0 else (reader.fps or math.nan)
    if not (math.isfinite(frame_rate) and frame_rate > 0):
        frame_rate = 30.0
    if isinstance(det, BackgroundSubtractionDetector):
        det = copy.copy(det)
        n_total = len(reader)
        if n_total == 0:
            raise DataError(f"{path}: no frame decoded")
        det.fit_background(list(reader.get_batch(det.background_indices(n_total, det.bg_frames).tolist())),
                           reference=reference)
    tracker = ByteTracker(frame_rate=frame_rate, **spec["tracker"])
    batch = int(spec["detector"].get("batch_size", 8))
    rows: list[tuple[int, int, np.ndarray, np.ndarray, float]] = []
    n = 0

    def flush(frames: list[np.ndarray], first: int) -> None:
        for k, d in enumerate(det.detect(frames)):
            for o in tracker.update(d.boxes, d.scores):
                w, h = o.box[2] - o.box[0], o.box[3] - o.box[1]
                if w * h <= spec["min_box_area"]:
                    continue
                if spec["aspect_ratio_thresh"] is not None and w / h > spec["aspect_ratio_thresh"]:
                    continue
                rows.append((o.track_id, first + k, o.box, o.det_box, o.score))

    pending: list[np.ndarray] = []
    with reader:
        for frame in reader.iter_frames():
            pending.append(frame)
            n += 1
            if len(pending) == batch:
                flush(pending, n - len(pending))
                pending = []
    if pending:
        flush(pending, n - len(pending))
    if n == 0:
        raise DataError(f"{path}: no frame decoded")
    return {
        "track_id": np.array([r[0] for r in rows], np.int64),
        "frame": np.array([r[1] for r in rows], np.int64),
        "box": np.array([r[2] for r in rows], np.float32).reshape(-1, 4),
        "det_box": np.array([r[3] for r in rows], np.float32).reshape(-1, 4),
        "score": np.array([r[4] for r in rows], np.float32),
        "n_frames": np.array(n, np.int64),
        "frame_rate": np.array(frame_rate, np.float64),
    }


def tracks_from_table(table: Mapping[str, np.ndarray], *, video: str = "",
                      path: Path | None = None) -> list[Track]:
    """Group the flat table of :func:`track_video` into :class:`Track` objects (ordered by id)."""
    ids = np.asarray(table["track_id"])
    out = []
    for tid in np.unique(ids):
        sel = np.flatnonzero(ids == tid)
        sel = sel[np.argsort(table["frame"][sel], kind="stable")]
        out.append(Track(int(tid), table["frame"][sel], table["box"][sel], table["score"][sel],
                         table["det_box"][sel], video=video, path=path))
    return out


def scene_backgrounds(table: Any, scenes: Sequence[str], *, bg_frames: int = 50) -> dict[str, np.ndarray]:
    """Per camera: the per-pixel median over the frames of its **training** videos (``subset == "train"``,
    normal videos in the semi-supervised layouts; ``bg_frames`` frames of each, spread evenly), for a
    background-subtraction detector with ``bg_scope="scene"``. A scene without training videos gets none
    (its videos use their own median). ``table`` is the dataset's ``videos()`` table."""
    from vadbench.backbones.detector import BackgroundSubtractionDetector
    from vadbench.video import open_video

    out: dict[str, np.ndarray] = {}
    if "scene" not in table.columns:
        return out
    for scene in scenes:
        rows = table[(table["scene"].astype(str) == str(scene)) & (table["subset"] == "train")]
        frames: list[np.ndarray] = []
        for raw in rows["path"]:
            with open_video(Path(raw)) as reader:
                idx = BackgroundSubtractionDetector.background_indices(len(reader), bg_frames)
                frames.extend(reader.get_batch(idx.tolist()))
        if frames:
            shapes = {f.shape for f in frames}
            if len(shapes) != 1:
                raise DataError(f"scene {scene!r}: training videos of one camera differ in frame size "
                                f"{sorted(shapes)}")
            out[str(scene)] = np.median(np.stack(frames), axis=0).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _source_id(path: Path) -> dict[str, Any]:
    if path.is_dir():
        from vadbench.video import list_frame_files

        return {"path": str(path.resolve()), "frames": len(list_frame_files(path))}
    return {"path": str(path.resolve()), "size": path.stat().st_size}


def _file_name(video: str) -> str:
    safe = video.replace(os.sep, "__").replace("/", "__")
    return f"{safe}.npz"


class TrackStore:
    """The track cache of one dataset and one resolved spec: ``root/<dataset>/<preset>-<hash>/``."""

    def __init__(self, dataset_name: str, spec: Mapping[str, Any], *, label: str = "custom",
                 root: str | os.PathLike[str] | None = None) -> None:
        from vadbench.paths import cache_dir

        self.spec = dict(spec)
        self.hash = spec_hash(spec)
        base = Path(root) if root is not None else cache_dir() / "tracks"
        self.dir = base / dataset_name / f"{label}-{self.hash}"
        self.manifest_path = self.dir / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"format": TRACKS_FORMAT, "hash": self.hash, "spec": self.spec, "videos": {}}
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as err:
            raise DataError(f"{self.manifest_path}: malformed track manifest ({err}); delete the folder "
                            f"{self.dir} to rebuild it") from None

    def cached(self, video: str, source: Mapping[str, Any]) -> Path | None:
        """The cache file of ``video`` when it exists, matches its checksum and was made from ``source``."""
        entry = self.manifest()["videos"].get(video)
        if not entry or entry.get("source") != dict(source):
            return None
        file = self.dir / entry["file"]
        if not file.exists() or _sha256(file) != entry["sha256"]:
            return None
        return file

    def write(self, video: str, table: Mapping[str, np.ndarray], source: Mapping[str, Any]) -> Path:
        import io

        from filelock import FileLock

        from vadbench.datasets._io import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in table.items()})
        file = self.dir / _file_name(video)
        atomic_write_bytes(file, buf.getvalue())
        with FileLock(str(self.manifest_path) + ".lock"):
            man = self.manifest()
            man["videos"][video] = {
                "file": file.name, "sha256": _sha256(file), "source": dict(source),
                "n_frames": int(table["n_frames"]), "n_tracks": int(len(np.unique(table["track_id"]))),
                "frame_rate": float(table["frame_rate"]),
            }
            atomic_write_bytes(self.manifest_path, json.dumps(man, indent=1, sort_keys=True).encode())
        return file

    @staticmethod
    def read(file: Path) -> dict[str, np.ndarray]:
        with np.load(file, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def load_tracks(dataset: Any, videos: Sequence[str] | None = None, *,
                preset: str | Mapping[str, Any] = "vlavad", overrides: Mapping[str, Any] | None = None,
                device: str = "cpu", detector: Any = None, cache_root: str | os.PathLike[str] | None = None,
                progress: bool = True) -> dict[str, list[Track]]:
    """Tracks of ``videos`` (default: all) of ``dataset`` (a Dataset or a registered name), from the cache or
    computed now (and cached). ``detector`` replaces the preset's detector object (its settings must then be
    described by the preset, since they key the cache).

    >>> load_tracks("synthetic", ["01_0001"], preset="bgsub")  # doctest: +SKIP
    {'01_0001': [Track(id=1, ...), ...]}
    """
    if isinstance(dataset, str):
        from vadbench.datasets import get_dataset

        dataset = get_dataset(dataset)
    spec = resolve_preset(preset, overrides)
    label = preset if isinstance(preset, str) else "custom"
    store = TrackStore(dataset.name, spec, label=label, root=cache_root)
    table = dataset.videos().set_index("video", drop=False)
    wanted = list(table.index) if videos is None else list(videos)
    unknown = [v for v in wanted if v not in table.index]
    if unknown:
        raise DataError(f"dataset {dataset.name!r} has no video(s) {unknown[:5]} (root {dataset.root})")
    result: dict[str, list[Track]] = {}
    todo: list[tuple[str, Path, dict[str, Any]]] = []
    for v in wanted:
        raw = table.at[v, "path"]
        if raw is None or (isinstance(raw, float) and math.isnan(raw)) or not Path(raw).exists():
            raise DataError(f"video {v!r} of {dataset.name!r}: media not found ({raw}); tracks need the "
                            f"videos or frame folders under {dataset.root}")
        path = Path(raw)
        source = _source_id(path)
        file = store.cached(v, source)
        if file is not None:
            result[v] = tracks_from_table(store.read(file), video=v, path=path)
        else:
            todo.append((v, path, source))
    if todo:
        from vadbench.backbones.detector import make_detector

        det = detector if detector is not None else make_detector(spec["detector"], device=device)
        from vadbench.console import progress as progress_bar

        refs: dict[str, np.ndarray] = {}
        if spec["detector"].get("kind") == "bgsub" and spec["detector"].get("bg_scope") == "scene":
            has_scene = "scene" in table.columns
            scenes = sorted({str(table.at[v, "scene"]) for v, _, _ in todo}) if has_scene else []
            refs = scene_backgrounds(table, scenes, bg_frames=int(spec["detector"].get("bg_frames", 50)))
        with progress_bar(f"tracks {dataset.name} ({label})", len(todo), enabled=progress) as advance:
            for v, path, source in todo:
                fps = table.at[v, "fps"] if "fps" in table.columns else math.nan
                ref = refs.get(str(table.at[v, "scene"])) if refs else None
                tab = track_video(path, spec, fps=_float(fps), detector=det, device=device, reference=ref)
                store.write(v, tab, source)
                result[v] = tracks_from_table(tab, video=v, path=path)
                advance()
    return {v: result[v] for v in wanted}


def _isna(x: Any) -> bool:
    try:
        return x is None or bool(x != x) or str(x) == "<NA>"
    except TypeError:  # pandas.NA in a boolean context
        return True


def _float(x: Any) -> float:
    return math.nan if _isna(x) else float(x)
