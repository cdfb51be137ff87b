"""Confidence intervals over test videos: the video bootstrap of every AUC / AP metric, and the paired
bootstrap between two methods scored on the same videos.

A resample draws the test videos with replacement (frames stay whole inside a video) and re-evaluates the
metric on the concatenation of the drawn videos. Drawing a video twice duplicates its frames, so a resample
is fully described by the **multiplicity** of each video (a vector of V counts summing to V).

The speed comes from that structure. Once, the distinct abnormal scores u_1 < ... < u_K of the whole test
set fix a global rank order, and every video becomes three sparse histograms over it: its abnormal frames
at u_k, its normal frames tied with u_k, and its normal frames in the gap below u_k (above u_{k-1}). Ties
are resolved once, exactly as :func:`vadbench.metrics.evaluate` resolves them (same float32 rounding of the
scores). A block of resamples is then a weighted count: the (resamples x videos) multiplicity matrix times
the sparse (videos x ranks) histograms (one scipy.sparse product whose cost is the number of non-empty
(video, rank) cells, about one per 16-frame snippet for snippet scores), and cumulative sums over the K
ranks give every resample's weighted TP / FP at every threshold, hence its ROC-AUC, AP and PR-AUC. No
resample sorts or touches frames. ``auc_abnormal`` uses the multiplicities of the abnormal videos only;
``auc_macro`` / ``auc_abnormal_macro`` are multiplicity-weighted means of the per-video AUCs. When only the
ROC-AUCs are needed (and K x V is moderate), the (videos x videos) matrix U of abnormal-beats-normal pair
counts, built once from the same histograms, turns each resample into the quadratic form
``w U w / ((w · n_abnormal) (w · n_normal))``: O(V^2) per resample, independent of the frame count.

Every replicate equals :func:`vadbench.metrics.evaluate` on the concatenated resampled videos (the tests
check that against a slow reference bootstrap with the same seed). numpy + scipy.sparse; no torch.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(np.arange(40) % 2, 30)  # 40 videos of 30 frames, every other one abnormal
    >>> s = y + rng.normal(0, 1, y.size)
    >>> b = bootstrap(y, s, np.full(40, 30), metrics=("auc_micro", "ap"), n_resamples=200, seed=1)
    >>> bool(b.low["auc_micro"] < b.estimate["auc_micro"] < b.high["auc_micro"])
    True
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, ScoreError
from vadbench.metrics import ABNORMAL_DEFS, _check_values, _flatten, _sort_values, video_aucs

#: The metrics that get an interval: every AUC and AP of :func:`vadbench.metrics.evaluate`.
CI_METRICS: tuple[str, ...] = ("auc_micro", "auc_macro", "auc_abnormal", "auc_abnormal_macro", "ap", "pr_auc")
#: Interval methods: bootstrap percentile (default) and bias-corrected and accelerated (BCa).
CI_METHODS: tuple[str, ...] = ("percentile", "bca")
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
#: Upper bound on (resamples in a block) x (ranks): the size of the temporary arrays.
_BLOCK_CELLS = 2_000_000


def ci_columns(metric: str) -> tuple[str, str]:
    """The result-row columns of a metric's interval bounds.

    >>> ci_columns("ap")
    ('ap_ci_low', 'ap_ci_high')
    """
    return f"{metric}_ci_low", f"{metric}_ci_high"


def resample_indices(n_videos: int, n_resamples: int, seed: int) -> np.ndarray:
    """The drawn video indices, shape (n_resamples, n_videos): row b is resample b (``default_rng(seed)``).

    >>> resample_indices(3, 2, 0).shape
    (2, 3)
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_videos, size=(n_resamples, n_videos))


def multiplicities(indices: np.ndarray, n_videos: int) -> np.ndarray:
    """How often each video is drawn in each resample: (n_resamples, n_videos) float64 counts.

    >>> multiplicities(np.array([[0, 0, 2]]), 3).tolist()
    [[2.0, 0.0, 1.0]]
    """
    b = indices.shape[0]
    flat = (indices + n_videos * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n_videos).reshape(b, n_videos).astype(np.float64)


