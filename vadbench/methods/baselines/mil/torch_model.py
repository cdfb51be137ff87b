"""The MIL ranking head and loss of Sultani, Chen, Shah (CVPR 2018), in torch (no vadbench imports).

Head: FC(512) + ReLU + dropout 0.6, FC(32) + dropout 0.6, FC(1) + sigmoid (the released Keras code).
Loss per (abnormal, normal) bag pair: ``max(0, 1 - mean topk(s_a) + mean topk(s_n))`` (k = 1: the paper's
max), plus ``lambda_smooth * sum (s_a[i+1] - s_a[i])^2`` and ``lambda_sparse * sum s_a``.

Example:
    >>> import torch
    >>> head = MILHead(8).eval()
    >>> head(torch.zeros(3, 8)).shape
    torch.Size([3])
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class MILHead(nn.Module):
    def __init__(self, in_dim: int, hidden: tuple[int, int] = (512, 32), dropout: float = 0.6) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden[0]), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden[0], hidden[1]), nn.Dropout(dropout),
            nn.Linear(hidden[1], 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def mil_ranking_loss(s_abn: torch.Tensor, s_norm: torch.Tensor, k: int = 1, lambda_smooth: float = 8e-5,
                     lambda_sparse: float = 8e-5) -> dict[str, torch.Tensor]:
    """Batch mean of the MIL ranking loss; ``s_abn``, ``s_norm``: (B, S) segment scores of paired bags."""
    k = min(k, s_abn.shape[1])
    top_a = s_abn.topk(k, dim=1).values.mean(1)
    top_n = s_norm.topk(k, dim=1).values.mean(1)
    rank = torch.relu(1.0 - top_a + top_n).mean()
    smooth = ((s_abn[:, 1:] - s_abn[:, :-1]) ** 2).sum(1).mean()
    sparse = s_abn.sum(1).mean()
    loss = rank + lambda_smooth * smooth + lambda_sparse * sparse
    return {"loss": loss, "rank": rank.detach(), "smooth": smooth.detach(), "sparse": sparse.detach()}


def to_segments(features: np.ndarray, n: int) -> np.ndarray:
    """``n`` segment features: the mean of the snippets in each of ``n`` equal spans of the video (the nearest
    snippet when a span holds none: short videos repeat snippets), as Sultani's 32-segment features."""
    T = len(features)
    edges = np.linspace(0, T, n + 1)
    out = np.empty((n, features.shape[1]), np.float32)
    for i in range(n):
        a, b = int(np.floor(edges[i])), int(np.ceil(edges[i + 1]))
        b = max(b, a + 1)
        out[i] = features[min(a, T - 1) : min(b, T)].mean(0)
    return out
