"""Community list files and video ids: one path per video or per crop, RTFM / UR-DMU / PEL4VAD ``.list``,
VadCLIP ``path,label`` csv, plain id lists (Zhong's ``SH_Test.txt``, TDSD).

Ids come from basenames with the extension, crop suffixes (``__3``), feature suffixes (``_i3d``,
``__vggish``) and the per-video gt suffix (``__9_gt``) folded; Windows and Linux paths are both handled.

Example:
    >>> video_id(r"G:\\UCF_Test_ten_crop_i3d\\Abuse028_x264_i3d.npy")
    'Abuse028_x264'
    >>> video_id("dataset/Abuse/Abuse028_x264__7.npy")
    'Abuse028_x264'
    >>> video_id("v=S-7rRLrxnVQ__#1_label_B4-0-0__0.npy")
    'v=S-7rRLrxnVQ__#1_label_B4-0-0'
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vadbench.datasets._io import Report, read_text_lines

_EXT = re.compile(r"\.(npy|npz|pt|pth|h5|mp4|avi|mkv|webm|mov|mpg|mpeg|m4v|mat|txt)$", re.IGNORECASE)
_GT = re.compile(r"_gt$")
_FEATURE = re.compile(r"(_i3d|__vggish|_vggish|_clip|_CLIP)$")
_CROP = re.compile(r"__\d+$")


def basename(entry: str) -> str:
    """The last component of a Windows or POSIX path."""
    return re.split(r"[\\/]", entry.strip())[-1]


def video_id(entry: str) -> str:
    """The video id of a list entry / feature file path (see the module docstring)."""
    name = _EXT.sub("", basename(entry))
    name = _GT.sub("", name)
    name = _FEATURE.sub("", name)
    name = _CROP.sub("", name)
    name = _FEATURE.sub("", name)  # ``<video>_i3d__3`` style
    return name


def read_order_list(path: str | os.PathLike[str], report: Report | None = None) -> list[str]:
    """Video ids of a community list, in order, one per video (consecutive crop lines folded).

    Accepts one path / id per line (``.list``, ``.txt``) and ``path,label`` csv files with a header. An id
    that comes back after other videos (not a consecutive crop line) is a ``duplicate`` problem.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.list")
    >>> _ = open(p, "w").write("a/x__0.npy\\na/x__1.npy\\na/y__0.npy\\na/y__1.npy")
    >>> read_order_list(p)
    ['x', 'y']
    """
    own = report is None
    report = report if report is not None else Report()
    path = Path(path)
    if not path.is_file():
        from vadbench.errors import DataError

        raise DataError(f"{path}: order list not found")
    rows = read_text_lines(path)
    is_csv = bool(rows) and rows[0][1].replace(" ", "").lower().startswith("path,")
    if is_csv:
        rows = rows[1:]
    out: list[str] = []
    seen: dict[str, int] = {}
    for lineno, text in rows:
        entry = text.rsplit(",", 1)[0] if is_csv and "," in text else text
        if is_csv or len(entry.split()) == 1 or _looks_like_path(entry):
            vid = video_id(entry)
        else:  # "<id> <label>" (TDSD) or an annotation-like line: the first token is the id
            vid = video_id(entry.split()[0])
        if not vid:
            report.add("malformed", path, f"no video id in {text!r}", line=lineno)
            continue
        if out and out[-1] == vid:
            continue
        if vid in seen:
            report.add(
                "duplicate",
                path,
                f"video {vid!r} listed again (first at line {seen[vid]})",
                line=lineno,
                video=vid,
            )
            continue
        seen[vid] = lineno
        out.append(vid)
    if own:
        report.raise_errors()
    return out


def _looks_like_path(entry: str) -> bool:
    return "/" in entry or "\\" in entry or bool(_EXT.search(entry))


def read_id_list(
    path: str | os.PathLike[str], report: Report, *, with_label: bool = False
) -> list[tuple[str, int | None, int]]:
    """``(id, label or None, line)`` of a plain id list (``SH_Train.txt``, TDSD ``<id> [<0|1>]``).

    Malformed and duplicate lines are reported to ``report``.
    """
    out: list[tuple[str, int | None, int]] = []
    seen: dict[str, int] = {}
    for lineno, text in read_text_lines(path):
        parts = text.split()
        label: int | None = None
        if with_label:
            if len(parts) != 2 or parts[1] not in ("0", "1"):
                report.add("malformed", path, f"expected '<id> <0|1>', found {text!r}", line=lineno)
                continue
            label = int(parts[1])
        elif len(parts) != 1:
            report.add("malformed", path, f"expected one id per line, found {text!r}", line=lineno)
            continue
        vid = video_id(parts[0])
        if vid in seen:
            report.add(
                "duplicate",
                path,
                f"id {vid!r} listed twice (first at line {seen[vid]})",
                line=lineno,
                video=vid,
            )
            continue
        seen[vid] = lineno
        out.append((vid, label, lineno))
    return out
