"""Detection mAP@IoU for every dataset with typed event segments (VadCLIP's class branch, protocols.md 7).

A dataset has typed segments when it exposes ``event_segments()`` or ``anomaly_types()`` as a table with
``video``, ``type``, ``start`` and ``end`` (0-based frames, end exclusive): the synthetic dataset does. A
method gives class probabilities when one of its ``score_outputs`` is ``(T, C)`` (VadCLIP's ``probs``) and
it names its classes (``method.class_names``, normal first). :func:`detection_metrics` then returns
:func:`vadbench.metrics.map_iou` over the test videos: abnormal videos with their typed segments, normal ones
with one normal segment over the whole video. Types are matched to class names case-, space- and
underscore-insensitively; a type without a class of that name leaves the metric out (empty result).

Example:
    >>> import numpy as np, pandas as pd
    >>> class D:
    ...     def anomaly_types(self):
    ...         return pd.DataFrame({"video": ["v1"], "type": ["wrong_way"], "start": [16], "end": [48]})
    >>> probs = {"v1": np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9]]), "v0": np.array([[0.9, 0.1]])}
    >>> m = detection_metrics(D(), {"probs": probs}, ["v1", "v0"], {"v1": 1, "v0": 0},
    ...                       ("normal", "wrong way"), variant="vadclip_paper")
    >>> m["map_iou@0.5"]
    1.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "", str(name)).lower()


def typed_segments(ds: Any) -> dict[str, list[tuple[int, int, str]]] | None:
    """``{video: [(start, end, type), ...]}`` of a dataset's typed event segments, or None without them."""
    for attr in ("event_segments", "anomaly_types"):
        getter = getattr(ds, attr, None)
        if not callable(getter):
            continue
        table = getter()
        if not hasattr(table, "columns") or not {"video", "type", "start", "end"} <= set(table.columns):
            continue
        out: dict[str, list[tuple[int, int, str]]] = {}
        for v, t, s, e in zip(table["video"].astype(str), table["type"].astype(str), table["start"],
                              table["end"], strict=True):
            out.setdefault(v, []).append((int(s), int(e), t))
        return out
    return None


def detection_metrics(ds: Any, outputs: Mapping[str, Mapping[str, np.ndarray]], videos: Sequence[str],
                      video_labels: Mapping[str, int], class_names: Sequence[str] | None, *,
                      repeat: int = 16, variant: str = "vadclip_code") -> dict[str, float]:
    """mAP@IoU (fractions, as result rows hold them) of the ``(T, C)`` output of a method on a dataset with
    typed segments; {} when not defined."""
    from vadbench.metrics import map_iou

    if not class_names:
        return {}
    segments = typed_segments(ds)
    if not segments:
        return {}
    probs = next((per for per in outputs.values()
                  if all(v in per and np.ndim(per[v]) == 2 and per[v].shape[1] == len(class_names)
                         for v in videos)), None)
    if probs is None:
        return {}
    by_key = {_key(c): c for c in class_names}
    if any(_key(t) not in by_key for segs in segments.values() for _, _, t in segs):
        return {}
    gt_segments, gt_labels, labels = [], [], []
    for v in videos:
        n = repeat * len(probs[v])
        if int(video_labels.get(v, 0)) and segments.get(v):
            gt_segments.append([[s, e] for s, e, _ in segments[v]])
            gt_labels.append([by_key[_key(t)] for _, _, t in segments[v]])
        else:
            gt_segments.append([[0, n]])
            gt_labels.append([class_names[0]])
        labels.append(int(video_labels.get(v, 0)))
    out = map_iou([np.asarray(probs[v]) for v in videos], gt_segments, gt_labels, list(class_names),
                  variant=variant, repeat=repeat, video_labels=labels)
    return {k: v / 100.0 for k, v in out.items()}  # result rows hold fractions
