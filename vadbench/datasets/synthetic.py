"""The embedded synthetic dataset: a small ShanghaiTech-layout benchmark generated from a seed.

``make_synthetic(root, seed, preset)`` renders several camera scenes (textured backgrounds, one-way and
two-way walkways, trees / pillars / hedges in front of them) with people walking at normal speeds, and
writes them in the ShanghaiTech layout that :class:`~vadbench.datasets.shanghaitech.ShanghaiTech` reads::

    training/videos/NN_XXX.avi            normal videos (MPEG-4 part 2 in AVI, as the real release)
    testing/frames/NN_XXXX/NNN.jpg        test videos as frames (0-based, 3 digits)
    testing/test_frame_mask/NN_XXXX.npy   1-D uint8 per frame
    testing/test_pixel_mask/NN_XXXX.npy   (n, H, W) uint8
    SH_Train.txt, SH_Test.txt             weak re-split in the manner of Zhong et al. (2019)
    annotations/anomaly_types.csv         one row per test anomaly: video, event, type, start, end, ...
    annotations/boxes/<video>.csv         per-object boxes of every video (frame, object_id, x1..y2, ...)
    annotations/scenes.csv                per camera: layout template, whether bikes are allowed
    synthetic.json                        manifest: generator version, seed, preset, counts, label hashes

Anomaly types (see ``ANOMALY_TYPES``): a vehicle on a walkway (appearance), a runner (speed), walking against
a one-way flow (direction), loitering and falling (behaviour) and a cyclist where bikes are not allowed
(scene-dependent: cyclists are normal traffic in the scenes that allow them). Some events are small (far
lane) or partly hidden behind foreground objects; the table records their size and visible fraction.

The same seed and preset give byte-identical files (labels, lists, boxes, and on the same library builds
also the jpg and avi files). ``Synthetic`` (registered as ``synthetic``) is the ShanghaiTech loader on such a
folder, generated on first use under ``cache_dir()/datasets/synthetic-<preset>-s<seed>``.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "syn"
    >>> root = make_synthetic(out, seed=0, preset="tiny")  # doctest: +SKIP
    >>> Synthetic(root).split("weak").test[:2]  # doctest: +SKIP
    ['01_0002', '02_0001']
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vadbench.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np
    import typer

    from vadbench.datasets._synthetic_dataset import Synthetic  # noqa: F401  (lazy, see __getattr__)

PathLike = str | os.PathLike[str]

#: Bump when the generated content changes for a given seed (cached copies of older versions are rebuilt).
GENERATOR_VERSION = "1"
MANIFEST = "synthetic.json"
GENERATOR = "vadbench.datasets.synthetic"

#: Presets: frame size, cameras, videos per camera, frame-count ranges (inclusive).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"width": 96, "height": 64, "scenes": 3, "train_per_scene": 4, "test_per_scene": 4,
             "train_frames": (64, 96), "test_frames": (80, 112)},
    "small": {"width": 128, "height": 96, "scenes": 5, "train_per_scene": 10, "test_per_scene": 8,
              "train_frames": (120, 200), "test_frames": (128, 208)},
}

#: type -> (category, description). The category is what the anomaly differs from normal in.
ANOMALY_TYPES: dict[str, tuple[str, str]] = {
    "vehicle": ("appearance", "a cart / car driving along a walkway"),
    "runner": ("speed", "a person running (3.4-5 m/s; walkers 0.9-1.8 m/s)"),
    "wrong_way": ("direction", "a person walking at normal speed against the flow of a one-way lane"),
    "loitering": ("behaviour", "a person standing still on a walkway for long (short stops are normal)"),
    "falling": ("behaviour", "a person falling over and lying on the walkway"),
    "bicycle": ("scene", "a cyclist in a scene where bikes are not allowed (normal traffic where they are)"),
}
#: Relative frequency of the anomaly types (4 of the 6 types are hard: no change of appearance).
TYPE_WEIGHTS = {"vehicle": 2.0, "runner": 1.5, "wrong_way": 1.5, "loitering": 1.5, "falling": 1.0,
                "bicycle": 1.5}
#: Speeds (m/s) of the moving anomalies (normal: ``_synth_render.WALK_SPEED`` and ``BIKE_SPEED``).
ANOMALY_SPEED = {"vehicle": (2.5, 4.5), "runner": (3.4, 5.0), "bicycle": (4.0, 6.0)}
#: Vehicles are drawn this many times the local person height (a small car / cart).
VEHICLE_SCALE = 1.4
#: Share of official test videos moved to the weak training set, and of training videos kept there
#: (Zhong et al.: 63 of 107 and 175 of 330).
WEAK_TEST_TO_TRAIN = 63 / 107
WEAK_TRAIN_KEEP = 175 / 330
#: A person standing still this many frames on a walkway becomes "loitering" (normal stops are shorter).
LOITER_AFTER = 24
#: Events whose mean box height is below this fraction of the frame height are flagged ``small``;
#: below this visible fraction, ``occluded``.
SMALL_FRAC = 0.12
OCCLUDED_VISIBLE = 0.8
#: Test frames are saved nearly losslessly (quality 100, 4:4:4) after the video-codec round trip, so that
#: they carry the same artefacts as the decoded training videos: at quality 95 the extra JPEG noise alone
#: let a linear probe tell official-test from training videos (AUC 0.7-0.9 on normal frames), a shortcut.
JPEG_QUALITY = 100
JPEG_SUBSAMPLING = 0
#: MPEG-4 part 2 (the codec family of the real release's AVI files) at a fixed quantiser of 2.
CODEC = "mpeg4"
CODEC_OPTIONS = {"flags": "+qscale", "global_quality": str(2 * 118)}
BOX_COLUMNS = ("frame", "object_id", "x1", "y1", "x2", "y2", "class", "is_anomalous", "event", "visible")
TYPE_COLUMNS = ("video", "event", "type", "category", "start", "end", "object_id", "scene", "size_px",
                "visible", "small", "occluded")


def default_root(seed: int = 0, preset: str = "tiny") -> Path:
    """The cache folder of a generated copy: ``cache_dir()/datasets/synthetic-<preset>-s<seed>``.

    >>> default_root(3, "small").name
    'synthetic-small-s3'
    """
    from vadbench.paths import cache_dir

    return cache_dir() / "datasets" / f"synthetic-{preset}-s{seed}"


def read_manifest(root: PathLike) -> dict[str, Any] | None:
    """The manifest of a generated folder, or None when there is none."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable synthetic manifest ({err})") from None
    return data if isinstance(data, dict) else None


