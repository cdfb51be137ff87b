"""Device resolution: the one home of the rule ``auto`` -> ``cuda`` when torch sees one, else ``cpu``.

Example:
    >>> resolve_device("cpu")
    'cpu'
"""

from __future__ import annotations

from vadbench.errors import ConfigError


def resolve_device(device: str | None = "auto") -> str:
    """``auto`` / ``None`` -> ``cuda`` when available, else ``cpu``; ``cpu`` / ``cuda[:i]`` are checked.

    A ``cuda`` request on a machine without CUDA is an error (not a silent fallback).
    """
    device = "auto" if device is None else str(device)
    if device == "cpu":
        return "cpu"
    if device != "auto" and not device.startswith("cuda"):
        raise ConfigError(f"unknown device {device!r}; expected auto, cpu or cuda[:index]")
    import torch

    if torch.cuda.is_available():
        return "cuda" if device == "auto" else device
    if device == "auto":
        return "cpu"
    raise ConfigError(f"device {device!r} requested but torch sees no CUDA device; use --device cpu or auto")
