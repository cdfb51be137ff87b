"""The Method contract shared by every method (pyod-style: ``fit``, then scores, higher = anomalous).

A method declares its supervision, the input kind it needs, the unit of its scores and its fidelity; its
options are a frozen ``Config`` dataclass whose field defaults are the code defaults (presets hold only
differences). The runner prepares the inputs (:mod:`vadbench.inputs`), calls ``fit`` on the training samples
and :meth:`Method.score_outputs` once per test sample. Methods never see test labels, never compute metrics
and never expand unit scores to frames: the protocol does (:mod:`vadbench.protocol`).

Contract (``/work/PLAN/CONTRACT.md``, the project's ``CONTRACT.md``):

- ``score_outputs(sample) -> {key: (T,) or (T, C)}`` is the only scoring call the runner makes; ``score``
  is ``score_outputs(sample)[headline]``. A method implements one of the two.
- ``save(path)`` writes ``path`` (safetensors: :meth:`state_dict`) and ``<stem>.state.json`` beside it
  (:meth:`extra_state`: JSON-able tables, vocabularies, thresholds, + the config and history); ``load``
  reads both.
- ``contract_config()``: the small config the contract test (``tests/test_method_contract.py``) fits on the
  tiny synthetic set (seconds on a CPU).

Example:
    >>> import numpy as np
    >>> from dataclasses import dataclass
    >>> class MeanNorm(Method):
    ...     name, supervision, input_kind, fidelity = "meannorm", "semi", "features", "code"
    ...     @dataclass(frozen=True)
    ...     class Config:
    ...         power: float = 2.0
    ...     def fit(self, samples):
    ...         self.mu = np.mean([s.features.mean(0) for s in samples], 0); return self
    ...     def score(self, sample):
    ...         return np.linalg.norm(sample.features - self.mu, ord=self.cfg.power, axis=1)
    ...     def extra_state(self):
    ...         return {"mu": self.mu.tolist()}
    ...     def load_extra_state(self, state):
    ...         self.mu = np.asarray(state["mu"])
    >>> m = MeanNorm({"power": 1}).fit([FeatureSample("v0", np.zeros((4, 2), np.float32))])
    >>> m.score_outputs(FeatureSample("v1", np.ones((3, 2), np.float32)))["score"].tolist()
    [2.0, 2.0, 2.0]
    >>> MeanNorm({"pwr": 1})
    Traceback (most recent call last):
    ...
    vadbench.errors.ConfigError: method 'meannorm': unknown option(s) pwr; known options: power (float = 2.0)
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from vadbench.errors import ConfigError, DataError, VadbenchError

Supervision = Literal["weak", "semi", "zero-shot"]
InputKind = Literal["features", "frames", "clips", "tracks"]
Unit = Literal["snippet16", "frame", "clip"]
Fidelity = Literal["code", "paper", "reconstruction"]

SUPERVISIONS: tuple[str, ...] = typing.get_args(Supervision)
INPUT_KINDS: tuple[str, ...] = typing.get_args(InputKind)
UNITS: tuple[str, ...] = typing.get_args(Unit)
FIDELITIES: tuple[str, ...] = typing.get_args(Fidelity)

#: Version of the ``<stem>.state.json`` layout written by :meth:`Method.save`.
STATE_FORMAT = 1


class LabelAccessError(VadbenchError):
    """A method read the label (or classes) of a test sample: test labels never reach a method."""


# ---------------------------------------------------------------------------------------------------------
# samples


@dataclass
class Sample:
    """What every sample carries (all kinds): ``video`` id, ``fps``, ``path`` (the video file or frame folder,
    when known), ``scene`` id (when the dataset has scenes), ``n_frames``, and for training samples only the
    video-level ``label`` (1 = contains an anomaly) and its ``classes``. ``meta`` holds other dataset fields
    that are not derived from test labels (e.g. ``subset``)."""

    video: str
    _: KW_ONLY
    fps: float = 25.0
    path: Path | None = None
    scene: str | None = None
    n_frames: int = 0
    label: int | None = None
    classes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def _reader(self) -> Any:
        from vadbench.video import open_video

        if self.path is None:
            raise DataError(f"video {self.video!r}: the sample has no path to read frames from")
        return open_video(self.path)


@dataclass
class FeatureSample(Sample):
    """One video's features for one crop: ``features`` is ``(T, D)`` float32, one row per unit.

    >>> FeatureSample("v", np.zeros((3, 2), np.float32), label=1).features.shape
    (3, 2)
    """

    features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    _: KW_ONLY
    crop: int = 0


@dataclass
class FramesSample(Sample):
    """One video's decoded frames, read lazily through :func:`vadbench.video.open_video` (``path``).

    ``read(indices=None)`` returns ``(N, H, W, 3)`` uint8 (every frame when ``indices`` is None).
    """

    def read(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Frames at ``indices`` (all frames when None) as ``(N, H, W, 3)`` uint8."""
        with self._reader() as reader:
            idx = list(range(len(reader))) if indices is None else [int(i) for i in indices]
            if not idx:
                return np.zeros((0, *reader.frame_shape, 3), np.uint8)
            return np.asarray(reader.get_batch(idx), dtype=np.uint8)


