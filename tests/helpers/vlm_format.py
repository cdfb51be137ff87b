"""Tiny random Qwen2.5-VL models taught a little by teacher forcing, as frozen VLMs for COPRA tests:

- :func:`format_primed_tiny_vlm`: only the answer format (``<answer> yes|no </answer>``, yes / no at random,
  content-free); the random model would never produce a well-formed answer to reward.
- :func:`colour_primed_tiny_vlm`: answers "yes" for red clips and "no" for green ones (a content-aware model
  with its own notion of an anomaly). The toy task of :func:`toy_video` is another one: bright windows are
  anomalous, whatever their colour, so the frozen model's answer does not follow the target.
"""

from __future__ import annotations

import numpy as np

from vadbench.backbones import vlm_delta as vd
from vadbench.backbones.vlm import tiny_vlm
from vadbench.methods.copra.method import toy_clips_sample

SYSTEM = "You are a video surveillance analyst."


def toy_clip(rng: np.random.Generator, red: bool, bright: bool, frames: int = 4) -> np.ndarray:
    """``(frames, 56, 56, 3)`` uint8: red or green, bright or dark, with noise."""
    base = np.array([180.0, 60.0, 60.0] if red else [60.0, 180.0, 60.0]) * (1.3 if bright else 0.5)
    return np.clip(rng.normal(base, 20, (frames, 56, 56, 3)), 0, 255).astype(np.uint8)


def toy_video(name: str, bright: list[int], label: int | None = None, seed: int = 0):
    """One window of 4 frames per entry of ``bright`` (1 = anomalous), colours at random."""
    rng = np.random.default_rng(seed)
    frames = np.concatenate([toy_clip(rng, bool(rng.random() < 0.5), bool(b)) for b in bright])
    return toy_clips_sample(name, frames, window=4, stride=4, frames_per_window=4, label=label)


def _teach(question: str, steps: int, seed: int, lr: float, answer) -> object:
    import torch

    vlm = tiny_vlm("chat", seed=seed, system=SYSTEM)
    tok = vlm.tokenizer
    rng = np.random.default_rng(seed)
    vlm.model.requires_grad_(True).train()
    opt = torch.optim.Adam(vlm.model.parameters(), lr=lr)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(steps):
            clips, words = answer(rng)
            batch = vd.encode(vlm, clips, question)
            ids = torch.tensor(
                [tok.convert_tokens_to_ids(["<answer>", w, "</answer>", "<|im_end|>"]) for w in words]
            )
            loss = -vd.sequence_logprobs(vlm, batch, ids, torch.ones(ids.shape), grad=True).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    vlm.model.requires_grad_(False).eval()
    return vlm


def format_primed_tiny_vlm(question: str, *, steps: int = 100, seed: int = 0, lr: float = 3e-3):
    def answer(rng):
        clips = [rng.integers(0, 256, (4, 56, 56, 3), dtype=np.uint8) for _ in range(4)]
        return clips, ["yes" if rng.random() < 0.5 else "no" for _ in clips]

    return _teach(question, steps, seed, lr, answer)


def colour_primed_tiny_vlm(question: str, *, steps: int = 150, seed: int = 0, lr: float = 3e-3):
    def answer(rng):
        red = rng.random(4) < 0.5
        return [toy_clip(rng, bool(r), bool(rng.random() < 0.5)) for r in red], [
            "yes" if r else "no" for r in red
        ]

    return _teach(question, steps, seed, lr, answer)
