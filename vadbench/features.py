"""CLIP snippet features and the feature store (extract once, cache, resume; sharded with torch.distributed).

A :class:`FeatureSpec` names every choice that changes a number (backbone and weights, crop protocol,
snippet length and stride, reduction, tail rule, resize interpolation, precision); its
:attr:`FeatureSpec.hash` keys the store and goes into result rows. The store keeps one ``.npy`` file
``[T, K, D]`` float32 per video and a ``manifest.json`` (sha256 of each file, the spec, the weights' hash,
the frame counts) under ``<cache>/features/<dataset key>/<spec folder>/``. Writes are atomic; videos already
written are skipped, so an interrupted extraction resumes where it stopped.

Pipeline: a thread decodes the frames (PyAV / Pillow) into batches while the main thread crops, normalises
and embeds them (:mod:`vadbench.video.crops`, :func:`vadbench.backbones.clip.load_clip`) and accumulates the
snippet vectors, so decoding overlaps model compute. ``torchrun --nproc_per_node N -m vadbench extract ...``
splits the videos across ranks; rank 0 merges the per-rank manifests after a barrier.

Example:
    >>> spec = FeatureSpec(backbone="tiny", crops="center")
    >>> spec.n_crops, len(spec.hash), spec.stride
    (1, 12, 16)
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from vadbench.devices import cached_cpu_threads, cached_threads_for
from vadbench.errors import ConfigError, DataError

#: Version of the extraction code's numerics; bump it when a change alters the stored numbers.
#: 2: the image tower runs at a fixed CPU thread count (``devices.CACHED_CPU_THREADS``); version 1 stores held
#: whatever thread count the extracting process had.
FEATURE_FORMAT_VERSION = 2
MANIFEST = "manifest.json"
REDUCTIONS = ("mean", "middle")
PRECISIONS = ("fp32", "fp16", "bf16")


# ---------------------------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class FeatureSpec:
    """What features to extract. Every field that changes a number enters :attr:`hash`.

    - ``backbone``: ``tiny`` (seeded random test CLIP), ``world-clip`` (the synthetic world's CLIP shipped in
      the package) or an open_clip model name (``ViT-B-16``).
    - ``pretrained``: ``"default"`` (None for ``tiny``, ``"world"`` for ``world-clip``, ``"openai"``
      otherwise), None (random, seeded), an open_clip tag or a checkpoint path.
    - ``crops``: ``center`` / ``5crop`` / ``10crop`` / ``full`` (:mod:`vadbench.video.crops`).
    - ``snippet``, ``stride`` (default = snippet), ``tail`` (``drop``: T = floor(n/16); ``keep``; ``pad``).
    - ``reduce``: ``mean`` of the per-frame embeddings of a snippet, or the ``middle`` frame's.
    - ``l2norm``: L2-normalise per-frame embeddings before reducing (VadCLIP: unknown; off by default).
    - ``interpolation``: resize to 340x256 (scaled) before cropping (``bilinear`` = OpenCV's INTER_LINEAR).
    - ``precision``: model precision (``fp32``; ``fp16`` is what VadCLIP's ``clip.load`` uses on CUDA).
    - ``seed``: initialisation seed, only used (and hashed) when the weights are random.
    - ``quick_gelu``: the towers' activation for a local checkpoint (None: the tag's / the file's record;
      see :func:`vadbench.backbones.clip.load_clip`); hashed only when set.
    - ``motion``: ``none`` or ``flow``: append a motion stream to every snippet feature (D grows by
      :data:`vadbench.video.motion.FLOW_DIM`; :mod:`vadbench.video.motion`); hashed only when set.
    """

    backbone: str = "tiny"
    pretrained: str | None = "default"
    crops: str = "10crop"
    snippet: int = 16
    stride: int | None = None
    reduce: str = "mean"
    tail: str = "drop"
    l2norm: bool = False
    interpolation: str = "bilinear"
    precision: str = "fp32"
    seed: int = 0
    quick_gelu: bool | None = None
    motion: str = "none"

    def __post_init__(self) -> None:
        from vadbench.video.crops import CROP_COUNTS
        from vadbench.video.sampling import TAILS

        if self.pretrained == "default":
            default = {"tiny": None, "world-clip": "world"}.get(self.backbone, "openai")
            object.__setattr__(self, "pretrained", default)
        if self.pretrained is not None:
            object.__setattr__(self, "pretrained", str(self.pretrained))
        if self.stride is None:
            object.__setattr__(self, "stride", self.snippet)
        from vadbench.video.motion import MOTIONS

        checks = [
            (self.motion in MOTIONS, f"motion={self.motion!r}; expected one of {', '.join(MOTIONS)}"),
            (self.crops in CROP_COUNTS, f"crops={self.crops!r}; expected one of {', '.join(CROP_COUNTS)}"),
            (self.reduce in REDUCTIONS, f"reduce={self.reduce!r}; expected one of {', '.join(REDUCTIONS)}"),
            (self.tail in TAILS, f"tail={self.tail!r}; expected one of {', '.join(TAILS)}"),
            (
                self.precision in PRECISIONS,
                f"precision={self.precision!r}; expected one of {', '.join(PRECISIONS)}",
            ),
            (
                self.interpolation in ("bilinear", "bicubic", "nearest"),
                f"interpolation={self.interpolation!r}",
            ),
            (
                int(self.snippet) >= 1 and int(self.stride or 0) >= 1,
                f"snippet={self.snippet}, stride={self.stride}",
            ),
        ]
        for ok, what in checks:
            if not ok:
                raise ConfigError(f"feature spec: invalid {what}")

    @property
    def n_crops(self) -> int:
        """K, the number of crops per snippet."""
        from vadbench.video.crops import n_crops

        return n_crops(self.crops)

    @property
    def random_weights(self) -> bool:
        return self.pretrained is None

    @property
    def weights_id(self) -> str:
        """Identity of the weights: ``random:<arch hash>:seed<k>``, ``<model>/<tag>`` or ``file:<sha256>``."""
        if self.pretrained is None:
            if self.backbone == "tiny":
                from vadbench.backbones.clip import TINY_CONFIG

                arch = _sha(json.dumps(TINY_CONFIG, sort_keys=True))[:8]
            else:
                arch = self.backbone
            return f"random:{arch}:seed{self.seed}"
        path = Path(self.pretrained).expanduser()
        if path.is_file():
            return f"file:{_file_sha256(path)[:16]}"
        if self.backbone == "world-clip" and self.pretrained == "world":  # keyed by the shipped weights
            from vadbench.world.store import weights_sha

            return f"world-clip/world:{weights_sha('world-clip')[:16]}"
        return f"{self.backbone}/{self.pretrained}"

    def key(self) -> dict[str, Any]:
        """The hashed fields (the seed only when the weights are random)."""
        out = dataclasses.asdict(self)
        out.pop("pretrained")
        out.pop("seed")
        if out["quick_gelu"] is None:  # unset: keeps the hashes of specs written before the option
            out.pop("quick_gelu")
        if out["motion"] == "none":  # the default keeps the hashes of specs written before the option
            out.pop("motion")
        out["weights"] = self.weights_id
        out["format"] = FEATURE_FORMAT_VERSION
        return out

    @property
    def hash(self) -> str:
        """12 hex characters of sha256 over :meth:`key` (stable across runs and machines)."""
        return _sha(json.dumps(self.key(), sort_keys=True))[:12]

    @property
    def dirname(self) -> str:
        """Store folder name: ``<backbone>-<crops>-s<snippet>-<hash>``."""
        return _safe_name(f"{self.backbone}-{self.crops}-s{self.snippet}-{self.hash}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Build from a mapping, rejecting unknown keys with a :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"feature spec: unknown option(s) {unknown}; known: {sorted(names)}")
        return cls(**dict(data))

    @classmethod
    def vadclip(cls, **changes: Any) -> FeatureSpec:
        """VadCLIP's community features: CLIP ViT-B/16 (OpenAI), 10 crops, mean of 16 frames."""
        return cls(**{"backbone": "ViT-B-16", "pretrained": "openai", "crops": "10crop", **changes})


def feature_hash(spec: FeatureSpec | Mapping[str, Any]) -> str:
    """The hash of a spec (or of a mapping of its fields) as it goes into a result row."""
    return (spec if isinstance(spec, FeatureSpec) else FeatureSpec.from_dict(spec)).hash


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


_FILE_SHA: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_SHA:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _FILE_SHA[key] = digest.hexdigest()
    return _FILE_SHA[key]


def _safe_name(name: str) -> str:
    out = quote(name, safe="-_.=#+,()[]@!&' ")
    return "%2E" + out[1:] if out.startswith(".") else out


# ---------------------------------------------------------------------------------------------------- store


def dataset_key(dataset: Any) -> str:
    """Store key of a dataset: ``<name>-<8 hex of its resolved root>`` (a string is used as given)."""
    if isinstance(dataset, str):
        return _safe_name(dataset)
    name = getattr(dataset, "name", None) or type(dataset).__name__.lower()
    root = getattr(dataset, "root", None)
    if root is None:
        return _safe_name(name)
    return _safe_name(f"{name}-{_sha(str(Path(root).expanduser().resolve()))[:8]}")


class FeatureStore:
    """Feature files under ``root`` (default ``cache_dir()/features``): one ``.npy`` per video + a manifest.

    Example:
        >>> import tempfile
        >>> store = FeatureStore(tempfile.mkdtemp())
        >>> store.path("demo", FeatureSpec(crops="center")).name.startswith("tiny-center-s16-")
        True
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        from vadbench.paths import cache_dir

        self.root = Path(root) if root is not None else cache_dir() / "features"

    def path(self, dataset: Any, spec: FeatureSpec) -> Path:
        """The folder of one (dataset, spec)."""
        return self.root / dataset_key(dataset) / spec.dirname

    def file(self, dataset: Any, spec: FeatureSpec, video: str) -> Path:
        return self.path(dataset, spec) / f"{_safe_name(video)}.npy"

    def has(self, dataset: Any, spec: FeatureSpec, video: str) -> bool:
        return self.file(dataset, spec, video).is_file()

    def manifest(self, dataset: Any, spec: FeatureSpec) -> dict[str, Any]:
        """The manifest of a folder (empty when none was written yet)."""
        return read_manifest(self.path(dataset, spec))

    def read(self, dataset: Any, spec: FeatureSpec, video: str, *, verify: bool = True) -> np.ndarray:
        """The ``[T, K, D]`` array of ``video``; ``verify`` checks its sha256 against the manifest."""
        path = self.file(dataset, spec, video)
        if not path.is_file():
            raise DataError(
                f"features of video {video!r} not in the store: {path} missing (extract them first)"
            )
        data = path.read_bytes()
        if verify:
            entry = self.manifest(dataset, spec).get("videos", {}).get(video)
            if entry is not None and entry.get("sha256") != _sha(data):
                raise DataError(
                    f"feature file {path}: sha256 {_sha(data)[:12]}... differs from the manifest's "
                    f"{str(entry.get('sha256'))[:12]}... (corrupt or modified); delete it to extract it again"
                )
        array = np.load(io.BytesIO(data), allow_pickle=False)
        if array.ndim != 3 or array.shape[1] != spec.n_crops or array.dtype != np.float32:
            raise DataError(
                f"feature file {path}: expected float32 [T, {spec.n_crops}, D], "
                f"found {array.dtype} {array.shape}"
            )
        return array


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`vadbench.atomic.atomic_write_bytes`)."""
    from vadbench.atomic import atomic_write_bytes as write

    write(path, data)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err}); delete it and run the extraction again") from None


