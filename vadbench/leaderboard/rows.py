"""Building a result row: run id, UTC timestamp, vadbench version and git commit filled in, then validated.

Example:
    >>> row = make_row(method="vadclip", dataset="synthetic", split="weak", protocol="p",
    ...                metrics={"auc_micro": 0.9}, commit="abc")
    >>> row["source"], row["status"], row["auc_micro"]
    ('vadbench', 'ok', 0.9)
"""

from __future__ import annotations

import functools
import re
import subprocess
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vadbench.errors import ConfigError
from vadbench.leaderboard.columns import _ROW_DEFAULTS
from vadbench.leaderboard.validate import validate_row


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the vadbench checkout (``+dirty`` when tracked files changed), or ``unknown``.

    >>> isinstance(git_commit(), str)
    True
    """
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not re.fullmatch(r"[0-9a-f]{40}", head):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def utc_timestamp() -> str:
    """The current UTC time in ISO 8601 with milliseconds (the ``timestamp`` column).

    >>> utc_timestamp().endswith("+00:00")
    True
    """
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def make_row(
    *,
    method: str,
    dataset: str,
    protocol: str = "",
    metrics: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Build and validate a result row; fills run_id, timestamp (UTC ISO), source, status, selection,
    vadbench_version and commit unless given. ``metrics`` are fractions in [0, 1] (use
    :func:`~vadbench.leaderboard.from_percent` for percent values such as VadCLIP's mAP printout).

    >>> row = make_row(method="m", dataset="d", protocol="p", metrics={"ap": 0.5}, seed=0, commit="c")
    >>> row["vadbench_version"] != "", row["selection"], row["seed"]
    (True, 'none', 0)
    """
    row: dict[str, Any] = {"method": method, "dataset": dataset, "protocol": protocol, **fields}
    for key, value in (metrics or {}).items():
        if key in row:
            raise ConfigError(f"result row: metric {key!r} given both in metrics and as a field")
        row[key] = value
    row = with_defaults(row)
    return validate_row(row)


def with_defaults(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with run_id, timestamp, source, status, selection, vadbench_version and commit filled where
    absent (keys present are kept, even blank).

    >>> sorted(with_defaults({"method": "m", "commit": "c"}))[:4]
    ['commit', 'method', 'run_id', 'selection']
    """
    from vadbench import __version__

    out = dict(row)
    out.setdefault("run_id", uuid.uuid4().hex[:12])
    out.setdefault("timestamp", utc_timestamp())
    for column, default in _ROW_DEFAULTS.items():  # source, status, selection
        out.setdefault(column, default)
    out.setdefault("vadbench_version", __version__)
    if "commit" not in out:
        out["commit"] = git_commit()
    return out
