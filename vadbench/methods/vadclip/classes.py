"""The class names VadCLIP feeds to the CLIP text encoder, and the label vectors built from them.

The one place these lists live (spec ``vadclip.md`` section 3.2). Index 0 is always the normal class: the
losses read ``label[:, 0]`` as "normal" and the A-branch score is ``1 - softmax[:, 0]``.

Decision (documented on the card ``vadbench/methods/vadclip/README.md``): a training sample is normal when
its video label is 0,
whatever its ``classes`` say (``()``, ``("normal",)``, ``("Normal",)`` and ``("A",)`` are all accepted); an
abnormal sample (label 1) takes its class(es) from ``classes``. Names are matched case-, space- and
underscore-insensitively, XD-Violence codes (``B4``, ``B2-G-0``) are expanded, ``0`` padding codes ignored.
With the 2-class list ``binary`` (datasets without class names: synthetic, ShanghaiTech-weak) every abnormal
video is ``abnormal``.

Example:
    >>> resolve_class_list("xd-violence")[:3]
    ('normal', 'fighting', 'shooting')
    >>> label_matrix([(0, ()), (1, ("B2-G-0",))], resolve_class_list("xd-violence")).tolist()
    [[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from vadbench.errors import ConfigError, DataError

#: UCF-Crime, in VadCLIP's index order (``ucf_train.py`` label_map values).
UCF_CRIME_CLASSES: tuple[str, ...] = (
    "normal",
    "abuse",
    "arrest",
    "arson",
    "assault",
    "burglary",
    "explosion",
    "fighting",
    "roadAccidents",
    "robbery",
    "shooting",
    "shoplifting",
    "stealing",
    "vandalism",
)
#: XD-Violence, in VadCLIP's index order (``xd_train.py`` label_map values).
XD_VIOLENCE_CLASSES: tuple[str, ...] = (
    "normal",
    "fighting",
    "shooting",
    "riot",
    "abuse",
    "car accident",
    "explosion",
)
#: XD-Violence label codes -> class names (``0`` pads the code list and is ignored).
XD_CODES: dict[str, str] = {
    "A": "normal",
    "B1": "fighting",
    "B2": "shooting",
    "B4": "riot",
    "B5": "abuse",
    "B6": "car accident",
    "G": "explosion",
}
#: Datasets without anomaly class names (synthetic, ShanghaiTech weak split).
BINARY_CLASSES: tuple[str, ...] = ("normal", "abnormal")

CLASS_LISTS: dict[str, tuple[str, ...]] = {
    "ucf-crime": UCF_CRIME_CLASSES,
    "xd-violence": XD_VIOLENCE_CLASSES,
    "binary": BINARY_CLASSES,
}


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "", str(name)).lower()


def resolve_class_list(spec: str | Sequence[str]) -> tuple[str, ...]:
    """A class list from its name (``ucf-crime``, ``xd-violence``, ``binary``) or an explicit list.

    >>> resolve_class_list(["normal", "fire"])
    ('normal', 'fire')
    """
    if isinstance(spec, str):
        if spec not in CLASS_LISTS:
            raise ConfigError(
                f"unknown VadCLIP class list {spec!r}; known: {', '.join(CLASS_LISTS)} "
                f"or an explicit list of names with 'normal' first"
            )
        return CLASS_LISTS[spec]
    names = tuple(str(s) for s in spec)
    if len(names) < 2 or _key(names[0]) != "normal":
        raise ConfigError(
            f"a VadCLIP class list needs at least 2 names with 'normal' first; got {list(names)}"
        )
    if len({_key(n) for n in names}) != len(names):
        raise ConfigError(f"duplicate names in the VadCLIP class list {list(names)}")
    return names


def _expand(classes: Iterable[str]) -> list[str]:
    out: list[str] = []
    for c in classes:
        c = str(c).strip()
        parts = c.split("-")
        if len(parts) > 1 and all(p in XD_CODES or p == "0" for p in parts):
            out += [XD_CODES[p] for p in parts if p != "0"]
        elif c in XD_CODES:
            out.append(XD_CODES[c])
        elif c and c != "0":
            out.append(c)
    return out


def label_vector(
    label: int | None, classes: Sequence[str], names: Sequence[str], video: str = "?"
) -> np.ndarray:
    """The (multi-)hot vector over ``names`` of one training video (not yet divided by its sum).

    >>> float(label_vector(1, ("RoadAccidents",), UCF_CRIME_CLASSES)[8])
    1.0
    """
    index = {_key(n): i for i, n in enumerate(names)}
    vec = np.zeros(len(names), np.float32)
    if label is None:
        raise DataError(f"training video {video!r} has no video label (VadCLIP is weakly supervised)")
    if int(label) not in (0, 1):
        raise DataError(f"video {video!r}: label must be 0 or 1, found {label!r}")
    expanded = [_key(c) for c in _expand(classes)]
    if int(label) == 0:
        wrong = [c for c in expanded if c != "normal"]
        if wrong:
            raise DataError(f"video {video!r} has label 0 (normal) but anomaly classes {list(classes)}")
        vec[0] = 1.0
        return vec
    abnormal = [c for c in expanded if c not in ("normal", "abnormal")]
    if not abnormal:
        if "abnormal" in index:
            vec[index["abnormal"]] = 1.0
            return vec
        raise DataError(
            f"video {video!r} is abnormal (label 1) but has no anomaly class (classes="
            f"{list(classes)}); the VadCLIP class list {list(names)} needs one of its names"
        )
    for c in abnormal:
        if c in index:
            vec[index[c]] = 1.0
        elif "abnormal" in index:
            vec[index["abnormal"]] = 1.0
        else:
            raise DataError(f"video {video!r}: class {c!r} is not in the VadCLIP class list {list(names)}")
    return vec


def label_matrix(
    items: Sequence[tuple[int | None, Sequence[str]]],
    names: Sequence[str],
    videos: Sequence[str] | None = None,
) -> np.ndarray:
    """``(N, C)`` label vectors of ``(label, classes)`` pairs (see :func:`label_vector`)."""
    videos = videos if videos is not None else ["?"] * len(items)
    if not items:
        return np.zeros((0, len(names)), np.float32)
    return np.stack([label_vector(lab, cls, names, v) for (lab, cls), v in zip(items, videos, strict=True)])
