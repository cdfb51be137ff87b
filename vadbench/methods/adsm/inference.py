"""ADSM inference (spec section 6): per-clip level scores (Algorithm 1) and their aggregation per video.

``level_scores`` runs Algorithm 1 on a batch of clips: one noise draw ``eps`` per clip, then for the L
increasing levels ``x~ = x^ + sigma_i eps`` (autoregressive; ``x + sigma_i eps`` in the plain-DSM ablation),
``s = s(x~, sigma_i, y)``, ``x^ = x~ + sigma_i^2 s`` and ``score_i = ||s|| / PSNR(x^, x)``.

``video_scores`` turns the clip scores of one video into one score per frame: clip score -> its frame,
max (or mean) over the objects of a frame (frames without objects: 0), max over segments of T frames,
min-max per video and level, weighted average over the levels.

Example:
    >>> import numpy as np
    >>> per_frame = np.array([[0.0, 1.0, 3.0, 2.0], [5.0, 5.0, 6.0, 9.0]])   # (L=2 levels, 4 frames)
    >>> video_scores_from_levels(per_frame, segment_len=2).tolist()
    [0.0, 0.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from vadbench.methods.adsm.losses import dsm_loss, motion_weights, token_sq_norm, uniform_weights


def inference_sigmas(levels: int, sigma_min: float, sigma_max: float) -> np.ndarray:
    """The L increasing test noise levels, linear in ``[sigma_min, sigma_max]`` (spec section 6)."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    return np.linspace(sigma_min, sigma_max, levels) if levels > 1 else np.array([sigma_max])


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Per-clip PSNR ``10 log10(R^2 / MSE)`` over the whole clip (R = 2 for [-1, 1] pixels)."""
    mse = (a - b).square().flatten(1).mean(1).clamp_min(1e-10)
    return 10.0 * torch.log10(data_range**2 / mse)


@torch.no_grad()
def level_scores(
    model: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    clips: torch.Tensor,
    scene: torch.Tensor,
    sigmas: Sequence[float],
    *,
    autoregressive: bool = True,
    appearance_term: bool = True,
    weights: torch.Tensor | None = None,
    patch: int = 16,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Algorithm 1 on ``clips`` (B, n, C, H, W) with scene indices (B,): raw scores (B, L), one per level.

    ``weights`` (B, N_p): the motion-weighted norm ``sqrt(sum w_j ||s_j||^2)`` instead of the plain L2 norm.
    PSNR is clamped below at 1e-3 dB (a denoised clip can be worse than 0 dB only with a diverged model).
    """
    noise = torch.randn(clips.shape, generator=generator, dtype=clips.dtype, device="cpu").to(clips.device)
    x_hat = clips
    out = []
    for sigma in sigmas:
        sig = torch.full((clips.shape[0],), float(sigma), dtype=clips.dtype, device=clips.device)
        noisy = (x_hat if autoregressive else clips) + float(sigma) * noise
        s = model(noisy, sig, scene)
        x_hat = noisy + float(sigma) ** 2 * s
        if weights is None:
            norm = s.flatten(1).norm(dim=1)
        else:
            norm = (token_sq_norm(s, patch) * weights[:, None, :]).sum(dim=(1, 2)).sqrt()
        if appearance_term:
            norm = norm / psnr(x_hat, clips).clamp_min(1e-3)
        out.append(norm)
    return torch.stack(out, dim=1)


