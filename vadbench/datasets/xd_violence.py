"""XD-Violence (Wu et al., ECCV 2020): 3,954 / 800 videos, weak supervision, labels in the video names.

Layout under the root (``datasets/xd-violence/``)::

    annotations.txt                        (500 violent test videos: name s1 e1 [s2 e2 ...])
    <a folder whose name contains "test">/<video>.mp4   (the 800 test videos, e.g. test/ or videos/test/)
    <other folders>/<video>.mp4            (training videos)
    rgb_test.list, rgb.list                (optional XDVioDet lists, at the root or under list/)

The test set is, in this order of preference: the ``test_list`` argument (an order list, e.g. ``--order``),
``rgb_test.list``, the test video folder, the ids of the feature-length / frame-count CSV.

Conventions: ``xdviodet`` (default) and ``vadclip``; both are 16·T and need the snippet counts T.

Example:
    >>> classes_of("Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6")
    ('Explosion', 'Shooting', 'Car accident')
    >>> classes_of("v=abc__#1_label_A")
    ('Normal',)
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vadbench.datasets import conventions as conv
from vadbench.datasets._io import Report, read_keyed_annotations, unique_videos
from vadbench.datasets.base import (
    Dataset,
    LengthsSource,
    PathLike,
    Sources,
    fill_counts,
    finish_table,
    loader_defaults,
)
from vadbench.datasets.lists import read_order_list, video_id

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Label codes (VadCLIP ``xd_test.py``).
CODES = {
    "A": "Normal",
    "B1": "Fighting",
    "B2": "Shooting",
    "B4": "Riot",
    "B5": "Abuse",
    "B6": "Car accident",
    "G": "Explosion",
}
LIST_DIRS = (".", "list", "lists")


def is_normal(video: str) -> bool:
    """A normal video: its name contains ``_label_A`` (the test every loader uses)."""
    return "_label_A" in video


def classes_of(video: str) -> tuple[str, ...]:
    """Class names from the ``_label_<codes>`` part of a name (codes joined by ``-``, padded with ``0``)."""
    m = re.search(r"_label_([A-Z0-9-]+)$", video)
    if not m:
        return ()
    return tuple(CODES[c] for c in m.group(1).split("-") if c != "0" and c in CODES)


def parse_annotation_line(text: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``(video, intervals)`` of an ``annotations.txt`` line (``.mp4`` stripped; pairs may overlap)."""
    parts = text.split()
    if len(parts) < 3 or (len(parts) - 1) % 2:
        raise ValueError(
            f"expected 'name s1 e1 [s2 e2 ...]' (an even number of frame indices), found "
            f"{len(parts) - 1} numbers"
        )
    try:
        nums = [int(x) for x in parts[1:]]
    except ValueError:
        raise ValueError(f"expected integer frame indices, found {' '.join(parts[1:])!r}") from None
    pairs = tuple(zip(nums[::2], nums[1::2], strict=True))
    for s, e in pairs:
        if s < 0 or e < s:
            raise ValueError(f"bad interval ({s}, {e})")
    return video_id(parts[0]), pairs


def read_annotations(path: Path, report: Report) -> dict[str, dict[str, Any]]:
    """``{video: {"intervals", "line"}}`` of ``annotations.txt`` (problems to ``report``)."""

    def parse(text: str) -> tuple[str, dict[str, Any]]:
        vid, pairs = parse_annotation_line(text)
        return vid, {"intervals": pairs}

    def check(vid: str, fields: dict[str, Any]) -> str | None:
        return f"normal video {vid!r} (label A) has intervals" if is_normal(vid) else None

    return read_keyed_annotations(path, report, parse, check, shown=120)


def _in_test_folder(path: Path, root: Path) -> bool:
    return any("test" in part.lower() for part in path.relative_to(root).parts[:-1])


