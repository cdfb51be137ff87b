"""The floor line of a leaderboard: the best content-free score per dataset and protocol.

``vadbench/data/floors.csv`` holds, per dataset, split and ground-truth convention (and synthetic preset),
the best content-free probe of :mod:`vadbench.audit` with either sign and its micro frame AUC, measured from
the labels alone (``vadbench datasets audit``; real datasets from their annotation files). A measured AUC at
or below it says nothing about looking at the video.

Example:
    >>> f = floor_for("shanghaitech", "split=weak;gt=rtfm;unit=snippet16")
    >>> f["probe"], round(f["auc"], 3)
    ('-length', 0.918)
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import Any

FLOORS_CSV = Path(__file__).resolve().parents[1] / "data" / "floors.csv"


@lru_cache(maxsize=1)
def read_floors() -> tuple[dict[str, Any], ...]:
    """The rows of ``floors.csv`` (``auc`` as a float in [0, 1])."""
    with open(FLOORS_CSV, newline="") as fh:
        return tuple({**r, "auc": float(r["auc"])} for r in csv.DictReader(fh))


def _fields(protocol: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in str(protocol).split(";") if "=" in p)


def floor_for(dataset: str, protocol: str, preset: str = "") -> dict[str, Any] | None:
    """The floor row of ``dataset`` under ``protocol`` (its split and gt); synthetic rows also match the
    dataset preset (``tiny`` / ``small``: the highest floor when it is not given). None when unknown."""
    f = _fields(protocol)
    rows = [r for r in read_floors() if r["dataset"] == dataset and r["gt"] == f.get("gt")
            and r["split"] == f.get("split", "test") and (not preset or r["preset"] in ("", preset))]
    return max(rows, key=lambda r: r["auc"]) if rows else None


def floor_lines(dataset: str, protocols: dict[str, str]) -> list[str]:
    """Markdown lines naming the floor of every protocol id of a leaderboard table."""
    out = []
    for pid, proto in protocols.items():
        row = floor_for(dataset, proto or "")
        if row is not None:
            out.append(f"- floor {pid}: content-free `{row['probe']}` reaches {100 * row['auc']:.2f} AUC "
                       f"({row['labels']}; `vadbench datasets audit`)")
    return out
