"""CBCG speed at UCF-Crime scale on CPU (make bench): one training step of b = 32 normal + 32 abnormal
videos, S = 32 segments of 2048-d I3D features (the code defaults of spec table 5.8), and the scoring of one
long video.

There is no official implementation to compare with (spec 7); the figures are printed for the card. An epoch
with RTFM's 10-crop list is min(8000, 8100) // 32 = 250 steps; with one crop per video 25 steps.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from vadbench.methods.base import FeatureSample

STEPS_10CROP, STEPS_1CROP = 250, 25


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


@pytest.fixture(scope="module")
def ucf_batch():
    rng = np.random.default_rng(0)
    return [
        FeatureSample(f"v{i}", rng.normal(size=(32, 2048)).astype(np.float32), label=int(i >= 32))
        for i in range(64)
    ]


@pytest.mark.bench
def test_bench_cbcg_train_step(benchmark, ucf_batch):
    from vadbench.methods.cbcg import CBCG

    method = CBCG({"epochs": 1, "feature_dim": 2048}, seed=0)  # b = 32 + 32, S = 32: one step per epoch
    method.progress = False

    def step():
        method.fit(ucf_batch)

    benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    assert [h["steps"] for h in method.history] == [1]
    assert {"mil", "clu", "pull_normal", "separate"} <= set(method.history[0])
    t = benchmark.stats.stats.min if benchmark.stats else method.fit_info["fit_s"]
    print(
        f"\nCBCG UCF-scale step (b=32+32, S=32, d=2048, fit() incl. resampling): {t:.3f} s; epoch ~"
        f"{t * STEPS_10CROP / 60:.1f} min (10 crops, 250 steps) / ~{t * STEPS_1CROP:.0f} s (1 crop); "
        f"{_load()}"
    )


@pytest.mark.bench
def test_bench_cbcg_score_video(benchmark, ucf_batch):
    from vadbench.methods.cbcg import CBCG

    method = CBCG({"epochs": 1, "feature_dim": 2048}, seed=0)
    method.progress = False
    method.fit(ucf_batch)
    video = FeatureSample("long", np.random.default_rng(1).normal(size=(2000, 2048)).astype(np.float32))
    scores = benchmark.pedantic(lambda: method.score(video), rounds=3, iterations=1, warmup_rounds=1)
    assert scores.shape == (2000,)
    t = benchmark.stats.stats.min if benchmark.stats else None
    if t is None:
        t0 = time.perf_counter()
        method.score(video)
        t = time.perf_counter() - t0
    print(f"\nCBCG score of a 2,000-snippet 2048-d video: {t:.3f} s; {_load()}")