def _check_args(seed: int, preset: str) -> None:
    if preset not in PRESETS:
        raise ConfigError(f"unknown synthetic preset {preset!r}; known: {', '.join(PRESETS)}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"synthetic seed must be a non-negative integer, got {seed!r}")


def make_synthetic(root: PathLike, seed: int = 0, preset: str = "tiny", *, force: bool = False,
                   progress: bool = True) -> Path:
    """Generate the synthetic dataset into ``root`` (atomically) and return ``root``.

    A folder that already holds this seed, preset and generator version is returned as is. Any other existing
    folder is an error, unless ``force`` and it is an (older or other) synthetic folder or empty: then it is
    replaced. Generation writes into a temporary sibling folder that is renamed into place at the end.
    """
    _check_args(seed, preset)
    root = Path(root).expanduser()
    root.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(root.parent / f".{root.name}.lock")):
        man = read_manifest(root)
        if man is not None and _matches(man, seed, preset):
            return root
        if root.exists():
            empty = root.is_dir() and not any(root.iterdir())
            if man is None and not empty:
                raise DataError(f"{root} exists and is not a synthetic dataset folder (no {MANIFEST}); "
                                "choose another --root")
            if not force and not empty:
                raise DataError(f"{root} holds synthetic data of {_describe(man)}, not seed {seed} preset "
                                f"{preset!r} version {GENERATOR_VERSION}; pass --force to regenerate it")
        tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            _generate(tmp, seed, preset, progress=progress)
            if root.exists():
                trash = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
                os.replace(root, trash)
                os.replace(tmp, root)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(tmp, root)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return root


def _matches(man: Mapping[str, Any], seed: int, preset: str) -> bool:
    return (man.get("generator") == GENERATOR and man.get("version") == GENERATOR_VERSION
            and man.get("seed") == seed and man.get("preset") == preset)


