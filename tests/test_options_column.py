"""The method options a result row was measured with (column ``options``): recorded, and never averaged in.

An ablation run (``vadbench run --method adsm --preset tiny-wide --set scene_condition=false``) wrote a row
that differed from the preset's rows only in its config hash, which covers the seed; the leaderboard grouped
rows by preset, so three preset seeds and three ablation seeds of each of two ablations printed as "adsm,
preset tiny-wide, mean ± std over 7 seeds" (caught before commit, 3 December 2026). A row now records the
options it set on top of its preset (blank = the preset as it is) and every comparison keeps them apart.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.test_data_column import SEMI, _results
from tests.test_runner import PROTOCOL, make_fake_dataset, make_fake_method
from vadbench import leaderboard as lb
from vadbench.errors import ConfigError
from vadbench.registry import DATASETS, METHODS


def _row(method: str, seed: int, auc: float, options: Any = None, **kw: Any) -> dict[str, Any]:
    fields = {"split": "semi", "preset": "tiny", "seed": seed, "n_frames": 944, "commit": "c",
              "timestamp": f"2026-12-03T04:0{seed}:00+00:00", "run_id": f"{method}-{seed}-{options}", **kw}
    if options is not None:
        fields["options"] = options
    return lb.make_row(method=method, dataset="synthetic", protocol=SEMI, metrics={"auc_micro": auc},
                       **fields)


def _preset_and_ablation(tmp_path: Path, method: str = "knn") -> Path:
    """Seeds 0 and 1 of the preset, seed 0 of an ablation (the ablation the latest row of seed 0)."""
    ablation = lb.options_text({"k": 3, "normalise": False})
    return _results(tmp_path / "r.csv", [_row(method, 0, 0.60), _row(method, 1, 0.70),
                                         _row(method, 0, 0.90, ablation)])


def test_options_column_round_trips_through_the_csv(tmp_path: Path) -> None:
    path = _preset_and_ablation(tmp_path)
    header = path.read_text().splitlines()[0].split(",")
    assert header.index("options") == header.index("preset") + 1
    assert list(lb.read_results(path)["options"]) == ["", "", "k=3;normalise=false"]
    old = pd.read_csv(path).drop(columns=["options"])  # a file written before the column: blank
    old.to_csv(path, index=False)
    assert list(lb.read_results(path)["options"]) == ["", "", ""]


def test_leaderboard_never_averages_an_ablation_into_its_preset(tmp_path: Path) -> None:
    (table,) = lb.build_tables(lb.read_results(_preset_and_ablation(tmp_path)), None, dataset="synthetic")
    rows = {r.notes: (round(r.values["auc_micro"], 2), r.n_seeds) for r in table.rows}
    assert rows == {"preset tiny": (65.0, 2), "preset tiny; options k=3;normalise=false": (90.0, 1)}


def test_beside_it_and_the_gate_use_the_preset_rows_only(tmp_path: Path) -> None:
    from vadbench.report_context import baseline_rows

    path = _preset_and_ablation(tmp_path)
    (knn,) = baseline_rows("synthetic", SEMI, "tiny", None, [path])
    assert (round(100 * knn["auc_micro"], 2), knn["seeds"]) == (65.0, 2)
    base = pd.DataFrame({"method": ["knn"], "dataset": ["synthetic"], "protocol": [SEMI],
                         "metric": ["auc_micro"], "value": [60.0], "tolerance": [0.5], "_line": [2],
                         "preset": ["tiny"], "seed": ["0"]})
    (check,) = lb.regress(lb.read_results(path), base)
    assert check.status == "ok" and check.measured == pytest.approx(60.0)  # not the ablation's 90


def test_compare_by_method_takes_the_preset_rows_unless_told(tmp_path: Path) -> None:
    from vadbench.compare import resolve

    frame = lb.read_results(_preset_and_ablation(tmp_path))
    for run_id in frame["run_id"]:
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "row.json").write_text(json.dumps(
            {"run_id": run_id, "method": "knn", "dataset": "synthetic", "protocol": SEMI, "seed": 0}))
    assert sorted(r.run_id for r in resolve("method=knn", tmp_path, frame)) == ["knn-0-None", "knn-1-None"]
    (abl,) = resolve("method=knn", tmp_path, frame, options="normalise=false;k=3")
    assert abl.run_id.startswith("knn-0-")
    with pytest.raises(ConfigError, match="options=k=3;normalise=false"):
        resolve("method=knn", tmp_path, frame, options=None)


@dataclasses.dataclass(frozen=True)
class _Config:
    checkpoint_selection: str = "none"
    width: int = 8
    epochs: int = 1


def test_a_run_records_the_options_it_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vadbench.cli import app

    monkeypatch.setitem(DATASETS._items, "fakeds-opts", make_fake_dataset("fakeds-opts"))
    monkeypatch.setitem(METHODS._items, "fake-opts", make_fake_method("fake-opts", Config=_Config))
    import vadbench.runner as runner

    monkeypatch.setitem(runner.DEFAULT_PROTOCOLS, "fakeds-opts", {"*": PROTOCOL})
    csv = tmp_path / "r.csv"
    args = ["run", "--method", "fake-opts", "--dataset", "fakeds-opts", "--root", str(tmp_path / "data"),
            "--device", "cpu", "--runs-dir", str(tmp_path / "runs"), "--results", str(csv), "--no-progress"]
    for extra in ([], ["--set", "width=16"], ["--set", "width=8"], ["--epochs", "2"]):
        out = CliRunner().invoke(app, [*args, *extra])
        assert out.exit_code == 0, out.output
        if extra == ["--set", "width=8"]:  # the preset's own value: the same run, no option
            assert "identical to an earlier run" in out.output
    table = lb.read_results(csv)
    assert list(table["options"]) == ["", "width=16", ""]  # epochs have their own column
    assert list(table["epochs"]) == [1, 1, 2]


def test_a_redefined_preset_counts_each_seed_once(tmp_path: Path) -> None:
    """A preset whose definition changed (ADSM ``small`` took the ``dsm_loss`` indicator, 3 December 2026)
    leaves an older row of the same seed with another config hash: the leaderboard printed "mean ± std over 2
    seeds" for two runs of seed 0. The latest row of each seed is the preset's figure."""
    old, new = (_row("knn", 0, auc, config_hash=h, timestamp=t) for auc, h, t in (
        (0.60, "aaa", "2026-12-03T04:00:00+00:00"), (0.66, "bbb", "2026-12-03T08:00:00+00:00")))
    path = _results(tmp_path / "r.csv", [old, _row("knn", 1, 0.70, config_hash="ccc"), new])
    (table,) = lb.build_tables(lb.read_results(path), None, dataset="synthetic")
    assert [(round(r.values["auc_micro"], 2), r.n_seeds) for r in table.rows] == [(68.0, 2)]
    from vadbench.report_context import baseline_rows  # the baselines printed beside a run: the same rule

    (knn,) = baseline_rows("synthetic", SEMI, "tiny", None, [path])
    assert (round(100 * knn["auc_micro"], 2), knn["seeds"]) == (68.0, 2)
