"""Tiny fake dataset trees in every supported layout (anomalib ``tests/helpers/data.py`` style).

Each ``make_<dataset>(root, ...)`` writes a miniature copy of the dataset's release layout (real tiny videos
written with PyAV, frame folders of small jpgs, annotation files in the official formats) and returns the
facts the tests assert on (ids, frame counts, expected labels).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> facts = make_ped2(Path(tempfile.mkdtemp()), layout="liu")
    >>> facts["test"]
    ['Test001', 'Test002']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def moving_square(i: int, n_frames: int, size: tuple[int, int]) -> np.ndarray:
    """Frame ``i`` of a bright square crossing a still background (an object a detector finds)."""
    w, h = size
    side = max(4, min(w, h) // 3)
    img = np.full((h, w, 3), 60, np.uint8)
    x = int(i * (w - side) / max(n_frames - 1, 1))
    img[(h - side) // 2 : (h + side) // 2, x : x + side] = 240
    return img


def write_video(
    path: Path, n_frames: int, *, size: tuple[int, int] = (32, 24), fps: int = 25, seed: int = 0,
    moving: bool = False,
) -> Path:
    """A real tiny video (MPEG-4 Part 2 in the container of the suffix) of ``n_frames`` random frames (or,
    with ``moving``, of a square crossing a still background)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(n_frames):
            img = (moving_square(i, n_frames, size) if moving
                   else rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_frames(
    folder: Path,
    n_frames: int,
    *,
    ext: str = ".jpg",
    digits: int = 3,
    start: int = 0,
    size: tuple[int, int] = (8, 6),
) -> Path:
    """A frame folder of ``n_frames`` small images ``000.jpg`` ... (``start``-based, ``digits`` wide)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, (90, 120, 150))
    for i in range(n_frames):
        img.save(folder / f"{i + start:0{digits}d}{ext}")
    return folder


def write_text(path: Path, lines: Sequence[str], *, trailing_newline: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""))
    return path


def write_lengths_csv(path: Path, lengths: dict[str, int], column: str = "n_frames") -> Path:
    """A two-column CSV ``video,<column>``."""
    return write_text(path, [f"video,{column}"] + [f"{k},{v}" for k, v in lengths.items()])


# --------------------------------------------------------------------------------------------- UCF-Crime
UCF_TEST = {  # video: (n_frames, [(s, e), ...])
    "Abuse028_x264": (40, [(5, 20)]),
    "Arson011_x264": (35, [(10, 36)]),  # end past the last frame (as the real Arson011)
    "Normal_Videos_003_x264": (33, []),
    "Vandalism007_x264": (48, [(0, 8), (30, 40)]),
}
UCF_TRAIN = {"Abuse001_x264": 30, "Normal_Videos001_x264": 31}


def ucf_folder(video: str, subset: str) -> str:
    if video.startswith("Normal_Videos"):
        return "Testing_Normal_Videos_Anomaly" if subset == "test" else "Training_Normal_Videos_Anomaly"
    import re

    return re.match(r"[A-Za-z]+", video).group(0)  # type: ignore[union-attr]


def make_ucf_crime(root: Path, *, media: str | None = "video", split_dir: bool = True) -> dict[str, Any]:
    """UCF-Crime: split lists (normal test videos between the classes, as the real list), the double-space
    annotation file and ``.mp4`` videos (``media="video"``), frame folders (``"frames"``) or none."""
    sdir = root / "Anomaly_Detection_splits" if split_dir else root
    test_lines = sorted(f"{ucf_folder(v, 'test')}/{v}.mp4" for v in UCF_TEST)
    write_text(sdir / "Anomaly_Test.txt", test_lines)
    write_text(sdir / "Anomaly_Train.txt", [f"{ucf_folder(v, 'train')}/{v}.mp4" for v in UCF_TRAIN])
    ann = []
    for v, (_, iv) in sorted(UCF_TEST.items()):
        cls = "Normal" if v.startswith("Normal") else ucf_folder(v, "test")
        pairs = list(iv) + [(-1, -1)] * (2 - len(iv))
        ann.append(f"{v}.mp4  {cls}  " + "  ".join(f"{s}  {e}" for s, e in pairs) + "  ")
    write_text(root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt", ann)
    all_videos = {
        **{v: (n, "test") for v, (n, _) in UCF_TEST.items()},
        **{v: (n, "train") for v, n in UCF_TRAIN.items()},
    }
    for i, (v, (n, subset)) in enumerate(all_videos.items()):
        if media == "video":
            write_video(root / ucf_folder(v, subset) / f"{v}.mp4", n, seed=i)
        elif media == "frames":
            write_frames(root / "frames" / v, n, digits=6)
    test_order = [v for v in (x.split("/")[1][:-4] for x in test_lines) if not v.startswith("Normal")] + [
        v for v in (x.split("/")[1][:-4] for x in test_lines) if v.startswith("Normal")
    ]
    return {
        "test": test_order,
        "train": list(UCF_TRAIN),
        "n_frames": {v: n for v, (n, _) in all_videos.items()},
        "intervals": {v: iv for v, (_, iv) in UCF_TEST.items()},
    }


# --------------------------------------------------------------------------------------------- XD-Violence
XD_TEST = {  # video: (n_frames, intervals)
    "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6": (50, [(3, 10), (8, 20)]),
    "v=S-7rRLrxnVQ__#1_label_B4-0-0": (40, [(30, 60)]),
    "A.Beautiful.Mind.2001__#00-01-45_00-02-50_label_A": (34, []),
}
XD_TRAIN = {"v=zzz__#1_label_B1-0-0": 20, "v=yyy__#1_label_A": 18}


def make_xd_violence(
    root: Path, *, media: str | None = "video", mp4_suffix_on: Sequence[str] = ()
) -> dict[str, Any]:
    """XD-Violence: ``annotations.txt`` (no trailing newline; ``.mp4`` on the names in ``mp4_suffix_on``),
    test videos under ``test/`` and training videos under ``train/``."""
    lines = []
    for v, (_, iv) in XD_TEST.items():
        if iv:
            name = v + (".mp4" if v in mp4_suffix_on else "")
            lines.append(name + " " + " ".join(f"{s} {e}" for s, e in iv))
    write_text(root / "annotations.txt", lines, trailing_newline=False)
    if media == "video":
        for i, (v, (n, _)) in enumerate(XD_TEST.items()):
            write_video(root / "test" / f"{v}.mp4", n, seed=i)
        for i, (v, n) in enumerate(XD_TRAIN.items()):
            write_video(root / "train" / "part1" / f"{v}.mp4", n, seed=10 + i)
    violent = sorted(v for v in XD_TEST if "_label_A" not in v)
    normal = sorted(v for v in XD_TEST if "_label_A" in v)
    return {
        "test": violent + normal,
        "train": sorted(XD_TRAIN),
        "n_frames": {v: n for v, (n, _) in XD_TEST.items()},
        "intervals": {v: iv for v, (_, iv) in XD_TEST.items()},
    }


# --------------------------------------------------------------------------------------------- ShanghaiTech
SHT_TEST = {
    "01_0014": [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
    "01_0015": [1] * 18,
    "02_0161": [0] * 10 + [1] * 7,
}
SHT_TRAIN = {"01_001": 21, "01_002": 19, "02_001": 17}


def make_shanghaitech(
    root: Path, *, train: str | None = "video", test_frames: bool = True, weak_lists: bool = True
) -> dict[str, Any]:
    """ShanghaiTech: training ``.avi`` videos (``train="video"``) or frame folders (``"frames"``), test frame
    folders, ``test_frame_mask/*.npy`` (uint8) and Zhong's ``SH_Train.txt`` / ``SH_Test.txt``."""
    for v, mask in SHT_TEST.items():
        (root / "testing" / "test_frame_mask").mkdir(parents=True, exist_ok=True)
        np.save(root / "testing" / "test_frame_mask" / f"{v}.npy", np.asarray(mask, dtype=np.uint8))
        if test_frames:
            write_frames(root / "testing" / "frames" / v, len(mask))
    for i, (v, n) in enumerate(SHT_TRAIN.items()):
        if train == "video":
            write_video(root / "training" / "videos" / f"{v}.avi", n, seed=i)
        elif train == "frames":
            write_frames(root / "training" / "frames" / v, n)
    weak_train, weak_test = ["01_0014", "01_001", "02_001"], ["01_002", "01_0015", "02_0161"]
    if weak_lists:
        write_text(root / "SH_Train.txt", weak_train, trailing_newline=False)
        write_text(root / "SH_Test.txt", weak_test, trailing_newline=False)
    return {
        "test": sorted(SHT_TEST),
        "train": sorted(SHT_TRAIN),
        "masks": SHT_TEST,
        "n_train": SHT_TRAIN,
        "weak_train": weak_train,
        "weak_test": ["01_0015", "02_0161", "01_002"],
    }


# --------------------------------------------------------------------------------------------- Avenue
AVENUE_TEST = {1: (30, [(3, 7), (20, 30)]), 2: (12, [(1, 4)])}  # number: (n_frames, 1-based inclusive ranges)


def _mat_gt(path: Path, ranges: Sequence[Sequence[tuple[int, int]]], dtype: str = "int32") -> None:
    from scipy.io import savemat

    cell = np.empty((1, len(ranges)), dtype=object)
    for i, rr in enumerate(ranges):
        cell[0, i] = np.asarray(rr, dtype=dtype).T.reshape(2, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"gt": cell})


def make_avenue(
    root: Path, *, layout: str = "official", with_masks: bool = True, with_mat: bool = True
) -> dict[str, Any]:
    """Avenue: official (``training_videos/01.avi``, ``testing_videos``,
    ``ground_truth_demo/testing_label_mask/<i>_label.mat`` with ``volLabel`` cells) or Liu
    (``training/frames/01/0000.jpg``, ``avenue.mat``)."""
    from scipy.io import savemat

    pixel = {}
    for num, (n, _) in AVENUE_TEST.items():
        if layout == "official":
            write_video(root / "testing_videos" / f"{num:02d}.avi", n, seed=num)
        else:
            write_frames(root / "testing" / "frames" / f"{num:02d}", n, digits=4)
        if with_masks:
            cells = np.empty((1, n), dtype=object)
            y = np.zeros(n, dtype=np.int32)
            for t in range(n):
                m = np.zeros((6, 8), dtype=np.uint8)
                if t % 5 == 1:  # pixel masks differ from the ranges on purpose (as the real two label sets)
                    m[2, 3] = 1
                    y[t] = 1
                cells[0, t] = m
            pixel[num] = y
            d = root / "ground_truth_demo" / "testing_label_mask"
            d.mkdir(parents=True, exist_ok=True)
            savemat(str(d / f"{num}_label.mat"), {"volLabel": cells})
    if layout == "official":
        write_video(root / "training_videos" / "01.avi", 15, seed=9)
    else:
        write_frames(root / "training" / "frames" / "01", 15, digits=4)
    if with_mat:
        _mat_gt(root / "avenue.mat", [r for _, r in AVENUE_TEST.values()])
    return {
        "test": [f"test/{k:02d}" for k in AVENUE_TEST],
        "train": ["train/01"],
        "n_frames": {f"test/{k:02d}": n for k, (n, _) in AVENUE_TEST.items()},
        "ranges": {f"test/{k:02d}": r for k, (_, r) in AVENUE_TEST.items()},
        "pixel": {f"test/{k:02d}": y for k, y in pixel.items()},
    }


# --------------------------------------------------------------------------------------------- Ped2
PED2_TEST = {"Test001": (20, [(5, 20)]), "Test002": (16, [(1, 3), (10, 12)])}


def make_ped2(root: Path, *, layout: str = "official") -> dict[str, Any]:
    """Ped2: official (``UCSDped2/Test/Test001/001.tif``, ``Test001_gt/``, ``UCSDped2.m``) or Liu
    (``testing/frames/01/000.jpg``, ``ped2.mat``)."""
    if layout == "official":
        base = root / "UCSDped2"
        lines = ["TestVideoFile = {};"]
        for v, (n, ranges) in PED2_TEST.items():
            write_frames(base / "Test" / v, n, ext=".tif", start=1)
            write_frames(base / "Test" / f"{v}_gt", n, ext=".bmp", start=1)
            lines.append(
                "TestVideoFile{end+1}.gt_frame = [" + ", ".join(f"{s}:{e}" for s, e in ranges) + "];"
            )
        (base / "Test" / ".DS_Store").write_bytes(b"\0")
        write_text(base / "Test" / "UCSDped2.m", lines)
        write_frames(base / "Train" / "Train001", 12, ext=".tif", start=1)
    else:
        for i, (_v, (n, _)) in enumerate(PED2_TEST.items(), 1):
            write_frames(root / "testing" / "frames" / f"{i:02d}", n)
        write_frames(root / "training" / "frames" / "01", 12)
        _mat_gt(root / "ped2.mat", [r for _, r in PED2_TEST.values()], dtype="uint8")
    return {
        "test": list(PED2_TEST),
        "train": ["Train001"],
        "n_frames": {v: n for v, (n, _) in PED2_TEST.items()},
        "ranges": {v: r for v, (_, r) in PED2_TEST.items()},
    }


# --------------------------------------------------------------------------------------------- NWPU Campus
NWPU_TEST = {"D001_01": [0] * 10 + [1] * 5, "D002_01": [0] * 12, "D003_02": [1, 1] + [0] * 9}
NWPU_TRAIN = {"D001_01": 14, "D002_03": 13}


def make_nwpu_campus(root: Path, *, media: bool = True, weak: bool = True) -> dict[str, Any]:
    """NWPU Campus: ``videos/{Train,Test}/DXXX_YY.avi``, a small fake ``groundtruth/NWPU_Campus_gt.npz`` (the
    real one is not public) and the four TDSD lists. ``D001_01`` is both a Train and a Test clip, as in the
    data."""
    (root / "groundtruth").mkdir(parents=True, exist_ok=True)
    np.savez(
        root / "groundtruth" / "NWPU_Campus_gt.npz",
        **{k: np.asarray(v, np.uint8) for k, v in NWPU_TEST.items()},
    )
    if media:
        for i, (v, m) in enumerate(NWPU_TEST.items()):
            write_video(root / "videos" / "Test" / f"{v}.avi", len(m), seed=i)
        for i, (v, n) in enumerate(NWPU_TRAIN.items()):
            write_video(root / "videos" / "Train" / f"{v}.avi", n, seed=10 + i)
    if weak:
        write_text(root / "trainingSet_train.txt", ["D001_01"], trailing_newline=False)
        write_text(root / "trainingSet_test_label.txt", ["D001_01 1", "D002_01 0"], trailing_newline=False)
        write_text(root / "testingSet_train.txt", ["D002_03"], trailing_newline=False)
        write_text(root / "testingSet_test.txt", ["D003_02"], trailing_newline=False)
    return {
        "test": [f"test/{k}" for k in sorted(NWPU_TEST)],
        "train": [f"train/{k}" for k in sorted(NWPU_TRAIN)],
        "masks": NWPU_TEST,
        "weak_train": ["train/D001_01", "test/D001_01", "test/D002_01"],
        "weak_test": ["train/D002_03", "test/D003_02"],
    }


# --------------------------------------------------------------------------------------------- all datasets
#: The datasets of each supervision that a method must run on with no preset (fake roots below).
SUPERVISION_DATASETS: dict[str, tuple[str, ...]] = {
    "weak": ("ucf-crime", "xd-violence", "shanghaitech"),
    "semi": ("shanghaitech", "avenue", "ped2", "nwpu-campus"),
    "zero-shot": ("ucf-crime", "xd-violence", "shanghaitech", "avenue", "ped2", "nwpu-campus"),
}


def write_moving_frames(
    folder: Path, n_frames: int, *, ext: str = ".tif", start: int = 1, size: tuple[int, int] = (96, 72)
) -> Path:
    """A frame folder of :func:`moving_square` frames (replacing what was there)."""
    import shutil

    from PIL import Image

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i in range(n_frames):
        Image.fromarray(moving_square(i, n_frames, size)).save(folder / f"{i + start:03d}{ext}")
    return folder


def make_fake_root(name: str, root: Path) -> Path:
    """A small fake root of dataset ``name`` in its real release layout, with media (videos or frames); the
    Ped2 and Avenue training videos show a moving object (object-centric methods need one in training)."""
    makers = {
        "ucf-crime": lambda r: make_ucf_crime(r),
        "xd-violence": lambda r: make_xd_violence(r),
        "shanghaitech": lambda r: make_shanghaitech(r),
        "avenue": lambda r: (make_avenue(r),
                             write_video(r / "training_videos" / "01.avi", 24, size=(96, 72), moving=True)),
        "ped2": lambda r: (make_ped2(r), write_moving_frames(r / "UCSDped2" / "Train" / "Train001", 24)),
        "nwpu-campus": lambda r: make_nwpu_campus(r),
    }
    makers[name](root)
    return root