def make_xd_violence_dataset(
    root: PathLike,
    *,
    sources: Sources | None = None,
    report: Report | None = None,
    test_list: PathLike | Sequence[str] | None = None,
    probe: bool = True,
) -> pd.DataFrame:
    """The XD-Violence table (train then test; extra columns ``intervals``, ``ann_line``)."""
    own, report, sources = loader_defaults(report, sources)
    root = Path(root)
    media = unique_videos(root, report)

    def find_list(name: str) -> Path | None:
        return next((root / d / name for d in LIST_DIRS if (root / d / name).is_file()), None)

    test_src: str
    if test_list is not None and not isinstance(test_list, (str, os.PathLike)):
        test_ids, test_src = [video_id(v) for v in test_list], "test_list"
    elif test_list is not None:
        test_ids, test_src = read_order_list(test_list, report), str(test_list)
    elif (p := find_list("rgb_test.list")) is not None:
        test_ids, test_src = read_order_list(p, report), str(p)
    elif any(_in_test_folder(p, root) for p in media.values()):
        test_ids = sorted(v for v, p in media.items() if _in_test_folder(p, root))
        test_src = "test video folder"
    else:
        test_ids = sorted(set(sources.feature_lengths) | set(sources.frame_counts))
        test_src = "feature-length / frame-count CSV"
    test_set = set(test_ids)
    if (p := find_list("rgb.list")) is not None:
        train_ids = read_order_list(p, report)
    else:
        train_ids = sorted(v for v, p in media.items() if v not in test_set and not _in_test_folder(p, root))

    ann_path = root / "annotations.txt"
    annotations: dict[str, dict[str, Any]] = {}
    if not ann_path.is_file():
        report.add(
            "missing", ann_path, "annotations.txt (temporal annotation of the violent test videos) not found"
        )
    else:
        annotations = read_annotations(ann_path, report)
        if not test_ids:
            report.add(
                "missing",
                root,
                "no test videos: put them in a folder named test/, or give an order list "
                "(--order), rgb_test.list, or a feature-length CSV (video,T)",
            )
        for vid, info in annotations.items():
            if test_ids and vid not in test_set:
                report.add(
                    "unknown",
                    ann_path,
                    f"annotation for video {vid!r}, which is not in the test set (from {test_src})",
                    line=info["line"],
                    video=vid,
                )
        for vid in test_ids:
            if not is_normal(vid) and vid not in annotations:
                report.add(
                    "missing", ann_path, f"violent test video {vid!r} has no annotation line", video=vid
                )

    rows = []
    for subset, ids in (("train", train_ids), ("test", test_ids)):
        for vid in ids:
            if not re.search(r"_label_[A-Z0-9-]+$", vid):
                report.add(
                    "malformed",
                    media.get(vid, root),
                    f"video name {vid!r} has no '_label_<codes>' part",
                    video=vid,
                )
            ann = annotations.get(vid, {}) if subset == "test" else {}
            row = {
                "video": vid,
                "subset": subset,
                "path": str(media[vid]) if vid in media else None,
                "scene": "",
                "label": int(not is_normal(vid)),
                "classes": classes_of(vid),
                "intervals": ann.get("intervals", ()),
                "ann_line": ann.get("line"),
            }
            fill_counts(row, sources, report, probe=probe)
            rows.append(row)
    table = finish_table(rows, extra=("intervals", "ann_line"))
    if own:
        report.raise_errors()
    return table


class XDViolence(Dataset):
    """XD-Violence with the official weak train / test sets (split ``test``)."""

    name = "xd-violence"
    conventions = ("xdviodet", "vadclip")
    default_convention = "xdviodet"
    splits = ("test",)
    default_split = "test"
    classes = tuple(CODES.values())
    accepts_test_list = True
    annotation_file = "annotations.txt"

    def __init__(
        self,
        root: PathLike | None = None,
        *,
        frame_counts: LengthsSource = None,
        feature_lengths: LengthsSource = None,
        allow_missing: bool = False,
        test_list: PathLike | Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            root, frame_counts=frame_counts, feature_lengths=feature_lengths, allow_missing=allow_missing
        )
        self.test_list = test_list

    def make_dataset(self, report: Report) -> pd.DataFrame:
        return make_xd_violence_dataset(
            self.root, sources=self.sources, report=report, test_list=self.test_list
        )

    def _split_ids(self, variant: str) -> tuple[list[str], list[str]]:
        train, test = self._subset_ids()
        # XDVioDet rgb_test.list order: violent videos (feature-folder order = sorted), then the normal ones
        test = sorted(v for v in test if not is_normal(v)) + sorted(v for v in test if is_normal(v))
        return train, test

    def _video_labels(
        self, convention: str, split: str, row: pd.Series, T: int | None, report: Report
    ) -> np.ndarray:
        T = self._need_T(row, T, convention)
        y, clipped = conv.snippet_labels(
            T, list(row["intervals"]), dtype=conv.get(self.name, convention).dtype
        )
        self._clip_note(report, row, convention, clipped, len(y))
        return y

    def _check_extra(self, table: pd.DataFrame, report: Report, *, decode: bool) -> None:
        from vadbench.datasets.ucf_crime import _report_media_and_clipping

        super()._check_extra(table, report, decode=decode)
        _report_media_and_clipping(self, table, report, self.root / "annotations.txt")
