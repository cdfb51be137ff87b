"""The selective scan of Mamba (S6) in plain PyTorch, fast on CPU for short sequences.

``selective_scan(u, delta, A, B, C, D, z)`` computes, per channel d and state n,
``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t`` and ``y_t = C_t . h_t + D u_t``, gated by ``silu(z)``
(the reference ``selective_scan_ref`` of ``mamba_ssm`` and transformers' ``mamba_selective_scan`` fallback).

How it is fast on CPU: one step at a time in a time-major layout, discretising ``exp(delta_t A)`` and
``delta_t B_t u_t`` inside the step, so each step touches one ``(B, D, N)`` block that stays in cache.
Measured on 2 shared cores (one thread, d_inner 1024, N 16, batch 256, L 10, forward + backward): about
1.1-1.4 s, against 1.6 s for the batch-first reference loop below and 4-7 s for a variant that
precomputes all ``(L, B, D, N)`` blocks first (memory bound). Sequences here are 10-20 steps, so a parallel
(associative) scan, which does more work, does not pay on CPU.

Example:
    >>> import torch
    >>> u, dt = torch.randn(2, 5, 4), torch.rand(2, 5, 4)
    >>> A, B, C = -torch.rand(4, 3), torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    >>> y = selective_scan(u, dt, A, B, C)
    >>> torch.allclose(y, selective_scan_reference(u, dt, A, B, C), atol=1e-5)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
    """Selective scan, batch-first: ``u``, ``delta`` (softplus already applied), ``z`` ``(Bt, L, D)``;
    ``A`` ``(D, N)``; ``B``, ``C`` ``(Bt, L, N)``; ``D`` ``(D,)``. Returns ``(Bt, L, D)``."""
    dt = delta.transpose(0, 1).contiguous()  # time-major, contiguous per step
    bt, ct = B.transpose(0, 1).contiguous(), C.transpose(0, 1).contiguous()
    du = (dt * u.transpose(0, 1)).unsqueeze(-1)  # (L, Bt, D, 1)
    h: torch.Tensor | None = None
    ys = []
    for t in range(dt.shape[0]):
        b = du[t] * bt[t].unsqueeze(-2)  # (Bt, D, N)
        h = b if h is None else torch.exp(dt[t].unsqueeze(-1) * A) * h + b
        ys.append(torch.matmul(h, ct[t].unsqueeze(-1)))  # (Bt, D, 1)
    y = torch.cat(ys, dim=-1).transpose(1, 2)
    if D is not None:
        y = y + u * D
    if z is not None:
        y = y * F.silu(z)
    return y


def selective_scan_reference(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                             C: torch.Tensor, D: torch.Tensor | None = None,
                             z: torch.Tensor | None = None) -> torch.Tensor:
    """The same computation as a plain autograd loop (for tests)."""
    h = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])
    ys = []
    for t in range(u.shape[1]):
        h = torch.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * u[:, t])[..., None] * B[:, t, None, :]
        ys.append((h * C[:, t, None, :]).sum(-1))
    y = torch.stack(ys, 1)
    if D is not None:
        y = y + u * D
    if z is not None:
        y = y * F.silu(z)
    return y
