"""``vadbench grid``: every (method, dataset) pair, failures recorded as rows, local and submitit jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_runner import PROTOCOL, make_fake_dataset, make_fake_method
from vadbench.errors import ConfigError
from vadbench.methods.base import Method
from vadbench.registry import DATASETS, METHODS
from vadbench.runner import grid


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    monkeypatch.setitem(DATASETS._items, "fakeds", make_fake_dataset())
    monkeypatch.setitem(METHODS._items, "fake-semi", make_fake_method())
    return {"root": tmp_path / "data", "runs": tmp_path / "runs", "csv": tmp_path / "results.csv"}


def _stub(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> type:
    """A second method, defined and registered only inside the test: sigmoid of the frame signal."""

    class Stub(Method):
        name, supervision, input_kind, unit = "stub", "semi", "frames", "frame"

        def fit(self, samples):
            if fail:
                raise RuntimeError("stub exploded on purpose")
            return self

        def score(self, sample):
            return 1.0 / (1.0 + np.exp(-np.load(sample.path).astype(float)))

    monkeypatch.setitem(METHODS._items, "stub", Stub)
    return Stub


def _rows(path: Path):
    from vadbench.leaderboard import read_results

    return read_results(path)


def test_grid_local_runs_every_pair(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _stub(monkeypatch)
    results = grid(
        ["fake-semi", "stub"],
        ["fakeds"],
        executor="local",
        leaderboard=setup["csv"],
        runs_dir=setup["runs"],
        root=setup["root"],
        protocol=PROTOCOL,
        device="cpu",
        progress=False,
    )
    assert [r.status for r in results] == ["ok", "ok"]
    assert [r.row["method"] for r in results] == ["fake-semi", "stub"]
    assert all((r.run_dir / "report.html").is_file() for r in results)
    rows = _rows(setup["csv"])
    assert list(rows["method"]) == ["fake-semi", "stub"] and set(rows["status"]) == {"ok"}
    assert rows["auc_micro"].min() > 0.8


def test_grid_records_a_failure_and_goes_on(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _stub(monkeypatch, fail=True)
    results = grid(
        ["stub", "fake-semi"],
        ["fakeds"],
        leaderboard=setup["csv"],
        runs_dir=setup["runs"],
        root=setup["root"],
        protocol=PROTOCOL,
        device="cpu",
        progress=False,
    )
    assert [r.status for r in results] == ["failed", "ok"]
    assert "RuntimeError: stub exploded on purpose" in results[0].error
    rows = _rows(setup["csv"])
    failed = rows[rows["status"] == "failed"].iloc[0]
    assert failed["method"] == "stub" and failed["dataset"] == "fakeds"
    assert failed["error"] == "RuntimeError: stub exploded on purpose"
    assert failed["protocol"] == results[1].row["protocol"]  # resolved for the failed row too
    assert (rows["status"] == "ok").sum() == 1


def test_grid_unknown_names(setup: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        grid(["nope"], ["fakeds"], runs_dir=setup["runs"])
    with pytest.raises(ConfigError, match="unknown executor"):
        grid(["fake-semi"], ["fakeds"], executor="ray", runs_dir=setup["runs"])


def test_grid_submitit_local_jobs(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pair as a submitit job in a separate process (AutoExecutor(cluster="local")): the method and
    dataset classes exist only in this test process and travel by value."""
    _stub(monkeypatch, fail=True)
    results = grid(
        ["fake-semi", "stub"],
        ["fakeds"],
        executor="slurm",
        cluster="local",
        slurm={"timeout_min": 5},
        leaderboard=setup["csv"],
        runs_dir=setup["runs"],
        root=setup["root"],
        protocol=PROTOCOL,
        device="cpu",
        progress=False,
    )
    assert [r.status for r in results] == ["ok", "failed"]
    assert "stub exploded on purpose" in results[1].error
    rows = _rows(setup["csv"])
    assert sorted(zip(rows["method"], rows["status"], strict=True)) == [
        ("fake-semi", "ok"),
        ("stub", "failed"),
    ]
    assert list((setup["runs"] / "submitit").glob("*_log.out"))  # the jobs' logs


def test_cli_grid(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from vadbench.cli import app

    _stub(monkeypatch)
    args = [
        "grid",
        "--methods",
        "fake-semi,stub",
        "--datasets",
        "fakeds",
        "--root",
        str(setup["root"]),
        "--protocol",
        PROTOCOL,
        "--device",
        "cpu",
        "--runs-dir",
        str(setup["runs"]),
        "--leaderboard",
        str(setup["csv"]),
        "--no-progress",
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "fake-semi" in out.output and "stub" in out.output and "failed" not in out.output
    _stub(monkeypatch, fail=True)
    out = CliRunner().invoke(app, [*args, "--fresh"])
    assert out.exit_code == 1 and "failed" in out.output
