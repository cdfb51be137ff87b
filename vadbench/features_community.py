"""Community feature files, read as they are published (datasets.md 1.4, 2.4, 3.3; vadclip.md 3.2).

Formats (``K`` crops, ``D`` dims; every array comes back as float32 ``[T, K, D]``):

=================  ==================================  =====  ====  ==================================
name               files                               K      D     lists
=================  ==================================  =====  ====  ==================================
``vadclip-clip``   ``<video>__<k>.npy`` [T, 512]       10     512   ``path,label`` csv (a crop subset)
``rtfm-i3d``       ``<video>_i3d.npy`` [T, 10, 2048]   10     2048  ``.list`` (Windows / Linux paths)
``deepmil-i3d``    ``<video>__<k>.npy`` [T, 1024]      10     1024  UR-DMU / PEL4VAD ``.list``
``xd-i3d``         ``<video>__<k>.npy`` [T, 1024]      5      1024  XDVioDet / UR-DMU / PEL4VAD
``xd-vggish``      ``<video>__vggish.npy`` [T, 128]    1      128   one line per video
=================  ==================================  =====  ====  ==================================

List entries are resolved by their basename under a given folder (searched recursively once), so foreign
absolute paths (``G:\\UCF_Test_ten_crop_i3d\\...``, ``/home/xbgydx/...``) work. A per-crop entry without a
``__<k>`` suffix (PEL4VAD's ``test/<video>.npy``) is crop 0. A missing file or a wrong shape is a
:class:`DataError` naming the entry, what was expected and what was found.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(d / "Abuse028_x264__5.npy", np.zeros((4, 512), np.float32))
    >>> _ = (d / "test.csv").write_text("path,label\\n/home/x/Abuse/Abuse028_x264__5.npy,Abuse\\n")
    >>> got = read_community(d / "test.csv", d, "vadclip-clip")
    >>> got.features["Abuse028_x264"].shape, got.crops["Abuse028_x264"], got.labels["Abuse028_x264"]
    ((4, 1, 512), [5], 'Abuse')
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vadbench.errors import ConfigError, DataError


@dataclass(frozen=True)
class CommunityFormat:
    """A published feature layout: ``per_crop`` files ``[T, D]`` or one ``per_video`` file ``[T, (K,) D]``."""

    name: str
    layout: str  # "per_crop" | "per_video"
    crops: int
    dim: int
    description: str


FORMATS: dict[str, CommunityFormat] = {
    f.name: f
    for f in (
        CommunityFormat("vadclip-clip", "per_crop", 10, 512, "VadCLIP CLIP ViT-B/16 per crop"),
        CommunityFormat("rtfm-i3d", "per_video", 10, 2048, "RTFM I3D ResNet-50 10-crop"),
        CommunityFormat("deepmil-i3d", "per_crop", 10, 1024, "DeepMIL / UR-DMU / PEL4VAD I3D per crop"),
        CommunityFormat("xd-i3d", "per_crop", 5, 1024, "XD-Violence I3D RGB 5-crop"),
        CommunityFormat("xd-vggish", "per_video", 1, 128, "XD-Violence VGGish audio"),
    )
}

_CROP = re.compile(r"__(\d+)$")


@dataclass
class ListEntry:
    """One line of a feature list: the raw entry, its basename, video id, crop (or None) and label."""

    line: int
    entry: str
    basename: str
    video: str
    crop: int | None
    label: str | None = None


@dataclass
class CommunityFeatures:
    """Features of a list: ``features[video]`` float32 ``[T, K, D]``, the crop ids, labels and list order."""

    format: str
    features: dict[str, np.ndarray] = field(default_factory=dict)
    crops: dict[str, list[int]] = field(default_factory=dict)
    labels: dict[str, str | None] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


def read_feature_list(path: str | os.PathLike[str]) -> list[ListEntry]:
    """Entries of a ``.list`` (one path per line) or a ``path,label`` csv, in order.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "t.list")
        >>> _ = open(p, "w").write("G:\\\\feat\\\\Abuse028_x264_i3d.npy\\ndataset/A/B__3.npy")
        >>> [(e.video, e.crop) for e in read_feature_list(p)]
        [('Abuse028_x264', None), ('B', 3)]
    """
    from vadbench.datasets._io import read_text_lines
    from vadbench.datasets.lists import basename, video_id

    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature list {path} not found")
    rows = read_text_lines(path)
    is_csv = bool(rows) and rows[0][1].replace(" ", "").lower().startswith("path,")
    if is_csv:
        rows = rows[1:]
    out = []
    for lineno, text in rows:
        entry, label = (text.rsplit(",", 1) + [None])[:2] if is_csv else (text, None)
        entry = entry.strip()
        base = basename(entry)
        stem = re.sub(r"\.npy$", "", base, flags=re.IGNORECASE)
        m = _CROP.search(stem)
        vid = video_id(entry)
        if not vid:
            raise DataError(f"{path}, line {lineno}: no video id in {text!r}")
        out.append(
            ListEntry(
                lineno,
                entry,
                base,
                vid,
                int(m.group(1)) if m else None,
                label.strip() if label is not None else None,
            )
        )
    if not out:
        raise DataError(f"feature list {path} is empty")
    return out


def _index_folder(folder: Path) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if name.lower().endswith(".npy"):
                index.setdefault(name, []).append(Path(dirpath) / name)
    return index


def _load(path: Path, entry: ListEntry, list_path: Path, expected: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"{list_path}, line {entry.line}: {path} cannot be read as .npy ({err})") from None
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"{path}: expected a float array {expected}, found dtype {arr.dtype} {arr.shape}")
    return arr.astype(np.float32, copy=False)


def folder_entries(folder: Path, fmt: str, videos: Sequence[str]) -> list[ListEntry]:
    """List entries for ``videos`` found by file name under ``folder`` (no list file): ``<video>_i3d.npy``
    (rtfm-i3d), ``<video>__vggish.npy`` (xd-vggish), ``<video>__<k>.npy`` per crop (the others; crops in
    order). A video without a file is a :class:`DataError` naming the file expected."""
    spec = FORMATS[fmt]
    index = _index_folder(folder)
    out: list[ListEntry] = []
    for video in videos:
        if spec.layout == "per_video":
            name = f"{video}_i3d.npy" if fmt == "rtfm-i3d" else f"{video}__vggish.npy"
            if name not in index:
                raise DataError(
                    f"feature file {name} of video {video!r} ({spec.description}) not found under {folder}"
                )
            out.append(ListEntry(len(out) + 1, name, name, video, None))
            continue
        names = [f"{video}__{k}.npy" for k in range(spec.crops) if f"{video}__{k}.npy" in index]
        if not names:
            raise DataError(
                f"feature files {video}__<k>.npy (k in 0..{spec.crops - 1}) of video {video!r} "
                f"({spec.description}) not found under {folder}"
            )
        out += [
            ListEntry(len(out) + i + 1, n, n, video, int(n[len(video) + 2 : -4])) for i, n in enumerate(names)
        ]
    return out


def read_community(
    list_path: str | os.PathLike[str] | None,
    folder: str | os.PathLike[str],
    fmt: str,
    *,
    videos: Sequence[str] | None = None,
) -> CommunityFeatures:
    """Read the features of list ``list_path`` whose files lie (anywhere) under ``folder``.

    ``videos`` restricts the reading to these ids (others are parsed, not loaded). Consecutive lines of
    one video form its crops, in list order. Without a list (``list_path=None``) the files of ``videos``
    are found by their names (:func:`folder_entries`).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown community feature format {fmt!r}; known: {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"feature folder {folder} not found (the {fmt} feature files are looked up in it)")
    if list_path is None:
        if videos is None:
            raise ConfigError("read_community without a list file needs the video ids")
        list_path = folder
        entries = folder_entries(folder, fmt, videos)
    else:
        list_path = Path(list_path)
        entries = read_feature_list(list_path)
    grouped: dict[str, list[ListEntry]] = {}
    order: list[str] = []
    for e in entries:
        if e.video not in grouped:
            order.append(e.video)
        grouped.setdefault(e.video, []).append(e)
    if videos is not None:
        unknown = [v for v in videos if v not in grouped]
        if unknown:
            raise DataError(f"{list_path}: video(s) {unknown[:5]} not in the list ({len(grouped)} videos)")
        wanted = [str(v) for v in videos]
    else:
        wanted = order
    index = _index_folder(folder)
    out = CommunityFeatures(format=fmt, order=order)
    for video in wanted:
        group = grouped[video]
        arrays = []
        crops = []
        for e in group:
            found = index.get(e.basename, [])
            if not found:
                raise DataError(
                    f"{list_path}, line {e.line}: feature file {e.basename} (entry {e.entry!r}) not found "
                    f"under "
                    f"{folder}"
                )
            if len(found) > 1:
                raise DataError(
                    f"{list_path}, line {e.line}: {e.basename} is ambiguous under {folder}: "
                    f"{[str(p) for p in found[:3]]}"
                )
            if spec.layout == "per_crop":
                expected = f"[T, {spec.dim}] ({spec.description})"
                arr = _load(found[0], e, list_path, expected)
                if arr.ndim != 2 or arr.shape[1] != spec.dim:
                    raise DataError(f"{found[0]}: expected {expected}, found shape {tuple(arr.shape)}")
                arrays.append(arr)
                crops.append(0 if e.crop is None else e.crop)
            else:
                if spec.crops > 1:
                    expected = f"[T, {spec.crops}, {spec.dim}] ({spec.description})"
                    arr = _load(found[0], e, list_path, expected)
                    if arr.ndim != 3 or arr.shape[1:] != (spec.crops, spec.dim):
                        raise DataError(f"{found[0]}: expected {expected}, found shape {tuple(arr.shape)}")
                else:
                    expected = f"[T, {spec.dim}] ({spec.description})"
                    arr = _load(found[0], e, list_path, expected)
                    if arr.ndim != 2 or arr.shape[1] != spec.dim:
                        raise DataError(f"{found[0]}: expected {expected}, found shape {tuple(arr.shape)}")
                    arr = arr[:, None, :]
                if len(group) > 1:
                    raise DataError(
                        f"{list_path}: video {video!r} listed {len(group)} times for a per-video format"
                    )
                out.features[video] = arr
                out.crops[video] = list(range(spec.crops))
        if spec.layout == "per_crop":
            lengths = {c: a.shape[0] for c, a in zip(crops, arrays, strict=True)}
            if len(set(lengths.values())) > 1:
                raise DataError(f"{list_path}: video {video!r}: the crops have different lengths T {lengths}")
            if len(set(crops)) != len(crops) or max(crops) >= spec.crops:
                raise DataError(
                    f"{list_path}: video {video!r}: crops {crops}; expected distinct crop ids in "
                    f"0..{spec.crops - 1}"
                )
            out.features[video] = np.stack(arrays, axis=1)
            out.crops[video] = crops
        out.labels[video] = group[0].label
    return out


def guess_format(list_path: str | os.PathLike[str]) -> str:
    """The likely format of a list from its entries (``_i3d`` -> rtfm-i3d, csv -> vadclip-clip, ...)."""
    entries = read_feature_list(list_path)
    first = entries[0].basename.lower()
    if first.endswith("_i3d.npy"):
        return "rtfm-i3d"
    if "vggish" in first:
        return "xd-vggish"
    if Path(list_path).suffix.lower() == ".csv":
        return "vadclip-clip"
    crops = {e.crop for e in entries if e.crop is not None}
    return "xd-i3d" if crops and max(crops) <= 4 else "deepmil-i3d"
