"""ADSM's motion weights and motion-weighted denoising score matching loss (spec sections 4.5 and 5).

Example:
    >>> import torch
    >>> x = torch.zeros(1, 4, 3, 8, 8); x[0, -1, :, :4, :4] = 1.0     # only the top-left patch moves
    >>> motion_weights(x, 4).tolist()
    [[1.0, 0.0, 0.0, 0.0]]
    >>> sigma = torch.tensor([0.5]); noise = torch.randn_like(x)
    >>> noisy = x + sigma.view(-1, 1, 1, 1, 1) * noise
    >>> float(dsm_loss(-(noisy - x) / 0.25, noisy, x, sigma, patch=4))    # the exact score: zero loss
    0.0
"""

from __future__ import annotations

import math

import torch


def motion_weights(clips: torch.Tensor, patch: int) -> torch.Tensor:
    """Per spatial patch ``w_j = v_j / sum_k v_k`` with ``v_j`` the channel mean of the per-channel spatial
    max of ``|last frame - first frame|`` in patch ``j``. ``clips`` (B, n, C, H, W) -> (B, H/p * W/p).
    A static clip (all ``v`` = 0) gets uniform weights."""
    b, _, c, h, w = clips.shape
    g = (clips[:, -1] - clips[:, 0]).abs()  # B, C, H, W
    g = g.reshape(b, c, h // patch, patch, w // patch, patch)
    v = g.amax(dim=(3, 5)).mean(dim=1).reshape(b, -1)  # B, Np
    total = v.sum(dim=1, keepdim=True)
    uniform = torch.full_like(v, 1.0 / v.shape[1])
    return torch.where(total > 0, v / total.clamp_min(torch.finfo(v.dtype).tiny), uniform)


def uniform_weights(clips: torch.Tensor, patch: int) -> torch.Tensor:
    """The ablation without motion weights: ``1 / N_p`` for every spatial patch."""
    b, _, _, h, w = clips.shape
    n = (h // patch) * (w // patch)
    return torch.full((b, n), 1.0 / n, dtype=clips.dtype, device=clips.device)


def token_sq_norm(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Squared L2 norm of each (frame, patch) block: (B, n, C, H, W) -> (B, n, H/p * W/p)."""
    b, n, c, h, w = x.shape
    x = x.reshape(b, n, c, h // patch, patch, w // patch, patch)
    return x.square().sum(dim=(2, 4, 6)).reshape(b, n, -1)


def dsm_loss(
    score: torch.Tensor,
    noisy: torch.Tensor,
    clean: torch.Tensor,
    sigma: torch.Tensor,
    *,
    patch: int,
    weights: torch.Tensor | None = None,
    reduce: bool = True,
) -> torch.Tensor:
    """``mean_b (sigma^2/2) sum_{frame, j} w_j || s_{frame,j} + (x~ - x)_{frame,j} / sigma^2 ||^2``.

    ``weights`` (B, N_p) are the spatial patch weights, shared by every frame of the clip (spec 4.5
    [reconstruction]); ``None`` = motion weights of ``clean``. ``reduce=False``: the per-clip loss (B,).
    """
    if weights is None:
        weights = motion_weights(clean, patch)
    s2 = sigma.reshape(-1, 1, 1, 1, 1).to(score.dtype) ** 2
    resid = token_sq_norm(score + (noisy - clean) / s2, patch)  # B, n, Np
    per_clip = 0.5 * s2.reshape(-1) * (resid * weights[:, None, :]).sum(dim=(1, 2))
    return per_clip.mean() if reduce else per_clip


def sample_sigma(
    batch: int,
    sigma_min: float,
    sigma_max: float,
    *,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """``batch`` noise levels log-uniform on ``[sigma_min, sigma_max]``."""
    u = torch.rand(batch, generator=generator, device=device)
    return torch.exp(math.log(sigma_min) + u * (math.log(sigma_max) - math.log(sigma_min)))


def training_loss(
    model,
    clips: torch.Tensor,
    scene: torch.Tensor,
    *,
    patch: int,
    sigma_min: float,
    sigma_max: float,
    motion: bool = True,
    scene_dropout: float = 0.0,
    null_scene: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One DSM training loss on a batch: sigma log-uniform per clip, ``x~ = x + sigma eps``, motion-weighted
    (``motion``) or uniform patch weights; with ``scene_dropout`` a clip's scene is replaced by ``null_scene``
    with that probability (so the null embedding is learned, DiT's label dropout) [reconstruction]."""
    b = clips.shape[0]
    sigma = sample_sigma(b, sigma_min, sigma_max, generator=generator).to(clips.device, clips.dtype)
    noise = torch.randn(clips.shape, generator=generator).to(clips.device, clips.dtype)
    noisy = clips + sigma.view(-1, 1, 1, 1, 1) * noise
    if scene_dropout > 0:
        if null_scene is None:
            raise ValueError("scene_dropout > 0 needs the null scene index")
        drop = (torch.rand(b, generator=generator) < scene_dropout).to(scene.device)
        scene = torch.where(drop, torch.full_like(scene, null_scene), scene)
    weights = motion_weights(clips, patch) if motion else uniform_weights(clips, patch)
    return dsm_loss(model(noisy, sigma, scene), noisy, clips, sigma, patch=patch, weights=weights)
