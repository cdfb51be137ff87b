"""Small readers shared by the dataset loaders: problem records, frame counts, media indexing, atomic writes.

Everything here reads files; the rules that turn annotations into frame labels live in
:mod:`vadbench.datasets.conventions`, list / id parsing in :mod:`vadbench.datasets.lists`.

Example:
    >>> r = Report()
    >>> r.add("malformed", "a.txt", "expected 6 fields, found 3", line=4)
    >>> str(r.problems[0])
    'malformed: a.txt:4: expected 6 fields, found 3'
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vadbench.errors import DataError

#: File extensions read as videos / as frame images (lower case).
VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
#: Video keys of datasets whose ids repeat across the official train and test sets (Avenue, NWPU Campus).
KEY_PREFIXES = ("train/", "test/")


@dataclass(frozen=True)
class Problem:
    """One finding against a dataset's expected layout.

    ``kind``: ``missing``, ``malformed``, ``unknown`` (annotation for a video not in the set), ``duplicate``,
    ``clipped`` (interval past the end, clipped as the community does), ``undecodable``, ``mismatch``.
    ``severity`` is ``error`` (loading fails) or ``warning`` (reported, loading goes on).
    """

    kind: str
    path: str
    message: str
    line: int | None = None
    video: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{self.kind}: {where}: {self.message}"


@dataclass
class Report:
    """Collects :class:`Problem` records; :meth:`raise_errors` turns the first errors into a ``DataError``."""

    problems: list[Problem] = field(default_factory=list)
    card: str | None = None

    def add(
        self,
        kind: str,
        path: str | os.PathLike[str],
        message: str,
        *,
        line: int | None = None,
        video: str | None = None,
        severity: str = "error",
    ) -> None:
        self.problems.append(Problem(kind, str(path), message, line, video, severity))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    def raise_errors(self) -> None:
        """Raise a ``DataError`` listing the errors (at most 10 shown) and the dataset card, if any."""
        errs = self.errors
        if not errs:
            return
        lines = [str(p) for p in errs[:10]]
        if len(errs) > 10:
            lines.append(f"... and {len(errs) - 10} more")
        if self.card:
            lines.append(f"expected layout: see {self.card}")
        raise DataError("\n".join(lines))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`vadbench.atomic.atomic_write_bytes`)."""
    from vadbench.atomic import atomic_write_bytes as write

    write(path, data)


def atomic_save_npy(path: str | os.PathLike[str], array: Any) -> None:
    """``np.save`` to ``path`` atomically (:func:`vadbench.atomic.atomic_save_npy`; no ``.npy`` appended)."""
    from vadbench.atomic import atomic_save_npy as save

    save(path, array)


def read_text_lines(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of the non-blank lines of a text file (1-based numbers).

    Tolerates a UTF-8 BOM, CRLF endings and a missing final newline.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err})") from None
    return [(i, s.strip()) for i, s in enumerate(text.splitlines(), 1) if s.strip()]


def read_keyed_annotations(
    path: str | os.PathLike[str],
    report: Report,
    parse: Callable[[str], tuple[str, dict[str, Any]]],
    check: Callable[[str, dict[str, Any]], str | None],
    *,
    shown: int | None = None,
) -> dict[str, dict[str, Any]]:
    """``{video: {**fields, "line"}}`` of an annotation file with one video a line (problems to ``report``).

    ``parse(text)`` gives ``(video, fields)`` or raises ``ValueError`` (a ``malformed`` line, quoted up to
    ``shown`` characters); a video seen before is a ``duplicate``; ``check(video, fields)`` gives the message
    of a ``malformed`` line that parsed but does not fit its video, else ``None``. Such lines are skipped.
    """
    out: dict[str, dict[str, Any]] = {}
    for lineno, text in read_text_lines(path):
        try:
            vid, fields = parse(text)
        except ValueError as err:
            report.add("malformed", path, f"{err}: {text[:shown]!r}", line=lineno)
            continue
        if vid in out:
            report.add(
                "duplicate",
                path,
                f"video {vid!r} annotated twice (first at line {out[vid]['line']})",
                line=lineno,
                video=vid,
            )
            continue
        problem = check(vid, fields)
        if problem is not None:
            report.add("malformed", path, problem, line=lineno, video=vid)
            continue
        out[vid] = {**fields, "line": lineno}
    return out


