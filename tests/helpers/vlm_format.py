"""A tiny random Qwen2.5-VL taught only the answer format (``<answer> yes|no </answer>``, yes / no at random,
content-free) by a few teacher-forced steps: the frozen model for COPRA plumbing and toy learning tests, where
the random model would never produce a well-formed answer to reward."""

from __future__ import annotations

import numpy as np

from vadbench.backbones import vlm_delta as vd
from vadbench.backbones.vlm import tiny_vlm

SYSTEM = "You are a video surveillance analyst."


def format_primed_tiny_vlm(question: str, *, steps: int = 200, seed: int = 0, lr: float = 3e-3):
    import torch

    vlm = tiny_vlm("chat", seed=seed, system=SYSTEM)
    tok = vlm.tokenizer
    rng = np.random.default_rng(seed)
    vlm.model.requires_grad_(True).train()
    opt = torch.optim.Adam(vlm.model.parameters(), lr=lr)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(steps):
            clips = [rng.integers(0, 256, (4, 56, 56, 3), dtype=np.uint8) for _ in range(4)]
            batch = vd.encode(vlm, clips, question)
            words = [
                ["<answer>", "yes" if rng.random() < 0.5 else "no", "</answer>", "<|im_end|>"] for _ in clips
            ]
            ids = torch.tensor([tok.convert_tokens_to_ids(w) for w in words])
            logp = vd.sequence_logprobs(vlm, batch, ids, torch.ones(ids.shape), grad=True)
            loss = -logp.sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    vlm.model.requires_grad_(False).eval()
    return vlm
