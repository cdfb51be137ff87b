"""VadCLIP's three losses (spec ``vadclip.md`` section 6), batched with masks (no loop over videos).

For video i with valid length n_i, ``k_i = int(n_i / 16 + 1)``; the top-k means are taken over the first n_i
positions only.

Example:
    >>> import torch
    >>> topk_k(torch.tensor([256, 15, 16])).tolist()
    [17, 1, 2]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def topk_k(lengths: torch.Tensor) -> torch.Tensor:
    """``k = int(n / 16 + 1)`` per video (official ``CLAS2`` / ``CLASM``)."""
    return torch.div(lengths, 16, rounding_mode="floor") + 1


def topk_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of the top-``k_i`` values over time (dim 1) in the valid length: ``(B, T, ...)`` -> ``(B, ...)``.

    Padded positions are set to ``-inf`` before the sort, then the first ``k_i`` ranks are averaged.
    """
    b, t = x.shape[:2]
    k = topk_k(lengths).clamp(max=t)
    valid = torch.arange(t, device=x.device)[None, :] < lengths[:, None]
    shape = (b, t) + (1,) * (x.dim() - 2)
    masked = x.masked_fill(~valid.reshape(shape), float("-inf"))
    kmax = int(k.max())
    top = torch.topk(masked, kmax, dim=1).values
    keep = (torch.arange(kmax, device=x.device)[None, :] < k[:, None]).reshape((b, kmax) + shape[2:])
    top = torch.where(keep, top, torch.zeros((), dtype=top.dtype, device=top.device))
    return top.sum(1) / k.reshape((b,) + shape[2:]).to(x.dtype)


def mil_bce(logits1: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """L_bce (official ``CLAS2``): BCE of the top-k mean sigmoid confidence vs ``1 - label[:, normal]``."""
    p = topk_mean(torch.sigmoid(logits1.reshape(logits1.shape[0], logits1.shape[1])), lengths)
    return F.binary_cross_entropy(p, 1.0 - labels[:, 0])


def mil_align(logits2: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """L_nce (official ``CLASM``): cross-entropy of the per-class top-k means vs the label / its sum."""
    target = labels / labels.sum(dim=1, keepdim=True)
    s = topk_mean(logits2, lengths)
    return -(target * F.log_softmax(s, dim=1)).sum(1).mean()


def text_contrast(text_features: torch.Tensor) -> torch.Tensor:
    """L_cts: ``sum_{j>=1} |cos(t_normal, t_j)| / (C - 1)`` on ``T_ori`` (the code takes absolute values)."""
    t = text_features / text_features.norm(dim=-1, keepdim=True)
    return (t[1:] @ t[0]).abs().sum() / (t.shape[0] - 1)


def vadclip_loss(
    text_features: torch.Tensor,
    logits1: torch.Tensor,
    logits2: torch.Tensor,
    labels: torch.Tensor,
    lengths: torch.Tensor,
    lambda_cts: float,
) -> dict[str, torch.Tensor]:
    """``loss = L_bce + L_nce + lambda * L_cts`` and its parts."""
    bce = mil_bce(logits1, labels, lengths)
    nce = mil_align(logits2, labels, lengths)
    cts = text_contrast(text_features)
    return {"loss": bce + nce + lambda_cts * cts, "bce": bce, "nce": nce, "cts": cts}
