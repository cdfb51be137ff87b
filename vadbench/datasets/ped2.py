"""UCSD Ped2 (Mahadevan et al., CVPR 2010): 16 training / 12 test videos, semi-supervised.

Layouts under the root (``datasets/ped2/``; ``UCSD_Anomaly_Dataset.v1p2/`` above ``UCSDped2/`` is accepted)::

    official: UCSDped2/Train/Train001/001.tif ...  UCSDped2/Test/Test001/001.tif ... (1-based .tif)
              UCSDped2/Test/Test001_gt/ (pixel masks, skipped)  UCSDped2/Test/UCSDped2.m (frame ranges)
    Liu et al.: training/frames/01/000.jpg ... testing/frames/01/000.jpg ... (0-based .jpg); ped2.mat

Video keys are ``TrainNNN`` / ``TestNNN``; Liu's folder ``01`` is ``Test001`` under ``testing/``.
Convention: ``official`` (protocols.md 11.5: 1-based inclusive ranges, int64 as MNAD's labels).

Example:
    >>> parse_m_line("TestVideoFile{end+1}.gt_frame = [1:15, 45:113];")
    [(1, 15), (45, 113)]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from vadbench.datasets import conventions as conv
from vadbench.datasets._io import Report, index_frame_folders, read_text_lines
from vadbench.datasets.avenue import read_mat_ranges
from vadbench.datasets.base import Dataset, PathLike, Sources, fill_counts, finish_table, loader_defaults

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

OFFICIAL_DIRS = ("UCSDped2", "UCSD_Anomaly_Dataset.v1p2/UCSDped2")
_GT_LINE = re.compile(r"^TestVideoFile\s*\{\s*end\s*\+\s*1\s*\}\s*\.\s*gt_frame\s*=\s*\[(.*)\]\s*;?\s*$")


def parse_m_line(text: str) -> list[tuple[int, int]]:
    """The 1-based inclusive ranges of one ``UCSDped2.m`` line (``[61:180]``, ``[1:15, 45:113]``, ``[7]``).

    Raises ``ValueError`` on a line that is not a ``gt_frame`` assignment with integer ranges.
    """
    m = _GT_LINE.match(text.strip())
    if not m:
        raise ValueError("expected 'TestVideoFile{end+1}.gt_frame = [s:e, ...];'")
    out = []
    for part in filter(None, (p.strip() for p in m.group(1).split(","))):
        bounds = part.split(":")
        try:
            s, e = (int(bounds[0]), int(bounds[-1])) if len(bounds) in (1, 2) else (None, None)
        except ValueError:
            s = e = None
        if s is None or e is None or s < 1 or e < s:
            raise ValueError(f"bad range {part!r}")
        out.append((s, e))
    return out


def read_m_file(path: Path, report: Report) -> list[list[tuple[int, int]]]:
    """Per-video ranges of ``UCSDped2.m`` in file order (video i = the i-th ``gt_frame`` line)."""
    out = []
    for lineno, text in read_text_lines(path):
        if "gt_frame" not in text or text.lstrip().startswith("%"):
            continue
        try:
            out.append(parse_m_line(text))
        except ValueError as err:
            report.add("malformed", path, f"{err}: {text!r}", line=lineno)
            out.append([])
    return out


def make_ped2_dataset(
    root: PathLike, *, sources: Sources | None = None, report: Report | None = None, probe: bool = True
) -> pd.DataFrame:
    """The Ped2 table (extra column ``ranges``, 1-based inclusive)."""
    own, report, sources = loader_defaults(report, sources)
    root = Path(root)
    media: dict[str, Path] = {}
    official = next((root / d for d in OFFICIAL_DIRS if (root / d).is_dir()), None)
    if official is not None:
        for sub in ("Train", "Test"):
            for name, folder in index_frame_folders(official / sub).items():
                if re.fullmatch(rf"{sub}\d{{3}}", name):
                    media.setdefault(name, folder)
    for sub, prefix in (("training", "Train"), ("testing", "Test")):
        for name, folder in index_frame_folders(root / sub / "frames").items():
            if name.isdigit():
                media.setdefault(f"{prefix}{int(name):03d}", folder)

    ranges = None
    m_file = next((p for d in OFFICIAL_DIRS if (p := root / d / "Test" / "UCSDped2.m").is_file()), None)
    if m_file is None and (root / "UCSDped2.m").is_file():
        m_file = root / "UCSDped2.m"
    if m_file is not None:
        ranges, gt_file = read_m_file(m_file, report), m_file
    elif (root / "ped2.mat").is_file():
        gt_file = root / "ped2.mat"
        ranges = read_mat_ranges(gt_file, report)
    else:
        gt_file = root / "ped2.mat"
        report.add(
            "missing",
            root / "UCSDped2" / "Test" / "UCSDped2.m",
            "frame-level ground truth not found (UCSDped2/Test/UCSDped2.m or ped2.mat at the root)",
        )
    test_ids = [f"Test{i:03d}" for i in range(1, len(ranges) + 1)] if ranges else []
    for name in sorted(media):
        if name.startswith("Test") and ranges is not None and name not in test_ids:
            report.add(
                "unknown",
                media[name],
                f"test video {name!r} has no ground-truth entry in {gt_file.name}",
                video=name,
            )
    rows = [
        {"video": n, "subset": "train", "path": str(media[n]), "label": 0}
        for n in sorted(media)
        if n.startswith("Train")
    ]
    for i, vid in enumerate(test_ids):
        rows.append(
            {
                "video": vid,
                "subset": "test",
                "path": str(media[vid]) if vid in media else None,
                "label": int(bool(ranges[i])),
                "ranges": tuple(ranges[i]),
            }
        )
    for row in rows:
        row.update(scene="", classes=("Anomaly",) if row["label"] else ("Normal",))
        fill_counts(row, sources, report, probe=probe)
        if row["subset"] == "test" and row["n_frames"] is not None:
            over = [(s, e) for s, e in row["ranges"] if e > row["n_frames"]]
            if over:
                report.add(
                    "clipped",
                    gt_file,
                    f"video {row['video']!r} ({row['n_frames']} frames): ranges {over} "
                    "end past the last frame; clipped",
                    video=row["video"],
                    severity="warning",
                )
    table = finish_table(rows, extra=("ranges",))
    if own:
        report.raise_errors()
    return table


class Ped2(Dataset):
    """UCSD Ped2 (split ``test``; convention ``official``)."""

    name = "ped2"
    conventions = ("official",)
    default_convention = "official"
    splits = ("test",)
    default_split = "test"
    annotation_file = "ped2.mat"

    def make_dataset(self, report: Report) -> pd.DataFrame:
        return make_ped2_dataset(self.root, sources=self.sources, report=report)

    def resolve_id(self, video: str) -> str:
        return f"Test{int(video):03d}" if video.isdigit() else video

    def _split_ids(self, variant: str) -> tuple[list[str], list[str]]:
        return self._subset_ids()

    def _video_labels(
        self, convention: str, split: str, row: pd.Series, T: int | None, report: Report
    ) -> np.ndarray:
        y, clipped = conv.matlab_range_labels(
            self._need_n(row, convention), row["ranges"], conv.get(self.name, convention).dtype
        )
        self._clip_note(report, row, convention, clipped, len(y))
        return y
