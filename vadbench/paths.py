"""Where vadbench reads data and writes caches. The one place these rules live.

- Dataset roots: ``--root`` > ``$VADBENCH_DATA/<name>`` > ``datasets/<name>/`` of the checkout (or cwd).
- Cache (features, tracks, generated synthetic data): ``$VADBENCH_CACHE`` > the platform's user cache folder.

Example:
    >>> from vadbench.paths import cache_dir
    >>> cache_dir().name in {"vadbench", "cache"} or True
    True
"""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout root when vadbench is installed in editable mode (holds ``datasets/`` and ``methods/`` cards).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The cache root: ``$VADBENCH_CACHE`` or the user cache folder (``~/.cache/vadbench`` on Linux)."""
    env = os.environ.get("VADBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vadbench"))


def dataset_root(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Root of dataset ``name``: ``root`` if given, else ``$VADBENCH_DATA/<name>``, else its card folder."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("VADBENCH_DATA")
    if env:
        return Path(env).expanduser() / name
    return card_dir("datasets", name)


def card_dir(kind: str, name: str) -> Path:
    """The card folder ``<kind>/<name>/`` (``kind`` is ``datasets`` or ``methods``) of the checkout."""
    for base in (PROJECT_ROOT, Path.cwd()):
        candidate = base / kind / name
        if candidate.exists():
            return candidate
    return PROJECT_ROOT / kind / name
