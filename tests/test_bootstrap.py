"""The video bootstrap (vadbench.bootstrap): every replicate equals the exact scorer on the resampled videos
(a slow reference bootstrap with the same seed), percentile and BCa bounds match a literal reference, the 95 %
interval covers the true AUC of a known generating model in 95 ± 3 % of 400 replicates, and the paired test
rejects a true null in 5 ± 2 % of 400 replicates."""

from __future__ import annotations

import doctest
import math
import warnings
from statistics import NormalDist

import numpy as np
import pytest
from scipy.stats import norm

from vadbench import bootstrap as bs
from vadbench.errors import ConfigError, ScoreError
from vadbench.metrics import evaluate, video_aucs

RULES = ("skip", "pad01", "pad_if_one_class", "flip_first")


def small_case(seed: int, n_videos: int = 14, ties: bool = True):
    """Small data with ties, one-class videos of both kinds, and video labels."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 18, n_videos)
    y = (rng.random(lengths.sum()) < 0.35).astype(int)
    offsets = np.r_[0, np.cumsum(lengths)]
    y[offsets[0]:offsets[1]] = 1  # an all-abnormal video
    y[offsets[1]:offsets[2]] = 0  # an all-normal one
    s = rng.random(lengths.sum())
    if ties:
        s = np.round(s, 1)
    s = np.clip(s + 0.25 * y, 0, 1)
    vl = (rng.random(n_videos) < 0.5).astype(int)
    return y, s, lengths, vl


def reference_replicates(y, s, lengths, vl, rule, n_resamples, seed, metrics):
    """The slow bootstrap: concatenate the drawn videos and call the exact scorer, one resample at a time."""
    idx = bs.resample_indices(len(lengths), n_resamples, seed)
    offsets = np.r_[0, np.cumsum(lengths)]
    out = {m: np.full(n_resamples, np.nan) for m in metrics}
    for b, drawn in enumerate(idx):
        yy = np.concatenate([y[offsets[v]:offsets[v + 1]] for v in drawn])
        ss = np.concatenate([s[offsets[v]:offsets[v + 1]] for v in drawn])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = evaluate(yy, ss, lengths[drawn], video_labels=vl[drawn], one_class=rule)
        except ScoreError:  # a single class in this resample: every pooled metric undefined
            if yy.min() == yy.max():
                continue
            raise
        for key in metrics:
            out[key][b] = m[key]
    return out


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    np.testing.assert_allclose(a[ok], b[ok], rtol=0, atol=1e-12)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("seed", [0, 1])
def test_replicates_equal_the_slow_reference_bootstrap(rule, seed):
    y, s, lengths, vl = small_case(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = bs.bootstrap(y, s, lengths, video_labels=vl, one_class=rule, n_resamples=60, seed=seed + 7)
    ref = reference_replicates(y, s, lengths, vl, rule, 60, seed + 7, bs.CI_METRICS)
    for m in bs.CI_METRICS:
        _same(got.replicates[m], ref[m])
    exact = evaluate(y, s, lengths, video_labels=vl, one_class=rule)
    for m in bs.CI_METRICS:
        assert got.estimate[m] == pytest.approx(exact[m], abs=1e-12)


def test_distinct_float64_scores_and_gt_positive():
    y, s, lengths, vl = small_case(3, ties=False)
    got = bs.bootstrap(y, s, lengths, abnormal_def="gt_positive", n_resamples=40, seed=2)
    pos = np.add.reduceat(y, np.r_[0, np.cumsum(lengths)[:-1]]) > 0
    ref = reference_replicates(y, s, lengths, pos.astype(int), "skip", 40, 2, bs.CI_METRICS)
    for m in bs.CI_METRICS:
        _same(got.replicates[m], ref[m])


def test_pairs_route_equals_rank_route():
    """auc_micro alone goes through the video-pair matrix U; with AP it goes through the rank histograms."""
    y, s, lengths, vl = small_case(4)
    w = bs.multiplicities(bs.resample_indices(len(lengths), 50, 0), len(lengths))
    ranks = bs.VideoRanks(y, s, lengths)
    _same(ranks.auc_pairs(w), ranks.micro(w, ("auc_micro",))["auc_micro"])


def test_video_aucs_are_the_terms_of_auc_macro():
    y, s, lengths, _ = small_case(5)
    for rule in RULES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = video_aucs(y, s, lengths, rule)
            m = evaluate(y, s, lengths, one_class=rule)
        assert np.nanmean(a) == pytest.approx(m["auc_macro"], abs=1e-12)


def _reference_percentile(x, level):
    x = np.sort(x[np.isfinite(x)])
    return tuple(np.quantile(x, [(1 - level) / 2, (1 + level) / 2]))


def _reference_bca(x, theta, jack, level):
    """Efron & Tibshirani (1993), eq. 14.10-14.15, written out with scipy.stats.norm."""
    z0 = norm.ppf((np.sum(x < theta) + 0.5 * np.sum(x == theta)) / len(x))
    d = jack.mean() - jack
    a = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    z = norm.ppf([(1 - level) / 2, (1 + level) / 2])
    q = norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    return tuple(np.quantile(x, q))


@pytest.mark.parametrize("method", bs.CI_METHODS)
def test_interval_bounds_match_a_literal_reference(method):
    y, s, lengths, vl = small_case(6, n_videos=30)
    metrics = ("auc_micro", "ap", "auc_macro")
    got = bs.bootstrap(y, s, lengths, video_labels=vl, metrics=metrics, n_resamples=300, seed=11,
                       method=method, level=0.9)
    ref = reference_replicates(y, s, lengths, vl, "skip", 300, 11, metrics)
    for m in metrics:
        if method == "percentile":
            lo, hi = _reference_percentile(ref[m], 0.9)
        else:  # jackknife: leave each video out, exact scorer
            offsets = np.r_[0, np.cumsum(lengths)]
            jack = []
            for v in range(len(lengths)):
                keep = np.r_[0:v, v + 1:len(lengths)]
                yy = np.concatenate([y[offsets[i]:offsets[i + 1]] for i in keep])
                ss = np.concatenate([s[offsets[i]:offsets[i + 1]] for i in keep])
                jack.append(evaluate(yy, ss, lengths[keep], video_labels=vl[keep])[m])
            lo, hi = _reference_bca(ref[m], got.estimate[m], np.array(jack), 0.9)
        assert (got.low[m], got.high[m]) == pytest.approx((lo, hi), abs=1e-12)
        assert got.low[m] <= got.high[m]


def test_row_fields_and_seed_reproducibility():
    y, s, lengths, vl = small_case(7, n_videos=20)
    a = bs.bootstrap(y, s, lengths, video_labels=vl, n_resamples=100, seed=3)
    b = bs.bootstrap(y, s, lengths, video_labels=vl, n_resamples=100, seed=3)
    c = bs.bootstrap(y, s, lengths, video_labels=vl, n_resamples=100, seed=4)
    assert a.row_fields() == b.row_fields() != c.row_fields()
    row = a.row_fields()
    assert row["ci_resamples"] == 100 and row["ci_seed"] == 3 and row["ci_method"] == "percentile"
    assert row["ci_level"] == 0.95
    for m in bs.CI_METRICS:
        assert row[f"{m}_ci_low"] <= a.estimate[m] <= row[f"{m}_ci_high"]


def test_undefined_metrics_get_no_bounds():
    y, s, lengths, _ = small_case(8)
    row = bs.bootstrap(y, s, lengths, n_resamples=20).row_fields()  # no video labels: no auc_abnormal*
    assert "auc_abnormal_ci_low" not in row and "auc_micro_ci_low" in row


def test_errors_are_clear():
    y, s, lengths, _ = small_case(9)
    with pytest.raises(ConfigError, match="unknown metric"):
        bs.bootstrap(y, s, lengths, metrics=("far",))
    with pytest.raises(ConfigError, match="interval method"):
        bs.bootstrap(y, s, lengths, method="basic")
    with pytest.raises(ConfigError, match="level"):
        bs.bootstrap(y, s, lengths, level=95)
    with pytest.raises(ScoreError, match="lengths"):
        bs.bootstrap(y, s, None)
    with pytest.raises(ScoreError, match="video labels"):
        bs.bootstrap(y, s, lengths, video_labels=[0, 1])


# ------------------------------------------------------------------------------------------------ calibration
# A known generating model: video v has a random level b_v ~ N(0, τ²) shared by its frames, abnormal frames
# (one contiguous event in every other video) add μ, every frame adds noise N(0, σ²). An abnormal and a
# normal frame from different videos differ by N(μ, 2τ² + 2σ²), so the population micro AUC is
# Φ(μ / sqrt(2(τ² + σ²))) (pairs inside one video are a vanishing share of all pairs).

MU, TAU, SIGMA = 1.0, 0.7, 1.0
TRUE_AUC = NormalDist().cdf(MU / math.sqrt(2 * (TAU**2 + SIGMA**2)))
N_REPLICATES, N_VIDEOS = 400, 120


def _world(rng: np.random.Generator):
    lengths = rng.integers(8, 25, N_VIDEOS)
    y = np.zeros(lengths.sum(), dtype=int)
    offsets = np.r_[0, np.cumsum(lengths)]
    for v in range(0, N_VIDEOS, 2):
        n = lengths[v]
        k = rng.integers(2, n - 1)
        start = offsets[v] + rng.integers(0, n - k + 1)
        y[start:start + k] = 1
    signal = np.repeat(rng.normal(0, TAU, N_VIDEOS), lengths) + MU * y
    return y, signal, lengths


def test_percentile_interval_covers_the_true_auc_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = 0
    for r in range(N_REPLICATES):
        y, signal, lengths = _world(rng)
        scores = signal + rng.normal(0, SIGMA, y.size)
        b = bs.bootstrap(y, scores, lengths, metrics=("auc_micro",), n_resamples=1000, seed=r)
        hits += b.low["auc_micro"] <= TRUE_AUC <= b.high["auc_micro"]
    coverage = hits / N_REPLICATES
    print(f"coverage of the 95 % percentile interval: {coverage:.4f} (true AUC {TRUE_AUC:.4f})")
    assert abs(coverage - 0.95) <= 0.03


def test_paired_test_false_positive_rate_is_5_percent():
    rng = np.random.default_rng(1)
    rejections = 0
    for r in range(N_REPLICATES):
        y, signal, lengths = _world(rng)
        a = signal + rng.normal(0, SIGMA, y.size)  # the same model, two independent noise draws
        b = signal + rng.normal(0, SIGMA, y.size)
        out = bs.paired_bootstrap(y, [a], [b], lengths, metrics=("auc_micro",), n_resamples=1000, seed=r)
        rejections += out["auc_micro"].p_value < 0.05
    rate = rejections / N_REPLICATES
    print(f"paired bootstrap false-positive rate at 0.05: {rate:.4f}")
    assert abs(rate - 0.05) <= 0.02


def test_paired_bootstrap_detects_a_real_difference_and_reports_seed_spread():
    rng = np.random.default_rng(2)
    y, signal, lengths = _world(rng)
    good = [signal + 0.5 * y + rng.normal(0, SIGMA, y.size) for _ in range(3)]
    plain = [signal + rng.normal(0, SIGMA, y.size) for _ in range(3)]
    out = bs.paired_bootstrap(y, good, plain, lengths, metrics=("auc_micro", "ap"), n_resamples=500)
    for m in ("auc_micro", "ap"):
        res = out[m]
        assert res.diff > 0 and res.low > 0 and res.p_value < 0.01
        assert len(res.seeds_a) == 3 and res.a == pytest.approx(np.mean(res.seeds_a))
        assert math.isfinite(res.sd_seeds) and res.dominant in ("videos", "seeds")
    same = bs.paired_bootstrap(y, [good[0]], [good[0]], lengths, metrics=("auc_micro",), n_resamples=100)
    assert same["auc_micro"].diff == 0 and same["auc_micro"].p_value == 1.0
    assert same["auc_micro"].dominant == "videos"  # one seed per side: no seed spread


def test_run_intervals_hook_writes_frames(tmp_path):
    rng = np.random.default_rng(3)
    labels = {f"v{i}": (rng.random(20) < 0.3 * (i % 2)).astype(int) for i in range(12)}
    scores = {v: np.clip(0.3 * y + rng.random(20), 0, 1) for v, y in labels.items()}
    vl = {v: int(i % 2) for i, v in enumerate(labels)}
    cells = bs.run_intervals("ped2/official", scores, labels, vl, n_resamples=50, seed=1,
                             frames_path=tmp_path / "frames.npz")
    with np.load(tmp_path / "frames.npz") as z:
        assert z["videos"].tolist() == list(labels) and z["lengths"].sum() == 240
        direct = bs.bootstrap(z["labels"], z["scores"], z["lengths"], video_labels=z["video_labels"],
                              one_class="pad01", n_resamples=50, seed=1).row_fields()  # ped2/official
    assert cells == direct and cells["auc_abnormal_ci_low"] <= cells["auc_abnormal_ci_high"]


def test_module_doctests_pass():
    assert doctest.testmod(bs).failed == 0