@torch.no_grad()
def dsm_loss_scores(
    model: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    clips: torch.Tensor,
    scene: torch.Tensor,
    sigmas: Sequence[float],
    *,
    patch: int,
    motion: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The ``dsm_loss`` indicator on ``clips`` (B, n, C, H, W): each clip's training objective
    (motion-weighted, or uniform with ``motion=False``) averaged over the noise levels ``sigmas``, one noise
    draw per clip shared by the levels, noise added to the clip itself (``x~ = x + sigma_i eps``).
    Returns (B,).

    Example:
        >>> import torch
        >>> exact = lambda noisy, sigma, scene: -noisy / (1 + sigma.view(-1, 1, 1, 1, 1) ** 2)
        >>> x = torch.randn(64, 2, 3, 8, 8)                  # N(0, 1) data: its exact score is -x~/(1+s^2)
        >>> far = 3 + x                                      # the same model on off-distribution clips
        >>> s = [0.5, 1.0]; sc = torch.zeros(64, dtype=torch.long)
        >>> loss = lambda clips: dsm_loss_scores(exact, clips, sc, s, patch=4).mean()
        >>> bool(loss(far) > loss(x))
        True
    """
    noise = torch.randn(clips.shape, generator=generator, dtype=clips.dtype, device="cpu").to(clips.device)
    weights = motion_weights(clips, patch) if motion else uniform_weights(clips, patch)
    total = torch.zeros(clips.shape[0], dtype=clips.dtype, device=clips.device)
    for sigma in sigmas:
        sig = torch.full((clips.shape[0],), float(sigma), dtype=clips.dtype, device=clips.device)
        noisy = clips + float(sigma) * noise
        score = model(noisy, sig, scene)
        total += dsm_loss(score, noisy, clips, sig, patch=patch, weights=weights, reduce=False)
    return total / len(sigmas)


def frame_level_scores(
    n_frames: int,
    clip_frames: Sequence[np.ndarray],
    clip_scores: Sequence[np.ndarray],
    *,
    object_agg: str = "max",
) -> np.ndarray:
    """Per frame and level: aggregate over objects. ``clip_frames[k]`` (M_k,) are the frames object
    ``k`` has a score at and ``clip_scores[k]`` (M_k, L) those scores. Frames without any object get 0.
    Returns (L, T)."""
    if object_agg not in ("max", "mean"):
        raise ValueError(f"object_agg must be 'max' or 'mean', got {object_agg!r}")
    levels = next((s.shape[1] for s in clip_scores if len(s)), 1)
    acc = np.full((levels, n_frames), -np.inf if object_agg == "max" else 0.0)
    count = np.zeros(n_frames)
    for frames, scores in zip(clip_frames, clip_scores, strict=True):
        if not len(frames):
            continue
        frames = np.asarray(frames, np.int64)
        if object_agg == "max":
            np.maximum.at(acc.T, frames, scores)
        else:
            np.add.at(acc.T, frames, scores)
        np.add.at(count, frames, 1)
    empty = count == 0
    if object_agg == "mean":
        acc[:, ~empty] /= count[~empty]
    acc[:, empty] = 0.0
    return acc


def video_scores_from_levels(
    per_frame: np.ndarray, *, segment_len: int = 8, level_weights: Sequence[float] | None = None
) -> np.ndarray:
    """(L, T) per-level frame scores -> (T,): max over segments of T frames, min-max per level (a
    constant level becomes all zeros), weighted average over levels (uniform by default)."""
    per_frame = np.asarray(per_frame, np.float64)
    levels, t = per_frame.shape
    pooled = per_frame.copy()
    for start in range(0, t, max(1, segment_len)):
        seg = slice(start, start + segment_len)
        pooled[:, seg] = per_frame[:, seg].max(axis=1, keepdims=True)
    lo, hi = pooled.min(axis=1, keepdims=True), pooled.max(axis=1, keepdims=True)
    span = hi - lo
    norm = np.where(span > 0, (pooled - lo) / np.where(span > 0, span, 1.0), 0.0)
    w = np.ones(levels) if level_weights is None else np.asarray(level_weights, np.float64)
    if w.shape != (levels,) or not np.all(np.isfinite(w)) or w.sum() <= 0:
        raise ValueError(f"level_weights must be {levels} finite non-negative values with a positive sum")
    return (w[:, None] * norm).sum(0) / w.sum()


def clip_frame_index(last_frames: np.ndarray, mode: str = "last") -> np.ndarray:
    """The frame a clip score belongs to: its last frame (``last``) or the frame after it (``next``)."""
    if mode not in ("last", "next"):
        raise ValueError(f"clip_frame must be 'last' or 'next', got {mode!r}")
    return np.asarray(last_frames, np.int64) + (1 if mode == "next" else 0)


def fill_leading(
    frames: np.ndarray, scores: np.ndarray, run_frames: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Give the frames of a run before its first scored frame the first valid score (spec section 6).

    ``frames`` (K,) scored frames of one run of consecutive frames (sorted), ``scores`` (K, L), ``run_frames``
    all frames of the run. Returns the extended (frames, scores).
    """
    if not len(frames):
        return frames, scores
    lead = run_frames[run_frames < frames[0]]
    if not len(lead):
        return frames, scores
    return (
        np.concatenate([lead, frames]),
        np.concatenate([np.repeat(scores[:1], len(lead), axis=0), scores]),
    )
