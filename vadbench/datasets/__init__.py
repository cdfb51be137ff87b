"""Datasets: one module per benchmark, the base types, ground-truth conventions and the synthetic generator.

Look a dataset up by name with :func:`vadbench.datasets.get_dataset`.
"""

from __future__ import annotations

from typing import Any


def get_dataset(name: str, root: Any = None, **kwargs: Any) -> Any:
    """Instantiate the registered dataset ``name`` reading from ``root`` (see :mod:`vadbench.paths`)."""
    from vadbench.registry import DATASETS

    return DATASETS.get(name)(root=root, **kwargs)
