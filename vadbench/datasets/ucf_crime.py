"""UCF-Crime (Sultani, Chen, Shah, CVPR 2018): 1,610 / 290 videos, weak supervision.

Layout under the root (``datasets/ucf-crime/``)::

    Anomaly_Detection_splits/Anomaly_Train.txt, Anomaly_Test.txt   (or both at the root)
    Temporal_Anomaly_Annotation_for_Testing_Videos.txt     (or VadCLIP's Temporal_Anomaly_Annotation.txt)
    <any folders>/<Class>NNN_x264.mp4, Normal_VideosNNN_x264.mp4, Normal_Videos_NNN_x264.mp4
    frames/<video>/000001.jpg ...                                   (optional frame folders)

Videos are found anywhere under the root by file name (``Normal_Videos_event/`` is skipped: it is not part of
VAD). Without videos, frame counts / feature lengths come from ``frame_counts`` / ``feature_lengths`` CSVs.

Conventions: ``deepmil`` (default; needs T), ``rtfm``, ``rtfm_v1``, ``vadclip`` (needs T_clip),
``frames_excl``, ``frames_incl`` (protocols.md 11.1).

Example:
    >>> parse_annotation_line("Abuse028_x264.mp4  Abuse  165  240  -1  -1  ")
    ('Abuse028_x264', 'Abuse', ((165, 240),))
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vadbench.datasets import conventions as conv
from vadbench.datasets._io import (
    Report,
    index_frame_folders,
    read_keyed_annotations,
    read_text_lines,
    unique_videos,
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
from vadbench.datasets.lists import video_id

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ANNOTATION_NAMES = ("Temporal_Anomaly_Annotation_for_Testing_Videos.txt", "Temporal_Anomaly_Annotation.txt")
SPLIT_DIRS = ("Anomaly_Detection_splits", ".", "UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits")
NORMAL_FOLDERS = ("Training_Normal_Videos_Anomaly", "Testing_Normal_Videos_Anomaly")
#: Index order used by VadCLIP and PEL4VAD.
CLASSES = (
    "Normal",
    "Abuse",
    "Arrest",
    "Arson",
    "Assault",
    "Burglary",
    "Explosion",
    "Fighting",
    "RoadAccidents",
    "Robbery",
    "Shooting",
    "Shoplifting",
    "Stealing",
    "Vandalism",
)
#: Folders never read as VAD videos (action-recognition extras).
SKIP_FOLDERS = ("Normal_Videos_event",)


def is_normal(video: str) -> bool:
    """A normal video by its stem (``Normal_Videos...``), never by a substring of the folder path."""
    return video.startswith("Normal_Videos")


def class_of(video: str) -> str:
    """The class of a video from its stem: ``Abuse028_x264`` -> ``Abuse``, normal videos -> ``Normal``."""
    if is_normal(video):
        return "Normal"
    m = re.match(r"[A-Za-z]+", video)
    return m.group(0) if m else ""


def parse_annotation_line(text: str) -> tuple[str, str, tuple[tuple[int, int], ...]]:
    """``(video, class, intervals)`` of one annotation line (split on any whitespace; ``-1`` pairs dropped).

    Raises ``ValueError`` with the reason on a malformed line.
    """
    parts = text.split()
    if len(parts) != 6:
        raise ValueError(f"expected 6 fields 'name class s1 e1 s2 e2', found {len(parts)}")
    try:
        nums = [int(x) for x in parts[2:]]
    except ValueError:
        raise ValueError(f"expected integer frame indices, found {' '.join(parts[2:])!r}") from None
    pairs = []
    for s, e in ((nums[0], nums[1]), (nums[2], nums[3])):
        if s == -1 and e == -1:
            continue
        if s < 0 or e < 0 or e < s:
            raise ValueError(f"bad interval ({s}, {e})")
        pairs.append((s, e))
    return video_id(parts[0]), parts[1], tuple(pairs)


def _find(root: Path, dirs: tuple[str, ...], name: str) -> Path | None:
    for d in dirs:
        if (root / d / name).is_file():
            return root / d / name
    return None


def _read_split(path: Path, report: Report) -> list[tuple[str, str, int]]:
    """``(video, class, line)`` of ``Anomaly_Train.txt`` / ``Anomaly_Test.txt``."""
    out: list[tuple[str, str, int]] = []
    seen: dict[str, int] = {}
    for lineno, text in read_text_lines(path):
        if len(text.split()) != 1 or not text.lower().endswith((".mp4", ".avi")):
            report.add("malformed", path, f"expected 'Class/Name_x264.mp4', found {text!r}", line=lineno)
            continue
        vid = video_id(text)
        if vid in seen:
            report.add(
                "duplicate",
                path,
                f"video {vid!r} listed twice (first at line {seen[vid]})",
                line=lineno,
                video=vid,
            )
            continue
        seen[vid] = lineno
        out.append((vid, class_of(vid), lineno))
    return out


def read_annotations(path: Path, report: Report) -> dict[str, dict[str, Any]]:
    """``{video: {"class", "intervals", "line"}}`` of the temporal annotation file (problems to report)."""

    def parse(text: str) -> tuple[str, dict[str, Any]]:
        vid, cls, pairs = parse_annotation_line(text)
        return vid, {"class": cls, "intervals": pairs}

    def check(vid: str, fields: dict[str, Any]) -> str | None:
        cls, pairs = fields["class"], fields["intervals"]
        if (cls == "Normal") != is_normal(vid) or (pairs and is_normal(vid)):
            return f"class {cls!r} and intervals {pairs} do not fit video {vid!r}"
        return None

    return read_keyed_annotations(path, report, parse, check)


def make_ucf_crime_dataset(
    root: PathLike, *, sources: Sources | None = None, report: Report | None = None, probe: bool = True
) -> pd.DataFrame:
    """The UCF-Crime table: the official train list then the test list (extra columns ``intervals``,
    ``ann_line``, ``list_line``)."""
    own, report, sources = loader_defaults(report, sources)
    root = Path(root)
    lists = {}
    for subset, name in (("train", "Anomaly_Train.txt"), ("test", "Anomaly_Test.txt")):
        path = _find(root, SPLIT_DIRS, name)
        if path is None:
            report.add(
                "missing",
                root / "Anomaly_Detection_splits" / name,
                "official split list not found (from UCF_Crimes-Train-Test-Split.zip)",
                severity="error" if subset == "test" else "warning",
            )
            lists[subset] = (None, [])
        else:
            lists[subset] = (path, _read_split(path, report))
    ann_path = next((root / n for n in ANNOTATION_NAMES if (root / n).is_file()), None)
    annotations: dict[str, dict[str, Any]] = {}
    if ann_path is None:
        report.add("missing", root / ANNOTATION_NAMES[0], "temporal annotation of the test videos not found")
    else:
        annotations = read_annotations(ann_path, report)

    media = unique_videos(root, report, SKIP_FOLDERS)
    for vid, folder in index_frame_folders(root / "frames").items():
        media.setdefault(vid, folder)

    train_path, train = lists["train"]
    test_path, test = lists["test"]
    test_ids = {v for v, _, _ in test}
    for vid, _, lineno in train:
        if vid in test_ids:
            report.add(
                "duplicate",
                train_path,
                f"video {vid!r} is in both the train and the test list",
                line=lineno,
                video=vid,
            )
    if ann_path is not None and test_path is not None:
        for vid, info in annotations.items():
            if vid not in test_ids:
                report.add(
                    "unknown",
                    ann_path,
                    f"annotation for video {vid!r}, which is not in {test_path.name}",
                    line=info["line"],
                    video=vid,
                )
        for vid, _, lineno in test:
            if vid not in annotations:
                report.add(
                    "missing",
                    ann_path,
                    f"test video {vid!r} ({test_path.name}:{lineno}) has no annotation line",
                    video=vid,
                )

    rows = []
    for subset, (_, entries) in (("train", lists["train"]), ("test", lists["test"])):
        for vid, cls, lineno in entries:
            ann = annotations.get(vid, {})
            row = {
                "video": vid,
                "subset": subset,
                "path": str(media[vid]) if vid in media else None,
                "scene": "",
                "label": int(not is_normal(vid)),
                "classes": (cls,),
                "intervals": ann.get("intervals", ()),
                "ann_line": ann.get("line"),
                "list_line": lineno,
            }
            fill_counts(row, sources, report, probe=probe)
            rows.append(row)
    table = finish_table(rows, extra=("intervals", "ann_line", "list_line"))
    if own:
        report.raise_errors()
    return table


class UCFCrime(Dataset):
    """UCF-Crime with the official weak train / test lists (split ``test``)."""

    name = "ucf-crime"
    conventions = ("deepmil", "rtfm", "rtfm_v1", "vadclip", "frames_excl", "frames_incl")
    default_convention = "deepmil"
    splits = ("test",)
    default_split = "test"
    classes = CLASSES
    annotation_file = ANNOTATION_NAMES[0]

    def make_dataset(self, report: Report) -> pd.DataFrame:
        return make_ucf_crime_dataset(self.root, sources=self.sources, report=report)

    def _split_ids(self, variant: str) -> tuple[list[str], list[str]]:
        train, test = self._subset_ids()
        # community order (RTFM / UR-DMU / VadCLIP lists): abnormal videos in list order, then the normal ones
        test = [v for v in test if not is_normal(v)] + [v for v in test if is_normal(v)]
        return train, test

    def _video_labels(
        self, convention: str, split: str, row: pd.Series, T: int | None, report: Report
    ) -> np.ndarray:
        intervals = list(row["intervals"])
        if convention in ("deepmil", "vadclip"):
            T = self._need_T(row, T, convention)
            y, clipped = conv.snippet_labels(T, intervals, dtype=conv.get(self.name, convention).dtype)
            self._clip_note(report, row, convention, clipped, len(y))
            return y
        n = self._need_n(row, convention)
        if convention in ("rtfm", "rtfm_v1"):
            y, clipped = conv.ucf_rtfm(n, intervals, tail=convention == "rtfm")
        else:
            y, clipped = conv.frame_labels_from_intervals(n, intervals, inclusive=convention == "frames_incl")
        self._clip_note(report, row, convention, clipped, len(y))
        return y

    def _check_extra(self, table: pd.DataFrame, report: Report, *, decode: bool) -> None:
        super()._check_extra(table, report, decode=decode)
        _report_media_and_clipping(self, table, report, self.root / ANNOTATION_NAMES[0])


def _report_media_and_clipping(ds: Dataset, table: pd.DataFrame, report: Report, ann_path: Path) -> None:
    """Shared by UCF-Crime and XD-Violence: missing test media (when others are present) and annotated ends
    past the frame count (clipped by every convention, reported with the annotation line)."""
    test = table[table["subset"] == "test"]
    if test["path"].notna().any():
        for v in test.loc[test["path"].isna(), "video"]:
            report.add("missing", ds.root, f"test video {v!r} not found under the root", video=v)
    elif not (ds.sources.frame_counts or ds.sources.feature_lengths):
        report.add(
            "missing",
            ds.root,
            "no test video found under the root and no frame-count / feature-length "
            "CSV given: only conventions that need neither can be built",
            severity="warning",
        )
    for row in test.itertuples():
        if isna(row.n_frames):
            continue
        over = [(s, e) for s, e in row.intervals if e >= int(row.n_frames)]
        if over:
            report.add(
                "clipped",
                ann_path,
                f"video {row.video!r} ({int(row.n_frames)} frames): interval(s) "
                f"{over} end at or past the last frame; clipped as the community does",
                line=None if isna(row.ann_line) else int(row.ann_line),
                video=row.video,
                severity="warning",
            )


