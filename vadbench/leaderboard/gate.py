"""The regression gate: the latest ok measured row of each baseline configuration against its baseline.

(Named ``gate`` rather than ``regress`` so that the submodule does not shadow the :func:`regress` function
re-exported by :mod:`vadbench.leaderboard`.)

Example:
    >>> Check("m", "d", "p", "ap", baseline=80.0, tolerance=0.5, measured=None, status="missing").failed
    True
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from vadbench.leaderboard.columns import LOWER_IS_BETTER, _is_missing, data_cells, options_cells, to_percent
from vadbench.leaderboard.query import latest_ok

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclasses.dataclass
class Check:
    """The outcome of one baseline row: ``ok``, ``improved`` (beyond tolerance, passes), ``regression`` or
    ``missing`` (the last two fail the gate). Values in percent."""

    method: str
    dataset: str
    protocol: str
    metric: str
    baseline: float
    tolerance: float
    measured: float | None
    status: str
    detail: str = ""
    run_id: str = ""
    line: int = 0
    use_ci: bool = False  # tolerance=ci: the measured row's bootstrap interval decides
    interval: tuple[float, float] | None = None  # that interval, percent

    @property
    def delta(self) -> float | None:
        return None if self.measured is None else self.measured - self.baseline

    @property
    def failed(self) -> bool:
        return self.status in ("regression", "missing")


def regress(results: pd.DataFrame, baselines: pd.DataFrame) -> list[Check]:
    """Compare the latest ok measured row of each baseline's (method, dataset, protocol) with the baseline.
    Only rows on the default data count (column ``data`` blank): a run on another data seed is never
    compared with an anchor.

    A value below ``baseline - tolerance`` (above ``baseline + tolerance`` for FAR) is a regression; no
    matching ok row or a blank metric is ``missing``. A baseline with ``tolerance=ci`` uses the measured
    row's 95 % bootstrap interval instead: a regression when the whole interval lies below the baseline,
    ``improved`` when it lies above, ``missing`` when the row has no interval.

    >>> import pandas as pd
    >>> res = pd.DataFrame({"method": ["m"], "dataset": ["d"], "protocol": ["p"], "status": ["ok"],
    ...                     "source": ["vadbench"], "timestamp": [""], "run_id": ["r1"], "ap": [0.79]})
    >>> base = pd.DataFrame({"method": ["m"], "dataset": ["d"], "protocol": ["p"], "metric": ["ap"],
    ...                      "value": [80.0], "tolerance": [0.5], "_line": [2]})
    >>> [(c.status, round(c.delta, 2)) for c in regress(res, base)]
    [('regression', -1.0)]
    """
    measured = results[results["source"] == "vadbench"] if "source" in results else results
    # the anchors' data and options: the default data, the preset as it is (what --rerun runs)
    measured = measured[(data_cells(measured) == "") & (options_cells(measured) == "")]
    latest = latest_ok(measured, ["method", "dataset", "protocol"])
    index = {(r["method"], r["dataset"], r["protocol"]): r for r in latest.to_dict("records")}
    like: dict[tuple, dict] = {}  # like with like: the latest row of the baseline's preset and seed too
    if {"preset", "seed"} <= set(measured.columns):
        for r in latest_ok(measured, ["method", "dataset", "protocol", "preset", "seed"]).to_dict("records"):
            like[(r["method"], r["dataset"], r["protocol"], _cell(r.get("preset")), _cell(r.get("seed")))] = r
    checks = []
    for base in baselines.to_dict("records"):
        key = (base["method"], base["dataset"], base["protocol"])
        preset, seed = _cell(base.get("preset")), _cell(base.get("seed"))
        check = Check(
            method=base["method"],
            dataset=base["dataset"],
            protocol=base["protocol"],
            metric=base["metric"],
            baseline=float(base["value"]),
            tolerance=float(base["tolerance"]),
            measured=None,
            status="missing",
            line=int(base.get("_line", 0)),
            use_ci=bool(base.get("tolerance_ci", False)),
        )
        checks.append(check)
        if preset or seed:  # the baseline names its preset / seed: only a run of that config is compared
            row = next((r for k, r in like.items() if k[:3] == key and (not preset or k[3] == preset)
                        and (not seed or k[4] == seed)), None)
        else:
            row = index.get(key)
        if row is None:
            check.detail = _why_missing(measured, key)
            if preset or seed:
                check.detail += f" (with preset {preset or 'any'}, seed {seed or 'any'})"
            continue
        check.run_id = str(row.get("run_id", ""))
        value = row.get(base["metric"])
        if _is_missing(value):
            check.detail = f"latest ok run {check.run_id or '?'} has no {base['metric']} value"
            continue
        check.measured = to_percent(value)
        if check.use_ci:
            _ci_status(check, row)
            continue
        delta = check.measured - check.baseline
        if base["metric"] in LOWER_IS_BETTER:
            delta = -delta
        eps = 1e-9  # values exactly at the tolerance edge pass
        if delta < -check.tolerance - eps:
            check.status = "regression"
        elif delta > check.tolerance + eps:
            check.status = "improved"
            check.detail = "beyond tolerance: consider raising the baseline"
        else:
            check.status = "ok"
    return checks


def _cell(value: object) -> str:
    """A preset / seed cell as text ('' when blank; seeds as integers whether read as 0 or 0.0)."""
    if _is_missing(value) or value == "":
        return ""
    try:
        return str(int(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def _ci_status(check: Check, row: dict) -> None:
    """tolerance=ci: the baseline against the measured row's interval (both percent)."""
    low, high = row.get(f"{check.metric}_ci_low"), row.get(f"{check.metric}_ci_high")
    if _is_missing(low) or _is_missing(high):
        check.detail = (
            f"tolerance=ci but latest ok run {check.run_id or '?'} has no {check.metric} interval "
            f"({check.metric}_ci_low / _ci_high blank)"
        )
        return
    check.interval = (to_percent(low), to_percent(high))
    eps = 1e-9
    if check.interval[1] < check.baseline - eps:
        check.status = "regression"
        check.detail = "the whole 95 % interval lies below the baseline"
    elif check.interval[0] > check.baseline + eps:
        check.status = "improved"
        check.detail = "the whole 95 % interval lies above the baseline: consider raising it"
    else:
        check.status = "ok"


def _why_missing(measured: pd.DataFrame, key: tuple[str, str, str]) -> str:
    method, dataset, protocol = key
    same = measured[(measured["method"] == method) & (measured["dataset"] == dataset)]
    if same.empty:
        return f"no result row for method {method!r} on dataset {dataset!r}"
    exact = same[same["protocol"] == protocol]
    if exact.empty:
        others = sorted(set(same["protocol"]))
        shown = "; ".join(others[:3]) + (f" (+{len(others) - 3} more)" if len(others) > 3 else "")
        return f"no row with this protocol string; found: {shown}"
    last = exact.iloc[-1]
    error = str(last.get("error", "") or "")
    return f"no row with status ok ({len(exact)} failed; last error: {error[:200] or 'not recorded'})"
