"""CBCG network, batch clustering, cross-batch centre memory and guided scores (pure torch, no vadbench).

Every element is the reconstruction of spec section 5 (``specs/methods/cbcg.md``; only the abstract of
Cao et al., ICME 2023, is public): a shared temporal encoder, a regression head (snippet scores), a
clustering head (unit-norm embeddings), 2-means seeded by the weak labels and the scores, a memory of the
centres of past batches (FIFO or EMA) and the clustering score ``g`` that guides the snippet score.

Example:
    >>> import torch
    >>> model = CBCGModel(in_dim=16, hidden_dim=8, head_dim=4, embed_dim=4)
    >>> s, z = model(torch.randn(2, 5, 16))
    >>> tuple(s.shape), tuple(z.shape)
    ((2, 5), (2, 5, 4))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class CBCGModel(nn.Module):
    """Shared encoder E (two ``Conv1d(k=3)``), regression head R, clustering head G (spec 5.2).

    ``forward(x)`` takes ``(B, S, d)`` features and returns snippet scores ``s`` ``(B, S)`` in (0, 1) and
    unit-norm embeddings ``z`` ``(B, S, embed_dim)`` (``None`` when ``clustering_branch`` is false); with
    ``centring="video"`` each row's (video's) mean embedding is subtracted before the norm.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 512,
        head_dim: int = 128,
        embed_dim: int = 128,
        dropout: float = 0.7,
        clustering_branch: bool = True,
        padding_mode: str = "zeros",
        centring: str = "none",
    ) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.centring = centring
        self.conv1 = nn.Conv1d(in_dim, hidden_dim, kernel_size=3, padding=1, padding_mode=padding_mode)
        self.conv2 = nn.Conv1d(hidden_dim, hidden_dim, kernel_size=3, padding=1, padding_mode=padding_mode)
        self.drop = nn.Dropout(dropout)
        self.regressor = nn.Sequential(
            nn.Linear(hidden_dim, head_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(head_dim, 1)
        )
        self.clusterer = (
            nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, embed_dim))
            if clustering_branch
            else None
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, S, d)`` -> ``(B, S, hidden_dim)`` (Conv1d + ReLU + Dropout, Conv1d + ReLU)."""
        h = self.drop(F.relu(self.conv1(x.transpose(1, 2))))
        return F.relu(self.conv2(h)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.encode(x)
        s = torch.sigmoid(self.regressor(h).squeeze(-1))
        if self.clusterer is None:
            return s, None
        e = self.clusterer(h)
        if self.centring == "video":  # each row is one video: its mean embedding taken off
            e = e - e.mean(dim=1, keepdim=True)
        return s, F.normalize(e, dim=-1)


def default_topk(segments: int) -> int:
    """``k = max(1, floor(S / 16) + 1)`` (spec 5.5; 3 for S = 32).

    >>> default_topk(32), default_topk(8)
    (3, 1)
    """
    return max(1, segments // 16 + 1)


def topk_mask(s: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean ``(B, S)`` mask of the ``k`` highest scores of each row (``k`` capped at ``S``)."""
    idx = torch.topk(s, min(k, s.shape[1]), dim=1).indices
    return torch.zeros_like(s, dtype=torch.bool).scatter_(1, idx, True)


@dataclass
class BatchClusters:
    """The result of :func:`batch_clustering`: centres of this batch (``centre_abnormal`` is ``None`` when
    neither the batch nor the given fallback has one) and the hard assignment ``abnormal`` ``(B, S)``."""

    centre_normal: torch.Tensor
    centre_abnormal: torch.Tensor | None
    abnormal: torch.Tensor


def _unit_mean(z: torch.Tensor) -> torch.Tensor:
    return F.normalize(z.mean(0), dim=0)


def batch_clustering(
    z: torch.Tensor,
    s: torch.Tensor,
    labels: torch.Tensor,
    k: int,
    iterations: int = 3,
    fallback_abnormal: torch.Tensor | None = None,
) -> BatchClusters:
    """2-means over every embedding of the batch, seeded by the weak labels and the scores (spec 5.3).

    Seeds: normal = mean of all ``z`` of normal videos; abnormal = mean of the top-``k`` (by ``s``) ``z`` of
    each abnormal video; a batch without abnormal videos seeds the abnormal centre with ``fallback_abnormal``
    (the memory's centre). Then ``iterations`` rounds of cosine assignment and mean update; a cluster that
    loses every member keeps its previous centre. Centres stay differentiable w.r.t. ``z`` (the assignment
    is not). ``labels`` is ``(B,)`` with 1 = abnormal video; a batch needs at least one normal video.

    >>> z = F.normalize(torch.tensor([[[1.0, 0.0], [0.9, 0.1]], [[0.0, 1.0], [1.0, 0.0]]]), dim=-1)
    >>> c = batch_clustering(z, torch.tensor([[0.1, 0.2], [0.9, 0.1]]), torch.tensor([0, 1]), k=1)
    >>> c.abnormal.tolist()
    [[False, False], [True, False]]
    """
    abn = labels.bool()
    if bool(abn.all()):
        raise ValueError("batch_clustering needs at least one normal video in the batch")
    flat = z.reshape(-1, z.shape[-1])
    c_n = _unit_mean(z[~abn].reshape(-1, z.shape[-1]))
    if bool(abn.any()):
        top = topk_mask(s[abn].detach(), k)
        c_a: torch.Tensor | None = _unit_mean(z[abn][top])
    elif fallback_abnormal is not None:
        c_a = F.normalize(fallback_abnormal.detach(), dim=0)
    else:
        c_a = None
    if c_a is None:  # nothing to split against: every embedding is normal
        return BatchClusters(c_n, None, torch.zeros(z.shape[:2], dtype=torch.bool, device=z.device))
    assign = _assign(flat, c_n, c_a)
    for _ in range(iterations):
        if bool((~assign).any()):
            c_n = _unit_mean(flat[~assign])
        if bool(assign.any()):
            c_a = _unit_mean(flat[assign])
        assign = _assign(flat, c_n, c_a)
    return BatchClusters(c_n, c_a, assign.reshape(z.shape[:2]))


