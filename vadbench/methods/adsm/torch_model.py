"""The noise-conditioned score transformer (NCST) of ADSM: DiT-style blocks, adaLN-Zero on [sigma ; scene].

Pure torch (no vadbench import). Spec: specs/methods/adsm.md section 4.

- clips ``(B, n, 3, H, W)`` in [-1, 1] are cut into non-overlapping ``p x p`` patches per frame, giving
  ``N = n (H/p)(W/p)`` tokens of ``3 p^2`` values (order: frame, row, column);
- linear patch embedding + a fixed 3-D sine-cosine position embedding over (frame, row, column);
- the noise level sigma -> 256-d sinusoidal embedding of
  ``t = 1000 log(sigma/sigma_min)/log(sigma_max/sigma_min)`` -> MLP to ``cond_dim``; the scene id -> embedding
  table (``n_scenes`` rows + one learned null row, the last);
  the two are **concatenated** into ``z`` (``2 cond_dim``);
- every block: ``h' = h + a1 * MHA(g1 * LN(h) + b1)``, ``h = h' + a2 * FFN(g2 * LN(h') + b2)`` with
  ``(g1, b1, a1, g2, b2, a2) = MLP(z)``, ``g = 1 + scale``; the MLP's last layer starts at zero (adaLN-Zero),
  so every block is the identity at initialisation;
- final adaptive LayerNorm + linear back to ``3 p^2`` per token (zero-initialised), unpatchified.

Output parameterisation [reconstruction]: the network output ``F`` is divided by sigma, ``s = F / sigma``
(NCSNv2's noise-conditional scaling), so the DSM target ``-eps / sigma`` is reached with ``F = -eps``.

Example:
    >>> import torch
    >>> m = NCST(clip_len=2, crop_size=16, patch=8, hidden=32, depth=1, heads=2, n_scenes=2)
    >>> x = torch.zeros(3, 2, 3, 16, 16)
    >>> s = m(x, torch.full((3,), 0.1), torch.tensor([0, 1, 2]))
    >>> tuple(s.shape), float(s.detach().abs().max())  # zero-initialised output: score 0
    ((3, 2, 3, 16, 16), 0.0)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, n, C, H, W)`` -> tokens ``(B, n * H/p * W/p, C p^2)`` in (frame, row, column) order.

    >>> patchify(torch.arange(2 * 3 * 4 * 4.).view(1, 2, 3, 4, 4), 2).shape
    torch.Size([1, 8, 12])
    """
    b, n, c, h, w = x.shape
    if h % patch or w % patch:
        raise ValueError(f"crop {h}x{w} is not a multiple of the patch size {patch}")
    x = x.reshape(b, n, c, h // patch, patch, w // patch, patch)
    x = x.permute(0, 1, 3, 5, 2, 4, 6)  # b, n, hp, wp, c, p, p
    return x.reshape(b, n * (h // patch) * (w // patch), c * patch * patch)


def unpatchify(
    tokens: torch.Tensor, clip_len: int, channels: int, height: int, width: int, patch: int
) -> torch.Tensor:
    """The inverse of :func:`patchify`.

    >>> x = torch.randn(2, 3, 3, 8, 8)
    >>> bool((unpatchify(patchify(x, 4), 3, 3, 8, 8, 4) == x).all())
    True
    """
    b = tokens.shape[0]
    hp, wp = height // patch, width // patch
    x = tokens.reshape(b, clip_len, hp, wp, channels, patch, patch)
    x = x.permute(0, 1, 4, 2, 5, 3, 6)
    return x.reshape(b, clip_len, channels, height, width)


def _sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """MAE / DiT 1-D sine-cosine embedding of positions ``pos`` (M,) -> (M, dim); ``dim`` even."""
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    out = pos.double()[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1).float()


def sincos_3d(dim: int, frames: int, rows: int, cols: int) -> torch.Tensor:
    """Fixed 3-D position embedding ``(frames * rows * cols, dim)``: a third of the (even) channels per axis,
    any remainder zero.

    >>> sincos_3d(32, 2, 3, 3).shape
    torch.Size([18, 32])
    """
    d = (dim // 3) // 2 * 2
    if d == 0:
        raise ValueError(f"hidden size {dim} too small for a 3-D position embedding")
    t, r, c = torch.meshgrid(torch.arange(frames), torch.arange(rows), torch.arange(cols), indexing="ij")
    parts = [_sincos_1d(d, a.reshape(-1)) for a in (t, r, c)]
    emb = torch.cat(parts, dim=1)
    return F.pad(emb, (0, dim - emb.shape[1]))


def sigma_frequencies(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """DiT's sinusoidal timestep embedding of ``t`` (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class SigmaEmbedder(nn.Module):
    """sigma -> sinusoidal embedding of the normalised log sigma -> 2-layer SiLU MLP -> ``out_dim``."""

    def __init__(self, out_dim: int, *, sigma_min: float, sigma_max: float, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.log_min = math.log(sigma_min)
        self.log_span = math.log(sigma_max) - math.log(sigma_min)
        self.mlp = nn.Sequential(nn.Linear(freq_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, sigma: torch.Tensor) -> torch.Tensor:
        t = 1000.0 * (torch.log(sigma) - self.log_min) / self.log_span
        return self.mlp(sigma_frequencies(t, self.freq_dim))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``(1 + scale) * x + shift`` with per-sample (B, D) modulation of (B, N, D) tokens."""
    return x * (1 + scale[:, None]) + shift[:, None]


class Attention(nn.Module):
    """Multi-head self-attention (fused qkv, PyTorch's scaled_dot_product_attention)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class NCSTBlock(nn.Module):
    """One S-AdaLN (adaLN-Zero) transformer block conditioned on ``z`` (B, cond)."""

    def __init__(self, dim: int, heads: int, cond: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hid = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hid), nn.GELU(approximate="tanh"), nn.Linear(hid, dim))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cond, 6 * dim))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        b1, g1, a1, b2, g2, a2 = self.ada(z).chunk(6, dim=1)
        h = h + a1[:, None] * self.attn(modulate(self.norm1(h), b1, g1))
        return h + a2[:, None] * self.mlp(modulate(self.norm2(h), b2, g2))


class FinalLayer(nn.Module):
    """Adaptive LayerNorm then a linear map back to patch values (both zero-initialised)."""

    def __init__(self, dim: int, out: int, cond: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, out)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cond, 2 * dim))
        for layer in (self.linear, self.ada[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(z).chunk(2, dim=1)
        return self.linear(modulate(self.norm(h), shift, scale))


class NCST(nn.Module):
    """Noise-conditioned score transformer ``s(x, sigma, scene)`` for clips ``(B, n, 3, H, W)``.

    ``scene`` holds indices in ``[0, n_scenes]``; index ``n_scenes`` is the learned null scene
    (:attr:`null_scene`). ``cond_dim`` defaults to ``hidden`` (768 + 768 = 1536 at paper scale).
    """

    def __init__(
        self,
        *,
        clip_len: int = 8,
        crop_size: int = 160,
        patch: int = 16,
        hidden: int = 768,
        depth: int = 12,
        heads: int = 12,
        mlp_ratio: float = 4.0,
        n_scenes: int = 1,
        cond_dim: int | None = None,
        sigma_min: float = 1e-3,
        sigma_max: float = 1.0,
        channels: int = 3,
    ) -> None:
        super().__init__()
        if crop_size % patch:
            raise ValueError(f"crop_size {crop_size} is not a multiple of patch {patch}")
        if n_scenes < 1:
            raise ValueError(f"n_scenes must be >= 1, got {n_scenes}")
        cond = cond_dim or hidden
        self.clip_len, self.crop_size, self.patch, self.channels = clip_len, crop_size, patch, channels
        self.n_scenes = n_scenes
        side = crop_size // patch
        self.embed = nn.Linear(channels * patch * patch, hidden)
        self.register_buffer("pos", sincos_3d(hidden, clip_len, side, side)[None], persistent=False)
        self.sigma_embed = SigmaEmbedder(cond, sigma_min=sigma_min, sigma_max=sigma_max)
        self.scene_embed = nn.Embedding(n_scenes + 1, cond)
        nn.init.normal_(self.scene_embed.weight, std=0.02)
        self.blocks = nn.ModuleList(NCSTBlock(hidden, heads, 2 * cond, mlp_ratio) for _ in range(depth))
        self.final = FinalLayer(hidden, channels * patch * patch, 2 * cond)
        nn.init.xavier_uniform_(self.embed.weight)
        nn.init.zeros_(self.embed.bias)
        for blk in self.blocks:
            for lin in (blk.attn.qkv, blk.attn.proj, blk.mlp[0], blk.mlp[2]):
                nn.init.xavier_uniform_(lin.weight)
                nn.init.zeros_(lin.bias)
        for lin in (self.sigma_embed.mlp[0], self.sigma_embed.mlp[2]):
            nn.init.normal_(lin.weight, std=0.02)

    @property
    def null_scene(self) -> int:
        """Index of the learned null (unseen / unconditioned) scene embedding."""
        return self.n_scenes

    def condition(self, sigma: torch.Tensor, scene: torch.Tensor) -> torch.Tensor:
        """``z = [MLP(emb(sigma)) ; E[scene]]`` (B, 2 cond)."""
        return torch.cat([self.sigma_embed(sigma), self.scene_embed(scene)], dim=1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, scene: torch.Tensor) -> torch.Tensor:
        b, n, c, h, w = x.shape
        if (n, c, h, w) != (self.clip_len, self.channels, self.crop_size, self.crop_size):
            raise ValueError(
                f"NCST expects clips (B, {self.clip_len}, {self.channels}, {self.crop_size}, "
                f"{self.crop_size}), got {tuple(x.shape)}"
            )
        sigma = sigma.to(x.dtype).reshape(-1).expand(b) if sigma.numel() == 1 else sigma.to(x.dtype)
        z = self.condition(sigma, scene.long().reshape(-1).expand(b) if scene.numel() == 1 else scene.long())
        hid = self.embed(patchify(x, self.patch)) + self.pos
        for blk in self.blocks:
            hid = blk(hid, z)
        out = self.final(hid, z) / sigma[:, None, None]
        return unpatchify(out, n, c, h, w, self.patch)
