"""COPRA's LoRA generators (spec 4.4 [reconstruction]): pure torch modules that map a window's condition to
per-sample low-rank deltas ``{module name: (A (N, r, d_in), B (N, d_out, r))}`` for
:func:`vadbench.backbones.vlm_delta.low_rank_deltas` (applied with ``scale = alpha / r``).

- :class:`LoRAGenerator` (``adaptation=conditional``): one learned parameter token per (decoder layer,
  module, channel segment); a trunk of pre-LN blocks (cross-attention to ``Linear(c)``, intra-layer
  self-attention over the tokens of one layer, inter-layer self-attention over the tokens of one (module,
  segment) slot across layers, MLP); an A head and a zero-initialised B head per module whose per-segment
  slices are concatenated.
- :class:`StaticLoRA` (``adaptation=static``): one learned LoRA per module, the same for every input.

Both start at a zero update (B = 0), so training starts at the frozen VLM.

Example:
    >>> import torch
    >>> t = [Target("l0.q", 0, "q", 8, 8), Target("l0.v", 0, "v", 8, 4),
    ...      Target("l1.q", 1, "q", 8, 8), Target("l1.v", 1, "v", 8, 4)]
    >>> g = LoRAGenerator(t, d_cond=6, rank=2, width=16, blocks=1, heads=2, segments=2)
    >>> d = g(torch.randn(3, 5, 6))
    >>> d["l0.v"][0].shape, d["l0.v"][1].shape, float(d["l0.v"][1].detach().abs().sum())
    (torch.Size([3, 2, 8]), torch.Size([3, 4, 2]), 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from vadbench.errors import ConfigError


@dataclass(frozen=True)
class Target:
    """One adapted linear module: its full ``name`` in the VLM, decoder ``layer``, ``module`` kind (e.g.
    ``q_proj``) and sizes."""

    name: str
    layer: int
    module: str
    d_in: int
    d_out: int


def _grid(targets: Sequence[Target]) -> tuple[list[int], list[str], dict[tuple[int, str], Target]]:
    layers = sorted({t.layer for t in targets})
    kinds = list(dict.fromkeys(t.module for t in targets))
    cell = {(t.layer, t.module): t for t in targets}
    if len(cell) != len(layers) * len(kinds) or len(cell) != len(targets):
        raise ConfigError(
            "LoRA targets must be every module kind in every layer, each once; got "
            f"{[(t.layer, t.module) for t in targets]}"
        )
    for kind in kinds:
        if len({(cell[(ly, kind)].d_in, cell[(ly, kind)].d_out) for ly in layers}) != 1:
            raise ConfigError(f"LoRA targets: the {kind!r} modules differ in size across layers")
    return layers, kinds, cell


class _Block(nn.Module):
    """Pre-LN: cross-attention to the condition, intra-layer and inter-layer self-attention, MLP."""

    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.n_cross, self.n_intra, self.n_inter, self.n_mlp = (nn.LayerNorm(width) for _ in range(4))
        self.cross = nn.MultiheadAttention(width, heads, batch_first=True)
        self.intra = nn.MultiheadAttention(width, heads, batch_first=True)
        self.inter = nn.MultiheadAttention(width, heads, batch_first=True)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, cond_pad: torch.Tensor | None) -> torch.Tensor:
        # x: (N, L, S, w) with S = modules x segments slots per layer
        n, n_layers, slots, w = x.shape
        flat = x.reshape(n, n_layers * slots, w)
        h = self.n_cross(flat)
        flat = flat + self.cross(h, cond, cond, key_padding_mask=cond_pad, need_weights=False)[0]
        x = flat.reshape(n, n_layers, slots, w)
        h = self.n_intra(x).reshape(n * n_layers, slots, w)  # tokens of one layer
        x = x + self.intra(h, h, h, need_weights=False)[0].reshape(n, n_layers, slots, w)
        h = self.n_inter(x).transpose(1, 2).reshape(n * slots, n_layers, w)  # one slot across layers
        x = x + self.inter(h, h, h, need_weights=False)[0].reshape(n, slots, n_layers, w).transpose(1, 2)
        return x + self.mlp(self.n_mlp(x))


class LoRAGenerator(nn.Module):
    """Input-conditioned LoRA factors for every target (see the module docstring). ``segments`` (K) must
    divide every target's ``d_in`` and ``d_out``; ``width`` must be divisible by ``heads``."""

    def __init__(
        self,
        targets: Sequence[Target],
        d_cond: int,
        *,
        rank: int = 8,
        width: int = 768,
        blocks: int = 4,
        heads: int = 8,
        segments: int = 4,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.targets = list(targets)
        self.layers, self.kinds, cell = _grid(self.targets)
        self.rank, self.segments = rank, segments
        if width % heads:
            raise ConfigError(f"generator width {width} is not divisible by its {heads} heads")
        for t in self.targets:
            if t.d_in % segments or t.d_out % segments:
                raise ConfigError(
                    f"{t.name}: {t.d_in} -> {t.d_out} is not divisible into {segments} channel segments"
                )
        self.sizes = {
            k: (cell[(self.layers[0], k)].d_in, cell[(self.layers[0], k)].d_out) for k in self.kinds
        }
        n_l, n_s = len(self.layers), len(self.kinds) * segments
        self.tokens = nn.Parameter(torch.randn(n_l, n_s, width) * 0.02)
        self.cond_proj = nn.Linear(d_cond, width)
        self.trunk = nn.ModuleList(_Block(width, heads, mlp_ratio) for _ in range(blocks))
        self.norm = nn.LayerNorm(width)
        self.a_head = nn.ModuleDict(
            {k: nn.Linear(width, rank * d_in // segments) for k, (d_in, _) in self.sizes.items()}
        )
        self.b_head = nn.ModuleDict(
            {k: nn.Linear(width, d_out // segments * rank) for k, (_, d_out) in self.sizes.items()}
        )
        for head in self.b_head.values():  # training starts at the frozen model
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(
        self, cond: torch.Tensor, cond_mask: torch.Tensor | None = None
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``cond`` (N, m, d_cond) pooled window encoding; ``cond_mask`` (N, m) True where a chunk exists."""
        n = cond.shape[0]
        c = self.cond_proj(cond)
        pad = None if cond_mask is None else ~cond_mask.bool()
        x = self.tokens.expand(n, *self.tokens.shape)
        for block in self.trunk:
            x = block(x, c, pad)
        x = self.norm(x)  # (N, L, M*K, w)
        k_seg, r = self.segments, self.rank
        out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for mi, kind in enumerate(self.kinds):
            d_in, d_out = self.sizes[kind]
            tok = x[:, :, mi * k_seg : (mi + 1) * k_seg]  # (N, L, K, w)
            # / sqrt(d_in): A starts at the scale of LoRA's Kaiming-uniform A (std ~ 0.58 / sqrt(d_in))
            a = self.a_head[kind](tok).reshape(n, len(self.layers), k_seg, r, d_in // k_seg) / math.sqrt(d_in)
            a = a.permute(0, 1, 3, 2, 4).reshape(n, len(self.layers), r, d_in)  # slices along d_in
            b = self.b_head[kind](tok).reshape(n, len(self.layers), k_seg, d_out // k_seg, r)
            b = b.reshape(n, len(self.layers), d_out, r)  # slices along d_out
            for li, layer in enumerate(self.layers):
                t = next(t for t in self.targets if t.layer == layer and t.module == kind)
                out[t.name] = (a[:, li], b[:, li])
        return {t.name: out[t.name] for t in self.targets}


class StaticLoRA(nn.Module):
    """One learned LoRA per target shared by all inputs (the static baseline): ``A`` Kaiming-uniform as in
    LoRA, ``B`` zero. ``forward(n)`` returns the factors repeated for ``n`` items."""

    def __init__(self, targets: Sequence[Target], *, rank: int = 8) -> None:
        super().__init__()
        self.targets = list(targets)
        _grid(self.targets)
        self.names = [t.name for t in self.targets]
        self.a = nn.ParameterList(nn.Parameter(torch.empty(rank, t.d_in)) for t in self.targets)
        self.b = nn.ParameterList(nn.Parameter(torch.zeros(t.d_out, rank)) for t in self.targets)
        for a in self.a:
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))

    def forward(self, n: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {
            name: (a.expand(n, *a.shape), b.expand(n, *b.shape))
            for name, a, b in zip(self.names, self.a, self.b, strict=True)
        }
