"""Where vadbench reads data and writes caches. The one place these rules live.

- Dataset roots: ``--root`` > ``$VADBENCH_DATA/<name>`` > ``datasets/<name>/`` of the checkout (or cwd).
- Cache (features, tracks, generated synthetic data): ``$VADBENCH_CACHE`` > the platform's user cache folder.
- Results: ``run``, ``grid``, ``leaderboard`` and ``regress`` share one results file, ``--results`` >
  ``$VADBENCH_RESULTS`` > ``runs/results.csv`` of the working folder.
- Shipped tables (``leaderboards/published.csv``, ``leaderboards/baselines.csv``, the committed
  ``leaderboards/results.csv``): the working folder's copy, else the checkout's.

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


#: The results file of ``run`` / ``grid`` / ``leaderboard`` / ``regress`` when neither ``--results`` nor
#: ``$VADBENCH_RESULTS`` is given (relative to the working folder).
RESULTS_FILE = Path("runs") / "results.csv"


def results_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The shared results CSV: ``path`` if given, else ``$VADBENCH_RESULTS``, else ``runs/results.csv``.

    >>> results_file("x.csv").name
    'x.csv'
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("VADBENCH_RESULTS")
    return Path(env).expanduser() if env else RESULTS_FILE


def shipped_file(relative: str | os.PathLike[str]) -> Path:
    """A table that ships with vadbench (e.g. ``leaderboards/baselines.csv``): the working folder's copy when
    there is one, else the checkout's (which may not exist: callers report the path they tried).

    >>> shipped_file("leaderboards/published.csv").name
    'published.csv'
    """
    relative = Path(relative)
    for base in (Path.cwd(), PROJECT_ROOT):
        if (base / relative).is_file():
            return base / relative
    return PROJECT_ROOT / relative
