"""The Method contract shared by every method (pyod-style: ``fit``, then scores, higher = anomalous).

A method declares its supervision and the input kind it needs; the runner prepares those inputs, calls
``fit`` on the training inputs and ``score`` on each test video. Methods never see test labels, never compute
metrics and never expand unit scores to frames: the protocol does (:mod:`vadbench.protocol`).

Example:
    >>> import numpy as np
    >>> from vadbench.methods.base import FeatureSample, Method
    >>> class MeanNorm(Method):
    ...     name, supervision, input_kind = "meannorm", "semi", "features"
    ...     def fit(self, samples):
    ...         self.mu = np.mean([s.features.mean(0) for s in samples], 0); return self
    ...     def score(self, sample):
    ...         return np.linalg.norm(sample.features - self.mu, axis=1)
    >>> m = MeanNorm().fit([FeatureSample("v0", np.zeros((4, 2), np.float32))])
    >>> m.score(FeatureSample("v1", np.ones((3, 2), np.float32))).shape
    (3,)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

Supervision = Literal["weak", "semi", "zero-shot"]
InputKind = Literal["features", "frames", "tracks"]
Unit = Literal["snippet16", "frame", "clip"]


@dataclass
class FeatureSample:
    """One video's features for one crop: ``features`` is ``(T, D)`` float32, one row per unit.

    ``label`` is the video-level label (1 = contains an anomaly) and ``classes`` its class names; both are
    filled for training samples only (the runner never passes test labels to a method).
    """

    video: str
    features: np.ndarray
    label: int | None = None
    classes: tuple[str, ...] = ()
    crop: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class FramesSample:
    """One video's decoded frames, read lazily: ``path`` is a video file or a frame folder
    (open it with :func:`vadbench.video.open_video`); ``n_frames`` / ``fps`` come from the dataset table.

    ``label`` / ``classes`` are filled for training samples only, as for :class:`FeatureSample`.
    """

    video: str
    path: Path
    n_frames: int
    fps: float = 25.0
    label: int | None = None
    classes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class TracksSample:
    """One video's object tracks (``vadbench.tracks.load_tracks``): one entry per track; ``n_frames`` lets the
    method return one score per frame. ``label`` / ``classes`` are filled for training samples only."""

    video: str
    tracks: list[Any]
    n_frames: int
    fps: float = 25.0
    label: int | None = None
    classes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


#: What :meth:`Method.fit` / :meth:`Method.score` receive, per ``input_kind``.
SAMPLE_TYPES: dict[str, type] = {"features": FeatureSample, "frames": FramesSample, "tracks": TracksSample}

#: The runner's test-set callback (only with explicit test-set selection, ``selection=test``): it scores the
#: test set with the method's current state and returns metrics per output key, e.g.
#: ``{"c": {"auc_micro": 0.91, "ap": 0.5, ...}, "a": {...}}``. The method never sees the labels themselves.
TestEvaluator = Callable[[], dict[str, dict[str, float]]]


class Method(ABC):
    """Base class of all methods.

    Subclasses set the class attributes and implement :meth:`fit` and :meth:`score`; ``config`` holds the
    method's options (defaults live in the method module, presets in ``methods/<name>/metafile.yaml``).
    """

    name: ClassVar[str]
    supervision: ClassVar[Supervision]
    input_kind: ClassVar[InputKind]
    #: The unit of one score; ``snippet16`` scores are repeated x16 by the protocol.
    unit: ClassVar[Unit] = "snippet16"
    #: Whether ``score`` uses past frames only (anomaly anticipation); recorded, not enforced.
    causal: ClassVar[bool] = False

    def __init__(self, config: dict[str, Any] | None = None, *, device: str = "cpu", seed: int = 0) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self.device = device
        self.seed = seed
        #: A folder where ``fit`` may keep resumable training state (set by the runner: ``runs/<id>/work``).
        self.work_dir: Path | None = None
        #: Set by the runner only when test-set selection is explicitly allowed (see :data:`TestEvaluator`).
        self.test_evaluator: TestEvaluator | None = None

    @abstractmethod
    def fit(self, samples: Sequence[Any]) -> Method:
        """Train on the training set (normal-only for ``semi``; video labels for ``weak``); returns self."""

    @abstractmethod
    def score(self, sample: Any) -> np.ndarray:
        """One anomaly score per unit of one test video (shape ``(T,)``); higher = more anomalous."""

    def score_outputs(self, sample: Any) -> dict[str, np.ndarray]:
        """All per-unit outputs of one video (e.g. both branches, class probabilities). Default: ``score``."""
        return {"score": self.score(sample)}

    # -- persistence -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Tensors / arrays to save. Torch methods return their module's ``state_dict``."""
        raise NotImplementedError(f"{type(self).__name__} does not support saving")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        raise NotImplementedError(f"{type(self).__name__} does not support loading")

    def save(self, path: str | Path) -> Path:
        """Write the weights with safetensors (atomically). Returns the path."""
        import torch
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: (v if isinstance(v, torch.Tensor) else torch.as_tensor(v)).contiguous().cpu()
                 for k, v in self.state_dict().items()}
        tmp = path.with_name(path.name + ".tmp")
        save_file(state, str(tmp))
        tmp.replace(path)
        return path

    def load(self, path: str | Path) -> Method:
        """Read weights written by :meth:`save` (safetensors; never pickle). Returns self."""
        from safetensors.torch import load_file

        self.load_state_dict(dict(load_file(str(path))))
        return self
