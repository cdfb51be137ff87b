"""Ground-truth conventions: the one place where each rule that turns annotations into frame labels lives.

Each function builds one video's frame labels exactly as the community array of that convention does
(length, values, dtype). See ``specs/protocols.md`` section 11; the reference totals are in
:data:`REFERENCE_TOTALS` and are checked by ``tests/test_gt_conformance.py``.

Example:
    >>> y, clipped = interval_labels(10, [(2, 4), (8, 12)])
    >>> y.tolist(), clipped
    ([0, 0, 1, 1, 0, 0, 0, 0, 1, 1], 1)
    >>> ucf_rtfm(20, [(3, 5)])[0].shape
    (32,)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Intervals = Sequence[tuple[int, int]]

#: Snippet length of the 16·T conventions.
SNIPPET = 16


@dataclass(frozen=True)
class Convention:
    """A named frame-label convention of one dataset.

    ``length``: what fixes a video's label length: ``n`` (real frame count), ``16T`` (16 × the snippet count T
    of a feature set), ``16ceil`` (16·ceil(n/16)), ``mask`` (the annotation array itself), ``mixed``
    (ShanghaiTech ``rtfm``: 16·ceil(n/16) for abnormal videos, 16·T for normal ones).
    """

    dataset: str
    name: str
    length: str
    dtype: str
    reference: str
    description: str


CONVENTIONS: dict[tuple[str, str], Convention] = {
    (c.dataset, c.name): c
    for c in (
        Convention(
            "ucf-crime",
            "deepmil",
            "16T",
            "float32",
            "DeepMIL / UR-DMU / PEL4VAD gt-ucf.npy",
            "16·T_i3d frames, y[s:e)=1 clipped",
        ),
        Convention(
            "ucf-crime",
            "rtfm",
            "16ceil",
            "float64",
            "RTFM list/gt-ucf.npy",
            "16·ceil(n/16) frames, end-inclusive, tail rule on the last event",
        ),
        Convention(
            "ucf-crime",
            "rtfm_v1",
            "16ceil",
            "float64",
            "RTFM first upload (97a4d08)",
            "16·ceil(n/16) frames, end-inclusive, no tail rule",
        ),
        Convention(
            "ucf-crime",
            "vadclip",
            "16T",
            "float32",
            "VadCLIP list/gt_ucf.npy (bytes unknown)",
            "16·T_clip frames, y[s:e)=1 clipped",
        ),
        Convention("ucf-crime", "frames_excl", "n", "uint8", "computed", "n frames, y[s:e)=1 clipped"),
        Convention("ucf-crime", "frames_incl", "n", "uint8", "computed", "n frames, y[s:e+1)=1 clipped"),
        Convention(
            "xd-violence",
            "xdviodet",
            "16T",
            "float32",
            "XDVioDet list/gt.npy",
            "16·T_i3d frames, union of y[s:e)=1 clipped",
        ),
        Convention(
            "xd-violence",
            "vadclip",
            "16T",
            "float32",
            "VadCLIP list/gt.npy",
            "16·T_clip frames, union of y[s:e)=1 clipped",
        ),
        Convention(
            "shanghaitech",
            "official",
            "mask",
            "uint8",
            "official test_frame_mask; MNAD labels",
            "the per-frame masks (semi split)",
        ),
        Convention(
            "shanghaitech",
            "rtfm",
            "mixed",
            "float64",
            "RTFM list/gt-sh.npy",
            "abnormal: mask padded with its last label to 16·ceil(n/16); normal: zeros(16·T)",
        ),
        Convention(
            "shanghaitech",
            "pel4vad",
            "16T",
            "float64",
            "PEL4VAD list/sh/sh-gt.npy",
            "rtfm truncated to 16·T of the re-extracted features",
        ),
        Convention(
            "avenue",
            "liu",
            "n",
            "int8",
            "MNAD frame_labels_avenue.npy",
            "avenue.mat ranges, 1-based inclusive",
        ),
        Convention(
            "avenue",
            "pixel",
            "n",
            "int32",
            "avenue_reiss.mat",
            "frame abnormal iff any pixel of its official mask is set",
        ),
        Convention(
            "ped2",
            "official",
            "n",
            "int64",
            "MNAD frame_labels_ped2.npy",
            "UCSDped2.m / ped2.mat ranges, 1-based inclusive",
        ),
        Convention(
            "nwpu-campus",
            "official",
            "mask",
            "uint8",
            "official NWPU_Campus_gt.npz",
            "the per-frame arrays of the npz; zeros for official Train clips",
        ),
    )
}

#: protocols.md section 11.7: (dataset, convention) -> (videos, frames, ones, dtype). Conformance targets.
REFERENCE_TOTALS: dict[tuple[str, str], tuple[int, int, int, str]] = {
    ("ucf-crime", "deepmil"): (290, 1_109_680, 84_128, "float32"),
    ("ucf-crime", "rtfm"): (290, 1_114_144, 84_389, "float64"),
    ("ucf-crime", "rtfm_v1"): (290, 1_114_144, 84_343, "float64"),
    ("ucf-crime", "frames_excl"): (290, 1_111_808, 84_182, "uint8"),
    ("ucf-crime", "frames_incl"): (290, 1_111_808, 84_331, "uint8"),
    ("xd-violence", "xdviodet"): (800, 2_330_384, 537_805, "float32"),
    ("shanghaitech", "official"): (107, 40_791, 17_326, "uint8"),
    ("shanghaitech", "rtfm"): (199, 142_912, 8_028, "float64"),
    ("avenue", "liu"): (21, 15_324, 3_867, "int8"),
    ("avenue", "pixel"): (21, 15_324, 3_712, "int32"),
    ("ped2", "official"): (12, 2_010, 1_648, "int64"),
}


def get(dataset: str, name: str) -> Convention:
    """The convention ``name`` of ``dataset``; ``ConfigError`` listing the known ones otherwise."""
    try:
        return CONVENTIONS[(dataset, name)]
    except KeyError:
        from vadbench.errors import ConfigError

        known = ", ".join(n for d, n in CONVENTIONS if d == dataset)
        raise ConfigError(f"unknown ground-truth convention {name!r} for {dataset}; known: {known}") from None


def length_rule(dataset: str, name: str) -> str:
    """What fixes the label length of convention ``name`` on ``dataset`` (``n``, ``16T``, ``16ceil``,
    ``mask``, ``mixed``); a dataset without its own conventions (the synthetic set, plugins) uses the
    first dataset's convention of that name.

    >>> length_rule("synthetic", "rtfm"), length_rule("ucf-crime", "deepmil")
    ('16ceil', '16T')
    """
    if (dataset, name) in CONVENTIONS:
        return CONVENTIONS[(dataset, name)].length
    for (_, other), conv in CONVENTIONS.items():
        if other == name:
            return conv.length
    from vadbench.errors import ConfigError

    raise ConfigError(f"unknown ground-truth convention {name!r}")


def names(dataset: str) -> tuple[str, ...]:
    """The convention names of ``dataset``."""
    return tuple(n for d, n in CONVENTIONS if d == dataset)


def interval_labels(
    length: int, intervals: Intervals, *, inclusive: bool = False, dtype: str = "uint8"
) -> tuple[np.ndarray, int]:
    """Zeros of ``length`` with each ``(s, e)`` set to 1, end-exclusive ``[s, e)`` or inclusive ``[s, e]``.

    Pairs with a negative start (the ``-1`` placeholder) are skipped; ends are clipped to ``length`` as Python
    slicing does. Returns the labels and the number of intervals whose end fell past the array.
    """
    y = np.zeros(int(length), dtype=dtype)
    clipped = 0
    for s, e in intervals:
        if s < 0 or e < 0:
            continue
        stop = e + 1 if inclusive else e
        if stop > length:
            clipped += 1
        y[s : min(stop, length)] = 1
    return y, clipped


def ucf_rtfm(n: int, intervals: Intervals, *, tail: bool = True) -> tuple[np.ndarray, int]:
    """UCF-Crime ``rtfm`` (``tail=True``) / ``rtfm_v1`` (``tail=False``): 16·ceil(n/16) float64 labels.

    End-inclusive intervals clipped to L = 16·ceil(n/16). Tail rule: when the last annotated event ends within
    16 frames of L (``L - e < 16``), frames ``e+1 .. L-1`` are abnormal too.
    """
    length = SNIPPET * math.ceil(n / SNIPPET)
    y, clipped = interval_labels(length, intervals, inclusive=True, dtype="float64")
    events = [(s, e) for s, e in intervals if s >= 0 and e >= 0]
    if tail and events:
        e = events[-1][1]
        if length - e < SNIPPET:
            y[e + 1 : length] = 1
    return y, clipped


def snippet_labels(T: int, intervals: Intervals, dtype: str = "float32") -> tuple[np.ndarray, int]:
    """DeepMIL / XDVioDet / VadCLIP rule: zeros(16·T), union of ``y[s:e) = 1`` clipped to 16·T."""
    return interval_labels(SNIPPET * int(T), intervals, inclusive=False, dtype=dtype)


def frame_labels_from_intervals(n: int, intervals: Intervals, *, inclusive: bool) -> tuple[np.ndarray, int]:
    """UCF-Crime ``frames_excl`` / ``frames_incl``: n uint8 labels."""
    return interval_labels(n, intervals, inclusive=inclusive, dtype="uint8")


def matlab_range_labels(n: int, ranges: Intervals, dtype: str) -> tuple[np.ndarray, int]:
    """MATLAB 1-based inclusive ranges ``[s, e]`` (Ped2 ``.m``, Liu ``.mat``) -> ``y[s-1:e] = 1``."""
    y = np.zeros(int(n), dtype=dtype)
    clipped = 0
    for s, e in ranges:
        if e > n:
            clipped += 1
        y[max(int(s) - 1, 0) : min(int(e), n)] = 1
    return y, clipped


def mask_labels(mask: np.ndarray, dtype: str = "uint8") -> np.ndarray:
    """A per-frame 0/1 mask as a 1-D array of ``dtype`` (ShanghaiTech ``official``, NWPU ``official``)."""
    mask = np.asarray(mask).reshape(-1)
    return mask.astype(dtype, copy=False)


def sht_rtfm(mask: np.ndarray | None, T: int | None = None, n: int | None = None) -> np.ndarray:
    """ShanghaiTech weak ``rtfm``: an abnormal video's mask padded with its last label to 16·ceil(n/16);
    a normal video (``mask`` None) is zeros of 16·T (T from the features, else ceil(n/16), RTFM's extraction).
    float64, as RTFM's ``gt-sh.npy``.
    """
    if mask is not None:
        mask = np.asarray(mask).reshape(-1).astype("float64")
        length = SNIPPET * math.ceil(len(mask) / SNIPPET)
        return np.pad(mask, (0, length - len(mask)), mode="edge")
    if T is None:
        if n is None:
            raise ValueError("sht_rtfm: a normal video needs T or n")
        T = math.ceil(n / SNIPPET)
    return np.zeros(SNIPPET * int(T), dtype="float64")


def pixel_mask_labels(frames: Sequence[np.ndarray], dtype: str = "int32") -> np.ndarray:
    """Avenue ``pixel``: frame t is abnormal iff any pixel of its mask is > 0."""
    return np.fromiter(
        (bool(np.any(np.asarray(f) > 0)) for f in frames), dtype=bool, count=len(frames)
    ).astype(dtype)