def _describe(man: Mapping[str, Any] | None) -> str:
    if not man:
        return "unknown origin"
    return f"seed {man.get('seed')} preset {man.get('preset')!r} version {man.get('version')}"


def ensure_synthetic(root: PathLike | None = None, seed: int | None = None,
                     preset: str | None = None) -> Path:
    """The folder to read, generated on first use.

    ``root=None`` uses :func:`default_root` (rebuilt when another generator version made it); an explicit
    ``root`` without data is generated there, one with data must match the ``seed`` / ``preset`` given
    (None accepts what is there).
    """
    if root is None:
        seed, preset = 0 if seed is None else seed, preset or "tiny"
        _check_args(seed, preset)
        path = default_root(seed, preset)
        man = read_manifest(path)
        return make_synthetic(path, seed, preset, force=man is not None and man.get("generator") == GENERATOR)
    path = Path(root).expanduser()
    man = read_manifest(path)
    if man is None:
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise DataError(f"{path} is not a synthetic dataset folder (no {MANIFEST}); generate one with "
                            f"`vadbench datasets make synthetic --root {path}` or pass an empty / new folder")
        return make_synthetic(path, 0 if seed is None else seed, preset or "tiny")
    for key, want in (("seed", seed), ("preset", preset)):
        if want is not None and man.get(key) != want:
            raise ConfigError(f"{path} holds synthetic {key} {man.get(key)!r}, not {want!r}; use another "
                              "root or regenerate with `vadbench datasets make synthetic --root "
                              f"{path} --force`")
    if man.get("version") != GENERATOR_VERSION:
        raise DataError(f"{path} was generated by synthetic generator version {man.get('version')}, this is "
                        f"version {GENERATOR_VERSION}; regenerate with `vadbench datasets make synthetic "
                        f"--root {path} --seed {man.get('seed')} --preset {man.get('preset')} --force`")
    return path


# --------------------------------------------------------------------------------------------------
# planning: which videos, scenes, events, weak split (a function of seed and preset only)


@dataclass
class VideoPlan:
    video: str
    subset: str  # "train" / "test" (official folder)
    scene: int
    n_frames: int
    key: tuple[int, ...]  # rng key of the video's content
    events: list[str] = field(default_factory=list)
    weak: str = ""  # "train" / "test"


def plan(seed: int, preset: str) -> tuple[list[dict[str, Any]], list[VideoPlan]]:
    """Scenes (template, bikes allowed) and videos (ids, lengths, event types, weak subset)."""
    import numpy as np

    _check_args(seed, preset)
    p = PRESETS[preset]
    rng = np.random.default_rng([seed, 1])
    offset = int(rng.integers(4))
    scenes = [{"scene": s, "template": (s - 1 + offset) % 4, "bikes_allowed": (s - 1) % 3 == 0}
              for s in range(1, p["scenes"] + 1)]
    videos: list[VideoPlan] = []
    for sc in scenes:
        s = sc["scene"]
        for k in range(1, p["train_per_scene"] + 1):
            n = int(rng.integers(p["train_frames"][0], p["train_frames"][1] + 1))
            videos.append(VideoPlan(f"{s:02d}_{k:03d}", "train", s, n, (seed, 2, s, 0, k)))
        for k in range(1, p["test_per_scene"] + 1):
            n = int(rng.integers(p["test_frames"][0], p["test_frames"][1] + 1))
            videos.append(VideoPlan(f"{s:02d}_{k:04d}", "test", s, n, (seed, 2, s, 1, k)))
    tests = [v for v in videos if v.subset == "test"]
    n_events = [1 + int(rng.random() < 0.35) for _ in tests]
    deck = _deck(sum(n_events), rng)
    bikes = {sc["scene"]: sc["bikes_allowed"] for sc in scenes}
    for slot in range(max(n_events)):  # all first events, then the second ones
        for v, k in zip(tests, n_events, strict=True):
            if slot >= k:
                continue
            i = next((i for i, t in enumerate(deck) if not (t == "bicycle" and bikes[v.scene])), None)
            t = deck.pop(i) if i is not None else str(rng.choice([t for t in TYPE_WEIGHTS if t != "bicycle"]))
            v.events.append(t)
    # weak split, stratified by first event type and scene (test videos) and by scene (training videos)
    order = sorted(tests, key=lambda v: (list(TYPE_WEIGHTS).index(v.events[0]), v.scene, rng.random()))
    for i, v in enumerate(order):
        v.weak = "train" if int((i + 1) * WEAK_TEST_TO_TRAIN) > int(i * WEAK_TEST_TO_TRAIN) else "test"
    for sc in scenes:
        train = [v for v in videos if v.subset == "train" and v.scene == sc["scene"]]
        idx = rng.permutation(len(train))
        keep = int(round(len(train) * WEAK_TRAIN_KEEP))
        for j, i in enumerate(idx):
            train[int(i)].weak = "train" if j < keep else "test"
    return scenes, videos


