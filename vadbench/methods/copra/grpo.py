"""GRPO pieces of COPRA (spec 4.6 [reconstruction]): answer parsing and rewards, group-normalised advantages,
and the clipped policy-gradient surrogate with a KL penalty to the frozen model. Pure (numpy / torch).

- reward ``r = r_acc + fmt_weight · r_fmt``: ``r_acc = 1`` when the parsed answer equals the label,
  ``r_fmt = 1`` when the completion holds exactly one ``<answer>yes|no</answer>`` (and, with
  ``reasoning``, one ``<think>…</think>`` block before it);
- advantages ``Â_g = (r_g − mean(r)) / (std(r) + eps)`` within each group of G samples (population std);
- loss: ``−min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â) + β·KL`` per token, ``ρ = exp(logp − logp_old)``, KL by the
  non-negative estimator ``exp(ref − logp) − (ref − logp) − 1`` (DeepSeekMath's k3), averaged over all
  response tokens of the batch.

Example:
    >>> parse_answer("<answer> yes </answer>")
    ('yes', True)
    >>> rewards(["<answer>no</answer>", "yes", "<answer>yes</answer>"], [1, 1, 1]).tolist()
    [0.5, 0.0, 1.5]
    >>> group_advantages(np.array([[1.5, 0.5]])).round(3).tolist()
    [[1.0, -1.0]]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

_ANSWER = re.compile(r"<answer>\s*(yes|no)\s*</answer>", re.IGNORECASE)
_ANY_ANSWER = re.compile(r"<answer>.*?</answer>", re.IGNORECASE | re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


def parse_answer(text: str, *, reasoning: bool = False) -> tuple[str | None, bool]:
    """``(answer, format_ok)``: the first ``<answer>yes|no</answer>`` (lower-cased) or None, and whether the
    format holds (exactly one answer block, which is yes / no; with ``reasoning`` also exactly one
    ``<think>…</think>`` block ending before the answer)."""
    m = _ANSWER.search(text)
    answer = m.group(1).lower() if m else None
    ok = m is not None and len(_ANY_ANSWER.findall(text)) == 1
    if reasoning and ok:
        thinks = list(_THINK.finditer(text))
        ok = len(thinks) == 1 and thinks[0].end() <= m.start() and text.count("<think>") == 1
    return answer, ok


def rewards(
    texts: Sequence[str], labels: Sequence[int], *, reasoning: bool = False, fmt_weight: float = 0.5
) -> np.ndarray:
    """One reward per completion; ``labels`` (1 = yes, 0 = no) one per completion."""
    out = np.zeros(len(texts), np.float64)
    for i, (text, y) in enumerate(zip(texts, labels, strict=True)):
        answer, ok = parse_answer(text, reasoning=reasoning)
        acc = answer is not None and (answer == "yes") == bool(y)
        out[i] = float(acc) + fmt_weight * float(ok)
    return out


def group_advantages(r: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``(N, G)`` rewards → advantages normalised within each row (a group of one prompt's samples)."""
    r = np.asarray(r, np.float64)
    return (r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + eps)


def grpo_loss(
    logp: Any,
    logp_old: Any,
    logp_ref: Any,
    advantages: Any,
    mask: Any,
    *,
    clip: float = 0.2,
    beta: float = 0.04,
) -> tuple[Any, dict[str, float]]:
    """The GRPO loss (scalar tensor) and logged terms. ``logp`` (B, T) with gradients; ``logp_old`` (sampling
    policy) and ``logp_ref`` (frozen model) without; ``advantages`` (B,); ``mask`` (B, T) response tokens."""
    import torch

    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype)[:, None]
    ratio = torch.exp(logp - logp_old)
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv)
    diff = logp_ref - logp
    kl = torch.exp(diff) - diff - 1
    per_token = -surrogate + beta * kl
    n = mask.sum().clamp(min=1)
    loss = (per_token * mask).sum() / n
    stats = {
        "policy": float((-(surrogate * mask).sum() / n).detach()),
        "kl": float(((kl * mask).sum() / n).detach()),
        "clipped": float((((ratio - 1).abs() > clip).to(mask.dtype) * mask).sum().detach() / n),
    }
    return loss, stats
