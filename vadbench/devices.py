"""Device resolution: the one home of the rule ``auto`` -> ``cuda`` when torch sees one, else ``cpu``; and
the fixed CPU thread count of computations whose results are cached (:func:`cached_cpu_threads`).

Example:
    >>> resolve_device("cpu")
    'cpu'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vadbench.errors import ConfigError

#: torch's intra-op thread count for work whose results go into a cache (features): torch's CPU kernels
#: split reductions by thread, so the same model gives numbers that differ with the thread count (world-clip
#: features: max |diff| 1.7e-3 between 1 and 2 threads; VadCLIP tiny then moved 2.4 AUC points). A cache
#: filled by one process and read by another would otherwise carry the first one's thread count into every
#: later number; one fixed count makes the stored numbers the same on every machine with the same builds.
CACHED_CPU_THREADS = 1


def cached_threads_for(device: str) -> int | None:
    """The torch thread count cached work runs at on ``device``: :data:`CACHED_CPU_THREADS` on ``cpu``, None
    (left as it is) on other devices.

    >>> cached_threads_for("cpu"), cached_threads_for("cuda:0")
    (1, None)
    """
    return CACHED_CPU_THREADS if str(device).startswith("cpu") else None


@contextmanager
def cached_cpu_threads(device: str) -> Iterator[None]:
    """Run the block with :data:`CACHED_CPU_THREADS` torch threads on ``cpu`` (restored after; other
    devices unchanged).

    >>> import torch
    >>> n = torch.get_num_threads()
    >>> with cached_cpu_threads("cpu"):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == n
    True
    """
    import torch

    threads = cached_threads_for(device)
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
