"""Evaluation protocols (``specs/protocols.md``): a frozen, named value that says how unit scores become
frame scores aligned with a ground-truth convention, and which metric variants are computed.

A :class:`Protocol` has one field per choice of protocols.md section 1. Its string form (``str(p)``) goes
into every result row; :meth:`Protocol.from_string` reads it back, and also accepts a preset name followed
by changes (``"ped2/official;smooth=gauss(3,reflect)"``). :func:`apply` turns per-video scores and labels
into aligned concatenated arrays; :func:`evaluate_protocol` then calls :func:`vadbench.metrics.evaluate`.

Smoothing, normalisation and border handling are declared by the method card and frozen in the protocol;
nothing here looks at the labels to choose them.

Example:
    >>> p = Protocol.preset("ped2/official").replace(smooth="gauss(3, reflect)")
    >>> str(p).split(";")[6]
    'smooth=gauss(3,reflect)'
    >>> Protocol.from_string(str(p)) == p
    True
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vadbench.errors import ConfigError, ScoreError
from vadbench.metrics import (
    ABNORMAL_DEFS,
    DEFAULT_FAR,
    HORIZON_ROUNDINGS,
    MAP_VARIANTS,
    ONE_CLASS_RULES,
    normalise_one_class_rule,
    parse_far_rule,
)


def _gt_names() -> tuple[str, ...]:
    from vadbench.datasets.conventions import CONVENTIONS

    return tuple(dict.fromkeys(name for _, name in CONVENTIONS))


#: Allowed values of the simple fields (protocols.md section 1; ``none`` stands for the spec's "–").
SPLITS = ("test", "semi", "weak")
#: The ground-truth convention names: the one list is :data:`vadbench.datasets.conventions.CONVENTIONS`.
GT_CONVENTIONS = _gt_names()
UNITS = ("snippet16", "frame", "clip")
#: ``window_mean(W,S)`` / ``window_max(W,S)``: clip scores (one per window of W frames every S frames, the
#: scheme of :func:`vadbench.video.sampling.clip_windows`) to frames, overlapping windows averaged / maxed.
EXPANDS = ("repeat16", "none", "window_mean(W,S)", "window_max(W,S)")
ALIGNS = ("strict", "truncate", "pad_last", "center")
NORMALISES = ("none", "minmax_video")
SELECTIONS = ("none", "test")
SMOOTH_MODES = ("reflect", "constant", "nearest", "mirror", "wrap")
#: The post-processing steps whose order the ``order`` field fixes (crop aggregation always comes first).
STEPS = ("expand", "align", "smooth", "normalise", "border")
#: Border operations, in the order they apply when combined with ``+``.
BORDER_OPS = ("fill_first", "drop_first", "drop_last")
#: Liu et al. 2018: fill the first 4 scores with the 5th, min-max the whole video, drop the first 4 frames.
LIU2018_K = 4
#: NWPU Campus frame rate for the anticipation presets (protocols.md 9).
NWPU_FPS = 25.0

_SMOOTH_RE = re.compile(r"^gauss\(\s*([^,()\s]+)\s*,\s*([a-z_]+)\s*\)$")
_CROP_RE = re.compile(r"^crop:(\d+)$")
_WINDOW_RE = re.compile(r"^(window_mean|window_max)\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_BORDER_RE = re.compile(r"^(fill_first|drop_first|drop_last):(\d+)$")
_ANT_RE = re.compile(r"^anticipation\((.*)\)$")


def _fmt(x: float) -> str:
    """Canonical short form of a number: 3.0 -> '3', 12.5 -> '12.5'."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _bad(name: str, value: Any, allowed: Sequence[str] | str) -> ConfigError:
    allowed_text = allowed if isinstance(allowed, str) else ", ".join(allowed)
    return ConfigError(f"protocol field {name}: invalid value {value!r}; allowed: {allowed_text}")


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise _bad(name, value, allowed)
    return str(value)


