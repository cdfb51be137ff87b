"""Speed: ``vadbench.metrics.evaluate`` (every key) against scikit-learn's ``roc_auc_score`` +
``average_precision_score`` on UCF-Crime-scale arrays: 1,114,144 frames in 290 videos (the size of the
``rtfm`` convention), snippet scores repeated x16 as methods produce them. Budget: at most one third of
scikit-learn's time. A second case with 1,114,144 distinct float64 scores is a stress test.

Run with ``make bench`` (``pytest -m bench --benchmark-enable``); the ratio is printed either way.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from vadbench.metrics import METRIC_KEYS, evaluate

N_FRAMES = 1_114_144
N_VIDEOS = 290
N_ABNORMAL = 140
#: The issue's budget: evaluate must take at most this fraction of scikit-learn's time.
MAX_RATIO = 1 / 3


def ucf_scale(distinct_float64: bool = False) -> dict:
    """Seeded UCF-like arrays: video lengths multiple of 16 summing to 1,114,144, 140 abnormal videos."""
    rng = np.random.default_rng(0)
    w = rng.gamma(1.5, size=N_VIDEOS)
    snippets = np.maximum(1, np.floor(w / w.sum() * (N_FRAMES // 16))).astype(np.int64)
    snippets[np.argmax(snippets)] += N_FRAMES // 16 - snippets.sum()
    lengths = snippets * 16
    labels = np.zeros(N_FRAMES, dtype=np.float64)  # RTFM's gt-ucf.npy is float64
    off = 0
    for v, n in enumerate(lengths):
        if v < N_ABNORMAL:
            a = int(rng.integers(0, n // 2 + 1))
            labels[off + a: off + a + max(16, n // 5)] = 1
        off += n
    snip_label = labels.reshape(-1, 16).max(axis=1)
    snip = np.clip(rng.normal(0.3 + 0.4 * snip_label, 0.2), 0, 1).astype(np.float32)
    scores = rng.random(N_FRAMES) if distinct_float64 else np.repeat(snip, 16)
    return {"labels": labels, "scores": scores, "lengths": lengths,
            "video_labels": (np.arange(N_VIDEOS) < N_ABNORMAL).astype(int)}


def _ours(d: dict) -> dict:
    return evaluate(d["labels"], d["scores"], d["lengths"], one_class="pad01", video_labels=d["video_labels"])


def _sklearn(d: dict) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return roc_auc_score(d["labels"], d["scores"]), average_precision_score(d["labels"], d["scores"])


def _ratio(d: dict, rounds: int = 5) -> tuple[float, float]:
    """Best-of-``rounds`` times of both sides, interleaved so that load on the machine hits both alike."""
    ours, ref = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        _ours(d)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        _sklearn(d)
        ref.append(time.perf_counter() - t)
    return min(ours), min(ref)


@pytest.mark.bench
@pytest.mark.parametrize("case", ["repeat16_float32", "distinct_float64"])
def test_bench_evaluate_vs_sklearn(benchmark, case: str) -> None:
    d = ucf_scale(distinct_float64=case == "distinct_float64")
    m = benchmark.pedantic(_ours, args=(d,), rounds=3, iterations=1)
    assert set(m) == set(METRIC_KEYS)
    auc, ap = _sklearn(d)
    assert abs(m["auc_micro"] - auc) < 1e-9 and abs(m["ap"] - ap) < 1e-9
    t_ours, t_ref = _ratio(d)
    ratio = t_ours / t_ref
    print(f"\nevaluate ({case}, {N_FRAMES:,} frames, {N_VIDEOS} videos, all keys): {t_ours * 1e3:.0f} ms; "
          f"sklearn roc_auc_score + average_precision_score: {t_ref * 1e3:.0f} ms; ratio {ratio:.3f} "
          f"(budget {MAX_RATIO:.3f})")
    if case == "repeat16_float32":
        assert ratio <= MAX_RATIO
    else:  # stress case: no per-video speed-up from ties; still well under scikit-learn
        assert ratio <= 0.75
