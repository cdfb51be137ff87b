"""VadCLIP speed at UCF-Crime scale on CPU (make bench): one training step and the scoring of one video.

Setting: full-size ViT-B/16 text tower with random weights (open_clip, nothing downloaded), D = 512,
14 classes,
64 normal + 64 abnormal videos of 256 snippets per step, the official UCF configuration and the same losses.
Reference (official implementation, 2-core CPU): about 40 s per step (18 s forward, 22 s backward) and
1.2 s to
score one 2,000-snippet video. Target: 0.7x of that or better. An epoch is 125 steps with the official 10-crop
list (16,100 rows) or 12 steps with one crop per video (1,610 videos); both are extrapolated from the step
time.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from vadbench.methods.base import FeatureSample

REF_STEP_S, REF_FORWARD_S, REF_BACKWARD_S, REF_SCORE_S = 40.0, 18.0, 22.0, 1.2
STEPS_10CROP, STEPS_1CROP = 125, 12  # min(8000//64, 8100//64); min(800//64, 810//64)


@pytest.fixture(scope="module")
def ucf_method():
    from vadbench.methods.vadclip import VadCLIP

    m = VadCLIP({"clip_model": "ViT-B-16", "clip_pretrained": None, "epochs": 1}, seed=0)
    m.progress = False
    m._ensure_model()
    return m


def _batch(rng, n_normal=64, n_abnormal=64, t=256, d=512):
    from vadbench.methods.vadclip.classes import UCF_CRIME_CLASSES

    out = [
        FeatureSample(f"n{i}", rng.normal(size=(t, d)).astype(np.float32), label=0) for i in range(n_normal)
    ]
    out += [
        FeatureSample(
            f"a{i}",
            rng.normal(size=(t, d)).astype(np.float32),
            label=1,
            classes=(UCF_CRIME_CLASSES[1 + i % 13],),
        )
        for i in range(n_abnormal)
    ]
    return out


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _cpu_s() -> float:
    """CPU seconds of this process (user + system): on a shared machine, CPU / threads estimates the wall time
    of an idle one."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@pytest.mark.bench
def test_bench_vadclip_train_step(benchmark, ucf_method):
    import torch

    from vadbench.methods.vadclip.lengths import process_batch
    from vadbench.methods.vadclip.losses import vadclip_loss

    samples = _batch(np.random.default_rng(0))
    # forward / backward breakdown of one step (same code path as fit)
    model = ucf_method.model
    model.train()
    x, lengths = process_batch([s.features for s in samples], 256)
    labels = torch.zeros(128, 14)
    labels[:64, 0] = 1
    labels[torch.arange(64, 128), 1 + torch.arange(64) % 13] = 1
    t0, c0 = time.perf_counter(), _cpu_s()
    out = model(torch.from_numpy(x), torch.from_numpy(lengths))
    loss = vadclip_loss(*out, labels, torch.from_numpy(lengths), 0.1)["loss"]
    t1, c1 = time.perf_counter(), _cpu_s()
    loss.backward()
    t2, c2 = time.perf_counter(), _cpu_s()
    model.zero_grad(set_to_none=True)
    forward, backward = t1 - t0, t2 - t1
    threads = torch.get_num_threads()

    def step():
        ucf_method.fit(samples)  # epochs=1, 64 + 64 samples -> exactly one optimisation step

    c3 = _cpu_s()
    benchmark.pedantic(step, rounds=2, iterations=1, warmup_rounds=0)
    step_cpu = (_cpu_s() - c3) / 2
    step_s = benchmark.stats.stats.min if benchmark.stats else ucf_method.fit_info["fit_s"]
    assert ucf_method.history[-1]["steps"] == 1
    print(
        f"\nVadCLIP UCF step: {step_s:.2f} s (ratio {step_s / REF_STEP_S:.2f} of the official 40 s); "
        f"forward {forward:.2f} s ({forward / REF_FORWARD_S:.2f} of 18 s), backward {backward:.2f} s "
        f"({backward / REF_BACKWARD_S:.2f} of 22 s); epoch ~{step_s * STEPS_10CROP / 60:.1f} min "
        f"(125 steps, 10 crops) / ~{step_s * STEPS_1CROP / 60:.1f} min (12 steps, 1 crop); {_load()}\n"
        f"  CPU time: step {step_cpu:.1f} s, forward {c1 - c0:.1f} s, backward {c2 - c1:.1f} s on {threads} "
        f"threads -> idle-machine estimate {step_cpu / threads:.1f} s per step "
        f"(ratio {step_cpu / threads / REF_STEP_S:.2f})"
    )


@pytest.mark.bench
def test_bench_vadclip_score_video(benchmark, ucf_method):
    video = FeatureSample("long", np.random.default_rng(1).normal(size=(2000, 512)).astype(np.float32))
    ucf_method.score(video)  # warm: text features cached once per weights version

    def score():
        ucf_method._out_cache = None  # score from scratch (the output cache only serves score_outputs)
        return ucf_method.score(video)

    scores = benchmark.pedantic(score, rounds=3, iterations=1, warmup_rounds=0)
    assert scores.shape == (2000,)
    t = benchmark.stats.stats.min if benchmark.stats else None
    if t is None:
        t0 = time.perf_counter()
        score()
        t = time.perf_counter() - t0
    print(
        f"\nVadCLIP score of a 2,000-snippet video: {t:.3f} s (ratio {t / REF_SCORE_S:.2f} of the official "
        f"1.2 s); {_load()}"
    )
