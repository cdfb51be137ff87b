"""CBCG options: every default of spec table 5.8 (all ``[reconstruction]``) in one frozen dataclass.

The platform's :func:`vadbench.methods.base.validate_config` checks names and types; ``__post_init__``
checks ranges and reads YAML's spellings of the switches (``--set memory=off`` arrives as ``False``):
``clustering_branch`` on/off, ``memory`` fifo/ema/off, ``guidance`` mean/product/off.

Example:
    >>> cfg = Config(memory=False, guidance="product")
    >>> cfg.memory, cfg.guidance, cfg.topk_k
    ('off', 'product', 3)
"""

from __future__ import annotations

from dataclasses import dataclass

from vadbench.errors import ConfigError

CHOICES: dict[str, tuple[str, ...]] = {
    "clustering_branch": ("on", "off"),
    "memory": ("fifo", "ema", "off"),
    "guidance": ("mean", "product", "off"),
    "scheduler": ("cosine", "none"),
    "conv_padding": ("zeros", "replicate"),
    "embed_centring": ("none", "video"),
}
POSITIVE = ("segments", "batch_size", "hidden_dim", "head_dim", "embed_dim", "memory_size")
NON_NEGATIVE = ("kmeans_iters", "warmup_epochs", "epochs")
OPTIONAL_POSITIVE = ("topk", "feature_dim", "crops")


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
    conv_padding: str = "zeros"  # the encoder's pad=1: zeros (PyTorch's default) | replicate (edge rows)
    clustering_branch: str | bool = "on"  # off = MIL baseline (ablation 5.9)
    kmeans_iters: int = 3  # 0 = seeds only (5.3)
    memory: str | bool = "fifo"  # fifo | ema | off (ablation 5.9: batch-only clustering) (5.4)
    memory_size: int = 10  # M batches (fifo)
    memory_momentum: float = 0.1  # mu (ema)
    margin: float = 0.5  # m (5.5)
    tau_g: float = 0.1  # temperature of the clustering score g (5.5)
    #: none (spec 5.2) | video: each video's mean embedding is taken off before the unit norm, so that
    #: clusters form on what changes inside a video, not on the scene (vadbench's option; card)
    embed_centring: str = "none"
    lambda_clu: float = 1.0  # lambda1 (5.5)
    lambda_guide: float = 0.5  # lambda2 (5.5)
    lambda_smooth: float = 8.0e-4  # lambda_s on the smoothness term (5.5)
    lambda_sparse: float = 8.0e-4  # lambda_s on the sparsity term (5.5)
    warmup_epochs: int = 5  # lambda2 = 0 for the first epochs (5.5)
    guidance: str | bool = (
        "mean"  # test-time fusion mean | product | off; off also drops L_guide (ablation 5.9)
    )
    lr: float = 1.0e-3  # Adam (5.6)
    weight_decay: float = 5.0e-4
    epochs: int = 50
    scheduler: str = "cosine"  # cosine decay over all steps | none
    feature_dim: int | None = None  # expected feature width (preset: 2048 I3D, 512 CLIP); None = from data
    crops: int | None = None  # expected crops per training video (preset: 10 / 5 / 1); None = any

    def __post_init__(self) -> None:
        for key in CHOICES:
            value = getattr(self, key)
            if value is False:
                object.__setattr__(self, key, "off")
            elif value is True and key == "clustering_branch":
                object.__setattr__(self, key, "on")
            if getattr(self, key) not in CHOICES[key]:
                raise ConfigError(f"option {key}={value!r} is not one of {list(CHOICES[key])}")
        for key in POSITIVE + NON_NEGATIVE + OPTIONAL_POSITIVE:
            value = getattr(self, key)
            low = 0 if key in NON_NEGATIVE else 1
            if not (value is None and key in OPTIONAL_POSITIVE) and value < low:
                raise ConfigError(f"option {key} must be >= {low}, got {value!r}")
        if not 0 <= self.dropout < 1 or not 0 < self.memory_momentum <= 1 or self.tau_g <= 0 or self.lr <= 0:
            raise ConfigError(
                f"options out of range: dropout {self.dropout} (in [0, 1)), memory_momentum "
                f"{self.memory_momentum} (in (0, 1]), tau_g {self.tau_g} (> 0), lr {self.lr} (> 0)"
            )
        for key in ("margin", "lambda_clu", "lambda_guide", "lambda_smooth", "lambda_sparse", "weight_decay"):
            if getattr(self, key) < 0:
                raise ConfigError(f"option {key} must be >= 0, got {getattr(self, key)!r}")

    @property
    def topk_k(self) -> int:
        """The k in use: ``topk`` or ``floor(S / 16) + 1``."""
        return int(self.topk) if self.topk is not None else max(1, self.segments // 16 + 1)
