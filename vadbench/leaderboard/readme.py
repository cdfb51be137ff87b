"""The generated leaderboard section of a README, between two HTML comment markers (atomic rewrite).

Example:
    >>> replace_between_markers(f"{README_START}\\n{README_END}\\n", "| a |")
    '<!-- leaderboard:start -->\\n| a |\\n<!-- leaderboard:end -->\\n'
"""

from __future__ import annotations

import os
from pathlib import Path

from vadbench.errors import DataError
from vadbench.leaderboard.store import atomic_write_text

#: Marker pair delimiting the generated leaderboard in a README.
README_START = "<!-- leaderboard:start -->"
README_END = "<!-- leaderboard:end -->"


def replace_between_markers(text: str, block: str, *, where: str = "README") -> str:
    """Replace what lies between :data:`README_START` and :data:`README_END` (markers kept).

    >>> text = "a\\n<!-- leaderboard:start -->\\nold\\n<!-- leaderboard:end -->\\nb\\n"
    >>> replace_between_markers(text, "new\\n")
    'a\\n<!-- leaderboard:start -->\\nnew\\n<!-- leaderboard:end -->\\nb\\n'
    """
    starts, ends = text.count(README_START), text.count(README_END)
    if starts != 1 or ends != 1:
        raise DataError(
            f"{where}: expected exactly one {README_START!r} and one {README_END!r} marker, "
            f"found {starts} and {ends}"
        )
    if text.index(README_END) < text.index(README_START):
        raise DataError(f"{where}: the {README_END!r} marker comes before {README_START!r}")
    head, rest = text.split(README_START)
    tail = rest.split(README_END)[1]
    return f"{head}{README_START}\n{block.rstrip(chr(10))}\n{README_END}{tail}"


def update_readme(path: str | os.PathLike[str], block: str) -> bool:
    """Replace the generated leaderboard section of a README (atomic write). Returns whether it changed.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "README.md"
    >>> _ = p.write_text("x\\n<!-- leaderboard:start -->\\n<!-- leaderboard:end -->\\n")
    >>> update_readme(p, "| a |"), update_readme(p, "| a |")
    (True, False)
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"README {path} not found")
    text = path.read_text(encoding="utf-8")
    new = replace_between_markers(text, block, where=str(path))
    if new == text:
        return False
    atomic_write_text(path, new)
    return True
