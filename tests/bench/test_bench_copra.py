"""Speed of COPRA in windows per second: one GRPO training batch and scoring, on CPU with the small generator
on the tiny random Qwen2.5-VL; with a GPU (``VADBENCH_BENCH_DEVICE=cuda``) also the full-size
Qwen2.5-VL-3B architecture, randomly initialised from its config in code (no download).

Run with ``make bench`` (``pytest -m bench --benchmark-enable``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from vadbench.methods.copra.method import Copra, toy_clips_sample
from vadbench.methods.copra.training import grpo_step

SMALL = {
    "backbone": "tiny-chat",
    "width": 64,
    "blocks": 2,
    "heads": 4,
    "segments": 2,
    "chunks": 8,
    "rank": 4,
    "alpha": 8.0,
    "group": 4,
    "max_new_tokens": 16,
    "batch_size": 8,
    "score_batch": 8,
}
DEVICE = os.environ.get("VADBENCH_BENCH_DEVICE", "cpu")


def _video(n_windows: int, size: int = 56, frames: int = 4):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (n_windows * frames, size, size, 3), dtype=np.uint8)
    return toy_clips_sample("bench", arr, window=frames, stride=frames, frames_per_window=frames, label=1)


def _qwen3b_random(device: str):
    """Qwen2.5-VL-3B-Instruct's architecture (config values from its config.json) with random weights, and
    the tiny processor (word-level vocabulary: the sizes that matter for speed are the model's)."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from vadbench.backbones.vlm import _TINY_CHAT_TEMPLATE, VLM, tiny_vlm

    tiny = tiny_vlm("chat", seed=0, system="You are a video surveillance analyst.")
    tok = tiny.tokenizer
    cfg = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": True,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": [16, 24, 24],
            },
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        },
        vision_config={
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [7, 15, 23, 31],
        },
        image_token_id=tiny.model.config.image_token_id,
        video_token_id=tiny.model.config.video_token_id,
        vision_start_token_id=tiny.model.config.vision_start_token_id,
        vision_end_token_id=tiny.model.config.vision_end_token_id,
    )
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration(cfg).to(torch.bfloat16)
    pixels = {"min_pixels": 56 * 56, "max_pixels": 448 * 448}  # <= 448 px per frame (spec 4.2)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(**pixels),
        chat_template=_TINY_CHAT_TEMPLATE,
    )
    return VLM(model, processor, family="chat", device=device, system="You are a video surveillance analyst.")


def _method(cfg, vlm=None):
    m = Copra(cfg, device=DEVICE, seed=0)
    m.vlm = vlm
    m.progress = False
    m.build()
    return m


def _bench(benchmark, m, n_windows: int, label: str, size: int = 56, frames: int = 4) -> None:
    import torch

    video = _video(n_windows, size, frames)
    segs = [(0, k, k % 2) for k in range(m.cfg.batch_size)]
    opt = torch.optim.AdamW(m.adapter.parameters(), lr=m.cfg.lr)

    def train():
        grpo_step(m, [video], segs, opt, seed=0)

    def score():
        m.score(video)

    import time

    t0 = time.perf_counter()
    train()
    t_train = time.perf_counter() - t0
    benchmark.pedantic(score, rounds=2, iterations=1)
    t_score = benchmark.stats.stats.mean if benchmark.stats is not None else float("nan")
    print(
        f"\ncopra {label}: training {m.cfg.batch_size / t_train:.2f} windows/s (G={m.cfg.group}, "
        f"{m.cfg.max_new_tokens} new tokens), inference {n_windows / t_score:.2f} windows/s"
    )


@pytest.mark.bench
def test_bench_copra_small_cpu(benchmark, one_torch_thread) -> None:
    _bench(benchmark, _method({**SMALL}), 16, f"small preset, tiny VLM, {DEVICE}")


@pytest.mark.bench
@pytest.mark.skipif(
    DEVICE == "cpu", reason="full-size Qwen2.5-VL-3B architecture: set VADBENCH_BENCH_DEVICE=cuda"
)
def test_bench_copra_qwen3b_gpu(benchmark) -> None:
    # the spec's batch (16 windows x G=8), one window per forward / backward (micro_batch=1)
    cfg = {
        "backbone": "tiny-chat",
        "group": 8,
        "max_new_tokens": 64,
        "batch_size": 16,
        "micro_batch": 1,
        "score_batch": 8,
    }
    m = _method(cfg, _qwen3b_random(DEVICE))
    _bench(benchmark, m, 8, f"Qwen2.5-VL-3B architecture (random), {DEVICE}", size=448, frames=8)