def read_lengths_csv(path: str | os.PathLike[str], report: Report | None = None) -> dict[str, int]:
    """Read a two-column ``video,<int>`` CSV (frame counts ``video,n_frames`` or feature lengths ``video,T``).

    A header row is recognised by a non-integer second field. The video column may hold a path or a feature
    file name; it is reduced to the video id (:func:`vadbench.datasets.lists.video_id`).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "n.csv")
    >>> _ = open(p, "w").write("video,n_frames\\nAbuse028_x264,1412\\n")
    >>> read_lengths_csv(p)
    {'Abuse028_x264': 1412}
    """
    from vadbench.datasets.lists import video_id

    own = report is None
    report = report if report is not None else Report()
    out: dict[str, int] = {}
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a CSV 'video,n_frames' or 'video,T')")
    for i, (lineno, text) in enumerate(read_text_lines(path)):
        parts = [p.strip() for p in text.rsplit(",", 1)]
        if len(parts) != 2:
            report.add("malformed", path, f"expected 'video,<integer>', found {text!r}", line=lineno)
            continue
        name, value = parts
        try:
            number = int(value)
        except ValueError:
            if i == 0:  # header
                continue
            report.add("malformed", path, f"expected an integer in column 2, found {value!r}", line=lineno)
            continue
        if number < 0:
            report.add("malformed", path, f"negative length {number}", line=lineno)
            continue
        vid = name if name.lower().startswith(KEY_PREFIXES) else video_id(name)
        if vid in out:
            report.add("duplicate", path, f"video {vid!r} listed twice", line=lineno, video=vid)
            continue
        out[vid] = number
    if own:
        report.raise_errors()
    return out


