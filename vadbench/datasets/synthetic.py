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
    annotations/states/<video>.csv        per-object, per-frame structured state (kind, colour, action, ...)
    annotations/scenes.csv                per camera: layout template, whether bikes are allowed
    synthetic.json                        manifest: generator version, seed, preset, counts, label hashes

Anomaly types (see ``ANOMALY_TYPES``): a vehicle on a walkway (appearance), a runner (speed), walking against
a one-way flow (direction), loitering and falling (behaviour) and a cyclist where bikes are not allowed
(scene-dependent: cyclists are normal traffic in the scenes that allow them). Some events are small (far
lane) or partly hidden behind foreground objects; the table records their size and visible fraction.
A test video has 1-3 events with onsets anywhere (also in progress at the first frame or running past the
last) and varied durations; every video, normal or not, has as many featured objects and draws its length
from the same range, and the placement keeps content-free scores (position, video length) at chance.

Without rendering (plan and geometry only; see ``_synth_world``): :func:`world`, :func:`frame_labels`,
:func:`split_labels`, :func:`event_segments` (typed segments for mAP@IoU) and :func:`object_states` (the
structured state of every object in every frame, for captions); :func:`render_video` renders any video of
any seed as the dataset holds it.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vadbench.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import typer

    from vadbench.datasets._synthetic_dataset import Synthetic  # noqa: F401  (lazy, see __getattr__)

PathLike = str | os.PathLike[str]

#: Bump when the generated content changes for a given seed (cached copies of older versions are rebuilt).
#: 2-3: onsets anywhere (a window on a stationary stream of events), varied durations, 1-3 events,
#: content-free probes at chance, people tens of pixels (2 was an intermediate placement).
GENERATOR_VERSION = "3"
MANIFEST = "synthetic.json"
GENERATOR = "vadbench.datasets.synthetic"

#: Presets: frame size, cameras, videos per camera, frame-count range (inclusive; the same for training and
#: test videos, so that video length tells nothing).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"width": 128, "height": 96, "scenes": 3, "train_per_scene": 4, "test_per_scene": 4,
             "frames": (64, 112)},
    "small": {"width": 192, "height": 144, "scenes": 5, "train_per_scene": 10, "test_per_scene": 8,
              "frames": (112, 208)},
}

#: type -> (category, description). The category is what the anomaly differs from normal in.
ANOMALY_TYPES: dict[str, tuple[str, str]] = {
    "vehicle": ("appearance", "a cart / car on a walkway (driving, sometimes parking for a while)"),
    "runner": ("speed", "a person running (3.4-5 m/s; walkers 0.9-1.8 m/s) for 1.3-7 s or the whole way"),
    "wrong_way": ("direction", "a person walking at normal speed against the flow of a one-way lane"),
    "loitering": ("behaviour", "a person standing still on a walkway for long (short stops are normal)"),
    "falling": ("behaviour", "a person falling over, lying on the walkway, then getting up"),
    "bicycle": ("scene", "a cyclist in a scene where bikes are not allowed (normal traffic where they are)"),
}
#: Relative frequency of the anomaly types beyond the first two events of each type.
TYPE_WEIGHTS = {"vehicle": 1.0, "runner": 1.5, "wrong_way": 1.5, "loitering": 1.5, "falling": 1.2,
                "bicycle": 1.3}
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
SMALL_FRAC = 0.25
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
# the world without pixels (public: the ``world`` models and the audit use it)


def world(seed: int = 0, preset: str = "tiny") -> Any:
    """The plan of ``(seed, preset)``: scenes, videos, events (``_synth_world.World``; cached, no pixels)."""
    from vadbench.datasets import _synth_world as SW

    _check_args(seed, preset)
    return SW.world(seed, preset, PRESETS[preset])


def video_ids(seed: int = 0, preset: str = "tiny") -> list[str]:
    """Every video id of the dataset (training ``NN_XXX`` and test ``NN_XXXX``), in generation order."""
    return [v.video for v in world(seed, preset).videos]


