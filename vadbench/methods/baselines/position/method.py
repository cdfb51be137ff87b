"""``position``: a score that only knows where a frame sits in its video (and the video's length).

The probes are those of the dataset audit (:func:`vadbench.audit.probe_scores`): ``index`` (frame index),
``t/T`` (relative position), ``centre`` (closeness to the middle), ``length`` (a constant per video), with
``sign`` +1 or -1. On an honest benchmark it scores at chance; where it does not, the benchmark rewards
position.

Example:
    >>> from vadbench.methods.base import FramesSample
    >>> PositionScores({"probe": "t/T"}).fit([]).score(FramesSample("v", n_frames=4)).tolist()
    [0.0, 0.25, 0.5, 0.75]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vadbench.errors import ConfigError
from vadbench.methods.base import Method


class PositionScores(Method):
    """Content-free frame scores from the position in the video."""

    name = "position"
    supervision = "zero-shot"
    input_kind = "frames"
    unit = "frame"
    fidelity = "code"

    @dataclass(frozen=True)
    class Config:
        probe: str = "t/T"  # index, t/T, centre, length
        sign: int = 1  # +1 or -1

        def __post_init__(self) -> None:
            from vadbench.audit import PROBES

            if self.probe not in PROBES:
                raise ConfigError(f"position: probe must be one of {', '.join(PROBES)}, not {self.probe!r}")
            if self.sign not in (1, -1):
                raise ConfigError(f"position: sign must be 1 or -1, not {self.sign!r}")

    def fit(self, samples: Sequence[Any]) -> PositionScores:
        return self

    def score(self, sample: Any) -> np.ndarray:
        from vadbench.audit import probe_scores

        return self.cfg.sign * probe_scores(int(sample.n_frames))[self.cfg.probe]