@dataclass(frozen=True)
class Anticipation:
    """Anomaly anticipation (protocols.md 9): horizon α in seconds, frame rate, rounding of α·fps, whether
    frames already abnormal are kept and whether the current frame enters its own label."""

    horizon_s: float
    fps: float = NWPU_FPS
    rounding: str = "half_up"
    keep_current: bool = True
    include_current: bool = False

    def __post_init__(self) -> None:
        from vadbench.metrics import horizon_frames

        for name in ("horizon_s", "fps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and math.isfinite(v)):
                raise _bad(f"anticipation.{name}", v, "a positive number")
            object.__setattr__(self, name, float(v))
        _choice("anticipation.rounding", self.rounding, HORIZON_ROUNDINGS)
        for name in ("keep_current", "include_current"):
            v = getattr(self, name)
            if v not in (True, False, 0, 1):
                raise _bad(f"anticipation.{name}", v, "0, 1")
            object.__setattr__(self, name, bool(v))
        horizon_frames(self.horizon_s, self.fps, self.rounding)  # at least one frame

    def __str__(self) -> str:
        return (
            f"anticipation(α={_fmt(self.horizon_s)},fps={_fmt(self.fps)},round={self.rounding},"
            f"keep_current={int(self.keep_current)},include_current={int(self.include_current)})"
        )

    @classmethod
    def from_string(cls, text: str) -> Anticipation:
        """Parse ``anticipation(α=1,fps=25,round=half_up,keep_current=1,include_current=0)``."""
        m = _ANT_RE.match(text.strip())
        if not m:
            raise _bad(
                "anticipation",
                text,
                "none or anticipation(α=<s>,fps=<f>,round=<half_up|floor|ceil>,"
                "keep_current=<0|1>,include_current=<0|1>)",
            )
        keys = {
            "α": "horizon_s",
            "alpha": "horizon_s",
            "fps": "fps",
            "round": "rounding",
            "keep_current": "keep_current",
            "include_current": "include_current",
        }
        kw: dict[str, Any] = {}
        for part in filter(None, (x.strip() for x in m.group(1).split(","))):
            k, _, v = part.partition("=")
            if k.strip() not in keys or not v:
                raise _bad("anticipation", text, f"keys {', '.join(keys)}")
            name = keys[k.strip()]
            try:
                kw[name] = (
                    v.strip()
                    if name == "rounding"
                    else (int(v) if name in ("keep_current", "include_current") else float(v))
                )
            except ValueError:
                raise _bad(f"anticipation.{name}", v.strip(), "a number") from None
        if "horizon_s" not in kw:
            raise _bad("anticipation", text, "a horizon α=<seconds>")
        return cls(**kw)


def _canon_border(value: str) -> str:
    value = str(value).strip()
    if value in ("none", "liu2018"):
        return value
    ops: dict[str, int] = {}
    for part in value.split("+"):
        m = _BORDER_RE.match(part.strip())
        if not m or m.group(1) in ops or int(m.group(2)) < 1:
            raise _bad(
                "border",
                value,
                "none, liu2018, or fill_first:<k>, drop_first:<k>, drop_last:<k> (k >= 1, "
                "each at most once, joined with +)",
            )
        ops[m.group(1)] = int(m.group(2))
    return "+".join(f"{op}:{ops[op]}" for op in BORDER_OPS if op in ops)


def _canon_smooth(value: str) -> str:
    value = str(value).strip()
    if value == "none":
        return value
    m = _SMOOTH_RE.match(value)
    allowed = f"none or gauss(<σ > 0>,<mode>) with mode in {', '.join(SMOOTH_MODES)}"
    if not m:
        raise _bad("smooth", value, allowed)
    try:
        sigma = float(m.group(1))
    except ValueError:
        raise _bad("smooth", value, allowed) from None
    if not (sigma > 0 and math.isfinite(sigma)) or m.group(2) not in SMOOTH_MODES:
        raise _bad("smooth", value, allowed)
    return f"gauss({_fmt(sigma)},{m.group(2)})"


def _canon_expand(value: str) -> str:
    text = str(value).strip()
    if text in ("repeat16", "none"):
        return text
    m = _WINDOW_RE.match(text)
    if m and int(m.group(2)) >= 1 and int(m.group(3)) >= 1:
        return f"{m.group(1)}({int(m.group(2))},{int(m.group(3))})"
    raise _bad("expand", value, EXPANDS)


def window_expansion(expand: str) -> tuple[str, int, int] | None:
    """``(mode, W, S)`` of a ``window_mean(W,S)`` / ``window_max(W,S)`` expansion, else None.

    >>> window_expansion("window_max(16,8)")
    ('max', 16, 8)
    """
    m = _WINDOW_RE.match(str(expand))
    return (m.group(1).split("_")[1], int(m.group(2)), int(m.group(3))) if m else None


def expand_windows(
    scores: Any, n_frames: int, window: int, stride: int, mode: str = "mean", video: str = "?"
) -> Any:
    """Window scores to ``n_frames`` frame scores: each frame gets the mean (or max) of the windows that cover
    it (windows of :func:`vadbench.video.sampling.clip_windows`).

    >>> expand_windows([0.0, 1.0, 0.5], 10, 4, 4).tolist()
    [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.75, 0.75, 0.5, 0.5]
    """
    import numpy as np

    from vadbench.video.sampling import clip_windows

    s = np.asarray(scores, dtype=np.float64)
    windows, _ = clip_windows(int(n_frames), window, stride, 1)
    if s.ndim != 1 or s.shape[0] != len(windows):
        raise ScoreError(
            f"video {video!r}: {s.shape[0] if s.ndim else 0} clip scores but {len(windows)} windows of "
            f"{window} frames every {stride} for {n_frames} frames (expand=window_{mode}({window},{stride}))"
        )
    if mode == "max":
        out = np.full(n_frames, -np.inf)
        for (a, b), v in zip(windows, s, strict=True):
            out[a:b] = np.maximum(out[a:b], v)
        return out
    total, count = np.zeros(n_frames), np.zeros(n_frames)
    for (a, b), v in zip(windows, s, strict=True):
        total[a:b] += v
        count[a:b] += 1
    return total / count


def _canon_crops(value: str) -> str:
    value = str(value).strip()
    m = _CROP_RE.match(value)
    if value in ("none", "mean10", "mean5") or m:
        return f"crop:{int(m.group(1))}" if m else value
    raise _bad("crops", value, "none, mean10, mean5, crop:<k>")


def _canon_far(value: str) -> str:
    scope, theta, op = parse_far_rule(value)
    return f"far_{scope}@{_fmt(theta)}[{op}]"


def _canon_order(value: Any) -> tuple[str, ...]:
    items = [x.strip() for x in value.split(",")] if isinstance(value, str) else [str(x) for x in value]
    if sorted(items) != sorted(STEPS):
        raise _bad("order", ",".join(items), f"a permutation of {','.join(STEPS)}")
    return tuple(items)


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol: every choice that changes a number (protocols.md section 1).

    ``crops="none"`` and ``expand="none"`` stand for the spec's "–" (frame-level scores). ``order`` lists
    the post-processing steps in the order they run (crop aggregation always runs first, the anticipation
    labels last).
    """

    split: str = "test"
    gt: str = "official"
    unit: str = "frame"
    crops: str = "none"
    expand: str = "none"
    align: str = "strict"
    smooth: str = "none"
    normalise: str = "none"
    border: str = "none"
    order: tuple[str, ...] = STEPS
    auc_macro_rule: str = "skip"
    abnormal_def: str = "video_label"
    far: str = DEFAULT_FAR
    map: str = "vadclip_code"
    selection: str = "none"
    anticipation: Anticipation | None = field(default=None)

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("split", _choice("split", self.split, SPLITS))
        put("gt", _choice("gt", self.gt, GT_CONVENTIONS))
        put("unit", _choice("unit", self.unit, UNITS))
        put("crops", _canon_crops(self.crops))
        put("expand", _canon_expand(self.expand))
        put("align", _choice("align", self.align, ALIGNS))
        put("smooth", _canon_smooth(self.smooth))
        put("normalise", _choice("normalise", self.normalise, NORMALISES))
        put("border", _canon_border(self.border))
        put("order", _canon_order(self.order))
        try:
            put("auc_macro_rule", normalise_one_class_rule(self.auc_macro_rule))
        except ConfigError:
            raise _bad("auc_macro_rule", self.auc_macro_rule, ONE_CLASS_RULES) from None
        put("abnormal_def", _choice("abnormal_def", self.abnormal_def, ABNORMAL_DEFS))
        try:
            put("far", _canon_far(self.far))
        except ConfigError:
            raise _bad(
                "far", self.far, "far_normal@<θ>[>=], far_normal@<θ>[>], far_all@<θ>[>=], far_all@<θ>[>]"
            ) from None
        put("map", _choice("map", self.map, MAP_VARIANTS))
        put("selection", _choice("selection", self.selection, SELECTIONS))
        ant = self.anticipation
        if isinstance(ant, str):
            ant = None if ant.strip() == "none" else Anticipation.from_string(ant)
        elif isinstance(ant, Mapping):
            ant = Anticipation(**ant)
        elif ant is not None and not isinstance(ant, Anticipation):
            raise _bad("anticipation", ant, "none, an Anticipation or its string form")
        put("anticipation", ant)
        if self.expand == "repeat16" and self.unit != "snippet16":
            raise ConfigError(
                f"protocol: expand=repeat16 needs unit=snippet16 (16-frame snippets), not unit={self.unit}"
            )
        if (window_expansion(self.expand) is not None) != (self.unit == "clip"):
            raise ConfigError(
                f"protocol: unit=clip goes with expand=window_mean(W,S) or window_max(W,S), only with them; "
                f"got unit={self.unit}, expand={self.expand}"
            )
        if self.border == "liu2018" and self.normalise != "none":
            raise ConfigError(
                "protocol: border=liu2018 already min-max normalises each video (fill, "
                "min-max, drop); set normalise=none"
            )

    def __str__(self) -> str:
        parts = [
            f"{f.name}={self._value_text(f.name)}"
            for f in dataclasses.fields(self)
            if f.name != "anticipation"
        ]
        if self.anticipation is not None:
            parts.append(f"anticipation={self.anticipation}")
        return ";".join(parts)

    def _value_text(self, name: str) -> str:
        value = getattr(self, name)
        return ",".join(value) if name == "order" else str(value)

    def replace(self, **changes: Any) -> Protocol:
        """A copy with some fields changed (validated like the constructor)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"protocol: unknown field(s) {', '.join(unknown)}; fields: {', '.join(FIELDS)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_string(cls, text: str) -> Protocol:
        """Parse ``str(p)``; also ``"<preset>;field=value;..."`` (a preset with changes) or a preset name.

        Fields left out keep their defaults (or the preset's values).
        """
        parts = [x.strip() for x in str(text).strip().split(";") if x.strip()]
        base = cls()
        if parts and "=" not in parts[0]:
            base = cls.preset(parts.pop(0))
        changes: dict[str, Any] = {}
        for part in parts:
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in FIELDS:
                raise ConfigError(
                    f"protocol string: cannot read {part!r}; expected field=value with field in "
                    f"{', '.join(FIELDS)} (or a preset name first: {', '.join(PRESET_NAMES)})"
                )
            if key in changes:
                raise ConfigError(f"protocol string: field {key} given twice")
            changes[key] = value.strip()
        return base.replace(**changes) if changes else base

    @classmethod
    def preset(cls, name: str) -> Protocol:
        """The named presets of protocols.md section 13 (``Protocol.preset("ucf/rtfm")``).

        ``nwpu/anticipation@<α>`` takes any horizon α in seconds (the paper uses 0.5 … 3.0).
        """
        name = str(name).strip()
        m = re.match(r"^nwpu/anticipation@([0-9.]+)s?$", name)
        if m:
            try:
                alpha = float(m.group(1))
            except ValueError:
                raise ConfigError(f"preset {name!r}: cannot read the horizon {m.group(1)!r}") from None
            return cls(**_PRESETS["nwpu/official"], anticipation=Anticipation(alpha, NWPU_FPS))
        if name not in _PRESETS:
            raise ConfigError(f"unknown protocol preset {name!r}; presets: {', '.join(PRESET_NAMES)}")
        return cls(**_PRESETS[name])

    @staticmethod
    def presets() -> tuple[str, ...]:
        """The preset names."""
        return PRESET_NAMES


#: Field names of :class:`Protocol`, in string order.
FIELDS = tuple(f.name for f in dataclasses.fields(Protocol))

_SNIPPET = {"unit": "snippet16", "expand": "repeat16"}
_FRAME = {"unit": "frame", "crops": "none", "expand": "none"}
_PRESETS: dict[str, dict[str, Any]] = {
    "ucf/deepmil": {"gt": "deepmil", "crops": "mean10", **_SNIPPET},
    "ucf/rtfm": {"gt": "rtfm", "crops": "mean10", **_SNIPPET},
    # VadCLIP's crop was chosen on test results (VadCLIP issue #2): selection=test (protocols.md 12)
    "ucf/vadclip": {
        "gt": "vadclip",
        "crops": "crop:5",
        "map": "vadclip_code",
        "selection": "test",
        **_SNIPPET,
    },
    "xd/xdviodet": {"gt": "xdviodet", "crops": "mean5", **_SNIPPET},
    "xd/vadclip": {
        "gt": "vadclip",
        "crops": "crop:0",
        "map": "vadclip_code",
        "selection": "test",
        **_SNIPPET,
    },
    "sht-weak/rtfm": {"split": "weak", "gt": "rtfm", "crops": "mean10", **_SNIPPET},
    "sht-semi/official": {"split": "semi", "gt": "official", "auc_macro_rule": "pad01", **_FRAME},
    "avenue/liu": {"gt": "liu", "auc_macro_rule": "pad01", **_FRAME},
    "avenue/pixel": {"gt": "pixel", "auc_macro_rule": "pad01", **_FRAME},
    "ped2/official": {"gt": "official", "auc_macro_rule": "pad01", **_FRAME},
    "nwpu/official": {"gt": "official", "auc_macro_rule": "flip_first", **_FRAME},
    "liu2018": {"border": "liu2018", **_FRAME},
}
PRESET_NAMES = (*_PRESETS, "nwpu/anticipation@<α>")


# ----------------------------------------------------------------------------------------------------------
# applying a protocol


@dataclass
class Aligned:
    """Scores and labels after a protocol, concatenated in the labels' video order."""

    videos: list[str]
    labels: Any  # np.ndarray, concatenated frame labels
    scores: Any  # np.ndarray, concatenated frame scores
    lengths: Any  # np.ndarray of int64, frames per video


def aggregate_crops(scores: Any, crops: str, video: str = "?") -> Any:
    """Crop aggregation on snippet scores ``(T, K)`` -> ``(T,)`` (protocols.md 3.3).

    ``mean10`` / ``mean5`` need K = 10 / 5; ``crop:k`` takes column k, and accepts ``(T,)`` scores as that
    single crop already; ``none`` needs ``(T,)`` scores.

    >>> import numpy as np
    >>> aggregate_crops(np.arange(20.0).reshape(2, 10), "mean10").tolist()
    [4.5, 14.5]
    """
    import numpy as np

    s = np.asarray(scores)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim not in (1, 2):
        raise ScoreError(f"video {video!r}: scores of shape {s.shape}; expected (T,) or (T, crops)")
    m = _CROP_RE.match(crops)
    if crops in ("mean10", "mean5"):
        k = 10 if crops == "mean10" else 5
        if s.ndim != 2 or s.shape[1] != k:
            raise ScoreError(f"video {video!r}: crops={crops} needs scores of shape (T, {k}); got {s.shape}")
        return s.mean(axis=1)
    if m:
        k = int(m.group(1))
        if s.ndim == 1:
            return s
        if k >= s.shape[1]:
            raise ScoreError(
                f"video {video!r}: crops={crops} but the scores have {s.shape[1]} crops (shape {s.shape})"
            )
        return s[:, k]
    if s.ndim == 2:
        raise ScoreError(
            f"video {video!r}: crops=none but the scores have shape {s.shape}; declare the crop rule "
            "(mean10, mean5 or crop:<k>)"
        )
    return s


def expand_repeat16(scores: Any) -> Any:
    """``repeat16``: one score per 16-frame snippet -> one per frame (``np.repeat(s, 16)``)."""
    import numpy as np

    return np.repeat(np.asarray(scores), 16)


def align_length(scores: Any, n: int, rule: str, video: str = "?") -> Any:
    """Make a score vector exactly ``n`` long (protocols.md 3.4).

    >>> align_length([1.0, 2.0], 5, "center").tolist()  # offset (5 - 2) // 2 + 1 = 2
    [0.0, 0.0, 1.0, 2.0, 0.0]
    """
    import numpy as np

    s = np.asarray(scores)
    m = s.shape[0]
    if m == n:
        return s
    hint = ""
    if m == 10 * n or m == 5 * n:
        hint = f" (exactly {m // n}x: were the crops scored as separate videos?)"
    elif m * 16 == n:
        hint = " (16x fewer scores: snippet scores need expand=repeat16)"
    if rule == "strict":
        raise ScoreError(f"video {video!r}: {m} scores but {n} labels (align=strict){hint}")
    if rule == "truncate":
        if m < n:
            raise ScoreError(
                f"video {video!r}: {m} scores but {n} labels; align=truncate only shortens{hint}"
            )
        return s[:n]
    if rule == "pad_last":
        if m > n or m == 0:
            raise ScoreError(
                f"video {video!r}: {m} scores but {n} labels; align=pad_last only extends a "
                f"non-empty score vector{hint}"
            )
        return np.concatenate([s, np.repeat(s[-1:], n - m)])
    if m > n:  # center
        raise ScoreError(
            f"video {video!r}: {m} scores but {n} labels; align=center only places shorter "
            f"score vectors{hint}"
        )
    out = np.zeros(n, dtype=np.result_type(s.dtype, np.float64))
    off = (n - m) // 2 + 1
    out[off : off + m] = s
    return out


def smooth_scores(scores: Any, spec: str) -> Any:
    """``gauss(σ,mode)``: ``scipy.ndimage.gaussian_filter1d(s, σ, mode=mode, truncate=4.0)`` on one video."""
    import numpy as np

    spec = _canon_smooth(spec)
    s = np.asarray(scores, dtype=np.float64)
    if spec == "none" or s.size == 0:
        return s
    from scipy.ndimage import gaussian_filter1d

    sigma, mode = _SMOOTH_RE.match(spec).groups()
    return gaussian_filter1d(s, float(sigma), mode=mode, truncate=4.0)


def minmax_video(scores: Any) -> Any:
    """``(s − min) / (max − min)`` on one video; a constant video gives zeros (protocols.md 8.1).

    >>> minmax_video([2.0, 4.0, 3.0]).tolist(), minmax_video([5.0, 5.0]).tolist()
    ([0.0, 1.0, 0.5], [0.0, 0.0])
    """
    import numpy as np

    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return s
    lo, hi = s.min(), s.max()
    return np.zeros_like(s) if hi == lo else (s - lo) / (hi - lo)


def apply_border(scores: Any, labels: Any, border: str, video: str = "?") -> tuple[Any, Any]:
    """Border frames of prediction models (protocols.md 8.3); returns (scores, labels).

    >>> s, y = apply_border([9.0, 9.0, 1.0, 3.0], [0, 0, 1, 1], "fill_first:2")
    >>> s.tolist(), y.tolist()
    ([1.0, 1.0, 1.0, 3.0], [0, 0, 1, 1])
    """
    import numpy as np

    border = _canon_border(border)
    s, y = np.asarray(scores), np.asarray(labels)
    if border == "none":
        return s, y
    ops = (
        [(op, LIU2018_K) for op in ("fill_first", "drop_first")]
        if border == "liu2018"
        else [(op, int(k)) for op, k in (part.split(":") for part in border.split("+"))]
    )
    for op, k in ops:
        if s.shape[0] <= k:
            raise ScoreError(f"video {video!r}: {s.shape[0]} frames, too few for border {op}:{k}")
        if op == "fill_first":
            s = s.copy()
            s[:k] = s[k]
            if border == "liu2018":  # Liu: psnrs[0:4] = psnrs[4], then min-max over the whole video
                s = minmax_video(s)
        elif op == "drop_first":
            s, y = s[k:], y[k:]
        else:
            s, y = s[:-k], y[:-k]
    return s, y


def _video_steps(p: Protocol, s: Any, y: Any, video: str) -> tuple[Any, Any]:
    """All steps of one video: crops, then ``p.order``, then the anticipation labels."""
    import numpy as np

    from vadbench.metrics import anticipation_labels

    s = aggregate_crops(s, p.crops, video)
    y = np.asarray(y).reshape(-1)
    for step in p.order:
        if step == "expand" and p.expand == "repeat16":
            s = expand_repeat16(s)
        elif step == "expand" and p.unit == "clip":
            mode, window, stride = window_expansion(p.expand)  # type: ignore[misc]
            s = expand_windows(s, y.shape[0], window, stride, mode, video)
        elif step == "align":
            s = align_length(s, y.shape[0], p.align, video)
        elif step == "smooth" and p.smooth != "none":
            s = smooth_scores(s, p.smooth)
        elif step == "normalise" and p.normalise == "minmax_video":
            s = minmax_video(s)
        elif step == "border" and p.border != "none":
            s, y = apply_border(s, y, p.border, video)
    if s.shape[0] != y.shape[0]:
        raise ScoreError(
            f"video {video!r}: {s.shape[0]} scores but {y.shape[0]} labels after the protocol "
            f"steps (order={','.join(p.order)}, align={p.align})"
        )
    if p.anticipation is not None:
        a = p.anticipation
        y, keep = anticipation_labels(
            y, a.horizon_s, a.fps, a.rounding, a.keep_current, include_current=a.include_current
        )
        s, y = s[keep], y[keep]
    return s, y


def _as_protocol(protocol: Protocol | str) -> Protocol:
    return protocol if isinstance(protocol, Protocol) else Protocol.from_string(protocol)


def apply(protocol: Protocol | str, scores: Mapping[str, Any], labels: Mapping[str, Any]) -> Aligned:
    """Apply a protocol to per-video scores (``(T,)`` or ``(T, K)`` crops) and labels (the gt convention).

    Videos follow the order of ``labels`` (the convention's concatenation order, protocols.md 10).

    >>> import numpy as np
    >>> a = apply(Protocol.preset("ucf/rtfm"), {"v": np.ones((2, 10))}, {"v": np.zeros(32)})
    >>> a.videos, a.scores.shape, a.lengths.tolist()
    (['v'], (32,), [32])
    """
    import numpy as np

    p = _as_protocol(protocol)
    if not isinstance(scores, Mapping) or not isinstance(labels, Mapping):
        raise ScoreError("apply: scores and labels must be mappings video -> array")
    missing = [v for v in labels if v not in scores]
    extra = [v for v in scores if v not in labels]
    if missing or extra:
        raise ScoreError(
            f"scores and labels name different videos: {len(missing)} videos without scores "
            f"({', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''}), "
            f"{len(extra)} scored videos without labels "
            f"({', '.join(map(str, extra[:5]))}{' ...' if len(extra) > 5 else ''})"
        )
    if not labels:
        raise ScoreError("apply: no videos to evaluate")
    videos = [str(v) for v in labels]
    out_s, out_y = [], []
    for key, name in zip(labels, videos, strict=True):
        s, y = _video_steps(p, scores[key], labels[key], name)
        out_s.append(s)
        out_y.append(y)
    lengths = np.array([x.shape[0] for x in out_y], dtype=np.int64)
    return Aligned(videos, np.concatenate(out_y), np.concatenate(out_s), lengths)


def evaluate_aligned(
    protocol: Protocol | str,
    aligned: Aligned,
    video_labels: Any = None,
    *,
    per_video: bool = True,
    scores_calibrated: bool = False,
) -> dict[str, float]:
    """:func:`vadbench.metrics.evaluate` on the output of :func:`apply`, with the protocol's metric options.

    ``per_video=False`` evaluates the concatenation without video boundaries (per-video metrics NaN), for
    inputs whose boundaries are unknown.
    """
    from vadbench.metrics import evaluate

    p = _as_protocol(protocol)
    return evaluate(
        aligned.labels,
        aligned.scores,
        aligned.lengths if per_video else None,
        one_class=p.auc_macro_rule,
        far_rule=p.far,
        scores_calibrated=scores_calibrated,
        video_labels=video_labels if per_video else None,
        abnormal_def=p.abnormal_def,
        videos=aligned.videos if per_video else None,
    )


def evaluate_protocol(
    protocol: Protocol | str,
    scores: Mapping[str, Any],
    labels: Mapping[str, Any],
    video_labels: Mapping[str, int] | Sequence[int] | None = None,
    *,
    scores_calibrated: bool = False,
    probs: Mapping[str, Any] | None = None,
    gt_segments: Mapping[str, Any] | None = None,
    gt_labels: Mapping[str, Any] | None = None,
    classes: Sequence[str] | None = None,
) -> dict[str, float]:
    """Apply the protocol and compute every metric of :func:`vadbench.metrics.evaluate`.

    Args:
        video_labels: 0/1 per video (mapping, or a sequence in the labels' order); needed for
            ``auc_abnormal*`` under ``abnormal_def=video_label`` and for the mAP variants other than the code.
        scores_calibrated: the method declares scores calibrated, so FAR at θ is defined outside [0, 1].
        probs, gt_segments, gt_labels, classes: per video ``(T, C)`` class probabilities with the
            ground-truth segments and labels, and the class list: adds VadCLIP's ``map_iou@…`` keys under
            ``protocol.map`` (probabilities repeated ×16 when ``expand=repeat16``).

    >>> import numpy as np
    >>> m = evaluate_protocol("ped2/official", {"a": np.array([.1, .9, .8])}, {"a": np.array([0, 1, 1])})
    >>> m["auc_micro"], m["auc_macro"]
    (1.0, 1.0)
    """
    import numpy as np

    from vadbench.metrics import map_iou

    p = _as_protocol(protocol)
    a = apply(p, scores, labels)
    vl = None
    if video_labels is not None:
        if isinstance(video_labels, Mapping):
            absent = [v for v in labels if v not in video_labels]
            if absent:
                raise ScoreError(
                    f"video labels missing for {len(absent)} videos ({', '.join(map(str, absent[:5]))})"
                )
            vl = np.array([int(video_labels[v]) for v in labels])
        else:
            vl = np.asarray(video_labels).reshape(-1)
    out = evaluate_aligned(p, a, vl, scores_calibrated=scores_calibrated)
    if probs is not None:
        if gt_segments is None or gt_labels is None or classes is None:
            raise ScoreError("mAP@IoU needs probs, gt_segments, gt_labels and classes together")
        keys = list(labels)
        absent = [v for v in keys if v not in probs or v not in gt_segments or v not in gt_labels]
        if absent:
            raise ScoreError(
                f"mAP@IoU: class probabilities or segments missing for {len(absent)} videos "
                f"({', '.join(map(str, absent[:5]))})"
            )
        out.update(
            map_iou(
                [aggregate_crops_probs(probs[v], p.crops, str(v)) for v in keys],
                [gt_segments[v] for v in keys],
                [gt_labels[v] for v in keys],
                classes,
                variant=p.map,
                repeat=16 if p.expand == "repeat16" else 1,
                video_labels=None if vl is None else vl.tolist(),
            )
        )
    return out


def aggregate_crops_probs(probs: Any, crops: str, video: str = "?") -> Any:
    """Class probabilities ``(T, C)`` or ``(T, K, C)`` (crops) -> ``(T, C)`` under the crop rule."""
    import numpy as np

    pr = np.asarray(probs)
    if pr.ndim == 2:
        return pr
    if pr.ndim != 3:
        raise ScoreError(
            f"video {video!r}: class probabilities of shape {pr.shape}; expected (T, C) or (T, K, C)"
        )
    cols = [aggregate_crops(pr[:, :, c], crops, video) for c in range(pr.shape[2])]
    return np.stack(cols, axis=1)


# ----------------------------------------------------------------------------------------------------------
# default protocols: the one place where each dataset's default protocol per supervision and unit lives

#: Per dataset, the section-13 preset of a method's supervision (``*`` = any other), written for the unit of
#: the preset; :func:`default_protocol` adapts it to the method's unit with :data:`UNIT_ADAPTATIONS`.
#: The synthetic dataset follows ShanghaiTech (it is built like it).
DEFAULT_PROTOCOLS: dict[str, dict[str, str]] = {
    "ucf-crime": {"*": "ucf/deepmil"},
    "xd-violence": {"*": "xd/xdviodet"},
    "shanghaitech": {"weak": "sht-weak/rtfm", "*": "sht-semi/official"},
    "synthetic": {"weak": "sht-weak/rtfm", "*": "sht-semi/official"},
    "avenue": {"*": "avenue/liu"},
    "ped2": {"*": "ped2/official"},
    "nwpu-campus": {"*": "nwpu/official"},
}

#: Changes that turn a dataset's default preset into the protocol of another unit, per dataset and target
#: unit: frame-level scores of weakly labelled datasets meet the frame-length convention (UCF-Crime
#: ``frames_excl``; ShanghaiTech ``official`` masks; XD-Violence has none: its 16·T labels are matched by
#: truncating the frame scores, T = floor(n/16)); snippet scores on frame-level conventions are repeated x16
#: and truncated to the frame count (features extracted with ``tail=pad``).
UNIT_ADAPTATIONS: dict[str, dict[str, dict[str, str]]] = {
    "ucf-crime": {"frame": {"gt": "frames_excl"}},
    "xd-violence": {"frame": {"align": "truncate"}},
    "shanghaitech": {"frame": {"gt": "official"}},
    "synthetic": {"frame": {"gt": "official"}},
}


def default_protocol(
    dataset: str, supervision: str, unit: str = "snippet16", clips: tuple[int, int] | None = None
) -> Protocol:
    """The default protocol of ``dataset`` for a method of ``supervision`` whose scores have ``unit``
    (``clips``: the ``(W, S)`` window scheme of a clip method; the expansion averages overlapping windows).

    >>> str(default_protocol("synthetic", "weak", "frame")).split(";")[:5]
    ['split=weak', 'gt=official', 'unit=frame', 'crops=none', 'expand=none']
    >>> default_protocol("ped2", "semi", "clip", (16, 8)).expand
    'window_mean(16,8)'
    """
    table = DEFAULT_PROTOCOLS.get(dataset)
    if table is None:
        raise ConfigError(
            f"no default protocol for dataset {dataset!r}; give one with --protocol or in the method preset "
            f"(datasets with defaults: {', '.join(sorted(DEFAULT_PROTOCOLS))})"
        )
    base = Protocol.from_string(table.get(supervision, table["*"]))
    if unit == base.unit:
        return base
    changes: dict[str, Any] = {}
    if unit == "snippet16":
        changes = {"unit": "snippet16", "expand": "repeat16", "align": "truncate"}
    else:
        if base.unit == "snippet16":
            changes = {"crops": "none", **UNIT_ADAPTATIONS.get(dataset, {}).get("frame", {})}
        changes["unit"] = unit
        if unit == "clip":
            if clips is None:
                raise ConfigError("a clip-unit protocol needs the window scheme (W, S) of the clips")
            changes["expand"] = f"window_mean({int(clips[0])},{int(clips[1])})"
        else:
            changes["expand"] = "none"
    return base.replace(**changes)
