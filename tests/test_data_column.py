"""The data a result row was measured on (column ``data``): recorded, read back, and never mixed.

Rows of ``leaderboards/results.csv`` measured on synthetic data seeds 1 and 2 were once averaged with data
seed 0 rows as "seeds" of one configuration (the run summary's "beside it" line, the leaderboard). A row now
records its data (blank = the default data, ``seed=1`` = synthetic data seed 1) and every comparison keeps
rows of one data together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.test_runner import PROTOCOL, make_fake_dataset, make_fake_method
from vadbench import leaderboard as lb
from vadbench.errors import ConfigError
from vadbench.registry import DATASETS, METHODS

SEMI = "split=semi;gt=official;unit=frame"


def _row(method: str, seed: int, auc: float, data: str | None, **kw: Any) -> dict[str, Any]:
    fields = {"split": "semi", "preset": "tiny", "seed": seed, "n_frames": 944, "commit": "c",
              "timestamp": f"2026-12-02T14:0{seed}:00+00:00", "run_id": f"{method}-{seed}-{data}", **kw}
    if data is not None:
        fields["data"] = data
    return lb.make_row(method=method, dataset="synthetic", protocol=SEMI, metrics={"auc_micro": auc},
                       **fields)


def _results(path: Path, rows: list[dict[str, Any]]) -> Path:
    for row in rows:
        lb.append_row(path, row)
    return path


def _three_data_seeds(tmp_path: Path) -> Path:
    """frame-diff (deterministic) on data seeds 0 / 1 / 2, each run with method seed = data seed."""
    return _results(tmp_path / "r.csv", [_row("frame-diff", 0, 0.6224, ""),
                                         _row("frame-diff", 1, 0.6107, "seed=1"),
                                         _row("frame-diff", 2, 0.7623, "seed=2")])


# -- the column ----------------------------------------------------------------------------------------------


def test_data_column_round_trips_through_the_csv(tmp_path: Path) -> None:
    path = _results(tmp_path / "r.csv", [_row("knn", 0, 0.6, None), _row("knn", 1, 0.7, "seed=1"),
                                         _row("knn", 2, 0.8, " seed = 2 ")])
    header = path.read_text().splitlines()[0].split(",")
    assert header.index("data") == header.index("dataset") + 1
    assert list(lb.read_results(path)["data"]) == ["", "seed=1", "seed=2"]  # canonical text, blank = default
    assert lb.data_text({"seed": 1, "preset": "small"}) == "preset=small;seed=1"


def test_a_file_without_the_column_reads_as_the_default_data(tmp_path: Path) -> None:
    """Backward compatible: an old file (no ``data`` column) reads as default data; appending to it adds the
    column, the old rows blank."""
    path = _results(tmp_path / "r.csv", [_row("knn", 0, 0.6, None)])
    table = pd.read_csv(path).drop(columns=["data"])
    table.to_csv(path, index=False)
    assert list(lb.read_results(path)["data"]) == [""]
    lb.append_row(path, _row("knn", 1, 0.7, "seed=1"))
    assert list(lb.read_results(path)["data"]) == ["", "seed=1"]


# -- comparisons ---------------------------------------------------------------------------------------------


def test_beside_it_never_averages_rows_of_other_data(tmp_path: Path) -> None:
    from vadbench.report_context import baseline_rows, summary_lines

    path = _three_data_seeds(tmp_path)
    (fd,) = baseline_rows("synthetic", SEMI, "tiny-wide", None, [path])
    assert (fd["method"], round(100 * fd["auc_micro"], 2), fd["seeds"]) == ("frame-diff", 62.24, 1)
    (fd1,) = baseline_rows("synthetic", SEMI, "tiny", None, [path], data="seed=1")
    assert (round(100 * fd1["auc_micro"], 2), fd1["seeds"]) == (61.07, 1)
    assert baseline_rows("synthetic", SEMI, "tiny", None, [path], data="seed=7") == []
    lines = summary_lines("r", SEMI, {"auc_micro": 0.5}, [fd1], None, data="seed=1")
    assert any(line.startswith("beside it (same data seed=1, split and labels") for line in lines)
    old = tmp_path / "old.csv"  # a file without the column: its rows are default data
    pd.read_csv(path).drop(columns=["data"]).to_csv(old, index=False)
    (fd,) = baseline_rows("synthetic", SEMI, "tiny", None, [old])
    assert fd["seeds"] == 3  # (what every row of an old file claims to be)
    assert baseline_rows("synthetic", SEMI, "tiny", None, [old], data="seed=1") == []


def test_committed_beside_rows_are_on_the_default_data() -> None:
    """The lead's case: `vadbench run --method adsm --preset tiny-wide` printed frame-diff 66.52 and knn 61.77
    "(3 seeds)", means over data seeds 0-2; on the default data they are single deterministic rows."""
    from vadbench.paths import PROJECT_ROOT
    from vadbench.report_context import baseline_rows

    got = {r["method"]: (round(100 * r["auc_micro"], 2), r["seeds"])
           for r in baseline_rows("synthetic", "split=semi;gt=official", "tiny-wide", None,
                                  [PROJECT_ROOT / "leaderboards" / "results.csv"])}
    assert got["frame-diff"] == (62.24, 1) and got["knn"] == (63.49, 1)
    on_seed_1 = {r["method"]: round(100 * r["auc_micro"], 2)
                 for r in baseline_rows("synthetic", "split=semi;gt=official", "tiny", None,
                                        [PROJECT_ROOT / "leaderboards" / "results.csv"], data="seed=1")}
    assert on_seed_1["frame-diff"] == 61.07 and on_seed_1["knn"] == 60.39


def test_leaderboard_keeps_rows_of_other_data_apart(tmp_path: Path) -> None:
    (table,) = lb.build_tables(lb.read_results(_three_data_seeds(tmp_path)), None, dataset="synthetic")
    rows = {r.notes: (round(r.values["auc_micro"], 2), r.n_seeds) for r in table.rows}
    assert rows == {"preset tiny": (62.24, 1), "preset tiny; data seed=1": (61.07, 1),
                    "preset tiny; data seed=2": (76.23, 1)}
    path = _results(tmp_path / "two.csv", [_row("knn", 0, 0.6, ""), _row("knn", 1, 0.7, ""),
                                           _row("knn", 1, 0.9, "seed=1")])
    (table,) = lb.build_tables(lb.read_results(path), None, dataset="synthetic")
    assert sorted((round(r.values["auc_micro"], 2), r.n_seeds) for r in table.rows) == [(65.0, 2), (90.0, 1)]


def test_regress_compares_anchors_with_default_data_rows_only(tmp_path: Path) -> None:
    path = _results(tmp_path / "r.csv", [_row("knn", 0, 0.6349, ""), _row("knn", 0, 0.10, "seed=1")])
    base = pd.DataFrame({"method": ["knn"], "dataset": ["synthetic"], "protocol": [SEMI],
                         "metric": ["auc_micro"], "value": [63.49], "tolerance": [0.5], "_line": [2],
                         "preset": ["tiny"], "seed": ["0"]})
    (check,) = lb.regress(lb.read_results(path), base)
    assert check.status == "ok" and check.measured == pytest.approx(63.49)


def test_compare_refuses_runs_on_other_data(tmp_path: Path) -> None:
    from vadbench.compare import RunInfo, check_comparable, resolve

    a = RunInfo(tmp_path, "a", "knn", "synthetic", SEMI, 0, "")
    b = RunInfo(tmp_path, "b", "frame-diff", "synthetic", SEMI, 1, "seed=1")
    with pytest.raises(ConfigError, match="different data: a on default data, b on data seed=1"):
        check_comparable([a], [b])
    frame = lb.read_results(_three_data_seeds(tmp_path))
    with pytest.raises(ConfigError, match="--data"):  # three data, not three seeds of one configuration
        resolve("method=frame-diff", tmp_path, frame, dataset="synthetic", preset="tiny")
    for data in ("", "seed=2"):
        (run_dir,) = [tmp_path / r for r in frame["run_id"] if r.endswith(f"-{data}")]
        run_dir.mkdir()
        (run_dir / "row.json").write_text(json.dumps({"method": "frame-diff", "dataset": "synthetic",
                                                      "protocol": SEMI, "seed": 0, "data": data}))
        (got,) = resolve("method=frame-diff", tmp_path, frame, preset="tiny", data=data)
        assert got.data == data


# -- the option ----------------------------------------------------------------------------------------------


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """A fake dataset with a data seed (``seed``, default 0) that it records, and a fake semi method."""
    base = make_fake_dataset("seededds")

    class Seeded(base):  # type: ignore[misc, valid-type]
        data_defaults = {"seed": 0}
        made: list[int] = []

        def __init__(self, root: Any = None, *, seed: int = 0, **kw: Any) -> None:
            super().__init__(root, **kw)
            self.seed = seed
            type(self).made.append(seed)

        def data_options(self) -> dict[str, Any]:
            return {"seed": self.seed}

    Seeded.name = "seededds"
    monkeypatch.setitem(DATASETS._items, "seededds", Seeded)
    monkeypatch.setitem(METHODS._items, "fake-semi", make_fake_method())
    import vadbench.runner as runner

    monkeypatch.setitem(runner.DEFAULT_PROTOCOLS, "seededds", {"*": PROTOCOL})
    return {"dataset": Seeded, "root": tmp_path / "data", "runs": tmp_path / "runs",
            "csv": tmp_path / "r.csv"}


def test_cli_dataset_opt_reaches_the_dataset_and_the_row(seeded: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from vadbench.cli import app

    args = ["run", "--method", "fake-semi", "--dataset", "seededds", "--root", str(seeded["root"]),
            "--device", "cpu", "--runs-dir", str(seeded["runs"]), "--results", str(seeded["csv"]),
            "--no-progress"]
    out = CliRunner().invoke(app, [*args, "--dataset-opt", "seed=1"])
    assert out.exit_code == 0, out.output
    assert seeded["dataset"].made[-1] == 1  # the option reached the loader, as an integer
    assert "data seed=1" in out.output
    out = CliRunner().invoke(app, args)  # the default data: a blank cell, another run
    assert out.exit_code == 0, out.output
    assert seeded["dataset"].made[-1] == 0
    table = lb.read_results(seeded["csv"])
    assert list(table["data"]) == ["seed=1", ""] and table["run_id"].nunique() == 2
    config = (seeded["runs"] / table["run_id"].iloc[0] / "config.yaml").read_text()
    assert "dataset_options" in config and "seed: 1" in config
    bad = CliRunner().invoke(app, [*args, "--dataset-opt", "seed"])
    assert bad.exit_code == 2 and "--dataset-opt expects key=value" in bad.output


def test_data_of_records_the_data_read_not_only_the_options() -> None:
    """A root that holds data seed 1 (``--root synthetic-tiny-s1``) is recorded as seed=1; the preset's own
    dataset section (``preset: small``) is the default data of that preset."""
    from types import SimpleNamespace as NS

    from vadbench.datasets.synthetic import Synthetic
    from vadbench.runner import data_of

    def ds(seed: int, preset: str) -> Any:
        return NS(data_defaults=Synthetic.data_defaults,
                  data_options=lambda: {"seed": seed, "preset": preset})

    assert data_of(ds(1, "tiny"), {"dataset_kwargs": {"preset": "tiny"}}) == "seed=1"
    assert data_of(ds(0, "small"), {"dataset_kwargs": {"preset": "small"}}) == ""
    assert data_of(ds(0, "small"), {"dataset_kwargs": {}}) == "preset=small"
    assert data_of(ds(2, "small"), {"dataset_kwargs": {"preset": "small", "seed": 2},
                                    "dataset_options": {"seed": 2}}) == "seed=2"
    assert data_of(NS(), {"dataset_kwargs": {}}) == ""  # a real dataset: one content
