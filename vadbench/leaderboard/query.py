"""Selecting result rows: concatenating files, the latest ok row per configuration, the leakage flag.

Example:
    >>> is_test_selected("test", "split=test")
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vadbench.leaderboard.columns import RESULT_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def concat_results(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate results frames, keeping every column (``_order`` = position across the inputs).

    >>> len(concat_results([]))
    0
    """
    import pandas as pd

    if not frames:
        return pd.DataFrame(columns=[*RESULT_COLUMNS, "_line", "_order"])
    frame = pd.concat(list(frames), ignore_index=True)
    frame["_order"] = range(len(frame))
    return frame


def latest_ok(results: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The latest ``status == ok`` row per ``keys`` (by timestamp, ties by position in the input).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"method": ["m", "m"], "status": ["ok", "ok"], "ap": [0.1, 0.2],
    ...                    "timestamp": ["2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00"]})
    >>> float(latest_ok(df, ["method"])["ap"].iloc[0])
    0.2
    """
    import pandas as pd

    ok = results[results["status"] == "ok"].copy()
    if ok.empty:
        return ok
    stamps = ok["timestamp"].astype(str).where(ok["timestamp"].astype(str) != "")
    ok["_ts"] = pd.to_datetime(stamps, utc=True, format="ISO8601")
    ok["_pos"] = ok["_order"] if "_order" in ok else range(len(ok))
    ok = ok.sort_values(["_ts", "_pos"], na_position="first", kind="stable")
    return ok.groupby(list(keys), sort=False, dropna=False).tail(1).drop(columns=["_ts", "_pos"])


def is_test_selected(selection: str, protocol: str) -> bool:
    """Whether a row carries the ``selection=test`` leakage flag (column or protocol string).

    >>> is_test_selected("none", "split=test;selection=test"), is_test_selected("none", "split=test")
    (True, False)
    """
    return selection == "test" or re.search(r"(^|[;,| ])selection=test($|[;,| ])", protocol) is not None
