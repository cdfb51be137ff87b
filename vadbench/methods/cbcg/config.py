"""CBCG options: every default of spec table 5.8 (all ``[reconstruction]``) in one frozen dataclass.

Switches take YAML's spellings too (``--set memory=off`` arrives as ``False``): ``clustering_branch``
on/off, ``memory`` fifo/ema/off, ``guidance`` mean/product/off.

Example:
    >>> cfg = make_config({"memory": False, "guidance": "product"})
    >>> cfg.memory, cfg.guidance, cfg.topk_k
    ('off', 'product', 3)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vadbench.errors import ConfigError

CHOICES: dict[str, tuple[str, ...]] = {
    "clustering_branch": ("on", "off"),
    "memory": ("fifo", "ema", "off"),
    "guidance": ("mean", "product", "off"),
    "scheduler": ("cosine", "none"),
}


@dataclass(frozen=True)
class Config:
    """CBCG options with their defaults (spec 5.8; ``[reconstruction]`` throughout)."""

    segments: int = 32  # S: training videos resampled to S segments by uniform-bin averaging (5.1)
    batch_size: int = 32  # b videos per bag: b normal + b abnormal per step (5.1)
    topk: int | None = None  # k of the top-k MIL and the abnormal seeds; None = floor(S/16) + 1 (5.5)
    hidden_dim: int = 512  # encoder width (5.2)
    head_dim: int = 128  # regression head hidden width (5.2)
    embed_dim: int = 128  # clustering embedding dim (5.2)
    dropout: float = 0.7  # (5.2)
    clustering_branch: str = "on"  # off = MIL baseline (ablation 5.9)
    kmeans_iters: int = 3  # 0 = seeds only (5.3)
    memory: str = "fifo"  # fifo | ema | off (ablation 5.9: batch-only clustering) (5.4)
    memory_size: int = 10  # M batches (fifo)
    memory_momentum: float = 0.1  # mu (ema)
    margin: float = 0.5  # m (5.5)
    tau_g: float = 0.1  # temperature of the clustering score g (5.5)
    lambda_clu: float = 1.0  # lambda1 (5.5)
    lambda_guide: float = 0.5  # lambda2 (5.5)
    lambda_smooth: float = 8.0e-4  # lambda_s on the smoothness term (5.5)
    lambda_sparse: float = 8.0e-4  # lambda_s on the sparsity term (5.5)
    warmup_epochs: int = 5  # lambda2 = 0 for the first epochs (5.5)
    guidance: str = "mean"  # test-time fusion mean | product | off; off also drops L_guide (ablation 5.9)
    lr: float = 1.0e-3  # Adam (5.6)
    weight_decay: float = 5.0e-4
    epochs: int = 50
    scheduler: str = "cosine"  # cosine decay over all steps | none
    feature_dim: int | None = None  # expected feature width (preset: 2048 I3D, 512 CLIP); None = from data
    crops: int | None = None  # expected crops per training video (preset: 10 / 5 / 1); None = any

    @property
    def topk_k(self) -> int:
        """The k in use: ``topk`` or ``floor(S / 16) + 1``."""
        return int(self.topk) if self.topk is not None else max(1, self.segments // 16 + 1)


_SWITCH_BOOL = {True: "on", False: "off"}


def _normalise(key: str, value: Any) -> Any:
    if key in CHOICES and isinstance(value, bool):
        return _SWITCH_BOOL[value] if key == "clustering_branch" else ("off" if not value else value)
    return value


def make_config(config: Mapping[str, Any] | None = None) -> Config:
    """A validated :class:`Config` from a mapping of changes; unknown keys / bad values raise ConfigError."""
    fields = {f.name: f for f in dataclasses.fields(Config)}
    given = dict(config or {})
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ConfigError(f"unknown CBCG option(s) {unknown}; known: {', '.join(sorted(fields))}")
    values = {k: _normalise(k, v) for k, v in given.items()}
    for key, allowed in CHOICES.items():
        if key in values and values[key] not in allowed:
            raise ConfigError(f"CBCG option {key}={given[key]!r} is not one of {list(allowed)}")
    positive = ("segments", "batch_size", "hidden_dim", "head_dim", "embed_dim", "memory_size")
    non_negative = ("kmeans_iters", "warmup_epochs", "epochs")
    optional = ("topk", "feature_dim", "crops")
    for key in positive + non_negative + optional:
        if key not in values or (values[key] is None and key in optional):
            continue
        v = values[key]
        low = 0 if key in non_negative else 1
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ConfigError(f"CBCG option {key} must be an integer >= {low}, got {v!r}")
    for key in (
        "dropout",
        "memory_momentum",
        "margin",
        "tau_g",
        "lambda_clu",
        "lambda_guide",
        "lambda_smooth",
        "lambda_sparse",
        "lr",
        "weight_decay",
    ):
        if key in values:
            v = values[key]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"CBCG option {key} must be a number >= 0, got {v!r}")
            values[key] = float(v)
    cfg = Config(**values)
    if not 0 <= cfg.dropout < 1 or not 0 < cfg.memory_momentum <= 1 or cfg.tau_g <= 0:
        raise ConfigError(
            f"CBCG options out of range: dropout {cfg.dropout} (in [0, 1)), memory_momentum "
            f"{cfg.memory_momentum} (in (0, 1]), tau_g {cfg.tau_g} (> 0)"
        )
    return cfg
