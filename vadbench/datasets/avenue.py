"""CUHK Avenue (Lu, Shi, Jia, ICCV 2013): 16 training / 21 test videos, semi-supervised.

Layouts under the root (``datasets/avenue/``; a nested ``Avenue Dataset/`` or ``avenue/`` folder works)::

    official: training_videos/01.avi ... testing_videos/01.avi ... 21.avi
              ground_truth_demo/testing_label_mask/1_label.mat ... 21_label.mat  (``pixel``; 1-based)
    Liu et al.: training/frames/01/0000.jpg ... testing/frames/01/0000.jpg ...
              avenue.mat (``gt``: 1x21 cell of 2xk [start; end], 1-based inclusive)      (``liu``)

Video keys are ``train/NN`` and ``test/NN`` (the numbers repeat across the two sets); a bare ``NN`` in an
order list means ``test/NN``. Conventions: ``liu`` (default) and ``pixel`` (protocols.md 11.4).

Example:
    >>> Avenue.conventions
    ('liu', 'pixel')
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from vadbench.datasets import conventions as conv
from vadbench.datasets._io import (
    Report,
    atomic_save_npy,
    index_frame_folders,
    index_videos,
    loadmat,
    mat_cell_length,
)
from vadbench.datasets.base import (
    Dataset,
    PathLike,
    Sources,
    fill_counts,
    finish_table,
    isna,
    loader_defaults,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

NESTED = ("Avenue Dataset", "avenue", "Avenue")
MASK_DIRS = ("ground_truth_demo/testing_label_mask", "testing_label_mask")


def _candidates(root: Path) -> list[Path]:
    return [root] + [root / n for n in NESTED if (root / n).is_dir()]


def _first(root: Path, rel: str) -> Path | None:
    return next((c / rel for c in _candidates(root) if (c / rel).exists()), None)


def read_mat_ranges(path: Path, report: Report, var: str = "gt") -> list[list[tuple[int, int]]] | None:
    """The per-video ``[start; end]`` ranges of a Liu-style ``.mat`` (``avenue.mat``, ``ped2.mat``)."""
    import numpy as np

    try:
        m = loadmat(path)
    except Exception as err:
        report.add("malformed", path, str(err).split(": ", 1)[-1])
        return None
    if var not in m:
        report.add(
            "malformed",
            path,
            f"no variable {var!r} (found {', '.join(k for k in m if not k.startswith('_'))})",
        )
        return None
    cells = np.asarray(m[var]).reshape(-1)
    out = []
    for i, cell in enumerate(cells, 1):
        a = np.asarray(cell)
        if a.size == 0:
            out.append([])
            continue
        if a.ndim != 2 or a.shape[0] != 2:
            report.add(
                "malformed", path, f"{var}{{{i}}}: expected a 2xk [start; end] array, found shape {a.shape}"
            )
            out.append([])
            continue
        pairs = [(int(s), int(e)) for s, e in a.T]
        for s, e in pairs:
            if s < 1 or e < s:
                report.add("malformed", path, f"{var}{{{i}}}: bad range [{s}, {e}] (1-based inclusive)")
        out.append(pairs)
    return out


def make_avenue_dataset(
    root: PathLike, *, sources: Sources | None = None, report: Report | None = None, probe: bool = True
) -> pd.DataFrame:
    """The Avenue table (extra columns ``ranges`` (liu, 1-based), ``has_ranges``, ``mask`` (.mat path))."""
    own, report, sources = loader_defaults(report, sources)
    root = Path(root)
    media: dict[tuple[str, str], Path] = {}
    for subset, vdir, fdir in (
        ("train", "training_videos", "training/frames"),
        ("test", "testing_videos", "testing/frames"),
    ):
        for c in _candidates(root):
            for vid, paths in index_videos(c / vdir, recursive=False).items():
                media.setdefault((subset, f"{int(vid):02d}" if vid.isdigit() else vid), paths[0])
            for vid, folder in index_frame_folders(c / fdir).items():
                media.setdefault((subset, f"{int(vid):02d}" if vid.isdigit() else vid), folder)

    masks: dict[str, Path] = {}
    mask_dir = next((d for r in MASK_DIRS if (d := _first(root, r)) is not None), None)
    if mask_dir is not None:
        for p in mask_dir.glob("*_label.mat"):
            num = p.name.split("_")[0]
            if num.isdigit():
                masks[f"{int(num):02d}"] = p
    mat = _first(root, "avenue.mat")
    ranges = read_mat_ranges(mat, report) if mat is not None else None
    if mat is None and not masks:
        report.add(
            "missing",
            root / "avenue.mat",
            "no test labels: neither avenue.mat (liu) nor "
            "ground_truth_demo/testing_label_mask/<i>_label.mat (pixel) found",
        )
    test_ids = set(masks)
    if ranges is not None:
        test_ids |= {f"{i:02d}" for i in range(1, len(ranges) + 1)}
        if masks and len(ranges) != len(masks):
            report.add(
                "mismatch", mat, f"{len(ranges)} videos in gt but {len(masks)} mask files in {mask_dir}"
            )
    if test_ids:
        for subset, vid in sorted(media):
            if subset == "test" and vid not in test_ids:
                report.add(
                    "unknown", media[(subset, vid)], f"test video {vid!r} has no ground truth", video=vid
                )

    rows = []
    for subset, vid in sorted({k for k in media if k[0] == "train"}):
        row = {"video": f"train/{vid}", "subset": "train", "path": str(media[(subset, vid)]), "label": 0}
        rows.append(row)
    for vid in sorted(test_ids):
        idx = int(vid)
        rng = ranges[idx - 1] if ranges is not None and idx <= len(ranges) else None
        rows.append(
            {
                "video": f"test/{vid}",
                "subset": "test",
                "path": str(media[("test", vid)]) if ("test", vid) in media else None,
                "label": int(bool(rng)) if rng is not None else 1,
                "ranges": tuple(rng or ()),
                "has_ranges": rng is not None,
                "mask": str(masks[vid]) if vid in masks else None,
            }
        )
    for row in rows:
        row.update(scene="", classes=("Anomaly",) if row["label"] else ("Normal",))
        fill_counts(row, sources, report, key=row["video"], probe=probe)
        if row.get("mask"):
            n_mask = mat_cell_length(row["mask"])
            if row["n_frames"] is None:
                row["n_frames"], row["n_frames_source"] = n_mask, "mask"
            elif row["n_frames"] != n_mask:
                report.add(
                    "mismatch",
                    row["mask"],
                    f"video {row['video']!r}: {n_mask} mask frames but "
                    f"{row['n_frames']} frames ({row['n_frames_source']})",
                    video=row["video"],
                )
        if row.get("has_ranges") and row["n_frames"] is not None:
            over = [(s, e) for s, e in row["ranges"] if e > row["n_frames"]]
            if over:
                report.add(
                    "clipped",
                    mat,
                    f"video {row['video']!r} ({row['n_frames']} frames): ranges {over} "
                    "end past the last frame; clipped",
                    video=row["video"],
                    severity="warning",
                )
    table = finish_table(rows, extra=("ranges", "has_ranges", "mask"))
    if own:
        report.raise_errors()
    return table


def pixel_labels(mask_path: PathLike) -> np.ndarray:
    """Avenue ``pixel`` labels of one ``<i>_label.mat`` (cached by file size and mtime: loading is slow)."""
    import numpy as np

    from vadbench.paths import cache_dir

    st = os.stat(mask_path)
    key = hashlib.sha1(f"{os.path.abspath(mask_path)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[
        :16
    ]
    cached = cache_dir() / "gt" / "avenue-pixel" / f"{Path(mask_path).stem}-{key}.npy"
    if cached.is_file():
        return np.load(cached)
    m = loadmat(mask_path)
    if "volLabel" not in m:
        from vadbench.errors import DataError

        raise DataError(f"{mask_path}: no variable 'volLabel' (a 1xn cell of per-frame pixel masks)")
    y = conv.pixel_mask_labels(list(np.asarray(m["volLabel"]).reshape(-1)), conv.get("avenue", "pixel").dtype)
    atomic_save_npy(cached, y)
    return y


class Avenue(Dataset):
    """CUHK Avenue (split ``test``; conventions ``liu`` and ``pixel``)."""

    name = "avenue"
    conventions = ("liu", "pixel")
    default_convention = "liu"
    splits = ("test",)
    default_split = "test"
    annotation_file = "avenue.mat"

    def make_dataset(self, report: Report) -> pd.DataFrame:
        return make_avenue_dataset(self.root, sources=self.sources, report=report)

    def resolve_id(self, video: str) -> str:
        return video if "/" in video else f"test/{int(video):02d}" if video.isdigit() else f"test/{video}"

    def _split_ids(self, variant: str) -> tuple[list[str], list[str]]:
        return self._subset_ids()

    def _video_labels(
        self, convention: str, split: str, row: pd.Series, T: int | None, report: Report
    ) -> np.ndarray:
        from vadbench.errors import DataError

        if convention == "pixel":
            if not row["mask"] or isna(row["mask"]):
                raise DataError(
                    f"avenue video {row['video']!r}: convention 'pixel' needs "
                    f"ground_truth_demo/testing_label_mask/{int(row['video'][-2:])}_label.mat"
                )
            y = pixel_labels(row["mask"])
            if not isna(row["n_frames"]) and len(y) != int(row["n_frames"]):
                raise DataError(f"{row['mask']}: {len(y)} mask frames but {int(row['n_frames'])} frames")
            return y
        if not row["has_ranges"]:
            raise DataError(
                f"avenue video {row['video']!r}: convention 'liu' needs avenue.mat at {self.root}"
            )
        y, clipped = conv.matlab_range_labels(
            self._need_n(row, convention), row["ranges"], conv.get(self.name, convention).dtype
        )
        self._clip_note(report, row, convention, clipped, len(y))
        return y


