"""Cross-domain training: fit a method on one dataset's training videos, score another dataset's test videos.

The run's protocol, test videos and labels are those of the evaluated dataset; only the training samples come
from ``train_dataset`` (its split variant for the method's supervision). The training inputs use the same
options as the test inputs, except clips: their window and stride are in frames, so they are rescaled by the
two datasets' frame rates to cover the same seconds (UCF-Crime 30 fps <-> XD-Violence 24 fps: 2 s is 60 or 48
frames). What the run trained on is part of its config (hence its config hash and run id) and of its row
(``split = "<variant>;train=<train dataset>"``).

Inputs that cannot serve both datasets are refused with a clear error: community feature files (they belong
to one dataset's release), features of different widths, a training split without labelled training videos.

Example:
    >>> rescale_clips({"window": 60, "stride": 30, "frames": 8}, from_fps=30.0, to_fps=24.0)
    {'window': 48, 'stride': 24, 'frames': 8}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError


def dataset_fps(ds: Any) -> float | None:
    """The median frame rate of a dataset's videos (None when its table knows none)."""
    table = ds.videos()
    if "fps" not in table.columns:
        return None
    fps = np.asarray(table["fps"], dtype=np.float64)
    fps = fps[np.isfinite(fps) & (fps > 0)]
    return float(np.median(fps)) if len(fps) else None


def rescale_clips(
    options: Mapping[str, Any], *, from_fps: float | None, to_fps: float | None
) -> dict[str, Any]:
    """Clips options of the evaluated dataset (``from_fps``) for the training dataset (``to_fps``): window and
    stride scaled to the same seconds (rounded, at least 1 frame; ``frames`` kept, at most the window)."""
    from vadbench.inputs import ClipsSpec

    spec = ClipsSpec.from_dict(dict(options))
    if not from_fps or not to_fps or math.isclose(from_fps, to_fps, rel_tol=1e-3):
        return {"window": spec.window, "stride": spec.stride, "frames": spec.frames}
    k = to_fps / from_fps
    window = max(1, round(spec.window * k))
    stride = max(1, round(spec.stride * k))
    return {"window": window, "stride": stride, "frames": min(spec.frames, window)}


def train_input_options(
    kind: str, options: Mapping[str, Any], *, dataset: str, train_dataset: str, fps: float | None,
    train_fps: float | None,
) -> dict[str, Any]:
    """The input options of the training side (see the module docstring); a clear error where the evaluated
    dataset's inputs cannot serve the training dataset."""
    from vadbench.inputs import is_community

    if kind == "features" and is_community(options):
        raise ConfigError(
            f"cross-domain training (train_dataset={train_dataset!r}, test on {dataset!r}): community "
            f"feature files (source={options.get('source')}, root={options.get('root')}) belong to one "
            f"dataset's release; extract features with one backbone for both (--feature backbone=...)"
        )
    if kind == "clips":
        return rescale_clips(options, from_fps=fps, to_fps=train_fps)
    return dict(options)


def check_compatible(
    kind: str, train_inputs: Any, test_inputs: Any, *, dataset: str, train_dataset: str
) -> None:
    """Features of the two datasets must have the same width D (DataError naming a video of each)."""
    if kind != "features" or not train_inputs or not test_inputs:
        return
    tv, ta = next(iter(train_inputs.items()))
    ev, ea = next(iter(test_inputs.items()))
    d_train, d_test = np.asarray(ta).shape[-1], np.asarray(ea).shape[-1]
    if d_train != d_test:
        raise DataError(
            f"cross-domain training: features of {train_dataset!r} video {tv!r} are {d_train}-d, those of "
            f"{dataset!r} video {ev!r} are {d_test}-d; "
            f"a method trained on one cannot score the other"
        )


def check_train_videos(videos: list[str], *, train_dataset: str, variant: str) -> None:
    """The training split must hold training videos."""
    if not videos:
        raise DataError(
            f"cross-domain training: dataset {train_dataset!r} split {variant!r} has no training video"
        )