# ----------------------------------------------------------------------------------------------------------
# the per-video structure


class VideoRanks:
    """The test set as per-video histograms over the global order of the distinct abnormal scores.

    Rows of :attr:`hist` (sparse, one column per video): K rows of abnormal frames at u_k, K rows of normal
    frames tied with u_k, K + 1 rows of normal frames in the gap below u_k (above u_{k-1}; the last row:
    above every u).

    >>> r = VideoRanks([0, 1, 1, 0], [0.2, 0.9, 0.2, 0.1], [2, 2])
    >>> r.micro(np.ones((1, 2)))["auc_micro"].tolist()  # = evaluate(...)["auc_micro"]
    [0.875]
    """

    def __init__(self, labels: Any, scores: Any, lengths: Any) -> None:
        from scipy.sparse import csr_matrix

        y, s, lengths, videos = _flatten(labels, scores, lengths, None)
        if lengths is None:
            raise ScoreError("the video bootstrap needs lengths (frames per video)")
        yb, s = _check_values(y, s, lengths, videos)
        self.n_videos = v = int(lengths.shape[0])
        self.lengths = lengths
        f = _sort_values(s)  # the exact scorer's tie resolution (float32 where that is exact)
        video = np.repeat(np.arange(v), lengths)
        pos_s, neg_s = f[yb], f[~yb]
        self.u, pos_rank = np.unique(pos_s, return_inverse=True)
        k = self.k = self.u.shape[0]
        lo = np.searchsorted(self.u, neg_s, side="left")
        tied = np.zeros(neg_s.shape[0], dtype=bool)
        inside = lo < k
        tied[inside] = self.u[lo[inside]] == neg_s[inside]
        neg_v = video[~yb]
        rows = np.concatenate([pos_rank.reshape(-1), k + lo[tied], 2 * k + lo[~tied]])
        cols = np.concatenate([video[yb], neg_v[tied], neg_v[~tied]])
        self.hist = csr_matrix(  # duplicate (rank, video) entries are summed: frame counts
            (np.ones(rows.shape[0]), (rows, cols)), shape=(3 * k + 1, v))
        self.n_pos = np.bincount(video[yb], minlength=v).astype(np.float64)
        self.n_neg = lengths - self.n_pos
        self._yb, self._s = yb, s

    @functools.cached_property
    def pairs(self) -> np.ndarray | None:
        """U (videos x videos): U[a, b] = pairs (abnormal frame of a, normal frame of b) where the abnormal
        one scores higher, ties counting half; None when the dense (ranks x videos) step would be too big.

        The pooled ROC-AUC of multiplicities w is then ``w @ U @ w / ((w @ n_pos) (w @ n_neg))``: O(V^2)
        per resample, whatever the number of frames."""
        k, v = self.k, self.n_videos
        if k * v > _BLOCK_CELLS * 4:
            return None
        h = self.hist
        t = h[k:2 * k].toarray()
        below = np.cumsum(h[2 * k:3 * k].toarray(), axis=0) + np.cumsum(t, axis=0) - 0.5 * t
        return np.asarray(h[:k].T @ below)

    def auc_pairs(self, w: np.ndarray) -> np.ndarray:
        """Pooled ROC-AUC of each resample from :attr:`pairs` (NaN for a single class)."""
        n_p, n_n = w @ self.n_pos, w @ self.n_neg
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = np.einsum("bi,bi->b", w @ self.pairs, w) / (n_p * n_n)
        auc[(n_p == 0) | (n_n == 0)] = np.nan
        return auc

    @property
    def n_cells(self) -> int:
        """Non-empty (video, rank) cells: the work of one resample."""
        return int(self.hist.nnz)

    def micro(
        self, w: np.ndarray, metrics: Sequence[str] = ("auc_micro", "ap", "pr_auc")
    ) -> dict[str, np.ndarray]:
        """Pooled ROC-AUC / AP / PR-AUC of each resample (rows of ``w``: video multiplicities); NaN where a
        resample holds a single class. Same definitions and ties as :func:`vadbench.metrics.evaluate`."""
        k = self.k
        # (b, 3K + 1) weighted counts per rank; rows contiguous so the cumulative sums run along memory
        m = np.ascontiguousarray(np.asarray(self.hist @ np.ascontiguousarray(w.T)).T)
        p, t, g = m[:, :k], m[:, k:2 * k], m[:, 2 * k:]
        n_p = p.sum(axis=1)
        n_n = t.sum(axis=1) + g.sum(axis=1)
        below = np.cumsum(g[:, :-1], axis=1)
        below += np.cumsum(t, axis=1)
        below -= t  # normal frames scoring below u_k
        out: dict[str, np.ndarray] = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            if "auc_micro" in metrics:
                out["auc_micro"] = np.einsum("bk,bk->b", p, below + 0.5 * t) / (n_p * n_n)
            if "ap" in metrics or "pr_auc" in metrics:
                tp_ge = n_p[:, None] - np.cumsum(p, axis=1) + p  # abnormal frames >= u_k
                fp_ge = n_n[:, None] - below  # normal frames >= u_k
                prec = np.divide(tp_ge, tp_ge + fp_ge, out=np.zeros_like(tp_ge), where=p > 0)
                if "ap" in metrics:
                    out["ap"] = np.einsum("bk,bk->b", p, prec) / n_p
                if "pr_auc" in metrics:
                    tp_gt = tp_ge - p
                    above = tp_gt + (fp_ge - t)
                    prev = np.divide(tp_gt, above, out=np.ones_like(tp_gt), where=above > 0)
                    out["pr_auc"] = np.einsum("bk,bk->b", p, prec + prev) / (2 * n_p)
        for key in out:
            out[key][(n_p == 0) | ((n_n == 0) & (key == "auc_micro"))] = np.nan
        return out