def _write_manifest(
    folder: Path, header: Mapping[str, Any], entries: Mapping[str, Mapping[str, Any]]
) -> None:
    """Merge ``entries`` into ``folder/manifest.json`` under a file lock (atomic replace)."""
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / (MANIFEST + ".lock"))):
        current = read_manifest(folder)
        videos = dict(current.get("videos", {}))
        videos.update(entries)
        merged = {**current, **header, "videos": dict(sorted(videos.items()))}
        atomic_write_bytes(folder / MANIFEST, (json.dumps(merged, indent=1, sort_keys=True) + "\n").encode())


# ---------------------------------------------------------------------------------------------------- plan


@dataclass
class SnippetPlan:
    """Which frames a video needs and how they add into snippets (``pair_*``: one row per frame-snippet pair).

    Example:
        >>> plan = SnippetPlan.build(40, FeatureSpec(crops="center"))
        >>> plan.n_snippets, int(plan.frames[-1]), plan.weights.tolist()
        (2, 31, [16.0, 16.0])
        >>> SnippetPlan.build(40, FeatureSpec(crops="center", reduce="middle")).frames.tolist()
        [8, 24]
    """

    n_frames: int
    n_snippets: int
    frames: np.ndarray  # sorted unique frame indices to decode and embed
    pair_frame: np.ndarray  # frame index of each (frame, snippet) pair
    pair_snippet: np.ndarray
    pair_weight: np.ndarray
    weights: np.ndarray  # total weight per snippet (the divisor of the mean)

    @classmethod
    def build(cls, n_frames: int, spec: FeatureSpec) -> SnippetPlan:
        from vadbench.video.sampling import clip_indices

        clips = clip_indices(n_frames, spec.snippet, spec.stride, 1, spec.tail)
        pf: list[np.ndarray] = []
        ps: list[np.ndarray] = []
        for j, idx in enumerate(clips):
            chosen = idx if spec.reduce == "mean" else idx[len(idx) // 2 : len(idx) // 2 + 1]
            pf.append(chosen)
            ps.append(np.full(len(chosen), j, np.int64))
        frame = np.concatenate(pf) if pf else np.zeros(0, np.int64)
        snip = np.concatenate(ps) if ps else np.zeros(0, np.int64)
        # repeated frames (tail="pad") become one pair with a weight
        keys, weight = (
            np.unique(np.stack([frame, snip], 1), axis=0, return_counts=True)
            if len(frame)
            else (
                np.zeros((0, 2), np.int64),
                np.zeros(0, np.int64),
            )
        )
        totals = np.bincount(keys[:, 1], weights=weight, minlength=len(clips)) if len(keys) else np.zeros(0)
        return cls(
            n_frames=n_frames,
            n_snippets=len(clips),
            frames=np.unique(keys[:, 0]) if len(keys) else np.zeros(0, np.int64),
            pair_frame=keys[:, 0].astype(np.int64),
            pair_snippet=keys[:, 1].astype(np.int64),
            pair_weight=weight.astype(np.float32),
            weights=totals.astype(np.float32),
        )


# ------------------------------------------------------------------------------------------ extraction


@dataclass
class ExtractReport:
    """What :func:`extract` did: the folder, the spec hash, the videos written / skipped, timings."""

    folder: Path
    hash: str
    extracted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    n_frames: int = 0
    seconds: float = 0.0
    decode_wait_s: float = 0.0  # time the model waited for decoded frames (≈0 when decoding keeps up)
    model_s: float = 0.0
    load_s: float = 0.0  # loading the model (not counted in frames_per_s)

    @property
    def frames_per_s(self) -> float:
        busy = self.seconds - self.load_s
        return self.n_frames / busy if busy > 0 else float("nan")


def source_stamp(path: Path) -> list[int]:
    """A cheap identity of a source video, kept in the manifest so that a changed source is extracted again.

    A file gives ``[size, mtime_ns]``; a frame folder ``[number of entries, mtime_ns of the folder]`` (a
    regenerated or re-extracted folder gets a new mtime; an image rewritten in place is not noticed).
    A path that does not exist gives ``[]``.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "v.avi"; _ = f.write_bytes(b"1234")
        >>> source_stamp(f)[0]
        4
    """
    try:
        st = path.stat()
    except OSError:
        return []
    if path.is_dir():
        return [sum(1 for _ in os.scandir(path)), st.st_mtime_ns]
    return [st.st_size, st.st_mtime_ns]


def _video_rows(dataset: Any, videos: Sequence[str] | None) -> list[tuple[str, Path]]:
    table = dataset.videos()
    if "video" not in table.columns or "path" not in table.columns:
        raise DataError(
            f"dataset {getattr(dataset, 'name', dataset)!r}: videos() lacks the 'video'/'path' columns"
        )
    paths = dict(zip(table["video"].astype(str), table["path"], strict=True))
    wanted = list(paths) if videos is None else [str(v) for v in videos]
    missing = [v for v in wanted if v not in paths]
    if missing:
        shown = ", ".join(repr(v) for v in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            f"dataset {getattr(dataset, 'name', dataset)!r}: {len(missing)} requested video(s) not in its "
            f"table: {shown}"
        )
    rows = []
    for v in wanted:
        p = paths[v]
        if p is None or (isinstance(p, float) and np.isnan(p)) or str(p) == "":
            raise DataError(
                f"dataset {getattr(dataset, 'name', dataset)!r}: video {v!r} has no media path (features can "
                f"only be extracted from a video file or a frame folder)"
            )
        rows.append((v, Path(p)))
    return rows


_END = object()


def _producer(
    rows: Sequence[tuple[str, Path]],
    spec: FeatureSpec,
    batch_frames: int,
    decode_threads: int,
    out: queue.Queue,
    stop: threading.Event,
) -> None:
    """Decode thread: per video ("start", video, plan), ("frames", video, idx, array) ..., ("end", video)."""
    from vadbench.video import open_video

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    try:
        for video, path in rows:
            with open_video(path, threads=decode_threads) as reader:
                plan = SnippetPlan.build(len(reader), spec)
                if not put(("start", video, plan)):
                    return
                idx: list[int] = []
                frames: list[np.ndarray] = []
                for i, frame in reader.iter_indexed(indices=plan.frames.tolist()):
                    idx.append(i)
                    frames.append(frame)
                    if len(frames) == batch_frames:
                        if not put(("frames", video, np.asarray(idx), np.stack(frames))):
                            return
                        idx, frames = [], []
                if frames and not put(("frames", video, np.asarray(idx), np.stack(frames))):
                    return
            if not put(("end", video, None)):
                return
    except BaseException as err:  # noqa: BLE001 - handed to the consumer, which re-raises it
        put(("error", None, err))
    finally:
        put(_END)


class _Embedder:
    """Crops + CLIP image tower on ``device``: uint8 frames (B, H, W, 3) -> float32 (B, K, D)."""

    def __init__(self, spec: FeatureSpec, device: str, max_images: int = 512) -> None:
        from vadbench.backbones.clip import image_config, load_clip, weights_hash

        self.spec = spec
        self.device = device
        self.model, _, _ = load_clip(
            spec.backbone, spec.pretrained, device=device, seed=spec.seed, precision=spec.precision,
            quick_gelu=spec.quick_gelu,
        )
        self.weights_sha = weights_hash(self.model)
        cfg = image_config(self.model)
        self.input_size = cfg["size"][0]
        self.mean, self.std = cfg["mean"], cfg["std"]
        self.dtype = next(self.model.parameters()).dtype
        self.max_images = max_images

    def __call__(self, frames: np.ndarray) -> Any:
        import torch

        from vadbench.video.crops import apply_crops

        with torch.inference_mode(), cached_cpu_threads(self.device):
            x = torch.from_numpy(frames)
            if self.device != "cpu":
                x = x.pin_memory().to(self.device, non_blocking=True)
            crops = apply_crops(
                x,
                self.spec.crops,
                self.input_size,
                self.mean,
                self.std,
                self.spec.interpolation,
                dtype=self.dtype,
            )
            b, k = crops.shape[:2]
            flat = crops.reshape(b * k, *crops.shape[2:])
            outs = [
                self.model.encode_image(flat[i : i + self.max_images])
                for i in range(0, len(flat), self.max_images)
            ]
            emb = torch.cat(outs).float().reshape(b, k, -1)
            if self.spec.l2norm:
                emb = torch.nn.functional.normalize(emb, dim=-1)
            return emb


def snippet_frames(path: Path, n_frames: int, spec: FeatureSpec) -> Iterator[np.ndarray]:
    """Each snippet's consecutive frames (N, H, W, 3) in order, decoded once (frames shared by overlapping
    snippets are kept only until the last snippet that needs them)."""
    from vadbench.video import open_video
    from vadbench.video.sampling import clip_indices

    clips = clip_indices(n_frames, spec.snippet, spec.stride, 1, spec.tail)
    if not clips:
        return
    needed = np.unique(np.concatenate(clips))
    buffer: dict[int, np.ndarray] = {}
    j = 0
    with open_video(path) as reader:
        for i, frame in reader.iter_indexed(indices=needed.tolist()):
            buffer[int(i)] = frame
            while j < len(clips) and int(clips[j].max()) <= i:
                yield np.stack([buffer[int(k)] for k in clips[j]])
                j += 1
                low = int(clips[j].min()) if j < len(clips) else i + 1
                for k in [k for k in buffer if k < low]:
                    del buffer[k]
    if j < len(clips):
        raise DataError(f"{path}: decoded frames end before snippet {j} of {len(clips)} ({n_frames} frames)")


def with_motion(array: np.ndarray, path: Path, n_frames: int, spec: FeatureSpec) -> np.ndarray:
    """``array`` (T, K, D) with the motion stream of ``spec.motion`` appended to every crop: (T, K, D + M)."""
    from vadbench.video.motion import FLOW_DIM, video_flow

    stream = video_flow(snippet_frames(path, n_frames, spec))
    if len(stream) != len(array):
        raise DataError(
            f"{path}: {len(array)} RGB snippets but {len(stream)} motion snippets ({n_frames} frames, "
            f"snippet={spec.snippet}, stride={spec.stride}, tail={spec.tail})"
        )
    tiled = np.broadcast_to(stream[:, None, :], (len(array), array.shape[1], FLOW_DIM))
    return np.concatenate([array, tiled], axis=2).astype(np.float32)


def extract(
    dataset: Any,
    videos: Sequence[str] | None = None,
    spec: FeatureSpec | None = None,
    device: str = "cpu",
    store: FeatureStore | None = None,
    *,
    batch_frames: int = 64,
    decode_threads: int = 0,
    progress: bool = True,
    rank: int = 0,
    world_size: int = 1,
    overwrite: bool = False,
) -> ExtractReport:
    """Extract the features of ``videos`` (default: all) of ``dataset`` that are not in the store yet.

    ``rank`` / ``world_size`` select every ``world_size``-th video from ``rank`` (sharding); with
    ``world_size > 1`` the manifest entries go to ``manifest.part<rank>.json`` for :func:`merge_manifests`.

    Example:
        >>> report = extract(my_dataset, spec=FeatureSpec(crops="center"), progress=False)  # doctest: +SKIP
    """
    import torch

    spec = spec or FeatureSpec()
    store = store or FeatureStore()
    device = resolve_device(device)
    folder = store.path(dataset, spec)
    rows = _video_rows(dataset, videos)[rank::world_size]
    report = ExtractReport(folder=folder, hash=spec.hash)
    known_before = read_manifest(folder).get("videos", {})
    stamps = {video: source_stamp(path) for video, path in rows}
    todo = []
    for video, path in rows:
        recorded = known_before.get(video, {}).get("source")
        stale = recorded is not None and recorded != stamps[video]  # the source video changed since
        if not overwrite and not stale and store.has(dataset, spec, video):
            report.skipped.append(video)
        else:
            todo.append((video, path))
    header = {
        "dataset": dataset_key(dataset),
        "spec": dataclasses.asdict(spec),
        "hash": spec.hash,
        "key": spec.key(),
        "vadbench_version": _version(),
    }
    entries: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    if todo:
        embedder = _Embedder(spec, device)
        report.load_s = time.perf_counter() - start
        previous = read_manifest(folder).get("weights_sha256")
        if previous and previous != embedder.weights_sha:
            raise DataError(
                f"{folder}: the stored features were made with weights {previous}, the loaded "
                f"{spec.weights_id} "
                f"weights hash to {embedder.weights_sha}; remove the folder or use another spec"
            )
        header["weights_sha256"] = embedder.weights_sha
        header["extractor"] = {
            "device_type": str(device).split(":")[0],
            "batch_frames": batch_frames,
            "cpu_threads": cached_threads_for(device),
            "torch": torch.__version__,
        }
        paths = dict(todo)
        q: queue.Queue = queue.Queue(maxsize=4)
        stop = threading.Event()
        worker = threading.Thread(
            target=_producer,
            args=(todo, spec, batch_frames, decode_threads, q, stop),
            daemon=True,
            name="vadbench-decode",
        )
        worker.start()
        sums = plan = None
        last_flush = time.perf_counter()
        try:
            from vadbench.console import progress as progress_bar

            with progress_bar(f"extract {spec.dirname}", len(todo), enabled=progress) as advance:
                while True:
                    t0 = time.perf_counter()
                    item = q.get()
                    report.decode_wait_s += time.perf_counter() - t0
                    if item is _END:
                        break
                    kind, video, *payload = item
                    if kind == "error":
                        raise payload[0]
                    if kind == "start":
                        plan = payload[0]
                        sums = None
                        pair_frame = torch.from_numpy(plan.pair_frame)
                    elif kind == "frames":
                        idx, frames = payload
                        t1 = time.perf_counter()
                        emb = embedder(frames)
                        if sums is None:
                            sums = torch.zeros((plan.n_snippets, *emb.shape[1:]), device=emb.device)
                        lo, hi = int(idx[0]), int(idx[-1])
                        sel = torch.nonzero((pair_frame >= lo) & (pair_frame <= hi)).flatten()
                        pos = torch.from_numpy(np.searchsorted(idx, plan.pair_frame[sel.numpy()]))
                        w = torch.from_numpy(plan.pair_weight[sel.numpy()]).to(emb.device).view(-1, 1, 1)
                        snip = torch.from_numpy(plan.pair_snippet[sel.numpy()]).to(emb.device)
                        sums.index_add_(0, snip, emb[pos.to(emb.device)] * w)
                        report.model_s += time.perf_counter() - t1
                        report.n_frames += len(idx)
                    elif kind == "end":
                        if sums is None:  # no snippet (video shorter than one snippet under tail="drop")
                            d = int(embedder.model.visual.output_dim)
                            array = np.zeros((0, spec.n_crops, d), np.float32)
                        else:
                            w = torch.from_numpy(plan.weights).to(sums.device).view(-1, 1, 1)
                            array = (sums / w).cpu().numpy().astype(np.float32)
                        if spec.motion != "none":
                            t1 = time.perf_counter()
                            array = with_motion(array, paths[video], plan.n_frames, spec)
                            report.model_s += time.perf_counter() - t1
                        data = _npy_bytes(array)
                        atomic_write_bytes(store.file(dataset, spec, video), data)
                        entries[video] = {
                            "file": store.file(dataset, spec, video).name,
                            "sha256": _sha(data),
                            "shape": list(array.shape),
                            "n_frames": plan.n_frames,
                            "source": stamps[video],
                        }
                        report.extracted.append(video)
                        advance()
                        if world_size == 1 and time.perf_counter() - last_flush > 30:
                            _write_manifest(folder, header, entries)
                            last_flush = time.perf_counter()
        except BaseException:
            if world_size == 1 and entries:  # keep what was written before the failure
                _write_manifest(folder, header, entries)
            raise
        finally:
            stop.set()
            worker.join(timeout=10)
    # videos present on disk but missing from the manifest (an interrupted run): hash them now
    known = read_manifest(folder).get("videos", {})
    for video in report.skipped:
        if video not in known:
            path = store.file(dataset, spec, video)
            data = path.read_bytes()
            arr = np.load(io.BytesIO(data), allow_pickle=False)
            entries[video] = {
                "file": path.name,
                "sha256": _sha(data),
                "shape": list(arr.shape),
                "n_frames": None,
                "source": stamps[video],
            }
    report.seconds = time.perf_counter() - start
    if world_size > 1:
        part = folder / f"manifest.part{rank}.json"
        atomic_write_bytes(part, json.dumps({"header": header, "videos": entries}, sort_keys=True).encode())
    elif entries or not (folder / MANIFEST).is_file():
        _write_manifest(folder, header, entries)
    return report


def merge_manifests(folder: Path) -> dict[str, Any]:
    """Merge the ``manifest.part<rank>.json`` files of a sharded run into ``manifest.json`` (rank 0)."""
    folder = Path(folder)
    parts = sorted(folder.glob("manifest.part*.json"))
    header: dict[str, Any] = {}
    entries: dict[str, Any] = {}
    for part in parts:
        data = json.loads(part.read_text())
        hdr = data.get("header", {})
        if (
            "weights_sha256" in hdr
            and header.get("weights_sha256", hdr["weights_sha256"]) != hdr["weights_sha256"]
        ):
            raise DataError(f"{part}: weights hash {hdr['weights_sha256']} differs from the other ranks'")
        header.update({k: v for k, v in hdr.items() if k not in header or k == "weights_sha256"})
        entries.update(data.get("videos", {}))
    _write_manifest(folder, header, entries)
    for part in parts:
        part.unlink()
    return read_manifest(folder)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu`` (:func:`vadbench.devices.resolve_device`)."""
    from vadbench.devices import resolve_device as resolve

    return resolve(device)


def _version() -> str:
    from vadbench import __version__

    return __version__


# ------------------------------------------------------------------------------------------ sharding


def dist_env() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the torchrun environment (0, 1, 0 when absent)."""
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def extract_distributed(
    dataset: Any,
    videos: Sequence[str] | None = None,
    spec: FeatureSpec | None = None,
    device: str = "cpu",
    store: FeatureStore | None = None,
    **kwargs: Any,
) -> ExtractReport:
    """:func:`extract` over the ranks of a torch.distributed job (torchrun env, gloo on CPU / nccl on CUDA).

    Each rank writes its own videos' files; after a barrier rank 0 merges the manifests. Outside a
    distributed job (``WORLD_SIZE`` unset or 1) this is plain :func:`extract`.
    """
    import torch
    import torch.distributed as dist

    rank, world, local_rank = dist_env()
    if world <= 1 and not dist.is_initialized():
        return extract(dataset, videos, spec, device, store, **kwargs)
    spec = spec or FeatureSpec()
    store = store or FeatureStore()
    cuda = str(device).startswith("cuda")
    if cuda:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    own = not dist.is_initialized()
    if own:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        error: BaseException | None = None
        try:
            report = extract(dataset, videos, spec, device, store, rank=rank, world_size=world, **kwargs)
        except Exception as err:  # noqa: BLE001 - shared with the other ranks first, then re-raised
            error = err
        # tell every rank whether one failed, so that none waits forever at the barrier
        failed = torch.tensor([0 if error is None else 1], device=device if cuda else "cpu")
        dist.all_reduce(failed)
        if error is not None:
            raise error
        if int(failed.item()):
            raise DataError(f"extraction failed on {int(failed.item())} other rank(s); see their messages")
        dist.barrier()
        if rank == 0:
            merge_manifests(store.path(dataset, spec))
        dist.barrier()
    finally:
        if own:
            dist.destroy_process_group()
    return report


# ---------------------------------------------------------------------------------------------------- loading


def load_features(
    dataset: Any,
    videos: Sequence[str],
    spec: FeatureSpec | None = None,
    device: str = "cpu",
    store: FeatureStore | None = None,
    *,
    progress: bool = True,
    verify: bool = True,
    **extract_kwargs: Any,
) -> dict[str, np.ndarray]:
    """``{video: float32 [T, K, D]}`` for ``videos``, extracting missing ones first (the runner calls it).

    Example:
        >>> feats = load_features(my_dataset, ["01_001"], FeatureSpec(crops="center"))  # doctest: +SKIP
    """
    spec = spec or FeatureSpec()
    store = store or FeatureStore()
    videos = [str(v) for v in videos]
    # extract() skips what is already stored and current (it re-extracts videos whose source changed)
    extract(dataset, videos, spec, device, store, progress=progress, **extract_kwargs)
    return {v: store.read(dataset, spec, v, verify=verify) for v in videos}


def iter_features(
    dataset: Any, videos: Sequence[str], spec: FeatureSpec, store: FeatureStore | None = None
) -> Iterator[tuple[str, np.ndarray]]:
    """``(video, [T, K, D])`` one at a time from the store (nothing is extracted)."""
    store = store or FeatureStore()
    for v in videos:
        yield v, store.read(dataset, spec, v)