def _deck(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` anomaly types: one of each first (shuffled; first events are always realised, so every type
    occurs when there are at least 6 test videos), then the rest in proportion to ``TYPE_WEIGHTS``."""
    import numpy as np

    types = list(TYPE_WEIGHTS)
    first = [types[i] for i in rng.permutation(len(types))][:n]
    rest = n - len(first)
    w = np.array([TYPE_WEIGHTS[t] for t in types])
    share = w / w.sum() * rest
    counts = np.floor(share).astype(int)
    for i in np.argsort(-(share - np.floor(share)), kind="stable")[: rest - counts.sum()]:
        counts[i] += 1
    more = [t for t, c in zip(types, counts, strict=True) for _ in range(int(c))]
    return first + [more[i] for i in rng.permutation(len(more))]


# --------------------------------------------------------------------------------------------------
# content of one video


def _traffic(scene, n: int, rng: np.random.Generator, tracks: list) -> None:
    """Normal traffic: walkers (and cyclists where allowed) on every lane, short stops, people waiting."""
    from vadbench.datasets import _synth_render as R

    density = scene.density * rng.uniform(0.7, 1.3)
    for lane in scene.lanes:
        dirs = [lane.flow] if lane.flow else [1, -1]
        for d in dirs:
            rate = density / len(dirs)
            # people already on the lane at frame 0, then arrivals
            probe = R.walk_path(scene, lane, d, 1.3, rng, 6000)
            t_cross = len(probe["x"])
            starts = [(0, float(rng.uniform(0, t_cross))) for _ in range(rng.poisson(rate * t_cross))]
            t = float(rng.exponential(1 / rate))
            while t < n:
                starts.append((int(t), 0.0))
                t += float(rng.exponential(1 / rate))
            for t0, offset in starts:
                group = 2 if rng.random() < 0.2 else 1
                bike = scene.bikes_allowed and rng.random() < 0.25
                speed = float(rng.uniform(*(R.BIKE_SPEED if bike else R.WALK_SPEED)))
                stop = None
                if not bike and rng.random() < 0.12:  # a short normal stop (phone, looking around)
                    stop = (float(rng.uniform(0.2, 0.8)) * lane.length,
                            int(rng.integers(6, LOITER_AFTER - 3)))
                for g in range(group):
                    path = R.walk_path(scene, lane, d, speed, rng, max(n - t0, 1) + 1, tau_offset=offset,
                                       stop=stop)
                    if len(path["x"]) == 0:
                        continue
                    start = t0 + g * int(rng.integers(0, 3))
                    _add_track(tracks, "cyclist" if bike else "person", start, path, lane, d, rng, R)
    for x, y in scene.rest_spots:
        if rng.random() < 0.5:
            path = R.stand_path(rng, x, y, n)
            _add_track(tracks, "person", 0, path, None, 1, rng, R)


def _add_track(tracks: list, kind: str, t0: int, path: dict, lane, direction: int, rng, R, *,
               abnormal=None, event: int = -1):
    import numpy as np

    heading = 1
    side = True
    if lane is not None:
        ux = float(lane.unit[0]) * direction
        heading = 1 if ux >= 0 else -1
        side = abs(float(lane.unit[0])) > 0.55
    tr = R.Track(
        oid=len(tracks), kind=kind, t0=int(t0), x=path["x"], y=path["y"], phase=path["phase"],
        angle=path["angle"], heading=heading, side_view=side, colors=R.random_colors(rng, kind),
        abnormal=np.zeros(len(path["x"]), bool) if abnormal is None else abnormal, event=event,
    )
    tracks.append(tr)
    return tr


def _in_frame(scene, x, y) -> np.ndarray:
    import numpy as np

    return (x >= 0) & (x < scene.width) & (y >= 0) & (y < scene.height + 0.3 * np.asarray(
        scene.person_height(y)))


def _anomaly(scene, etype: str, n: int, ts: int, rng: np.random.Generator, tracks: list, event: int):
    """Add one anomalous object whose anomaly starts at frame ``ts``; returns its track."""
    import numpy as np

    from vadbench.datasets import _synth_render as R

    lanes = scene.lanes
    cand = list(range(len(lanes)))
    if etype == "wrong_way":
        cand = [i for i, ln in enumerate(lanes) if ln.flow != 0]
    occl_lanes = [o for o in scene.occluders if o.lane in cand]
    use_occ = bool(occl_lanes) and rng.random() < 0.35
    occ = occl_lanes[int(rng.integers(len(occl_lanes)))] if use_occ else None
    if occ is not None:
        li = occ.lane
    elif len(cand) > 1 and rng.random() < 0.3:  # the farthest lane: a small object
        mids = [float(np.mean([lanes[i].p0[1], lanes[i].p1[1]])) for i in cand]
        li = cand[int(np.argmin(mids))]
    else:
        li = cand[int(rng.integers(len(cand)))]
    lane = lanes[li]
    d = -lane.flow if etype == "wrong_way" else (lane.flow or (1 if rng.random() < 0.5 else -1))
    kind, speed, stop, fall = "person", float(rng.uniform(*R.WALK_SPEED)), None, None
    if etype == "vehicle":
        kind, speed = "vehicle", float(rng.uniform(*ANOMALY_SPEED["vehicle"]))
    elif etype == "runner":
        speed = float(rng.uniform(*ANOMALY_SPEED["runner"]))
    elif etype == "bicycle":
        kind, speed = "cyclist", float(rng.uniform(*ANOMALY_SPEED["bicycle"]))
    elif etype in ("loitering", "falling"):
        # where on the lane (in the direction of travel): near the occluder, else anywhere in view
        full = R.walk_path(scene, lane, d, speed, np.random.default_rng(0), 8000)
        inside = np.flatnonzero(_in_frame(scene, full["x"], full["y"]))
        s_all = np.linalg.norm(np.stack([full["x"], full["y"]], 1) - lane.point(0, d)[None], axis=1)
        if occ is not None:
            s_occ = occ.s if d > 0 else lane.length - occ.s
            s_at = s_occ + float(rng.uniform(-0.1, 0.1)) * float(scene.person_height(lane.point(s_occ, d)[1]))
        else:
            lo, hi = s_all[inside[0]], s_all[inside[-1]]
            s_at = float(lo + rng.uniform(0.25, 0.75) * (hi - lo))
        if etype == "loitering":
            stop = (s_at, LOITER_AFTER + int(rng.uniform(0.3, 0.5) * n))
        else:
            fall = s_at
    path = R.walk_path(scene, lane, d, speed, rng, 8000, stop=stop, fall=fall)
    m = len(path["x"])
    tau = np.arange(m)
    if etype == "loitering":
        sa = int(path["stop_at"])
        abnormal = (tau >= sa + LOITER_AFTER) & (tau < sa + stop[1])
        onset = sa + LOITER_AFTER
    elif etype == "falling":
        abnormal = tau >= int(path["fall_at"])
        onset = int(path["fall_at"])
    else:
        abnormal = np.ones(m, bool)
        vis = np.flatnonzero(_in_frame(scene, path["x"], path["y"]))
        onset = int(vis[0]) if vis.size else 0
    t0 = ts - onset
    # keep only what can be seen in this video
    lo, hi = max(0, -t0), min(m, n - t0)
    if hi <= lo:
        return None
    cut = {k: v[lo:hi] for k, v in path.items() if np.ndim(v)}
    tr = _add_track(tracks, kind, t0 + lo, cut, lane, d, rng, R, abnormal=abnormal[lo:hi], event=event)
    tr.meta = {"type": etype, "lane": li, "occluder": occ is not None}
    if kind == "vehicle":
        tr.scale = VEHICLE_SCALE
    return tr


def build_video(scene, vp: VideoPlan):
    """Tracks of one video (normal traffic plus, for test videos, the planned anomalies)."""
    import numpy as np

    rng = np.random.default_rng(list(vp.key))
    tracks: list = []
    _traffic(scene, vp.n_frames, rng, tracks)
    n = vp.n_frames
    next_start = int(rng.uniform(0.25, 0.65) * n)
    for e, etype in enumerate(vp.events):
        if next_start > n - 16:
            break
        tr = _anomaly(scene, etype, n, next_start, rng, tracks, e)
        if tr is None:
            continue
        ab = np.flatnonzero(tr.abnormal)
        end = tr.t0 + (int(ab[-1]) if ab.size else 0)
        next_start = end + int(rng.integers(4, 16))
    return tracks, rng


# --------------------------------------------------------------------------------------------------
# writing


def _encode_avi(frames: np.ndarray, dest: Any) -> None:
    """Write frames (n, H, W, 3) uint8 as MPEG-4 part 2 in AVI to a path or a binary file object."""
    import av

    with av.open(dest, "w", format="avi") as container:
        stream = container.add_stream(CODEC, rate=_fps(), options=dict(CODEC_OPTIONS))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _decode(src: Any) -> np.ndarray:
    import av
    import numpy as np

    with av.open(src) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _fps() -> int:
    from vadbench.datasets._synth_render import FPS

    return FPS


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    lines = [",".join(header)] + [",".join(_fmt(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v == v else "nan"
    return str(v)


def _generate(out: Path, seed: int, preset: str, *, progress: bool) -> None:
    import io

    import numpy as np
    from PIL import Image

    from vadbench.datasets import _synth_render as R

    p = PRESETS[preset]
    W, H = p["width"], p["height"]
    scene_meta, videos = plan(seed, preset)
    scenes = {sc["scene"]: R.make_scene(np.random.default_rng([seed, 0, sc["scene"]]), sc["scene"], W, H,
                                        sc["template"], sc["bikes_allowed"]) for sc in scene_meta}
    (out / "training" / "videos").mkdir(parents=True)
    for sub in ("frames", "test_frame_mask", "test_pixel_mask"):
        (out / "testing" / sub).mkdir(parents=True)
    (out / "annotations" / "boxes").mkdir(parents=True)
    type_rows: list[tuple] = []
    counts = {"train_videos": 0, "test_videos": 0, "train_frames": 0, "test_frames": 0, "abnormal_frames": 0}

    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"synthetic {preset} seed {seed}", total=len(videos))
        for vp in videos:
            scene = scenes[vp.scene]
            tracks, rng = build_video(scene, vp)
            gain, noise = float(rng.uniform(0.92, 1.08)), float(rng.uniform(1.5, 2.5))
            frames, pix, boxes, stats = R.render(scene, tracks, vp.n_frames, rng, gain=gain, noise=noise)
            if vp.subset == "test" and not pix.any():
                raise AssertionError(f"synthetic test video {vp.video} has no anomaly")  # plan guarantees one
            _write_csv(out / "annotations" / "boxes" / f"{vp.video}.csv", BOX_COLUMNS, boxes)
            if vp.subset == "train":
                _encode_avi(frames, str(out / "training" / "videos" / f"{vp.video}.avi"))
                counts["train_videos"] += 1
                counts["train_frames"] += vp.n_frames
            else:
                buf = io.BytesIO()  # through the video codec first, as the real test frames were
                _encode_avi(frames, buf)
                buf.seek(0)
                decoded = _decode(buf)
                folder = out / "testing" / "frames" / vp.video
                folder.mkdir()
                for i, f in enumerate(decoded):
                    Image.fromarray(f).save(folder / f"{i:03d}.jpg", quality=JPEG_QUALITY,
                                          subsampling=JPEG_SUBSAMPLING)
                fmask = pix.any(axis=(1, 2)).astype(np.uint8)
                np.save(out / "testing" / "test_frame_mask" / f"{vp.video}.npy", fmask)
                np.save(out / "testing" / "test_pixel_mask" / f"{vp.video}.npy", pix)
                counts["test_videos"] += 1
                counts["test_frames"] += vp.n_frames
                counts["abnormal_frames"] += int(fmask.sum())
                by_event = {tr.event: tr for tr in tracks if tr.event >= 0}
                for ev in sorted(stats):
                    rows = stats[ev]
                    frames_ev = [r[0] for r in rows]
                    size = float(np.mean([r[2] for r in rows]))
                    vis = float(np.mean([r[1] for r in rows]))
                    etype = by_event[ev].meta["type"]
                    type_rows.append((vp.video, ev, etype, ANOMALY_TYPES[etype][0], min(frames_ev),
                                      max(frames_ev) + 1, by_event[ev].oid, f"{vp.scene:02d}", round(size, 1),
                                      round(vis, 3), int(size < SMALL_FRAC * H), int(vis < OCCLUDED_VISIBLE)))
            bar.advance(task)
    _write_csv(out / "annotations" / "anomaly_types.csv", TYPE_COLUMNS, type_rows)
    flows = {1: "oneway", -1: "oneway", 0: "twoway"}
    _write_csv(out / "annotations" / "scenes.csv", ("scene", "template", "bikes_allowed", "lanes"),
               [(f"{sc['scene']:02d}", sc["template"], int(sc["bikes_allowed"]),
                 " ".join(flows[ln.flow] for ln in scenes[sc["scene"]].lanes)) for sc in scene_meta])
    for name, which in (("SH_Train.txt", "train"), ("SH_Test.txt", "test")):
        ids = sorted(v.video for v in videos if v.weak == which)
        (out / name).write_text("\n".join(ids))  # no trailing newline, as Zhong's lists
    label_files = sorted([*(out / "testing" / "test_frame_mask").glob("*.npy"),
                          *(out / "testing" / "test_pixel_mask").glob("*.npy"),
                          *(out / "annotations").rglob("*.csv"), out / "SH_Train.txt", out / "SH_Test.txt"])
    manifest = {
        "generator": GENERATOR, "version": GENERATOR_VERSION, "seed": seed, "preset": preset,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}, "fps": R.FPS,
        "codec": CODEC, "jpeg_quality": JPEG_QUALITY, "counts": counts, "events": len(type_rows),
        "anomaly_types": {k: v[0] for k, v in ANOMALY_TYPES.items()},
        "label_sha256": {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest()
                         for f in label_files},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


# --------------------------------------------------------------------------------------------------
# the dataset (defined in _synthetic_dataset, imported on first use so that this module stays light: the
# CLI imports it at start-up, and the ShanghaiTech loader pulls in numpy)


def __getattr__(name: str) -> Any:
    if name == "Synthetic":
        from vadbench.datasets._synthetic_dataset import Synthetic

        return Synthetic
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------------
# command line


def register_cli(apps: Mapping[str, typer.Typer]) -> None:
    """Add ``vadbench datasets make synthetic [--root R] [--seed S] [--preset tiny|small] [--force]``."""
    import typer

    from vadbench.commands._common import fail_on_error

    @apps["datasets"].command("make")
    @fail_on_error
    def make(
        name: str = typer.Argument(..., help="Dataset to generate (only 'synthetic' can be generated)."),
        root: Path | None = typer.Option(None, "--root", help="Target folder (default: the cache copy)."),
        seed: int = typer.Option(0, "--seed", help="Generator seed."),
        preset: str = typer.Option("tiny", "--preset", help="tiny (tests, CI) or small (demo)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing synthetic folder."),
    ) -> None:
        """Generate the synthetic ShanghaiTech-layout dataset (deterministic for a seed)."""
        if name != "synthetic":
            raise ConfigError(f"only 'synthetic' can be generated, not {name!r}; real datasets are "
                              f"downloaded by hand (see datasets/{name}/README.md)")
        _check_args(seed, preset)
        target = Path(root) if root is not None else default_root(seed, preset)
        out = make_synthetic(target, seed, preset, force=force)
        man = read_manifest(out) or {}
        c = man.get("counts", {})
        typer.echo(f"synthetic {preset} seed {seed}: {c.get('train_videos')} training videos, "
                   f"{c.get('test_videos')} test videos ({c.get('test_frames')} frames, "
                   f"{c.get('abnormal_frames')} abnormal, {man.get('events')} events) in {out}")