@dataclass
class ClipsSample(Sample):
    """One video cut into windows: ``windows`` ``(K, 2)`` int ``[start, stop)`` frame ranges of
    ``window_frames`` (W) frames every ``stride`` (S) frames, and ``frame_index`` ``(K, F)`` the frames
    sampled in each window (see :func:`vadbench.video.sampling.clip_windows`). The same scheme is used for
    training and test samples; the method returns one score per window (``unit=clip``) and the protocol
    expands them.
    """

    windows: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    frame_index: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.int64))
    _: KW_ONLY
    window_frames: int = 16
    stride: int = 16

    def read_window(self, k: int) -> np.ndarray:
        """The ``F`` sampled frames of window ``k`` as ``(F, H, W, 3)`` uint8."""
        with self._reader() as reader:
            return np.asarray(reader.get_batch([int(i) for i in self.frame_index[k]]), dtype=np.uint8)

    def iter_windows(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(k, frames (F, H, W, 3))`` for every window, decoding each needed frame once."""
        if len(self.frame_index) == 0:
            return
        with self._reader() as reader:
            needed = np.unique(self.frame_index)
            frames = dict(zip(needed.tolist(), reader.get_batch(needed.tolist()), strict=True))
        for k, idx in enumerate(self.frame_index):
            yield k, np.stack([frames[int(i)] for i in idx]).astype(np.uint8, copy=False)


@dataclass
class TracksSample(Sample):
    """One video's object tracks (:class:`vadbench.tracks.Track`, one per track); ``path`` is the video, so
    crops can be read (:func:`vadbench.tracks.crop_tracks`); ``n_frames`` lets a method score every frame."""

    tracks: list[Any] = field(default_factory=list)

    def read(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Frames of the video (as :meth:`FramesSample.read`)."""
        return FramesSample.read(self, indices)  # type: ignore[arg-type]


#: What :meth:`Method.fit` / :meth:`Method.score_outputs` receive, per ``input_kind``.
SAMPLE_TYPES: dict[str, type[Sample]] = {
    "features": FeatureSample,
    "frames": FramesSample,
    "clips": ClipsSample,
    "tracks": TracksSample,
}

#: The unit of each input kind's natural scores (a method may declare another, e.g. frames -> clip).
_HIDDEN = ("label", "classes")


def _hidden(name: str) -> property:
    def get(self: Any) -> Any:
        raise LabelAccessError(
            f"video {self.video!r} is a test sample: its {name} is not given to methods (test labels never "
            f"reach a method; fit on the training samples' labels)"
        )

    def put(self: Any, value: Any) -> None:
        if value not in (None, ()):
            raise LabelAccessError(f"video {self.video!r}: a test sample cannot carry a {name}")

    return property(get, put)


def _test_type(cls: type[Sample]) -> type[Sample]:
    name = f"Unlabelled{cls.__name__}"
    if name in _TEST_TYPES:
        return _TEST_TYPES[name]

    def __repr__(self: Any) -> str:
        return f"{name}(video={self.video!r}, n_frames={self.n_frames})"

    def __eq__(self: Any, other: Any) -> bool:
        return self is other

    new = type(
        name,
        (cls,),
        {
            "label": _hidden("label"),
            "classes": _hidden("classes"),
            "__repr__": __repr__,
            "__eq__": __eq__,
            "__hash__": object.__hash__,
            "__doc__": f"A test {cls.__name__}: reading ``label`` / ``classes`` raises.",
        },
    )
    _TEST_TYPES[name] = new
    return new


_TEST_TYPES: dict[str, type[Sample]] = {}


def unlabelled(sample: Sample) -> Sample:
    """A test copy of ``sample``: the same fields, but reading ``label`` or ``classes`` raises
    :class:`LabelAccessError` (what the runner gives a method to score).

    >>> s = unlabelled(FeatureSample("t", np.zeros((2, 1), np.float32), label=1))
    >>> s.features.shape
    (2, 1)
    >>> s.label  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vadbench.methods.base.LabelAccessError: video 't' is a test sample: its label is not given to methods ...
    """
    cls = _test_type(type(sample)) if not type(sample).__name__.startswith("Unlabelled") else type(sample)
    values = {f.name: getattr(sample, f.name) for f in dataclasses.fields(sample) if f.name not in _HIDDEN}
    return cls(**values)


def is_test_sample(sample: Any) -> bool:
    """Whether ``sample`` was made by :func:`unlabelled`."""
    return type(sample).__name__.startswith("Unlabelled")


# ---------------------------------------------------------------------------------------------------------
# configs


@dataclass(frozen=True)
class NoConfig:
    """The config of a method without options."""


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against a type hint (bool / int / float / str / None / Literal / tuple / list /
    dict / unions); lists become tuples for tuple fields, ints become floats for float fields."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise ConfigError(f"{where} must be one of {list(args)}, got {value!r}")
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in args:
            try:
                return _coerce(value, arm, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where} must be {_type_name(hint)}, got {value!r}")
    if hint is type(None) or hint is None:
        if value is None:
            return None
        raise ConfigError(f"{where} must be null, got {value!r}")
    if hint is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return int(value)
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if origin in (tuple, list) or hint in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if args and not (len(args) == 2 and args[1] is Ellipsis) and len(args) != len(value):
            raise ConfigError(f"{where} must have {len(args)} items, got {value!r}")
        if args and len(args) == 2 and args[1] is Ellipsis:
            items = [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        elif args and origin is tuple:
            items = [_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))]
        elif args:
            items = [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        else:
            items = list(value)
        return tuple(items)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        if args:
            return {
                _coerce(k, args[0], f"{where} key"): _coerce(v, args[1], f"{where}[{k!r}]")
                for k, v in value.items()
            }
        return dict(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{where} must be {hint.__name__}, got {value!r}")
    return value


def _describe(f: dataclasses.Field, hint: Any) -> str:
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        default = f.default_factory()  # type: ignore[misc]
    else:
        default = "required"
    return f"{f.name} ({_type_name(hint)} = {default!r})"


def config_options(config_cls: type) -> dict[str, str]:
    """Per option of a Config dataclass, ``"name (type = default)"``."""
    hints = typing.get_type_hints(config_cls)
    return {f.name: _describe(f, hints.get(f.name, Any)) for f in dataclasses.fields(config_cls)}


def validate_config(config_cls: type, config: Mapping[str, Any] | None, method: str = "?") -> Any:
    """A ``config_cls`` instance from a mapping of options: an unknown key is an error listing the known
    options (with their types and defaults); a value of the wrong type is an error naming the option.
    The Config's own ``__post_init__`` may check more (and raise :class:`ConfigError`).

    >>> @dataclass(frozen=True)
    ... class C:
    ...     k: int = 3
    ...     milestones: tuple[int, ...] = (4, 8)
    >>> validate_config(C, {"milestones": [2]})
    C(k=3, milestones=(2,))
    >>> validate_config(C, {"k": "3"}, "demo")
    Traceback (most recent call last):
    ...
    vadbench.errors.ConfigError: method 'demo': option k must be an integer, got '3'
    """
    if isinstance(config, config_cls):
        return config
    if not dataclasses.is_dataclass(config_cls):
        raise ConfigError(f"method {method!r}: Config must be a dataclass, got {config_cls!r}")
    config = dict(config or {})
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    unknown = sorted(set(config) - set(fields))
    if unknown:
        known = "; ".join(_describe(fields[n], hints.get(n, Any)) for n in fields) or "(none)"
        raise ConfigError(
            f"method {method!r}: unknown option(s) {', '.join(unknown)}; known options: {known}"
        )
    values = {k: _coerce(v, hints.get(k, Any), f"method {method!r}: option {k}") for k, v in config.items()}
    try:
        return config_cls(**values)
    except ConfigError as err:
        raise ConfigError(f"method {method!r}: {err}") from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"method {method!r}: invalid config: {err}") from None


def config_dict(cfg: Any) -> dict[str, Any]:
    """A Config instance as plain values (tuples -> lists), what rows hash and ``config.yaml`` records."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


#: The runner's test-set callback (only with explicit test-set selection, ``selection=test``): it scores the
#: test set with the method's current state and returns metrics per output key, e.g.
#: ``{"c": {"auc_micro": 0.91, "ap": 0.5, ...}, "a": {...}}``. The method never sees the labels themselves.
TestEvaluator = Callable[[], dict[str, dict[str, float]]]


def extra_state_path(path: str | Path) -> Path:
    """The JSON file beside a weights file: ``checkpoint.safetensors`` -> ``checkpoint.state.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.state.json")


# ---------------------------------------------------------------------------------------------------------
# the method


class Method(ABC):
    """Base class of all methods (see the module doc for the contract).

    Subclasses set the class attributes, a ``Config`` dataclass and implement :meth:`fit` and one of
    :meth:`score_outputs` / :meth:`score`; persistent state goes through :meth:`state_dict` (tensors) and
    :meth:`extra_state` (JSON).
    """

    name: ClassVar[str]
    #: Other registered names of the method.
    aliases: ClassVar[tuple[str, ...]] = ()
    supervision: ClassVar[Supervision]
    input_kind: ClassVar[InputKind]
    #: The unit of one score: ``snippet16`` (16-frame snippets), ``frame`` or ``clip`` (one per window).
    unit: ClassVar[Unit] = "snippet16"
    #: ``code`` (follows released code), ``paper`` (from the paper, no code), ``reconstruction`` (parts of
    #: the design are not published and were reconstructed; named on the card). Recorded in every row.
    fidelity: ClassVar[Fidelity] = "code"
    #: Every option with its code default (a frozen dataclass); presets hold only differences.
    Config: ClassVar[type] = NoConfig
    #: The key of :meth:`score_outputs` that is the method's headline score (the row's metrics).
    headline: ClassVar[str] = "score"
    #: Whether scores use past frames only (anomaly anticipation); recorded, not enforced.
    causal: ClassVar[bool] = False

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, device: str = "cpu", seed: int = 0
    ) -> None:
        from vadbench.devices import resolve_device

        self.cfg = validate_config(self.Config, config, getattr(self, "name", type(self).__name__))
        self.config: dict[str, Any] = config_dict(self.cfg)
        self.device = resolve_device(device)
        self.seed = int(seed)
        #: A folder where ``fit`` may keep resumable training state (set by the runner: ``runs/<id>/work``).
        self.work_dir: Path | None = None
        #: Set by the runner only when test-set selection is explicitly allowed (see :data:`TestEvaluator`).
        self.test_evaluator: TestEvaluator | None = None
        #: Show progress while fitting (the runner sets it; a log file gets one line per epoch).
        self.progress: bool = True
        #: Per-epoch training records (loss terms, learning rate, time), saved with the state.
        self.history: list[dict[str, Any]] = []

    @classmethod
    def contract_config(cls) -> dict[str, Any]:
        """Options for the contract test (``tests/test_method_contract.py``): fit the tiny synthetic set in
        seconds on a CPU. Default: the code defaults."""
        return {}

    @classmethod
    def default_inputs(cls, cfg: Any) -> dict[str, dict[str, Any]]:
        """Input options that follow from the method's config (e.g. VadCLIP: features from the CLIP model its
        text tower uses), per input kind; presets and ``--feature`` / ``--tracks`` / ``--clips`` override
        them.
        Default: none (the input kind's own defaults)."""
        return {}

    @property
    def selection(self) -> str:
        """``test`` when the method chose its state on the test set (through :attr:`test_evaluator`)."""
        return "none"

    @abstractmethod
    def fit(self, samples: Sequence[Any]) -> Method:
        """Train on the training set (normal-only for ``semi``; video labels for ``weak``); returns self."""

    def score_outputs(self, sample: Any) -> dict[str, np.ndarray]:
        """All per-unit outputs of one sample, ``{key: (T,) or (T, C)}``; ``headline`` is the main score.
        The only scoring call the runner makes. Default: ``{headline: score(sample)}``."""
        if type(self).score is Method.score:
            raise NotImplementedError(f"{type(self).__name__} implements neither score_outputs nor score")
        return {self.headline: np.asarray(self.score(sample))}

    def score(self, sample: Any) -> np.ndarray:
        """One anomaly score per unit (shape ``(T,)``): ``score_outputs(sample)[headline]``."""
        if type(self).score_outputs is Method.score_outputs:
            raise NotImplementedError(f"{type(self).__name__} implements neither score_outputs nor score")
        outputs = self.score_outputs(sample)
        if self.headline not in outputs:
            raise VadbenchError(
                f"method {self.name!r}: score_outputs has no headline key {self.headline!r} "
                f"(keys: {', '.join(outputs)})"
            )
        return np.asarray(outputs[self.headline])

    # -- persistence -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Tensors / arrays to save with safetensors. Default: none (a method with tensor state overrides)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (torch tensors; ``np.asarray`` gives arrays)."""
        if state:
            raise NotImplementedError(f"{type(self).__name__} saved tensors but does not load them")

    def extra_state(self) -> dict[str, Any]:
        """JSON-able non-tensor state (tables, vocabularies, thresholds). Default: none."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore what :meth:`extra_state` returned."""

    def save(self, path: str | Path) -> Path:
        """Write the tensors to ``path`` (safetensors) and the JSON state to ``<stem>.state.json`` beside it,
        both atomically. Returns ``path``."""
        import torch
        from safetensors.torch import save as save_bytes

        from vadbench.atomic import atomic_write_bytes, atomic_write_text

        path = Path(path)
        tensors = {
            k: (v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v)))
            .detach()
            .contiguous()
            .cpu()
            for k, v in self.state_dict().items()
        }
        doc = {
            "format": STATE_FORMAT,
            "method": self.name,
            "config": self.config,
            "seed": self.seed,
            "history": self.history,
            "extra": self.extra_state(),
        }
        try:
            text = json.dumps(doc, indent=1, allow_nan=True, default=_json_default)
        except TypeError as err:
            raise VadbenchError(
                f"method {self.name!r}: extra_state() is not JSON-serialisable: {err}"
            ) from None
        atomic_write_bytes(path, save_bytes(tensors))
        atomic_write_text(extra_state_path(path), text)
        return path

    def load(self, path: str | Path) -> Method:
        """Read what :meth:`save` wrote (safetensors, never pickle; the JSON state when present). Returns
        self. A state saved by another method is an error; whether the weights fit this config is the
        method's :meth:`load_state_dict` to check."""
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise DataError(f"no saved weights of method {self.name!r} at {path}")
        side = extra_state_path(path)
        if side.is_file():
            doc = json.loads(side.read_text())
            if doc.get("method") not in (None, self.name):
                raise DataError(f"{side}: saved by method {doc.get('method')!r}, not {self.name!r}")
        else:
            doc = {}
        self.load_state_dict(dict(load_file(str(path))))
        self.history = list(doc.get("history") or [])
        self.load_extra_state(dict(doc.get("extra") or {}))
        return self


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def check_method_class(cls: Any) -> type[Method]:
    """Check a method class declares the contract's class attributes with allowed values; returns it."""
    problems = []
    for attr, allowed in (
        ("supervision", SUPERVISIONS),
        ("input_kind", INPUT_KINDS),
        ("unit", UNITS),
        ("fidelity", FIDELITIES),
    ):
        value = getattr(cls, attr, None)
        if value not in allowed:
            problems.append(f"{attr}={value!r} (expected one of {', '.join(allowed)})")
    if not isinstance(getattr(cls, "name", None), str):
        problems.append("name (a string) is missing")
    if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
        problems.append("Config is not a dataclass")
    if problems:
        raise ConfigError(
            f"method class {cls!r} does not follow vadbench.methods.base.Method: {'; '.join(problems)}"
        )
    return cls
