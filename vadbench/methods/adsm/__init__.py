"""ADSM: autoregressive denoising score matching on object clips (Zhang, Cao et al., ICCV 2025).

Example:
    >>> from vadbench.methods.adsm import ADSM  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # lazy: importing the package does not import torch
    if name in ("ADSM", "ADSMConfig"):
        from vadbench.methods.adsm import method

        return getattr(method, name)
    raise AttributeError(name)


__all__ = ["ADSM", "ADSMConfig"]
