"""Speed: the video bootstrap (``vadbench.bootstrap``), 1,000 resamples of ``auc_micro`` and ``ap`` together
at UCF-Crime scale (1,114,144 frames, 290 videos), side by side with one exact evaluation
(``vadbench.metrics.evaluate`` on the pooled frames) and with the naive loop (concatenate the drawn videos and
evaluate, per resample; timed on a few resamples and scaled to 1,000). Budget: 20x one exact evaluation.

How the per-video structure is used: the distinct abnormal scores fix one global rank order; each video is a
sparse histogram over it (abnormal frames per rank, normal frames tied with / below each rank), built once
with ties resolved as the exact scorer does. A resample is a vector of video multiplicities, so a block of
resamples is one sparse product (multiplicities x histograms) followed by cumulative sums over the ranks:
weighted TP / FP at every threshold. The work per resample is the number of non-empty (video, rank) cells
(about one per 16-frame snippet for snippet scores) plus the number of distinct abnormal scores; no resample
sorts or touches frames.

Run with ``make bench`` (``pytest -m bench --benchmark-enable``); the ratios are printed either way.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.bench.test_bench_metrics import N_FRAMES, N_VIDEOS, ucf_scale
from vadbench.bootstrap import Replicator, bootstrap, multiplicities, resample_indices
from vadbench.metrics import evaluate

N_RESAMPLES = 1000
#: The issue's budget: 1,000 resamples within this many exact evaluations.
MAX_RATIO = 20.0
METRICS = ("auc_micro", "ap")


def _exact(d: dict) -> dict:
    return evaluate(d["labels"], d["scores"])


def _bootstrap(d: dict):
    return bootstrap(d["labels"], d["scores"], d["lengths"], metrics=METRICS, n_resamples=N_RESAMPLES, seed=0)


def _naive(d: dict, n: int) -> tuple[float, list[dict]]:
    """Seconds per resample of the loop: concatenate the drawn videos, evaluate."""
    idx = resample_indices(N_VIDEOS, n, 0)
    offsets = np.r_[0, np.cumsum(d["lengths"])]
    out = []
    t = time.perf_counter()
    for drawn in idx:
        y = np.concatenate([d["labels"][offsets[v]:offsets[v + 1]] for v in drawn])
        s = np.concatenate([d["scores"][offsets[v]:offsets[v + 1]] for v in drawn])
        out.append(evaluate(y, s))
    return (time.perf_counter() - t) / n, out


def _best(fn, *args, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return min(times)


@pytest.mark.bench
@pytest.mark.parametrize("case", ["repeat16_float32", "distinct_float64"])
def test_bench_bootstrap_vs_exact_evaluation(benchmark, case: str) -> None:
    d = ucf_scale(distinct_float64=case == "distinct_float64")
    result = benchmark.pedantic(_bootstrap, args=(d,), rounds=1, iterations=1)
    per_naive, naive = _naive(d, 3)
    for b, ref in enumerate(naive):  # same seed, same resamples: identical values
        for m in METRICS:
            assert abs(result.replicates[m][b] - ref[m]) < 1e-9
    t_exact = _best(_exact, d)
    t_boot = _best(_bootstrap, d, rounds=2 if case == "repeat16_float32" else 1)
    rep = Replicator(d["labels"], d["scores"], d["lengths"], metrics=METRICS)
    w = multiplicities(resample_indices(N_VIDEOS, 10, 0), N_VIDEOS)
    ratio, naive_ratio = t_boot / t_exact, per_naive * N_RESAMPLES / t_exact
    print(
        f"\nbootstrap ({case}, {N_FRAMES:,} frames, {N_VIDEOS} videos, {rep.ranks.n_cells:,} (video, rank) "
        f"cells, {rep.ranks.k:,} distinct abnormal scores): {N_RESAMPLES} resamples of {'+'.join(METRICS)} "
        f"{t_boot:.2f} s; one exact evaluation {t_exact * 1e3:.0f} ms; ratio {ratio:.1f}x (budget "
        f"{MAX_RATIO:.0f}x); naive loop {per_naive * 1e3:.0f} ms per resample = {naive_ratio:.0f}x"
    )
    assert np.isfinite(rep(w)["ap"]).all()
    if case == "repeat16_float32":
        assert ratio <= MAX_RATIO
    else:  # stress case: every frame its own rank, nothing for the histograms to merge
        assert ratio < naive_ratio / 5