# ----------------------------------------------------------------------------------------------------------
# replicates of every metric


class Replicator:
    """Computes the metrics of :data:`CI_METRICS` for blocks of resamples given as video multiplicities.

    >>> import numpy as np
    >>> rep = Replicator([0, 1, 1, 0], [0.2, 0.9, 0.2, 0.1], [2, 2], metrics=("auc_micro", "auc_macro"))
    >>> {k: v.tolist() for k, v in rep(np.ones((1, 2))).items()}
    {'auc_micro': [0.875], 'auc_macro': [1.0]}
    """

    def __init__(
        self,
        labels: Any,
        scores: Any,
        lengths: Any,
        *,
        video_labels: Any = None,
        one_class: str = "skip",
        abnormal_def: str = "video_label",
        metrics: Sequence[str] = CI_METRICS,
    ) -> None:
        unknown = [m for m in metrics if m not in CI_METRICS]
        if unknown:
            raise ConfigError(
                f"bootstrap: unknown metric(s) {unknown}; intervals exist for {list(CI_METRICS)}")
        if abnormal_def not in ABNORMAL_DEFS:
            raise ConfigError(
                f"abnormal_def: unknown value {abnormal_def!r}; allowed: {', '.join(ABNORMAL_DEFS)}")
        self.ranks = VideoRanks(labels, scores, lengths)
        r = self.ranks
        self.metrics = tuple(metrics)
        self.abnormal: np.ndarray | None = None
        if abnormal_def == "gt_positive":
            self.abnormal = r.n_pos > 0
        elif video_labels is not None:
            vl = np.asarray(video_labels).reshape(-1)
            if vl.shape[0] != r.n_videos:
                raise ScoreError(f"{vl.shape[0]} video labels but {r.n_videos} videos")
            self.abnormal = vl == 1
        self.video_auc: np.ndarray | None = None
        if {"auc_macro", "auc_abnormal_macro"} & set(self.metrics):
            self.video_auc = video_aucs(r._yb, r._s, r.lengths, one_class)

    @property
    def n_videos(self) -> int:
        return self.ranks.n_videos

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Metric -> (b,) values for the resamples whose video multiplicities are the rows of ``w``."""
        w = np.atleast_2d(np.asarray(w, dtype=np.float64))
        block = max(1, _BLOCK_CELLS // (3 * self.ranks.k + 1))
        parts = [self._block(w[i:i + block]) for i in range(0, w.shape[0], block)]
        return {m: np.concatenate([p[m] for p in parts]) for m in self.metrics}

    def _block(self, w: np.ndarray) -> dict[str, np.ndarray]:
        out = dict.fromkeys(self.metrics, None)
        micro = [m for m in ("auc_micro", "ap", "pr_auc") if m in self.metrics]
        pairs = self.ranks.pairs is not None
        if micro == ["auc_micro"] and pairs:
            out["auc_micro"] = self.ranks.auc_pairs(w)
        elif micro:
            out.update(self.ranks.micro(w, micro))
        nan = np.full(w.shape[0], np.nan)
        if "auc_abnormal" in self.metrics:
            if self.abnormal is None:
                out["auc_abnormal"] = nan
            elif pairs:
                out["auc_abnormal"] = self.ranks.auc_pairs(w * self.abnormal)
            else:
                out["auc_abnormal"] = self.ranks.micro(w * self.abnormal, ("auc_micro",))["auc_micro"]
        if self.video_auc is not None:
            ok = ~np.isnan(self.video_auc)
            a = np.where(ok, self.video_auc, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                if "auc_macro" in self.metrics:
                    out["auc_macro"] = (w @ a) / (w @ ok)
                if "auc_abnormal_macro" in self.metrics:
                    if self.abnormal is None:
                        out["auc_abnormal_macro"] = nan
                    else:
                        sel = ok & self.abnormal
                        out["auc_abnormal_macro"] = (w @ (a * sel)) / (w @ sel)
        one_class = ((w @ self.ranks.n_pos) == 0) | ((w @ self.ranks.n_neg) == 0)
        for m in self.metrics:  # like evaluate(): a resample holding a single class has no metric at all
            out[m][one_class] = np.nan
        return out  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------------------
# intervals


def _check_options(n_resamples: int, level: float, method: str) -> None:
    if method not in CI_METHODS:
        raise ConfigError(f"interval method {method!r} unknown; allowed: {', '.join(CI_METHODS)}")
    if not 0 < level < 1:
        raise ConfigError(f"confidence level must lie in (0, 1); found {level}")
    if int(n_resamples) < 2:
        raise ConfigError(f"the bootstrap needs at least 2 resamples; found {n_resamples}")


def percentile_interval(reps: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The (1 - level)/2 and (1 + level)/2 quantiles of the finite replicates (linear interpolation).

    >>> [round(x, 6) for x in percentile_interval(np.arange(101.0), 0.9)]
    [5.0, 95.0]
    """
    x = reps[np.isfinite(reps)]
    if not x.size:
        return math.nan, math.nan
    lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bca_interval(
    reps: np.ndarray, estimate: float, jackknife: np.ndarray, level: float = DEFAULT_LEVEL
) -> tuple[float, float]:
    """Bias-corrected and accelerated interval (Efron 1987): bias z0 from the share of replicates below the
    estimate (ties count half), acceleration from the leave-one-video-out jackknife values.

    >>> rng = np.random.default_rng(0)
    >>> lo, hi = bca_interval(rng.normal(0, 1, 2000), 0.0, rng.normal(0, 0.05, 30))
    >>> -2.2 < lo < -1.8 and 1.8 < hi < 2.2
    True
    """
    x = reps[np.isfinite(reps)]
    jk = jackknife[np.isfinite(jackknife)]
    if not x.size or not math.isfinite(estimate):
        return math.nan, math.nan
    nd = NormalDist()
    share = (np.count_nonzero(x < estimate) + 0.5 * np.count_nonzero(x == estimate)) / x.size
    share = min(max(share, 0.5 / x.size), 1 - 0.5 / x.size)
    z0 = nd.inv_cdf(share)
    d = jk.mean() - jk if jk.size else np.zeros(1)
    den = 6.0 * float((d**2).sum()) ** 1.5
    a = float((d**3).sum()) / den if den > 0 else 0.0
    qs = []
    for alpha in ((1 - level) / 2, (1 + level) / 2):
        z = nd.inv_cdf(alpha)
        qs.append(nd.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    lo, hi = np.quantile(x, qs)
    return float(lo), float(hi)


def jackknife_weights(n_videos: int) -> np.ndarray:
    """Leave-one-video-out multiplicities: row i holds every video once except video i.

    >>> jackknife_weights(3).tolist()
    [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    return 1.0 - np.eye(n_videos)


@dataclasses.dataclass
class Bootstrap:
    """Point estimates, interval bounds and replicates per metric (fractions), and how they were drawn."""

    estimate: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    replicates: dict[str, np.ndarray]
    n_resamples: int
    seed: int
    level: float
    method: str
    n_videos: int

    def row_fields(self) -> dict[str, Any]:
        """The result-row cells: ``<metric>_ci_low`` / ``_ci_high`` (finite bounds only), ``ci_resamples``,
        ``ci_seed``, ``ci_method`` and ``ci_level``."""
        out: dict[str, Any] = {}
        for m in self.estimate:
            lo, hi = self.low[m], self.high[m]
            if math.isfinite(lo) and math.isfinite(hi):
                out.update(zip(ci_columns(m), (lo, hi), strict=True))
        out.update(
            ci_resamples=self.n_resamples, ci_seed=self.seed, ci_method=self.method, ci_level=self.level)
        return out


def _intervals(
    rep: Replicator, estimate: dict[str, float], reps: dict[str, np.ndarray], level: float, method: str
) -> tuple[dict[str, float], dict[str, float]]:
    jack = rep(jackknife_weights(rep.n_videos)) if method == "bca" else {}
    low, high = {}, {}
    for m, x in reps.items():
        if method == "bca":
            low[m], high[m] = bca_interval(x, estimate[m], jack[m], level)
        else:
            low[m], high[m] = percentile_interval(x, level)
        undefined = int(np.count_nonzero(~np.isfinite(x)))
        if math.isfinite(estimate[m]) and undefined > 0.01 * x.size:
            warnings.warn(
                f"bootstrap: {m} is undefined in {undefined} of {x.size} resamples (a single class); the "
                "interval uses the others", stacklevel=3)
    return low, high


def bootstrap(
    labels: Any,
    scores: Any,
    lengths: Any,
    *,
    video_labels: Any = None,
    one_class: str = "skip",
    abnormal_def: str = "video_label",
    metrics: Sequence[str] = CI_METRICS,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    method: str = "percentile",
) -> Bootstrap:
    """Video-bootstrap confidence intervals of the AUC / AP metrics (concatenated labels, scores, lengths).

    The estimate of each metric is the metric on all videos (equal to :func:`vadbench.metrics.evaluate`);
    the interval is the percentile (default) or BCa interval of ``n_resamples`` resamples of the videos drawn
    by :func:`resample_indices` with ``seed``. Metrics undefined on the data (e.g. ``auc_abnormal`` without
    video labels) get NaN bounds.

    >>> import numpy as np
    >>> b = bootstrap([0, 1, 1, 0, 0, 1], [.1, .8, .6, .3, .2, .9], [2, 2, 2], metrics=("auc_micro",),
    ...               n_resamples=50)
    >>> b.estimate, b.n_resamples
    ({'auc_micro': 1.0}, 50)
    """
    _check_options(n_resamples, level, method)
    rep = Replicator(labels, scores, lengths, video_labels=video_labels, one_class=one_class,
                     abnormal_def=abnormal_def, metrics=metrics)
    estimate = {m: float(v[0]) for m, v in rep(np.ones((1, rep.n_videos))).items()}
    w = multiplicities(resample_indices(rep.n_videos, int(n_resamples), int(seed)), rep.n_videos)
    reps = rep(w)
    low, high = _intervals(rep, estimate, reps, level, method)
    return Bootstrap(
        estimate, low, high, reps, int(n_resamples), int(seed), float(level), method, rep.n_videos)


# ----------------------------------------------------------------------------------------------------------
# paired comparison


@dataclasses.dataclass
class Paired:
    """The paired video bootstrap of A − B for one metric (fractions). With several seeds per side the
    difference is between seed means; ``seeds_*`` are the per-seed estimates on all videos."""

    metric: str
    a: float
    b: float
    diff: float
    low: float
    high: float
    p_value: float
    sd_videos: float
    seeds_a: list[float]
    seeds_b: list[float]

    @property
    def sd_seeds(self) -> float:
        """Standard error of the seed-mean difference from the seed spread (NaN with one seed per side)."""
        terms = [np.var(x, ddof=1) / len(x) for x in (self.seeds_a, self.seeds_b) if len(x) > 1]
        return math.sqrt(sum(terms)) if terms else math.nan

    @property
    def dominant(self) -> str:
        """``videos`` or ``seeds``: which source moves the difference more (``videos`` with one seed)."""
        return "seeds" if math.isfinite(self.sd_seeds) and self.sd_seeds > self.sd_videos else "videos"


def p_value(diffs: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "no difference": twice the smaller share of replicates on either side
    of 0 (ties with 0 count on both sides), each share as (count + 1) / (B + 1); at most 1.

    >>> p_value(np.array([0.1, 0.2, 0.3, -0.1]))
    0.8
    """
    x = diffs[np.isfinite(diffs)]
    if not x.size:
        return math.nan
    le = (np.count_nonzero(x <= 0) + 1) / (x.size + 1)
    ge = (np.count_nonzero(x >= 0) + 1) / (x.size + 1)
    return float(min(1.0, 2 * min(le, ge)))


def paired_bootstrap(
    labels: Any,
    scores_a: Sequence[Any],
    scores_b: Sequence[Any],
    lengths: Any,
    *,
    video_labels: Any = None,
    one_class: str = "skip",
    abnormal_def: str = "video_label",
    metrics: Sequence[str] = ("auc_micro", "ap"),
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    method: str = "percentile",
) -> dict[str, Paired]:
    """Paired bootstrap of method A against B on the same frames: every resample draws the same videos for
    both, so the spread of A − B reflects only what the choice of test videos does to the difference.

    ``scores_a`` / ``scores_b`` are lists of concatenated score arrays, one per seed (a single seed: a list of
    one). The difference is mean over A's seeds minus mean over B's seeds, per resample.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(np.arange(30) % 2, 20)
    >>> out = paired_bootstrap(y, [y + rng.normal(0, .5, y.size)], [y + rng.normal(0, 2, y.size)],
    ...                        np.full(30, 20), metrics=("auc_micro",), n_resamples=300)
    >>> out["auc_micro"].diff > 0 and out["auc_micro"].p_value < 0.05
    True
    """
    _check_options(n_resamples, level, method)
    if not scores_a or not scores_b:
        raise ConfigError("paired bootstrap: each side needs at least one score array")
    kw = dict(video_labels=video_labels, one_class=one_class, abnormal_def=abnormal_def, metrics=metrics)
    reps_a = [Replicator(labels, s, lengths, **kw) for s in scores_a]
    reps_b = [Replicator(labels, s, lengths, **kw) for s in scores_b]
    n_videos = reps_a[0].n_videos
    ones = np.ones((1, n_videos))
    w = multiplicities(resample_indices(n_videos, int(n_resamples), int(seed)), n_videos)
    jack = jackknife_weights(n_videos) if method == "bca" else None

    def side(reps: list[Replicator], weights: np.ndarray) -> dict[str, np.ndarray]:
        vals = [r(weights) for r in reps]
        return {m: np.mean([v[m] for v in vals], axis=0) for m in metrics}

    est_a = [{m: float(v[0]) for m, v in r(ones).items()} for r in reps_a]
    est_b = [{m: float(v[0]) for m, v in r(ones).items()} for r in reps_b]
    ra, rb = side(reps_a, w), side(reps_b, w)
    ja, jb = (side(reps_a, jack), side(reps_b, jack)) if jack is not None else ({}, {})
    out = {}
    for m in metrics:
        a = float(np.mean([e[m] for e in est_a]))
        b = float(np.mean([e[m] for e in est_b]))
        d = ra[m] - rb[m]
        if method == "bca":
            lo, hi = bca_interval(d, a - b, ja[m] - jb[m], level)
        else:
            lo, hi = percentile_interval(d, level)
        fin = d[np.isfinite(d)]
        out[m] = Paired(
            metric=m, a=a, b=b, diff=a - b, low=lo, high=hi, p_value=p_value(d),
            sd_videos=float(np.std(fin, ddof=1)) if fin.size > 1 else math.nan,
            seeds_a=[e[m] for e in est_a], seeds_b=[e[m] for e in est_b],
        )
    return out


# ----------------------------------------------------------------------------------------------------------
# the runner's hook


def run_intervals(
    protocol: Any,
    scores: Mapping[str, Any],
    labels: Mapping[str, Any],
    video_labels: Mapping[str, int] | None = None,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    method: str = "percentile",
    frames_path: Any = None,
    n_frames: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The interval cells of a result row for per-video ``scores`` / ``labels`` under ``protocol``.

    Applies the protocol (:func:`vadbench.protocol.apply`), bootstraps every AUC / AP metric over the test
    videos and returns :meth:`Bootstrap.row_fields`. With ``frames_path`` it also writes the aligned frames
    (``labels``, ``scores``, ``lengths``, ``videos``, ``video_labels``) there, atomically, for
    ``vadbench compare``.

    >>> import numpy as np
    >>> s = {"a": np.array([.1, .9, .8]), "b": np.array([.2, .1, .3]), "c": np.array([.7, .2, .1])}
    >>> y = {"a": np.array([0, 1, 1]), "b": np.array([0, 0, 0]), "c": np.array([1, 0, 0])}
    >>> cells = run_intervals("ped2/official", s, y, n_resamples=20)
    >>> cells["ci_resamples"], cells["ci_method"], "auc_micro_ci_low" in cells
    (20, 'percentile', True)
    """
    from vadbench.protocol import _as_protocol, apply

    p = _as_protocol(protocol)
    aligned = apply(p, scores, labels, n_frames)
    vl = None
    if video_labels is not None:
        vl = np.array([int(video_labels[v]) for v in labels])
    if frames_path is not None:
        save_frames(frames_path, aligned, vl)
    result = bootstrap(
        aligned.labels, aligned.scores, aligned.lengths, video_labels=vl, one_class=p.auc_macro_rule,
        abnormal_def=p.abnormal_def, n_resamples=n_resamples, seed=seed, level=level, method=method,
    )
    return result.row_fields()


#: The file in a run folder holding the aligned test frames (written by :func:`run_intervals`).
FRAMES_FILE = "frames.npz"


def save_frames(path: Any, aligned: Any, video_labels: np.ndarray | None) -> None:
    """Write aligned frames (``vadbench.protocol.Aligned``) and video labels to ``path`` atomically."""
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        arrays = dict(labels=np.asarray(aligned.labels), scores=np.asarray(aligned.scores),
                      lengths=np.asarray(aligned.lengths), videos=np.asarray(aligned.videos, dtype=str))
        if video_labels is not None:
            arrays["video_labels"] = np.asarray(video_labels)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
