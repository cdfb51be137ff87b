"""The Dataset API shared by every benchmark loader (see ``notes/INTERFACES.md``).

A loader module ``<name>.py`` exposes ``make_<name>_dataset(root, ...) -> DataFrame``: the dataset as a plain
table of samples, one row per video (anomalib style). :class:`Dataset` wraps that table with the splits and
the frame labels under a named convention (:mod:`vadbench.datasets.conventions`).

Table columns: ``video`` (unique key), ``subset`` (``train`` / ``test``: the official folder), ``path``
(video file or frame folder, ``None`` when absent), ``n_frames`` (nullable int), ``fps`` (NaN when unknown),
``scene``, ``label`` (0/1 video-level), ``classes`` (tuple of names), ``n_snippets`` (nullable int: T of the
given feature lengths), ``n_frames_source`` (``container``, ``decoded``, ``frames``, ``csv``, ``mask``,
``""``),
plus the dataset's annotation columns.

Example:
    >>> from vadbench.datasets.base import Split
    >>> Split("semi", ["01_001"], ["01_0014"]).test
    ['01_0014']
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from vadbench.datasets import conventions as conv
from vadbench.datasets._io import Problem, Report, as_lengths, media_info
from vadbench.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PathLike = str | os.PathLike[str]
LengthsSource = PathLike | Mapping[str, int] | None

#: Columns every dataset table has, in this order.
BASE_COLUMNS = (
    "video",
    "subset",
    "path",
    "n_frames",
    "fps",
    "scene",
    "label",
    "classes",
    "n_snippets",
    "n_frames_source",
)


@dataclass(frozen=True)
class Split:
    """A named split: ordered train ids and test ids (test in the order of the split's convention)."""

    name: str
    train: list[str]
    test: list[str]


@dataclass
class Sources:
    """Where frame counts come from besides the media: ``--frame-counts`` and ``--feature-lengths`` CSVs."""

    frame_counts: dict[str, int] = field(default_factory=dict)
    feature_lengths: dict[str, int] = field(default_factory=dict)


def finish_table(rows: list[dict[str, Any]], extra: Sequence[str] = ()) -> pd.DataFrame:
    """The rows as a DataFrame with the base columns first (nullable ints for the counts)."""
    import pandas as pd

    cols = list(BASE_COLUMNS) + [c for c in extra if c not in BASE_COLUMNS]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("n_frames", "n_snippets"):
        df[c] = df[c].astype("Int64")
    df["fps"] = df["fps"].astype(float)
    df["label"] = df["label"].astype(int)
    return df


def loader_defaults(report: Report | None, sources: Sources | None) -> tuple[bool, Report, Sources]:
    """``(own, report, sources)`` at the start of a ``make_<name>_dataset``: a fresh :class:`Report` when none
    is given (``own``: the loader then raises its errors itself at the end) and empty :class:`Sources`.

    >>> own, report, sources = loader_defaults(None, None)
    >>> own, report.problems, sources.frame_counts
    (True, [], {})
    """
    own = report is None
    return own, report if report is not None else Report(), sources or Sources()


def fill_counts(
    row: dict[str, Any], sources: Sources, report: Report, *, key: str | None = None, probe: bool = True
) -> None:
    """Fill ``n_frames`` / ``fps`` / ``n_snippets`` of ``row`` from the CSVs and the media (in that order).

    The frame-count CSV wins over the media (it is the user's explicit statement); a media count that differs
    from it is a ``mismatch`` problem. ``key`` is the name used in the CSVs (default: ``row["video"]``).
    """
    key = key or row["video"]
    row.setdefault("n_frames", None)
    row.setdefault("fps", math.nan)
    row.setdefault("n_frames_source", "")
    if key in sources.feature_lengths:
        row["n_snippets"] = sources.feature_lengths[key]
    else:
        row.setdefault("n_snippets", None)
    if key in sources.frame_counts:
        row["n_frames"], row["n_frames_source"] = sources.frame_counts[key], "csv"
    if probe and row.get("path"):
        try:
            info = media_info(row["path"])
        except DataError as err:
            report.add("undecodable", row["path"], str(err).split(": ", 1)[-1], video=row["video"])
            return
        row["fps"] = info.fps
        if row["n_frames"] is None:
            row["n_frames"], row["n_frames_source"] = info.n_frames, info.source
        elif row["n_frames"] != info.n_frames and row["n_frames_source"] == "csv":
            report.add(
                "mismatch",
                row["path"],
                f"{info.n_frames} frames in the media, {row['n_frames']} "
                "in the frame-count CSV (the CSV is used)",
                video=row["video"],
                severity="warning",
            )


class Dataset:
    """Base class of the benchmark loaders.

    Subclasses set the class attributes and implement :meth:`make_dataset`, :meth:`_split_ids` and
    :meth:`_video_labels`. ``frame_counts`` / ``feature_lengths``: a CSV path (``video,n_frames`` /
    ``video,T``) or a mapping, for users who have features but not the videos. ``allow_missing``: a test video
    that is missing is dropped and recorded in :attr:`missing` instead of raising.
    """

    name: ClassVar[str] = ""
    conventions: ClassVar[tuple[str, ...]] = ()
    default_convention: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ("test",)
    default_split: ClassVar[str] = "test"
    #: The options that select which data the loader reads, with the values of the default data (synthetic:
    #: ``seed`` 0, ``preset`` tiny). A result row records in its ``data`` column those of
    #: :meth:`data_options` that differ; a real dataset has one content and none.
    data_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        root: PathLike | None = None,
        *,
        frame_counts: LengthsSource = None,
        feature_lengths: LengthsSource = None,
        allow_missing: bool = False,
    ) -> None:
        from vadbench.paths import dataset_root

        self.root = dataset_root(self.name, root)
        self.allow_missing = allow_missing
        report = Report(card=self.card)
        self.sources = Sources(
            *(
                {self.resolve_id(k): v for k, v in as_lengths(src, report).items()}
                for src in (frame_counts, feature_lengths)
            )
        )
        report.raise_errors()
        #: Test videos dropped under ``allow_missing`` (the runner puts them in the result row).
        self.missing: list[str] = []
        #: Warnings met while loading / labelling (e.g. intervals clipped at the end of a video).
        self.warnings: list[Problem] = []
        self._table: pd.DataFrame | None = None

    # ------------------------------------------------------------------ layout
    @property
    def card(self) -> str:
        """Path of the dataset card (``datasets/<name>/README.md``)."""
        from vadbench.paths import card_dir

        return str(card_dir("datasets", self.name) / "README.md")

    def data_options(self) -> dict[str, Any]:
        """The values of the :attr:`data_defaults` options for the data actually read (from the files, so a
        ``root`` that holds other data than asked for is recorded as what it is)."""
        return {}

    def resolve_id(self, video: str) -> str:
        """The table key of an id from a list or CSV (Avenue / NWPU map a bare test id to ``test/<id>``)."""
        return video

    def make_dataset(self, report: Report) -> pd.DataFrame:
        """The table of videos (subclasses call their ``make_<name>_dataset``)."""
        raise NotImplementedError

    def videos(self) -> pd.DataFrame:
        """The table of videos (cached); raises ``DataError`` naming the files on malformed input."""
        if self._table is None:
            report = Report(card=self.card)
            table = self.make_dataset(report)
            report.raise_errors()
            self._note(report.warnings)
            self._table = table
        return self._table

    def check(self, *, decode: bool = False) -> list[Problem]:
        """Every problem against the expected layout (missing / malformed / unknown / duplicate / clipped /
        undecodable), errors and warnings, without raising. ``decode=True`` decodes every video fully.
        """
        report = Report(card=self.card)
        try:
            table = self.make_dataset(report)
        except DataError as err:
            report.add("malformed", self.root, str(err))
            return report.problems
        self._check_extra(table, report, decode=decode)
        known = set(table["video"])
        for what, src in (
            ("frame-count", self.sources.frame_counts),
            ("feature-length", self.sources.feature_lengths),
        ):
            unknown = [v for v in src if v not in known]
            if unknown:
                report.add(
                    "unknown",
                    self.root,
                    f"the {what} source names {len(unknown)} video(s) not in the "
                    f"dataset: {', '.join(unknown[:5])}",
                    severity="warning",
                )
        return report.problems

    def _check_extra(self, table: pd.DataFrame, report: Report, *, decode: bool) -> None:
        """Dataset checks beyond parsing: label lengths vs frame counts, media decoding."""
        from vadbench.datasets._io import count_decoded_frames

        if decode:
            for row in table.itertuples():
                if row.path and os.path.isfile(row.path):
                    try:
                        count_decoded_frames(row.path, None if isna(row.n_frames) else int(row.n_frames))
                    except DataError as err:
                        report.add("undecodable", row.path, str(err).split(": ", 1)[-1], video=row.video)

    def _note(self, problems: Sequence[Problem]) -> None:
        for p in problems:
            if p not in self.warnings:
                self.warnings.append(p)

    # ------------------------------------------------------------------ splits
    def _split_ids(self, variant: str) -> tuple[list[str], list[str]]:
        """(train ids, test ids) of ``variant`` (test in convention order), before the missing check."""
        raise NotImplementedError

    def _subset_ids(self) -> tuple[list[str], list[str]]:
        """(train ids, test ids) by the table's ``subset`` column, in table order."""
        table = self.videos()
        return (
            table.loc[table["subset"] == "train", "video"].tolist(),
            table.loc[table["subset"] == "test", "video"].tolist(),
        )

    def missing_test_videos(self, test: Sequence[str]) -> list[str]:
        """Test videos with no media, no frame count and no feature length while others of ``test`` have one.

        When none of them has any (an annotation-only root) nothing is reported here: conventions that need
        a frame count or T raise their own error naming the video.
        """
        table = self.videos().set_index("video", drop=False)
        present = {}
        for v in test:
            if v not in table.index:
                present[v] = False
                continue
            r = table.loc[v]
            present[v] = not (isna(r["path"]) and isna(r["n_frames"]) and isna(r["n_snippets"]))
        if not any(present.values()):
            return []
        return [v for v in test if not present[v]]

    def split(self, variant: str | None = None) -> Split:
        """The split ``variant`` (default :attr:`default_split`): ordered train and test ids.

        A test video that is missing (absent from the media folder and from the given CSVs while others are
        present) raises ``DataError``, or with ``allow_missing`` is dropped and recorded in :attr:`missing`.
        """
        variant = variant or self.default_split
        if variant not in self.splits:
            raise ConfigError(f"{self.name}: unknown split {variant!r}; known: {', '.join(self.splits)}")
        train, test = self._split_ids(variant)
        missing = self.missing_test_videos(test)
        test = self._drop_missing(test, missing, f"split {variant!r}")
        return Split(variant, train, test)

    def _drop_missing(self, test: list[str], missing: list[str], what: str) -> list[str]:
        if not missing:
            return test
        if not self.allow_missing:
            shown = ", ".join(missing[:10]) + (f" ... ({len(missing)} in all)" if len(missing) > 10 else "")
            raise DataError(
                f"{self.name} {what}: {len(missing)} of {len(test)} test videos missing under "
                f"{self.root}: {shown}. A test set is never shrunk silently: give every test video, as "
                "media under the root, a frame count (--frame-counts CSV) or, for the 16·T conventions, a "
                "feature length (--feature-lengths CSV or feature folder); or pass --allow-missing "
                "(allow_missing=True) to evaluate without them (recorded)"
            )
        for v in missing:
            if v not in self.missing:
                self.missing.append(v)
        return [v for v in test if v not in set(missing)]

    # ------------------------------------------------------------------ labels
    def convention_for(self, convention: str | None, split: str | None) -> str:
        """The convention name to use (``default_convention`` when ``None``), validated."""
        name = convention or self.default_convention
        if name not in self.conventions:
            raise ConfigError(
                f"unknown ground-truth convention {name!r} for {self.name}; "
                f"known: {', '.join(self.conventions)}"
            )
        return name

    def frame_labels(
        self,
        convention: str | None = None,
        *,
        split: str | None = None,
        videos: Sequence[str] | None = None,
        lengths: Mapping[str, int] | None = None,
    ) -> dict[str, np.ndarray]:
        """Frame labels of the test videos under ``convention``, ordered (``videos`` gives the order).

        ``videos``: an order list (e.g. read from a community list with
        :func:`vadbench.datasets.lists.read_order_list`); it must name exactly the split's test videos, a
        missing one being an error unless ``allow_missing``. ``lengths``: snippet counts T per video for the
        16·T conventions (overrides the ``feature_lengths`` CSV).
        """
        split_name = split or self.default_split
        name = self.convention_for(convention, split_name)
        s = self.split(split_name)
        order = list(s.test)
        if videos is not None:
            order = self._check_order([self.resolve_id(v) for v in videos], s.test, split_name)
        Ts = dict(self.sources.feature_lengths)
        Ts.update({self.resolve_id(k): int(v) for k, v in (lengths or {}).items()})
        table = self.videos().set_index("video", drop=False)
        out: dict[str, np.ndarray] = {}
        report = Report(card=self.card)
        for v in order:
            row = table.loc[v]
            out[v] = self._video_labels(name, split_name, row, Ts.get(v), report)
        report.raise_errors()
        self._note(report.warnings)
        return out

    def _check_order(self, order: list[str], test: list[str], split: str) -> list[str]:
        known = set(test) | set(self.missing)
        unknown = [v for v in order if v not in known]
        if unknown:
            raise DataError(
                f"{self.name}: the order list names {len(unknown)} video(s) not in the test set of "
                f"split {split!r}: {', '.join(unknown[:10])}"
            )
        dup = sorted({v for v in order if order.count(v) > 1})
        if dup:
            raise DataError(f"{self.name}: the order list names videos twice: {', '.join(dup[:10])}")
        order = [v for v in order if v not in set(self.missing)]
        missing = [v for v in test if v not in set(order)]
        return self._drop_missing(order + missing, missing, "order list")

    def _video_labels(
        self, convention: str, split: str, row: pd.Series, T: int | None, report: Report
    ) -> np.ndarray:
        """One video's labels under ``convention`` (subclasses)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers for subclasses
    def _need_T(self, row: pd.Series, T: int | None, convention: str) -> int:
        if T is None and not isna(row.get("n_snippets")):
            T = int(row["n_snippets"])
        if T is None:
            raise DataError(
                f"{self.name} video {row['video']!r}: convention {convention!r} needs the snippet "
                "count T of the feature set (16·T frames); give --feature-lengths CSV (video,T) or "
                "lengths={video: T}. T is not computed from a formula (it differs for some videos)"
            )
        return int(T)

    def _need_n(self, row: pd.Series, convention: str) -> int:
        if isna(row.get("n_frames")):
            raise DataError(
                f"{self.name} video {row['video']!r}: convention {convention!r} needs the frame "
                f"count; put the video under {self.root} or give --frame-counts CSV (video,n_frames)"
            )
        return int(row["n_frames"])

    #: The annotation file named in clipping notes (subclasses set it).
    annotation_file: ClassVar[str] = ""

    def _clip_note(self, report: Report, row: pd.Series, convention: str, clipped: int, length: int) -> None:
        if clipped:
            line = row.get("ann_line")
            report.add(
                "clipped",
                self.root / self.annotation_file,
                f"video {row['video']!r}: {clipped} interval(s) end past "
                f"the {length} labels of convention {convention!r}; clipped as the community does",
                line=None if isna(line) else int(line),
                video=row["video"],
                severity="warning",
            )


def isna(value: Any) -> bool:
    """Whether a table cell is missing (None / NaN / NA); an array-like cell is never missing.

    Example:
        >>> isna(None), isna(float("nan")), isna(3), isna([1, 2])
        (True, True, False, False)
    """
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def check_convention(dataset: str, name: str) -> conv.Convention:
    """Shorthand for :func:`vadbench.datasets.conventions.get`."""
    return conv.get(dataset, name)