def _assign(flat: torch.Tensor, c_n: torch.Tensor, c_a: torch.Tensor) -> torch.Tensor:
    """True where an embedding is closer (cosine) to the abnormal centre."""
    with torch.no_grad():
        return flat @ c_a > flat @ c_n


class CentreMemory(nn.Module):
    """Cross-batch memory of cluster centres (spec 5.4): ``fifo`` (last ``size`` batches), ``ema``
    (momentum ``momentum``) or ``off`` (the current batch only). Row 0 = normal centre, row 1 = abnormal.

    :meth:`centres` combines the memory with the current batch's centres (detached); :meth:`push` stores the
    batch's centres (call it after the loss). Missing centres (a batch without abnormal videos) are skipped.
    State lives in buffers, so it is saved with the model's ``state_dict``.

    >>> mem = CentreMemory(2, mode="fifo", size=3)
    >>> mem.push(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    >>> c_n, c_a = mem.centres(torch.tensor([1.0, 0.0]), None)
    >>> c_a.tolist()
    [0.0, 1.0]
    """

    MODES = ("fifo", "ema", "off")

    def __init__(self, dim: int, mode: str = "fifo", size: int = 10, momentum: float = 0.1) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"memory mode {mode!r} is not one of {list(self.MODES)}")
        self.mode, self.size, self.momentum = mode, int(size), float(momentum)
        slots = max(1, self.size) if mode == "fifo" else 1
        self.register_buffer("bank", torch.zeros(slots, 2, dim))
        self.register_buffer("filled", torch.zeros(slots, 2))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    def stored(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The memory alone (frozen centres used at inference): unit centres or ``None`` when empty."""
        return self._combine(None, None)

    def centres(
        self, batch_normal: torch.Tensor | None, batch_abnormal: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Centres used by the loss and the guidance: memory + current batch, unit length, detached."""
        return self._combine(batch_normal, batch_abnormal)

    def _combine(self, c_n: torch.Tensor | None, c_a: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        out = []
        for row, cur in ((0, c_n), (1, c_a)):
            cur = None if cur is None else F.normalize(cur.detach(), dim=0)
            have = self.filled[:, row] > 0
            if self.mode == "off" or not bool(have.any()):
                out.append(cur)
            elif self.mode == "fifo":
                parts = self.bank[have, row]
                if cur is not None:
                    parts = torch.cat([parts, cur[None]], 0)
                out.append(F.normalize(parts.mean(0), dim=0))
            else:  # ema
                mem = self.bank[0, row]
                out.append(
                    mem
                    if cur is None
                    else F.normalize((1 - self.momentum) * mem + self.momentum * cur, dim=0)
                )
        return out[0], out[1]

    @torch.no_grad()
    def push(self, c_n: torch.Tensor | None, c_a: torch.Tensor | None) -> None:
        """Store one batch's centres (FIFO: overwrite the oldest slot; EMA: move the running centre)."""
        if self.mode == "off":
            return
        if self.mode == "fifo":
            slot = int(self.pointer) % self.bank.shape[0]
            self.filled[slot] = 0
            for row, cur in ((0, c_n), (1, c_a)):
                if cur is not None:
                    self.bank[slot, row] = F.normalize(cur.detach(), dim=0)
                    self.filled[slot, row] = 1
            self.pointer += 1
            return
        for row, cur in ((0, c_n), (1, c_a)):
            if cur is None:
                continue
            cur = F.normalize(cur.detach(), dim=0)
            if self.filled[0, row] > 0:
                cur = F.normalize((1 - self.momentum) * self.bank[0, row] + self.momentum * cur, dim=0)
            self.bank[0, row] = cur
            self.filled[0, row] = 1


def cluster_score(z: torch.Tensor, c_n: torch.Tensor, c_a: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """``g = softmax([cos(z, c_a), cos(z, c_n)] / tau)[0]`` = ``sigmoid((cos_a - cos_n) / tau)`` (spec 5.5).

    >>> g = cluster_score(torch.tensor([[1.0, 0.0]]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))
    >>> round(float(g[0]), 4)
    1.0
    """
    return torch.sigmoid((z @ c_a - z @ c_n) / tau)


def guided_score(s: torch.Tensor, g: torch.Tensor | None, mode: str = "mean") -> torch.Tensor:
    """Clustering-guided snippet score (spec 5.7): ``mean`` (s + g) / 2, ``product`` s * g, ``off`` s.

    >>> guided_score(torch.tensor([0.2]), torch.tensor([0.6]), "mean").tolist()
    [0.4000000059604645]
    """
    if mode == "off" or g is None:
        return s
    if mode == "mean":
        return (s + g) / 2
    if mode == "product":
        return s * g
    raise ValueError(f"guidance {mode!r} is not one of ['mean', 'product', 'off']")
