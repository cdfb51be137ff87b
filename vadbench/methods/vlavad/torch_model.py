"""VLAVAD's sequence predictors (pure torch): the Sequence State Space Module (S3M) and the Table 2 ablations.

All predictors map a window of past answer embeddings ``(B, L_in, d)`` to ``p`` future ones ``(B, p, d)``:
the last hidden state goes through ``Linear(d, p * d)`` (spec 4.6 [reconstruction]).

- :class:`S3M`: ``n_layers`` residual Mamba-style blocks ``x + SelectiveSSM(RMSNorm(x))`` and a final
  RMSNorm (the layout of transformers' ``MambaModel``). :class:`SelectiveSSM` has the parameter names and
  initialisation of ``transformers.models.mamba.modeling_mamba.MambaMixer``, so the two load each other's
  weights; its scan is :func:`vadbench.methods.vlavad.scan.selective_scan`.
- :class:`GRUPredictor` (the paper's "RNN" row) and :class:`TransformerPredictor` (causal encoder with
  learned positions).

Example:
    >>> import torch
    >>> m = S3M(d_model=8, n_layers=3, horizon=2)
    >>> m(torch.randn(4, 10, 8)).shape
    torch.Size([4, 2, 8])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.methods.vlavad.scan import selective_scan


class SelectiveSSM(nn.Module):
    """The Mamba mixer: in-projection to ``expand * d`` (x and gate z), causal depthwise conv + SiLU,
    input-dependent ``delta, B, C``, selective scan, ``silu(z)`` gate, out-projection."""

    def __init__(self, d_model: int, *, d_state: int = 16, expand: int = 2, d_conv: int = 4,
                 dt_rank: int | None = None, dt_min: float = 1e-3, dt_max: float = 0.1,
                 dt_floor: float = 1e-4, bias: bool = False, conv_bias: bool = True) -> None:
        super().__init__()
        self.d_inner = expand * d_model
        self.d_state = d_state
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1,
                                bias=conv_bias)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32))
                                  .repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        with torch.no_grad():  # Mamba's dt initialisation (transformers' init_mamba_weights)
            std = self.dt_rank**-0.5
            nn.init.uniform_(self.dt_proj.weight, -std, std)
            lo, hi = math.log(dt_min), math.log(dt_max)
            dt = torch.exp(torch.rand(self.d_inner) * (hi - lo) + lo)
            dt = dt.clamp(min=dt_floor)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.shape[1]
        xz = self.in_proj(x)
        u, z = xz.chunk(2, dim=-1)
        u = F.silu(self.conv1d(u.transpose(1, 2))[..., :seq].transpose(1, 2))
        dt, B, C = torch.split(self.x_proj(u), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        y = selective_scan(u, delta, -torch.exp(self.A_log), B, C, self.D, z)
        return self.out_proj(y)


class S3MBlock(nn.Module):
    """Pre-norm residual block: ``x + mixer(RMSNorm(x))``."""

    def __init__(self, d_model: int, eps: float = 1e-5, **mixer_kw: int) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(d_model, eps=eps)
        self.mixer = SelectiveSSM(d_model, **mixer_kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mixer(self.norm(x))


class _Head(nn.Module):
    def __init__(self, d_model: int, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon
        self.proj = nn.Linear(d_model, horizon * d_model)

    def forward(self, last: torch.Tensor) -> torch.Tensor:
        return self.proj(last).view(last.shape[0], self.horizon, -1)


class S3M(nn.Module):
    """Sequence State Space Module: ``n_layers`` :class:`S3MBlock`, final RMSNorm, head on the last step."""

    def __init__(self, d_model: int, *, n_layers: int = 3, horizon: int = 2, d_state: int = 16,
                 expand: int = 2, d_conv: int = 4) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            S3MBlock(d_model, d_state=d_state, expand=expand, d_conv=d_conv) for _ in range(n_layers)
        )
        self.norm_f = nn.RMSNorm(d_model, eps=1e-5)
        self.head = _Head(d_model, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm_f(x)[:, -1])


class GRUPredictor(nn.Module):
    """Table 2's RNN row: an ``n_layers`` GRU of width ``d_model``, head on the last step."""

    def __init__(self, d_model: int, *, n_layers: int = 3, horizon: int = 2) -> None:
        super().__init__()
        self.rnn = nn.GRU(d_model, d_model, num_layers=n_layers, batch_first=True)
        self.head = _Head(d_model, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


class TransformerPredictor(nn.Module):
    """Table 2's Transformer row: a causal pre-norm encoder (``n_layers``, ``n_heads``, learned positions up
    to ``max_len``), head on the last step."""

    def __init__(self, d_model: int, *, n_layers: int = 3, horizon: int = 2, n_heads: int = 8,
                 max_len: int = 64) -> None:
        super().__init__()
        heads = math.gcd(n_heads, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.pos = nn.Parameter(torch.zeros(max_len, d_model))
        self.norm_f = nn.LayerNorm(d_model)
        self.head = _Head(d_model, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(seq, device=x.device)
        h = self.encoder(x + self.pos[:seq], mask=mask, is_causal=True)
        return self.head(self.norm_f(h)[:, -1])


#: ``temporal_model`` option -> class.
PREDICTORS: dict[str, type[nn.Module]] = {
    "s3m": S3M, "gru": GRUPredictor, "transformer": TransformerPredictor,
}


def build_predictor(kind: str, d_model: int, *, n_layers: int = 3, horizon: int = 2, d_state: int = 16,
                    expand: int = 2, d_conv: int = 4, max_len: int = 64) -> nn.Module:
    """The predictor named ``kind`` (``s3m``, ``gru``, ``transformer``).

    >>> type(build_predictor("gru", 8)).__name__
    'GRUPredictor'
    """
    if kind == "s3m":
        return S3M(d_model, n_layers=n_layers, horizon=horizon, d_state=d_state, expand=expand, d_conv=d_conv)
    if kind == "gru":
        return GRUPredictor(d_model, n_layers=n_layers, horizon=horizon)
    if kind == "transformer":
        return TransformerPredictor(d_model, n_layers=n_layers, horizon=horizon, max_len=max_len)
    raise ValueError(f"unknown temporal model {kind!r}; known: {', '.join(PREDICTORS)}")
