"""Frame-level metrics of video anomaly detection: AUC (micro, macro, abnormal videos), AP, PR-AUC, FAR,
VadCLIP's mAP@IoU and the NWPU Campus anticipation labels (``specs/protocols.md`` sections 4 to 7 and 9).

Pure numpy. :func:`evaluate` computes every frame metric from one sort of the scores. Its values equal
scikit-learn's (``roc_auc_score``, ``average_precision_score``, ``auc(recall, precision)``), ties included;
the tests check that to 1e-9. scikit-learn is not used here: its per-call validation and separate sorts for
ROC and PR make it several times slower than one shared pass (``tests/bench/test_bench_metrics.py``), and
per-video AUCs would cost one call per video.

Example:
    >>> import numpy as np
    >>> m = evaluate([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], lengths=[4, 2])
    >>> round(m["auc_micro"], 4), round(m["ap"], 4), m["n_one_class"]
    (0.8889, 0.9167, 0)
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, ScoreError

#: Rules for videos whose frames hold a single class (protocols.md 4.2). "pad" is accepted as "pad01".
ONE_CLASS_RULES = ("pad01", "pad_if_one_class", "flip_first", "skip")
#: Which videos count as abnormal for ``auc_abnormal*`` (protocols.md 4.3).
ABNORMAL_DEFS = ("video_label", "gt_positive")
#: The variants of VadCLIP's mAP@IoU (protocols.md 7).
MAP_VARIANTS = ("vadclip_code", "vadclip_code_excl", "vadclip_paper")
#: The IoU thresholds of VadCLIP's detection mAP.
MAP_IOUS = (0.1, 0.2, 0.3, 0.4, 0.5)
#: Rounding rules of the anticipation horizon in frames (protocols.md 9).
HORIZON_ROUNDINGS = ("half_up", "floor", "ceil")
#: Default false-alarm rule (protocols.md 6).
DEFAULT_FAR = "far_normal@0.5[>=]"
#: The keys :func:`evaluate` returns, in this order.
METRIC_KEYS = (
    "auc_micro", "auc_macro", "n_one_class", "auc_abnormal", "auc_abnormal_macro", "ap", "pr_auc", "far",
)

_FAR_RE = re.compile(r"^far_(normal|all)@([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\[(>=|>)\]$")


# ----------------------------------------------------------------------------------------------------------
# option parsing (the one place these rules live; vadbench.protocol imports them)


def parse_far_rule(rule: str) -> tuple[str, float, str]:
    """Split a FAR rule ``far_<normal|all>@<θ>[<>=|>>]`` into (scope, θ, comparison).

    >>> parse_far_rule("far_normal@0.5[>=]")
    ('normal', 0.5, '>=')
    """
    m = _FAR_RE.match(str(rule).strip())
    if not m:
        raise ConfigError(
            f"far: unknown rule {rule!r}; allowed: far_normal@<θ>[>=], far_normal@<θ>[>], far_all@<θ>[>=], "
            f"far_all@<θ>[>] (default {DEFAULT_FAR})"
        )
    return m.group(1), float(m.group(2)), m.group(3)


def normalise_one_class_rule(rule: str) -> str:
    """Check a one-class rule name (``pad`` is an alias of ``pad01``) and return its canonical name."""
    rule = "pad01" if rule == "pad" else rule
    if rule not in ONE_CLASS_RULES:
        raise ConfigError(f"auc_macro_rule: unknown rule {rule!r}; allowed: {', '.join(ONE_CLASS_RULES)}")
    return rule


def horizon_frames(horizon_s: float, fps: float, rounding: str = "half_up") -> int:
    """The anticipation horizon in frames, ``h = round(α·f)`` under the named rounding.

    >>> horizon_frames(0.5, 25), horizon_frames(0.5, 25, "floor")
    (13, 12)
    """
    if rounding not in HORIZON_ROUNDINGS:
        raise ConfigError(
            f"horizon_rounding: unknown rule {rounding!r}; allowed: {', '.join(HORIZON_ROUNDINGS)}")
    if not (horizon_s > 0 and fps > 0):
        raise ConfigError(f"anticipation: horizon ({horizon_s} s) and fps ({fps}) must be positive")
    x = float(horizon_s) * float(fps)
    h = {"half_up": math.floor(x + 0.5), "floor": math.floor(x), "ceil": math.ceil(x)}[rounding]
    if h < 1:
        raise ConfigError(
            f"anticipation: horizon {horizon_s} s at {fps} fps is {x:g} frames, rounds to {h} (< 1)")
    return int(h)


# ----------------------------------------------------------------------------------------------------------
# input checking


def _name(videos: Sequence[str] | None, i: int) -> str:
    return f"video {videos[i]!r}" if videos is not None else f"video #{i}"


def _flatten(
    labels: Any, scores: Any, lengths: Any, videos: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str] | None]:
    """Turn per-video mappings / lists or concatenated arrays into (labels, scores, lengths, videos)."""
    if isinstance(labels, Mapping) or isinstance(scores, Mapping):
        if not (isinstance(labels, Mapping) and isinstance(scores, Mapping)):
            raise ScoreError("labels and scores must both be per-video mappings or both arrays")
        names = [str(k) for k in labels]
        missing = [k for k in labels if k not in scores]
        extra = [k for k in scores if k not in labels]
        if missing or extra:
            def some(keys: list) -> str:
                return ", ".join(map(str, keys[:5])) + (" ..." if len(keys) > 5 else "")

            raise ScoreError(f"scores and labels name different videos: {len(missing)} without scores "
                             f"({some(missing)}), {len(extra)} without labels ({some(extra)})")
        labels = [labels[k] for k in labels]
        scores = [scores[k] for k in names]
        videos = names
    if isinstance(labels, (list, tuple)) and labels and np.ndim(labels[0]) >= 1:
        if not (isinstance(scores, (list, tuple)) and len(scores) == len(labels)):
            raise ScoreError(f"{len(labels)} per-video label arrays need as many score arrays")
        lab = [np.asarray(x).reshape(-1) for x in labels]
        sco = [np.asarray(x) for x in scores]
        for i, (a, b) in enumerate(zip(lab, sco, strict=True)):
            if b.ndim != 1 or b.shape[0] != a.shape[0]:
                raise ScoreError(f"{_name(videos, i)}: {b.shape[0] if b.ndim else 0} scores "
                                 f"{'' if b.ndim == 1 else f'(shape {b.shape}) '}but {a.shape[0]} labels")
        lengths = np.array([a.shape[0] for a in lab], dtype=np.int64)
        y = np.concatenate(lab)
        s = np.concatenate(sco)
    else:
        y = np.asarray(labels)
        s = np.asarray(scores)
        if y.ndim == 2 and 1 in y.shape:  # community arrays shaped (1, N)
            y = y.reshape(-1)
        if s.ndim == 2 and 1 in s.shape:
            s = s.reshape(-1)
        if y.ndim != 1 or s.ndim != 1:
            raise ScoreError(f"labels and scores must be 1-D; got shapes {y.shape} and {s.shape}")
        if y.shape[0] != s.shape[0]:
            raise ScoreError(f"{s.shape[0]} scores but {y.shape[0]} labels")
    if y.shape[0] == 0:
        raise ScoreError("no frames to evaluate (empty labels and scores)")
    if lengths is not None:
        lengths = np.asarray(lengths)
        integral = np.issubdtype(lengths.dtype, np.integer) or (
            np.issubdtype(lengths.dtype, np.floating) and np.all(lengths == np.round(lengths)))
        if lengths.ndim != 1 or not integral:
            raise ScoreError(f"lengths must be a 1-D array of frame counts; got {lengths!r:.80}")
        lengths = lengths.astype(np.int64)
        if lengths.size == 0 or int(lengths.sum()) != y.shape[0]:
            raise ScoreError(f"lengths sum to {int(lengths.sum())} frames over {lengths.size} videos but "
                             f"there are {y.shape[0]} labels and scores")
        bad = np.flatnonzero(lengths <= 0)
        if bad.size:
            i = int(bad[0])
            raise ScoreError(f"{_name(videos, i)}: has {int(lengths[i])} frames (expected >= 1)")
        if videos is not None and len(videos) != lengths.size:
            raise ScoreError(f"{len(videos)} video names but {lengths.size} lengths")
    videos = None if videos is None else [str(v) for v in videos]
    return y, s, lengths, videos


def _where(index: int, lengths: np.ndarray | None, videos: list[str] | None) -> str:
    """'video X frame f' (or 'frame i') for a position in the concatenation."""
    if lengths is None:
        return f"frame {index}"
    ends = np.cumsum(lengths)
    v = int(np.searchsorted(ends, index, side="right"))
    start = int(ends[v] - lengths[v])
    return f"{_name(videos, v)} frame {index - start}"


def _check_values(y: np.ndarray, s: np.ndarray, lengths: np.ndarray | None,
                  videos: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Validate scores (finite, numeric) and labels (0/1); return (bool labels, numeric scores)."""
    if s.dtype == bool:
        s = s.astype(np.float32)
    if not np.issubdtype(s.dtype, np.number) or np.iscomplexobj(s):
        raise ScoreError(f"scores must be real numbers; got dtype {s.dtype}")
    if np.issubdtype(s.dtype, np.floating) and not np.isfinite(s).all():
        i = int(np.flatnonzero(~np.isfinite(s))[0])
        n_bad = int((~np.isfinite(s)).sum())
        raise ScoreError(f"{_where(i, lengths, videos)}: score is {s[i]} ({n_bad} non-finite scores in all); "
                         "expected finite anomaly scores")
    if y.dtype == bool:
        yb = y
    else:
        if not np.issubdtype(y.dtype, np.number):
            raise ScoreError(f"labels must be 0/1 numbers; got dtype {y.dtype}")
        yb = y == 1
        bad = ~(yb | (y == 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ScoreError(f"{_where(i, lengths, videos)}: label is {y[i].item()!r}; "
                             "expected 0 (normal) or 1 (abnormal)")
    return yb, s


# ----------------------------------------------------------------------------------------------------------
# the sorting core: abnormal and normal frames are sorted apart, per video, and every curve is read from
# how many normal scores lie below / equal to each distinct abnormal score.


def _sort_values(s: np.ndarray) -> np.ndarray:
    """Scores as the narrowest float type that holds them exactly (float32 sorts about 1.5x faster)."""
    if np.issubdtype(s.dtype, np.floating) and s.dtype.itemsize <= 4:
        return s.astype(np.float32, copy=False)
    if np.issubdtype(s.dtype, np.integer) and s.dtype.itemsize <= 2:
        return s.astype(np.float32)
    f = s.astype(np.float32)
    return f if np.array_equal(f, s) else s.astype(np.float64, copy=False)


def _sort_runs(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """A copy of ``x`` sorted within each run ``[offsets[v], offsets[v+1])`` (video-sized, cache-friendly)."""
    x = x.copy()
    for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        if b - a > 1:
            x[a:b].sort()
    return x


def _merge_runs(x: np.ndarray, n_runs: int) -> np.ndarray:
    """Sort an array made of sorted runs (timsort, numpy's stable float sort, merges runs linearly)."""
    return x if n_runs <= 1 else np.sort(x, kind="stable")


def _micro(pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    """ROC-AUC, AP and PR-AUC from the sorted abnormal (``pos``) and normal (``neg``) scores.

    These are scikit-learn's definitions, ties included: ROC-AUC = trapezoid of (fpr, tpr), i.e. the
    Mann-Whitney statistic with ties counting half; AP = Σ (R_n − R_{n−1})·P_n over the distinct thresholds;
    PR-AUC = trapezoid of precision_recall_curve with its (R = 0, P = 1) end point. Only thresholds at an
    abnormal score change the recall, so everything is read at the distinct abnormal scores u_j:
    precision at u_j uses the frames >= u_j; the curve point before it (the next higher distinct score of
    all frames) uses the frames > u_j.
    """
    n_pos, n_neg = pos.shape[0], neg.shape[0]
    out = {"auc": math.nan, "ap": math.nan, "pr_auc": math.nan}
    if not n_pos:
        return out
    first = np.empty(n_pos, dtype=bool)
    first[0] = True
    np.not_equal(pos[1:], pos[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    u = pos[starts]
    cnt = np.diff(np.append(starts, n_pos))
    lt = np.searchsorted(neg, u, side="left")  # normal frames scoring below u_j
    le = np.searchsorted(neg, u, side="right")  # ... below or equal
    if n_neg:
        out["auc"] = float(np.dot(cnt, lt + 0.5 * (le - lt))) / (n_pos * n_neg)
    tp_ge = n_pos - starts  # abnormal frames scoring >= u_j
    fp_ge = n_neg - lt
    prec = tp_ge / (tp_ge + fp_ge)
    tp_gt = tp_ge - cnt
    above = tp_gt + (n_neg - le)
    prev = np.divide(tp_gt, above, out=np.ones(u.shape[0]), where=above > 0)
    out["ap"] = float(np.dot(cnt, prec)) / n_pos
    out["pr_auc"] = float(np.dot(cnt, prec + prev)) / (2 * n_pos)
    return out


def _pair_counts(pos: np.ndarray, neg: np.ndarray, off_p: np.ndarray, off_n: np.ndarray) -> np.ndarray:
    """Per video, U = number of (abnormal, normal) frame pairs where the abnormal one scores higher, ties
    counting half (Mann-Whitney; AUC_v = U / (P_v·N_v)). ``pos`` / ``neg`` are sorted within each video."""
    u = np.zeros(off_p.shape[0] - 1)
    op, on = off_p.tolist(), off_n.tolist()
    bounds = zip(op[:-1], op[1:], on[:-1], on[1:], strict=True)
    for v, (pa, pb, na, nb) in enumerate(bounds):
        if pb > pa and nb > na:
            nv, pv = neg[na:nb], pos[pa:pb]
            lt = int(nv.searchsorted(pv, side="left").sum())
            u[v] = 0.5 * (lt + int(nv.searchsorted(pv, side="right").sum()))
    return u


def _one_class_fix(rule: str, u: np.ndarray, p: np.ndarray, n: np.ndarray, yb: np.ndarray, s: np.ndarray,
                   offsets: np.ndarray) -> np.ndarray:
    """Per-video AUC under a one-class rule (protocols.md 4.2); NaN where it stays undefined."""
    one = (p == 0) | (n == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = u / (p * n)
    if rule == "skip":
        auc[one] = np.nan
        return auc
    if rule == "pad01":  # every video gets (label 0, score 0) first and (label 1, score 1) last
        if s.min() < 0 or s.max() > 1:
            warnings.warn("auc_macro_rule=pad01 pads with scores 0 and 1, which are neutral only for scores "
                          "in [0, 1] (use normalise=minmax_video or rescale)", stacklevel=3)
        neg_lt1 = np.add.reduceat((~yb & (s < 1)).view(np.uint8), offsets[:-1], dtype=np.int64)
        neg_eq1 = np.add.reduceat((~yb & (s == 1)).view(np.uint8), offsets[:-1], dtype=np.int64)
        pos_gt0 = np.add.reduceat((yb & (s > 0)).view(np.uint8), offsets[:-1], dtype=np.int64)
        pos_eq0 = np.add.reduceat((yb & (s == 0)).view(np.uint8), offsets[:-1], dtype=np.int64)
        u2 = u + neg_lt1 + 0.5 * neg_eq1 + pos_gt0 + 0.5 * pos_eq0 + 1.0
        return u2 / ((p + 1) * (n + 1))
    for v in np.flatnonzero(one):
        sv = s[offsets[v]:offsets[v + 1]]
        if rule == "pad_if_one_class":
            if p[v] == 0:  # no abnormal frame: append (label 1, score 1)
                auc[v] = (np.count_nonzero(sv < 1) + 0.5 * np.count_nonzero(sv == 1)) / n[v]
            else:  # no normal frame: prepend (label 0, score 0)
                auc[v] = (np.count_nonzero(sv > 0) + 0.5 * np.count_nonzero(sv == 0)) / p[v]
        else:  # flip_first: y[0] <- 1 - y[0], scores kept
            if sv.shape[0] < 2:
                auc[v] = np.nan
                continue
            s0, rest = sv[0], sv[1:]
            if p[v] == 0:  # frame 0 becomes the only abnormal frame
                auc[v] = (np.count_nonzero(rest < s0) + 0.5 * np.count_nonzero(rest == s0)) / rest.shape[0]
            else:  # frame 0 becomes the only normal frame
                auc[v] = (np.count_nonzero(rest > s0) + 0.5 * np.count_nonzero(rest == s0)) / rest.shape[0]
    return auc


def video_aucs(labels: Any, scores: Any, lengths: Any, one_class: str = "skip") -> np.ndarray:
    """Per-video ROC-AUC under a one-class rule (NaN where undefined): the terms of ``auc_macro``.

    >>> video_aucs([0, 1, 0, 0], [0.2, 0.9, 0.1, 0.7], [2, 2]).tolist()
    [1.0, nan]
    """
    one_class = normalise_one_class_rule(one_class)
    y, s, lengths, videos = _flatten(labels, scores, lengths, None)
    if lengths is None:
        raise ScoreError("video_aucs needs lengths (frames per video)")
    yb, s = _check_values(y, s, lengths, videos)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    p = np.add.reduceat(yb.view(np.uint8), offsets[:-1], dtype=np.int64)
    n = np.diff(offsets) - p
    f = _sort_values(s)
    off_p, off_n = np.concatenate([[0], np.cumsum(p)]), np.concatenate([[0], np.cumsum(n)])
    u = _pair_counts(_sort_runs(f[yb], off_p), _sort_runs(f[~yb], off_n), off_p, off_n)
    return _one_class_fix(one_class, u, p, n, yb, s, offsets)


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else math.nan


def evaluate(
    labels: Any,
    scores: Any,
    lengths: Any = None,
    *,
    one_class: str = "skip",
    far_rule: str = DEFAULT_FAR,
    threshold: float | None = None,
    scores_calibrated: bool = False,
    video_labels: Any = None,
    abnormal_def: str = "video_label",
    videos: Sequence[str] | None = None,
) -> dict[str, float]:
    """Every frame metric of one evaluation, from one sort of the scores.

    Args:
        labels: frame labels (0/1), concatenated over videos; or a mapping video -> labels (then ``scores``
            must be a mapping too, and lengths and video names come from it); or a list of per-video arrays.
        scores: anomaly scores (higher = more anomalous), same layout as ``labels``.
        lengths: frames per video, in concatenation order; without it the per-video metrics are NaN.
        one_class: rule for one-class videos in ``auc_macro`` / ``auc_abnormal_macro``: ``pad01``,
            ``pad_if_one_class``, ``flip_first`` or ``skip`` (protocols.md 4.2). ``n_one_class`` counts the
            one-class videos; with ``skip`` (and a 1-frame video under ``flip_first``) they leave the mean.
        far_rule: ``far_normal@θ[>=]`` (default θ = 0.5), ``far_normal@θ[>]`` or ``far_all@θ[>=]`` / ``[>]``.
            ``far_normal`` uses the frames of the videos whose labels are all 0 (needs ``lengths``).
        threshold: overrides the θ of ``far_rule``.
        scores_calibrated: FAR compares scores with θ, which assumes scores in [0, 1]. Scores outside [0, 1]
            give ``far = NaN`` unless the method declares them calibrated with ``True``.
        video_labels: 0/1 per video (``abnormal_def="video_label"``); without it ``auc_abnormal*`` are NaN.
        abnormal_def: ``video_label`` or ``gt_positive`` (a video with at least one abnormal frame).
        videos: video names, used in error messages.

    Returns:
        ``auc_micro``, ``auc_macro``, ``n_one_class``, ``auc_abnormal``, ``auc_abnormal_macro``, ``ap``,
        ``pr_auc``, ``far``: fractions in [0, 1] (``n_one_class`` an int), NaN where undefined.

    Raises:
        ScoreError: empty input, lengths that do not add up, non-finite scores, labels other than 0/1, or a
            single class over all frames.

    >>> m = evaluate([0, 1, 0, 0], [0.2, 0.9, 0.1, 0.7], lengths=[2, 2], one_class="skip")
    >>> m["auc_micro"], m["auc_macro"], m["n_one_class"], m["far"]
    (1.0, 1.0, 1, 0.5)
    """
    one_class = normalise_one_class_rule(one_class)
    scope, theta, cmp = parse_far_rule(far_rule)
    if threshold is not None:
        theta = float(threshold)
    if abnormal_def not in ABNORMAL_DEFS:
        raise ConfigError(
            f"abnormal_def: unknown value {abnormal_def!r}; allowed: {', '.join(ABNORMAL_DEFS)}")
    y, s, lengths, videos = _flatten(labels, scores, lengths, videos)
    yb, s = _check_values(y, s, lengths, videos)
    n_frames = yb.shape[0]
    n_pos = int(np.count_nonzero(yb))
    if n_pos in (0, n_frames):
        raise ScoreError(f"all {n_frames} frame labels are {int(n_pos > 0)}: a single class, so AUC and AP "
                         "are undefined; expected both normal (0) and abnormal (1) frames")

    offsets = np.array([0, n_frames]) if lengths is None else np.concatenate([[0], np.cumsum(lengths)])
    p = np.add.reduceat(yb.view(np.uint8), offsets[:-1], dtype=np.int64)  # abnormal frames per video
    n = np.diff(offsets) - p
    off_p = np.concatenate([[0], np.cumsum(p)])
    off_n = np.concatenate([[0], np.cumsum(n)])
    f = _sort_values(s)
    pos = _sort_runs(f[yb], off_p)  # video-major, sorted within each video
    neg = _sort_runs(f[~yb], off_n)
    pos_all = _merge_runs(pos, p.shape[0])
    micro = _micro(pos_all, _merge_runs(neg, n.shape[0]))
    out: dict[str, Any] = dict.fromkeys(METRIC_KEYS, math.nan)
    out.update(auc_micro=micro["auc"], ap=micro["ap"], pr_auc=micro["pr_auc"], n_one_class=0)

    if lengths is not None:
        u = _pair_counts(pos, neg, off_p, off_n)
        auc_v = _one_class_fix(one_class, u, p, n, yb, s, offsets)
        out["n_one_class"] = int(np.count_nonzero((p == 0) | (n == 0)))
        out["auc_macro"] = _nanmean(auc_v)

        abnormal = None
        if abnormal_def == "gt_positive":
            abnormal = p > 0
        elif video_labels is not None:
            vl = np.asarray(video_labels).reshape(-1)
            if vl.shape[0] != lengths.shape[0]:
                raise ScoreError(f"{vl.shape[0]} video labels but {lengths.shape[0]} videos")
            if not np.isin(vl, (0, 1)).all():
                raise ScoreError(f"video labels must be 0/1; got values {np.unique(vl)[:5]}")
            abnormal = vl == 1
        if abnormal is not None and abnormal.any():
            n_abn = int(abnormal.sum())
            pos_sub = pos_all if p[~abnormal].sum() == 0 else _merge_runs(pos[np.repeat(abnormal, p)], n_abn)
            neg_sub = _merge_runs(neg[np.repeat(abnormal, n)], n_abn)
            out["auc_abnormal"] = _micro(pos_sub, neg_sub)["auc"]
            out["auc_abnormal_macro"] = _nanmean(auc_v[abnormal])
    out["far"] = _far(yb, s, offsets if lengths is not None else None, scope, theta, cmp, scores_calibrated)
    return out


def _far(yb: np.ndarray, s: np.ndarray, offsets: np.ndarray | None, scope: str, theta: float, cmp: str,
         calibrated: bool) -> float:
    """False-alarm rate (protocols.md 6): fraction of the chosen normal frames whose score passes θ."""
    if not calibrated and (s.min() < 0 or s.max() > 1):
        return math.nan  # θ is meaningless for scores outside [0, 1] unless declared calibrated
    flagged = s >= theta if cmp == ">=" else s > theta
    if scope == "all":
        neg = ~yb
        return float(np.count_nonzero(flagged & neg)) / max(1, int(np.count_nonzero(neg)))
    if offsets is None:
        return math.nan  # which videos are normal is unknown without lengths
    pos_v = np.add.reduceat(yb.view(np.uint8), offsets[:-1], dtype=np.int64)
    normal = np.repeat(pos_v == 0, np.diff(offsets))
    n_normal = int(np.count_nonzero(normal))
    return float(np.count_nonzero(flagged & normal)) / n_normal if n_normal else math.nan


# ----------------------------------------------------------------------------------------------------------
# VadCLIP detection mAP@IoU (protocols.md 7)


#: VadCLIP's proposal threshold set ``np.arange(0.6, 0.7, 0.1)``: the single value 0.6 (as a numpy float64).
_MAP_THR = np.arange(0.6, 0.7, 0.1)[0]


def _proposals(x: np.ndarray, conf: np.generic) -> list[tuple[float, int, int]]:
    """Proposals of one video and class column ``x`` (frame level): threshold, runs, score, 1-D NMS at 0.6.

    The arithmetic follows VadCLIP's numpy expressions in the input dtype (float32 probabilities give
    float32 proposal scores there too), so thresholds and scores round the same way.
    """
    threshold = np.max(x) - (np.max(x) - np.min(x)) * _MAP_THR
    b = np.concatenate([np.zeros(1), (x > threshold).astype("float32"), np.zeros(1)])
    d = np.diff(b)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    props = [(float(np.max(x[a:e]) + 0.7 * conf), int(a), int(e)) for a, e in zip(starts, ends, strict=True)
             if e - a >= 2]
    props.sort(key=lambda t: -t[0])  # stable: ties keep temporal order (the code's argsort is not stable)
    kept: list[tuple[float, int, int]] = []
    for sc, a, e in props:
        ok = True
        for _, ka, ke in kept:
            inter = max(0, min(e, ke) - max(a, ka))
            if inter / ((e - a) + (ke - ka) - inter) > 0.6:
                ok = False
                break
        if ok:
            kept.append((sc, a, e))
    return kept


def _interval_iou(gs: int, ge: int, ps: int, pe: int) -> float:
    """|range(gs, ge) ∩ range(ps, pe)| / |range(gs, ge) ∪ range(ps, pe)|."""
    lg, lp = max(0, ge - gs), max(0, pe - ps)
    inter = max(0, min(ge, pe) - max(gs, ps)) if lg and lp else 0
    union = lg + lp - inter
    return inter / union if union else 0.0


def map_iou(
    probs: Sequence[np.ndarray],
    gt_segments: Sequence[Sequence[Sequence[int]]],
    gt_labels: Sequence[Sequence[str]],
    classes: Sequence[str],
    *,
    variant: str = "vadclip_code",
    repeat: int = 16,
    video_labels: Sequence[int] | None = None,
    n_abnormal: int | None = None,
    normal_class: str | None = None,
    ious: Sequence[float] = MAP_IOUS,
) -> dict[str, float]:
    """VadCLIP's detection mAP at IoU 0.1 … 0.5 and their mean, in percent (protocols.md 7).

    Args:
        probs: per test video (in test-list order) the class probabilities ``(T_i, C)`` (softmax of
            VadCLIP's ``logits2``); each is repeated ``repeat`` times along time (16 for snippet outputs,
            1 if already per frame).
        gt_segments: per video a list of ``[start, end)`` frame ranges (normal videos: ``[[0, 16·T_i]]``).
        gt_labels: per video one label per segment (UCF normal segments are labelled ``'A'``).
        classes: the class list, in the column order of ``probs``.
        variant: ``vadclip_code`` (default, faithful: the normal class counts in the mean; a class without
            any proposal makes that IoU's whole mAP 0, with a warning), ``vadclip_code_excl`` (proposals of
            the first N abnormal videos only) or ``vadclip_paper`` (abnormal videos only, mean over the C−1
            abnormal classes, a class without proposals scores 0).
        video_labels: 0/1 per video; needed by the last two variants (N = their sum for ``_excl``).
        n_abnormal: overrides N of ``vadclip_code_excl``.
        normal_class: the normal class left out by ``vadclip_paper`` (default ``classes[0]``).

    Proposals sort with a stable sort (VadCLIP's numpy argsort is not stable: tied scores may order
    differently there).

    >>> p = [np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9]])]
    >>> m = map_iou(p, [[[16, 48]]], [["B"]], ["A", "B"], variant="vadclip_paper", video_labels=[1])
    >>> m["map_iou@0.5"]
    100.0
    """
    if variant not in MAP_VARIANTS:
        raise ConfigError(f"map: unknown variant {variant!r}; allowed: {', '.join(MAP_VARIANTS)}")
    classes = [str(c) for c in classes]
    n_v = len(probs)
    if not (len(gt_segments) == n_v and len(gt_labels) == n_v):
        raise ScoreError(f"map_iou: {n_v} probability arrays, {len(gt_segments)} segment lists and "
                         f"{len(gt_labels)} label lists; expected one each per video")
    mats = []
    for i, pr in enumerate(probs):
        pr = np.asarray(pr)
        if not np.issubdtype(pr.dtype, np.floating):
            pr = pr.astype(np.float64)
        if pr.ndim != 2 or pr.shape[1] != len(classes) or pr.shape[0] == 0:
            raise ScoreError(f"map_iou: video #{i}: probabilities of shape {pr.shape}; expected (T, "
                             f"{len(classes)}) with T >= 1 for classes {classes}")
        if not np.isfinite(pr).all():
            raise ScoreError(f"map_iou: video #{i}: non-finite class probabilities")
        if len(gt_segments[i]) != len(gt_labels[i]):
            raise ScoreError(
                f"map_iou: video #{i}: {len(gt_segments[i])} segments but {len(gt_labels[i])} labels")
        m = np.repeat(pr, repeat, axis=0) if repeat != 1 else pr
        # class confidence: mean of the top int(len/16) entries of each column (at least one entry); the
        # code then multiplies by (confidence > 0), a no-op for probabilities, kept for other inputs.
        top = -np.sort(-m, axis=0)
        conf = np.mean(top[:max(1, int(m.shape[0] / 16)), :], axis=0)
        mats.append((m * (conf > 0.0), conf))
    if variant != "vadclip_code":
        if video_labels is None and not (variant == "vadclip_code_excl" and n_abnormal is not None):
            raise ScoreError(f"map_iou: variant {variant} needs video_labels (0/1 per video)")
        if video_labels is not None and len(video_labels) != n_v:
            raise ScoreError(f"map_iou: {len(video_labels)} video labels but {n_v} videos")
    abn = np.asarray(video_labels, dtype=int) == 1 if video_labels is not None else None
    if variant == "vadclip_code":
        prop_videos = gt_videos = list(range(n_v))
    elif variant == "vadclip_code_excl":
        n_first = int(n_abnormal if n_abnormal is not None else abn.sum())
        prop_videos, gt_videos = list(range(min(n_first, n_v))), list(range(n_v))
    else:
        prop_videos = gt_videos = [i for i in range(n_v) if abn[i]]
    eval_classes = list(range(len(classes)))
    if variant == "vadclip_paper":
        normal = classes[0] if normal_class is None else normal_class
        if normal not in classes:
            raise ConfigError(f"map: normal_class {normal!r} is not in the class list {classes}")
        eval_classes = [c for c in eval_classes if classes[c] != normal]

    # proposals do not depend on the IoU threshold: build them once per class
    pooled: dict[int, list[tuple[float, int, int, int]]] = {}
    for c in eval_classes:
        items: list[tuple[float, int, int, int]] = []
        for i in prop_videos:
            m, conf = mats[i]
            items += [(sc, i, a, e) for sc, a, e in _proposals(m[:, c], conf[c])]
        items.sort(key=lambda t: -t[0])
        pooled[c] = items

    out: dict[str, float] = {}
    for th in ious:
        aps = []
        zero_all = False
        for c in eval_classes:
            items = pooled[c]
            if not items and variant != "vadclip_paper":
                warnings.warn(f"map_iou: class {classes[c]!r} has no proposals, so mAP@{th:g} is 0 "
                              f"({variant} reproduces VadCLIP's early return)", stacklevel=2)
                zero_all = True
                break
            gts: dict[int, list[tuple[int, int]]] = {}
            for i in gt_videos:
                for seg, lab in zip(gt_segments[i], gt_labels[i], strict=True):
                    if str(lab) == classes[c]:
                        gts.setdefault(i, []).append((int(seg[0]), int(seg[1])))
            n_gt = sum(len(v) for v in gts.values())
            tp_prec, n_tp = 0.0, 0
            for rank, (_, i, a, e) in enumerate(items, start=1):
                cand = gts.get(i)
                if not cand:
                    continue
                ious_i = [_interval_iou(gs, ge, a, e) for gs, ge in cand]
                j = int(np.argmax(ious_i))
                if ious_i[j] >= th:
                    n_tp += 1
                    tp_prec += n_tp / rank
                    del cand[j]
            aps.append(tp_prec / n_gt if n_tp else 0.0)
        out[f"map_iou@{th:g}"] = 0.0 if zero_all else 100.0 * float(np.mean(aps)) if aps else 0.0
    out["map_iou_avg"] = float(np.mean([out[f"map_iou@{th:g}"] for th in ious]))
    return out


# ----------------------------------------------------------------------------------------------------------
# anomaly anticipation (protocols.md 9)


def anticipation_labels(
    labels: Any,
    horizon_s: float,
    fps: float,
    rounding: str = "half_up",
    keep_current: bool = True,
    *,
    include_current: bool = False,
    lengths: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Anticipation labels for horizon α and a mask of the frames to evaluate (NWPU Campus).

    Frame t gets ``max(g[t+1 .. t+h])`` with ``h = round(α·fps)`` (``include_current=True`` adds g[t]).
    The last h frames of each video are not kept (their horizon runs past the end); with
    ``keep_current=False`` frames already abnormal (g[t] = 1) are not kept either. With ``lengths``,
    ``labels`` is a concatenation and each video is handled on its own.

    >>> y, keep = anticipation_labels([0, 0, 0, 1, 1, 0], 2, 1)
    >>> y.tolist(), keep.tolist()
    ([0, 1, 1, 1, 0, 0], [True, True, True, True, False, False])
    """
    h = horizon_frames(horizon_s, fps, rounding)
    g = np.asarray(labels).reshape(-1)
    if g.size and not np.isin(g, (0, 1)).all():
        raise ScoreError("anticipation labels: ground truth must be 0/1")
    g = g.astype(np.int64)
    lens = np.array([g.shape[0]]) if lengths is None else np.asarray(lengths, dtype=np.int64)
    if int(lens.sum()) != g.shape[0]:
        raise ScoreError(
            f"anticipation labels: lengths sum to {int(lens.sum())} but there are {g.shape[0]} labels")
    ys, keeps = [], []
    start = 0
    for n in lens:
        gv = g[start:start + n]
        start += n
        c = np.concatenate([[0], np.cumsum(gv)])
        t = np.arange(n)
        lo = t if include_current else t + 1
        hi = np.minimum(t + 1 + h, n)
        yv = (c[hi] - c[np.minimum(lo, n)] > 0).astype(np.int64)
        keep = t < n - h
        if not keep_current:
            keep &= gv == 0
        ys.append(yv)
        keeps.append(keep)
    return np.concatenate(ys) if ys else g, np.concatenate(keeps) if keeps else np.zeros(0, bool)