def object_states(seed: int, preset: str, video: str) -> pd.DataFrame:
    """The structured state of every object in every frame of ``video`` (no rendering needed).

    Columns ``_synth_world.STATE_COLUMNS``: frame, object_id, kind (person / cyclist / vehicle), colour,
    size (small / medium / large) and size_px, action (walking, running, standing, loitering, falling,
    lying, getting up, riding, driving, parked), pose (upright / lying / riding / vehicle), direction (left,
    right, towards / away from the camera, still), flow (with / against the lane's one-way flow, two-way,
    none), place (walkway / grass), scene, layout, bikes_allowed, the box x1..y2, visible, is_anomalous,
    event, type. The same rows as ``annotations/boxes/<video>.csv`` plus the attributes.

    >>> object_states(0, "tiny", "01_0001").iloc[0]["kind"]  # doctest: +SKIP
    'person'
    """
    from vadbench.datasets import _synth_world as SW

    return SW.states(world(seed, preset), video)


def render_video(seed: int, preset: str, video: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Render one video as ``make_synthetic`` does (before the codec): ``frames`` (n, H, W, 3) uint8, the
    anomaly pixel ``mask`` (n, H, W) uint8 and its :func:`object_states` table."""
    from vadbench.datasets import _synth_render as R
    from vadbench.datasets import _synth_world as SW

    w = world(seed, preset)
    vp = w.video(video)
    tracks, rng = SW.build_video(w, vp)
    gain, noise = float(rng.uniform(0.92, 1.08)), float(rng.uniform(1.5, 2.5))
    frames, mask = R.render(w.scenes[vp.scene], tracks, vp.n_frames, rng, gain=gain, noise=noise)
    return frames, mask, SW.states(w, video, tracks)


def frame_labels(seed: int = 0, preset: str = "tiny") -> dict[str, np.ndarray]:
    """Official frame labels (uint8 0/1) of every test video, without rendering (= the written masks)."""
    return {v.video: v.labels() for v in world(seed, preset).videos if v.subset == "test"}


def split_labels(seed: int = 0, preset: str = "tiny") -> dict[str, dict[str, np.ndarray]]:
    """Test labels of each split under its default convention (``semi``: official, ``weak``: rtfm),
    without rendering; equal to ``Synthetic(...).frame_labels(split=...)`` of the generated folder."""
    from vadbench.datasets import _synth_world as SW

    return SW.split_labels(world(seed, preset))


def event_segments(seed: int = 0, preset: str = "tiny") -> pd.DataFrame:
    """Typed event segments of every test video (= ``annotations/anomaly_types.csv``): video, event, type,
    category, start, end (0-based, end exclusive), object_id, scene, size_px, visible, small, occluded."""
    from vadbench.datasets import _synth_world as SW

    return SW.event_table(world(seed, preset))


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
    from vadbench.datasets import _synth_world as SW

    p = PRESETS[preset]
    w = world(seed, preset)
    (out / "training" / "videos").mkdir(parents=True)
    for sub in ("frames", "test_frame_mask", "test_pixel_mask"):
        (out / "testing" / sub).mkdir(parents=True)
    (out / "annotations" / "boxes").mkdir(parents=True)
    (out / "annotations" / "states").mkdir(parents=True)
    counts = {"train_videos": 0, "test_videos": 0, "train_frames": 0, "test_frames": 0, "abnormal_frames": 0}

    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"synthetic {preset} seed {seed}", total=len(w.videos))
        for vp in w.videos:
            frames, pix, table = render_video(seed, preset, vp.video)
            fmask = pix.any(axis=(1, 2)).astype(np.uint8)
            if vp.subset == "test" and not np.array_equal(fmask, vp.labels()):
                raise AssertionError(f"synthetic {vp.video}: rendered mask and planned labels differ")
            boxes = table.rename(columns={"kind": "class"})[list(BOX_COLUMNS)]
            boxes.to_csv(out / "annotations" / "boxes" / f"{vp.video}.csv", index=False, lineterminator="\n")
            table.to_csv(out / "annotations" / "states" / f"{vp.video}.csv", index=False, lineterminator="\n")
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
                np.save(out / "testing" / "test_frame_mask" / f"{vp.video}.npy", fmask)
                np.save(out / "testing" / "test_pixel_mask" / f"{vp.video}.npy", pix)
                counts["test_videos"] += 1
                counts["test_frames"] += vp.n_frames
                counts["abnormal_frames"] += int(fmask.sum())
            bar.advance(task)
    events = SW.event_table(w)
    events.to_csv(out / "annotations" / "anomaly_types.csv", index=False, lineterminator="\n")
    flows = {1: "oneway", -1: "oneway", 0: "twoway"}
    _write_csv(out / "annotations" / "scenes.csv", ("scene", "template", "layout", "bikes_allowed", "lanes"),
               [(f"{sc['scene']:02d}", sc["template"], w.scenes[sc["scene"]].name, int(sc["bikes_allowed"]),
                 " ".join(flows[ln.flow] for ln in w.scenes[sc["scene"]].lanes)) for sc in w.scene_meta])
    for name, which in (("SH_Train.txt", "train"), ("SH_Test.txt", "test")):
        ids = sorted(v.video for v in w.videos if v.weak == which)
        (out / name).write_text("\n".join(ids))  # no trailing newline, as Zhong's lists
    label_files = sorted([*(out / "testing" / "test_frame_mask").glob("*.npy"),
                          *(out / "testing" / "test_pixel_mask").glob("*.npy"),
                          *(out / "annotations").rglob("*.csv"), out / "SH_Train.txt", out / "SH_Test.txt"])
    manifest = {
        "generator": GENERATOR, "version": GENERATOR_VERSION, "seed": seed, "preset": preset,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}, "fps": R.FPS,
        "codec": CODEC, "jpeg_quality": JPEG_QUALITY, "counts": counts, "events": len(events),
        "anomaly_types": {k: v[0] for k, v in ANOMALY_TYPES.items()},
        "probes": {k: {n: round(a, 4) for n, a in r.items()} for k, r in w.probes.items()},
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
        name: str | None = typer.Argument(None, help="Dataset to generate (only 'synthetic'); or --dataset."),
        dataset: str | None = typer.Option(None, "--dataset", "-d", help="Same as the positional name."),
        root: Path | None = typer.Option(None, "--root", help="Target folder (default: the cache copy)."),
        seed: int = typer.Option(0, "--seed", help="Generator seed."),
        preset: str = typer.Option("tiny", "--preset", help="tiny (tests, CI) or small (demo)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing synthetic folder."),
    ) -> None:
        """Generate the synthetic ShanghaiTech-layout dataset (deterministic for a seed)."""
        from vadbench.paths import card_dir
        from vadbench.registry import DATASETS

        if name is not None and dataset is not None and name != dataset:
            raise ConfigError(f"two dataset names given: {name!r} and --dataset {dataset!r}")
        name = name or dataset or "synthetic"
        DATASETS.get(name)  # an unknown name: one line with the known ones
        if name != "synthetic":
            raise ConfigError(f"only 'synthetic' can be generated, not {name!r}; real datasets are "
                              f"downloaded by hand (see {card_dir('datasets', name) / 'README.md'})")
        _check_args(seed, preset)
        target = Path(root) if root is not None else default_root(seed, preset)
        out = make_synthetic(target, seed, preset, force=force)
        man = read_manifest(out) or {}
        c = man.get("counts", {})
        typer.echo(f"synthetic {preset} seed {seed}: {c.get('train_videos')} training videos, "
                   f"{c.get('test_videos')} test videos ({c.get('test_frames')} frames, "
                   f"{c.get('abnormal_frames')} abnormal, {man.get('events')} events) in {out}")
