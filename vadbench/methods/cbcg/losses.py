"""CBCG losses (spec 5.5, all ``[reconstruction]``): top-k MIL, batch clustering, guidance, regularisers.

Conventions: ``s`` ``(B, S)`` snippet scores in (0, 1); ``z`` ``(B, S, e)`` unit embeddings; ``labels``
``(B,)`` video labels (1 = abnormal); centres are unit vectors.

Example:
    >>> import torch
    >>> s = torch.tensor([[0.1, 0.2, 0.1], [0.9, 0.1, 0.2]])
    >>> round(float(mil_loss(s, torch.tensor([0, 1]), k=1)), 4)
    0.1643
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vadbench.methods.cbcg.torch_model import BatchClusters, cluster_score, topk_mask


def mil_loss(s: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """``BCE(mean(top-k(s_i)), y_i)`` over the videos of the batch."""
    p = torch.topk(s, min(k, s.shape[1]), dim=1).values.mean(1)
    return F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), labels.float())


def clustering_loss(
    z: torch.Tensor,
    s: torch.Tensor,
    labels: torch.Tensor,
    clusters: BatchClusters,
    c_n: torch.Tensor,
    c_a: torch.Tensor | None,
    k: int,
    margin: float = 0.5,
) -> dict[str, torch.Tensor]:
    """Batch-clustering loss: pull normal snippets to ``c_n``, pull the abnormal-assigned top-``k``
    snippets of abnormal videos to ``c_a``, and push the batch centres apart beyond cosine ``1 - margin``.

    ``c_n`` / ``c_a`` are the centres used (memory + batch, detached); the separation acts on the batch
    centres of ``clusters``. Returns ``{"clu", "pull_normal", "pull_abnormal", "separate"}`` (``clu`` = sum).
    A term without members (no abnormal video, or no abnormal-assigned top-k snippet) is 0.

    >>> import torch.nn.functional as F
    >>> z = F.normalize(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]), dim=-1)
    >>> c = BatchClusters(z[0, 0], z[1, 0], torch.tensor([[False], [True]]))
    >>> float(clustering_loss(z, torch.ones(2, 1), torch.tensor([0, 1]), c, z[0, 0], z[1, 0], 1)["clu"])
    0.0
    """
    abn = labels.bool()
    zero = z.new_zeros(())
    pull_n = (1 - z[~abn] @ c_n).mean() if bool((~abn).any()) else zero
    pull_a = zero
    if c_a is not None and bool(abn.any()):
        top = topk_mask(s[abn].detach(), k) & clusters.abnormal[abn]
        if bool(top.any()):
            pull_a = (1 - z[abn][top] @ c_a).mean()
    sep = zero
    if clusters.centre_abnormal is not None:
        sep = F.relu(clusters.centre_normal @ clusters.centre_abnormal - (1 - margin))
    return {"clu": pull_n + pull_a + sep, "pull_normal": pull_n, "pull_abnormal": pull_a, "separate": sep}


def guidance_loss(
    s: torch.Tensor, z: torch.Tensor, labels: torch.Tensor, c_n: torch.Tensor, c_a: torch.Tensor, tau: float
) -> torch.Tensor:
    """``BCE(s, y_hat)``: target 0 on normal videos, ``1[g > 0.5]`` (detached) on abnormal videos."""
    with torch.no_grad():
        target = (cluster_score(z, c_n, c_a, tau) > 0.5).float()
        target[~labels.bool()] = 0.0
    return F.binary_cross_entropy(s.clamp(1e-6, 1 - 1e-6), target)


def smooth_sparse(s: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sultani et al.'s regularisers on abnormal videos: mean over videos of ``sum_t (s_t - s_t+1)^2`` and of
    ``sum_t s_t`` (zero when the batch has no abnormal video).

    >>> [round(float(v), 2) for v in smooth_sparse(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))]
    [1.0, 1.0]
    """
    a = s[labels.bool()]
    if a.shape[0] == 0:
        return s.new_zeros(()), s.new_zeros(())
    return ((a[:, 1:] - a[:, :-1]) ** 2).sum(1).mean(), a.sum(1).mean()