def as_lengths(
    source: str | os.PathLike[str] | Mapping[str, int] | None, report: Report | None = None
) -> dict[str, int]:
    """A lengths mapping from a CSV path, a mapping or ``None`` (empty)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return {str(k): int(v) for k, v in source.items()}
    if os.path.isdir(source):
        return feature_lengths_from_folder(source, report)
    return read_lengths_csv(source, report)


def feature_lengths_from_folder(
    folder: str | os.PathLike[str], report: Report | None = None
) -> dict[str, int]:
    """``{video: T}`` from a folder of community feature files (``<video>_i3d.npy`` [T, 10, D],
    ``<video>__<crop>.npy`` [T, D], ...), searched recursively; T is the first axis (read from the header).

    Crops of one video must agree on T, else a ``mismatch`` problem names the file.
    """
    import numpy as np

    from vadbench.datasets.lists import video_id

    own = report is None
    report = report if report is not None else Report()
    out: dict[str, int] = {}
    first: dict[str, Path] = {}
    for path in sorted(Path(folder).rglob("*.npy")):
        if path.name.startswith("."):
            continue
        try:
            T = int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
        except Exception as err:
            report.add("malformed", path, f"not a readable feature array ({type(err).__name__}: {err})")
            continue
        vid = video_id(path.name)
        if vid in out and out[vid] != T:
            report.add(
                "mismatch",
                path,
                f"video {vid!r}: T = {T} here but {out[vid]} in {first[vid].name}",
                video=vid,
            )
            continue
        out.setdefault(vid, T)
        first.setdefault(vid, path)
    if own:
        report.raise_errors()
    return out


@dataclass(frozen=True)
class MediaInfo:
    """Frame count and fps of a video file or frame folder (``fps`` is NaN for frame folders)."""

    n_frames: int
    fps: float
    source: str  # "container", "decoded", "frames"


def probe_video(path: str | os.PathLike[str]) -> MediaInfo:
    """Frame count and fps from the container metadata (PyAV); decode to count only when metadata is missing.

    Raises ``DataError`` naming the file when it cannot be opened or decoding fails (with the frame reached).
    """
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else math.nan
            if stream.frames and stream.frames > 0:
                return MediaInfo(int(stream.frames), fps, "container")
        n = count_decoded_frames(path)
        return MediaInfo(n, fps, "decoded")
    except DataError:
        raise
    except Exception as err:  # PyAV raises several error types (av.error.*, OSError)
        raise DataError(f"{path}: cannot open video ({type(err).__name__}: {err})") from None


def count_decoded_frames(path: str | os.PathLike[str], expected: int | None = None) -> int:
    """Decode every frame of ``path`` and return the count.

    Raises ``DataError`` naming the file and the last frame decoded when decoding fails, or when fewer frames
    than ``expected`` (the container's count) come out.
    """
    import av

    path = Path(path)
    n = 0
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                n += 1
    except Exception as err:
        raise DataError(f"{path}: decoding stopped at frame {n} ({type(err).__name__}: {err})") from None
    if expected is not None and n < expected:
        raise DataError(f"{path}: decoding stopped at frame {n}; the container says {expected} frames")
    return n


def list_frames(folder: str | os.PathLike[str]) -> list[str]:
    """Image file names of a frame folder, sorted numerically (hidden files such as ``._001.jpg`` skipped)."""
    names = [
        e.name
        for e in os.scandir(folder)
        if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTS)
    ]
    return sorted(names, key=_numeric_key)


def _numeric_key(name: str) -> tuple[int, str]:
    stem = os.path.splitext(name)[0]
    digits = "".join(ch for ch in stem if ch.isdigit())
    return (int(digits) if digits else -1, name)


def frame_folder_info(folder: str | os.PathLike[str]) -> MediaInfo:
    """Frame count of a frame folder (numbered images)."""
    return MediaInfo(len(list_frames(folder)), math.nan, "frames")


def media_info(path: str | os.PathLike[str]) -> MediaInfo:
    """:func:`probe_video` for a file, :func:`frame_folder_info` for a folder."""
    return frame_folder_info(path) if os.path.isdir(path) else probe_video(path)


def index_videos(
    folder: str | os.PathLike[str], exts: Iterable[str] = VIDEO_EXTS, recursive: bool = True
) -> dict[str, list[Path]]:
    """Video files under ``folder`` by stem (``{stem: [paths...]}``, several when a name repeats)."""
    out: dict[str, list[Path]] = {}
    folder = Path(folder)
    if not folder.is_dir():
        return out
    exts = tuple(exts)
    stack = [folder]
    while stack:
        here = stack.pop()
        with os.scandir(here) as it:
            for e in sorted(it, key=lambda e: e.name):
                if e.name.startswith("."):
                    continue
                if e.is_dir():
                    if recursive:
                        stack.append(Path(e.path))
                elif e.name.lower().endswith(exts):
                    out.setdefault(os.path.splitext(e.name)[0], []).append(Path(e.path))
    return out


def unique_videos(
    folder: str | os.PathLike[str], report: Report, skip_parts: Iterable[str] = ()
) -> dict[str, Path]:
    """:func:`index_videos` with one path per stem: the first found, a warning in ``report`` for the others.

    Paths with a folder named in ``skip_parts`` are left out before duplicates are looked for.
    """
    skip = set(skip_parts)
    media: dict[str, Path] = {}
    for vid, paths in index_videos(folder).items():
        keep = [p for p in paths if not skip.intersection(p.parts)]
        if not keep:
            continue
        media[vid] = keep[0]
        if len(keep) > 1:
            report.add(
                "duplicate",
                keep[1],
                f"video {vid!r} found twice (also {keep[0]}); using the first",
                video=vid,
                severity="warning",
            )
    return media


def index_frame_folders(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Sub-folders of ``folder`` (one frame folder per video) by name; hidden ones and ``*_gt`` skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {
        e.name: Path(e.path)
        for e in sorted(os.scandir(folder), key=lambda e: e.name)
        if e.is_dir() and not e.name.startswith(".") and not e.name.endswith("_gt")
    }


def loadmat(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``scipy.io.loadmat`` with a ``DataError`` naming the file when it is not a readable MATLAB file."""
    from scipy.io import loadmat as _loadmat

    try:
        return _loadmat(str(path))
    except Exception as err:
        raise DataError(f"{path}: not a readable MATLAB .mat file ({type(err).__name__}: {err})") from None


def mat_cell_length(path: str | os.PathLike[str]) -> int:
    """Number of elements of the first variable of a MATLAB v5 file (Avenue ``volLabel``: the frame count),
    read from the first bytes of the compressed element instead of loading the whole file.

    scipy's ``whosmat`` decompresses the whole variable (hundreds of MB for an Avenue mask file); this reads
    a few hundred bytes. Falls back to ``whosmat`` on any format it does not expect.
    """
    import struct
    import zlib

    try:
        with open(path, "rb") as fh:
            header = fh.read(128)
            if len(header) < 128 or header[126:128] != b"IM":
                raise ValueError("not a little-endian MAT v5 file")
            tag = fh.read(8)
            dtype, nbytes = struct.unpack("<II", tag)
            if dtype != 15:  # miCOMPRESSED
                raise ValueError("first element not compressed")
            head = zlib.decompressobj().decompress(fh.read(min(nbytes, 4096)), 256)
        mtype, _ = struct.unpack("<II", head[:8])
        if mtype != 14:  # miMATRIX
            raise ValueError("not a matrix")
        ftype, fsize = struct.unpack("<II", head[8:16])
        off = 16 + fsize
        dtype_dims, size_dims = struct.unpack("<II", head[off : off + 8])
        if dtype_dims >> 16:  # small data element
            size_dims = dtype_dims >> 16
            dims = struct.unpack(f"<{size_dims // 4}i", head[off + 4 : off + 4 + size_dims])
        else:
            dims = struct.unpack(f"<{size_dims // 4}i", head[off + 8 : off + 8 + size_dims])
        return int(math.prod(dims))
    except (ValueError, struct.error, zlib.error, OSError):
        from scipy.io import whosmat

        try:
            return int(math.prod(whosmat(str(path))[0][1]))
        except Exception as err:
            raise DataError(
                f"{path}: not a readable MATLAB .mat file ({type(err).__name__}: {err})"
            ) from None
