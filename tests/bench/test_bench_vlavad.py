"""VLAVAD speed on CPU (make bench): VLM answers per second and one S3M training step at the paper's size.

S3M step: d 512 (CLIP ViT-B/32 text width), 3 blocks, d_state 16, expand 2, conv 4, batch 256 windows,
10 -> 2 (Ped2 / Avenue) and 20 -> 4 (ShanghaiTech), MSE + SGD step, our scan against transformers'
``MambaMixer`` stack on the same weights (its CPU fallback, as ``MambaModel`` runs without mamba_ssm).
Issue 13 reference (2 cores): transformers 13 s (10 steps) / 71 s (20 steps), a compact hand-written scan
3.9 s. VLM: the tiny random BLIP-2 (architecture of BLIP-2 OPT at toy size; real BLIP-2 is not downloadable
here), greedy, 10 new tokens, batch 8, on 64 crops.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _cpu_s() -> float:
    """CPU seconds of this process (user + system): on a shared machine, CPU time / threads estimates the
    wall time of an idle one."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _step_time(model, l_in: int, p: int, batch: int = 256, d: int = 512, rounds: int = 2) -> float:
    import torch

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, l_in, d, generator=g), torch.randn(batch, p, d, generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        loss = ((model(x) - y) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        best = min(best, time.perf_counter() - t0)
    return best


def _transformers_s3m(ours):
    """The same S3M with transformers' MambaMixer in every block (weights copied)."""
    import copy

    from transformers import MambaConfig
    from transformers.models.mamba.modeling_mamba import MambaMixer

    ref = copy.deepcopy(ours)
    cfg = MambaConfig(hidden_size=512, state_size=16, expand=2, conv_kernel=4, num_hidden_layers=3)
    for i, layer in enumerate(ref.layers):
        mixer = MambaMixer(cfg, i)
        mixer.load_state_dict(layer.mixer.state_dict())
        layer.mixer = mixer
    return ref


@pytest.mark.bench
@pytest.mark.parametrize("window", [(10, 2), (20, 4)], ids=["ped2", "shanghaitech"])
def test_bench_s3m_train_step(benchmark, window):
    import torch

    from vadbench.methods.vlavad.torch_model import S3M

    l_in, p = window
    torch.manual_seed(0)
    ours = S3M(512, n_layers=3, horizon=p)
    ref = _transformers_s3m(ours)
    c0 = _cpu_s()
    t_ref = _step_time(ref, l_in, p, rounds=1)
    c1 = _cpu_s()
    benchmark.pedantic(lambda: _step_time(ours, l_in, p, rounds=1), rounds=2, iterations=1)
    c2 = _cpu_s()
    t_ours = benchmark.stats.stats.min if benchmark.stats else _step_time(ours, l_in, p)
    print(f"\nS3M train step d512 batch 256 {l_in}->{p}: ours {t_ours:.2f} s wall / {(c2 - c1) / 2:.2f} s "
          f"CPU, "
          f"transformers MambaMixer {t_ref:.2f} s wall / {c1 - c0:.2f} s CPU; "
          f"{torch.get_num_threads()} threads; {_load()}")


@pytest.mark.bench
def test_bench_vlm_answers_per_second(benchmark):
    from vadbench.backbones.vlm import tiny_vlm
    from vadbench.methods.vlavad.answers import PROMPT_POOL

    vlm = tiny_vlm("blip2", seed=3)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (int(rng.integers(20, 60)), int(rng.integers(10, 30)), 3), np.uint8)
             for _ in range(64)]
    out = benchmark.pedantic(lambda: vlm.answer(crops, PROMPT_POOL[0], max_new_tokens=10, batch_size=8),
                             rounds=2, iterations=1)
    t = benchmark.stats.stats.min if benchmark.stats else None
    if t is None:
        t0 = time.perf_counter()
        vlm.answer(crops, PROMPT_POOL[0], max_new_tokens=10, batch_size=8)
        t = time.perf_counter() - t0
    assert len(out) == 64
    print(f"\ntiny BLIP-2 VQA: {64 / t:.1f} answers/s (64 crops, batch 8, greedy 10 tokens); {_load()}")
