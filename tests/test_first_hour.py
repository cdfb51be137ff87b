"""A new user's first hour (issue 15): each test fails on the behaviour the issue reported."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers.data import make_ped2
from vadbench.cli import app
from vadbench.errors import ConfigError

runner = CliRunner()


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


# -- 1. a check never creates data ------------------------------------------------------------------------
def test_check_of_a_missing_synthetic_root_fails_and_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "nonexist"
    res = invoke("datasets", "check", "--dataset", "synthetic", "--root", target)
    assert res.exit_code == 2, res.output
    assert "never creates data" in res.output
    assert not target.exists()


# -- 2. asking for a cluster that is not there is an error ------------------------------------------------
@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="Slurm is installed here")
def test_grid_on_slurm_without_slurm_is_an_error(tmp_path: Path) -> None:
    res = invoke("grid", "--methods", "vadclip", "--executor", "slurm", "--partition", "gpu",
                 "--runs-dir", tmp_path)
    assert res.exit_code == 2
    assert "Slurm is not available" in res.output
    assert not (tmp_path / "submitit").exists()


def test_grid_cluster_or_partition_with_local_executor_is_an_error() -> None:
    from vadbench.executors import resolve_executor

    with pytest.raises(ConfigError, match="--cluster local applies to --executor slurm only"):
        resolve_executor("local", "local")
    with pytest.raises(ConfigError, match="--partition applies to --executor slurm only"):
        resolve_executor("local", None, slurm_options={"partition": "gpu"})
    assert resolve_executor("slurm", "local") == ("slurm", "local")
    with pytest.raises(ConfigError, match="unknown --cluster"):
        resolve_executor("slurm", "kubernetes")


# -- 8. logs: no wrapping, progress lines -----------------------------------------------------------------
def test_console_does_not_wrap_long_values_in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    from vadbench.console import console

    buf = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buf)
    long = "split=weak;gt=rtfm;unit=snippet16;crops=crop:0;expand=repeat16;align=strict;" * 3
    console().print(f"protocol {long}")
    assert buf.getvalue().strip() == f"protocol {long}".strip()


def test_progress_prints_plain_lines_in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    from vadbench.console import progress

    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    with progress("extract", total=4, every_s=0.0) as advance:
        for _ in range(4):
            advance()
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("extract: 1/4 (25%)")
    assert lines[-1].startswith("extract: 4/4 (100%)") and lines[-1].endswith("done")
    assert "\x1b" not in buf.getvalue()  # no terminal control codes in a log


def test_an_error_message_is_one_unwrapped_line(tmp_path: Path) -> None:
    target = tmp_path / ("a-rather-long-folder-name-" * 4)
    res = invoke("datasets", "check", "--dataset", "synthetic", "--root", target)
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1


# -- 10. users with only annotation files -----------------------------------------------------------------
def test_urdmu_frame_count_file_is_read(realdata: Path) -> None:
    from vadbench.datasets._io import read_lengths_csv

    counts = read_lengths_csv(realdata / "ucf_crime" / "UCF_Annotation_with_frame_counts.txt")
    assert len(counts) == 290
    assert sum(counts.values()) == 1_111_808  # the total the realdata README gives


def test_feature_lengths_refuse_one_dimensional_label_arrays(tmp_path: Path) -> None:
    from vadbench.datasets._io import feature_lengths_from_folder
    from vadbench.errors import DataError

    np.save(tmp_path / "Abuse028_x264__9_gt.npy", np.zeros(160, np.float32))
    with pytest.raises(DataError, match=r"found shape \(160,\).*not features"):
        feature_lengths_from_folder(tmp_path)
    np.save(tmp_path / "Abuse028_x264__9_gt.npy", np.zeros((10, 4), np.float32))
    assert feature_lengths_from_folder(tmp_path) == {"Abuse028_x264": 10}


def test_check_fails_where_export_would(tmp_path: Path) -> None:
    make_ped2(tmp_path, layout="liu")
    for media in (tmp_path / "testing" / "frames").iterdir():  # annotations only, no frames to count
        shutil.rmtree(media)
    check = invoke("datasets", "check", "--dataset", "ped2", "--root", tmp_path)
    export = invoke("gt", "export", "--dataset", "ped2", "--root", tmp_path, "--out", tmp_path / "gt.npy")
    assert export.exit_code != 0
    assert check.exit_code == 1, check.output
    assert "frame count" in check.output


def test_missing_videos_message_names_every_way_to_give_them(tmp_path: Path) -> None:
    info = make_ped2(tmp_path, layout="liu")
    shutil.rmtree(tmp_path / "testing" / "frames" / "01")  # one test video gone, the others present
    res = invoke("gt", "export", "--dataset", "ped2", "--root", tmp_path, "--out", tmp_path / "gt.npy")
    assert res.exit_code == 2
    assert f"1 of {len(info['test'])} test videos missing" in res.output
    for way in ("--frame-counts", "--feature-lengths", "--allow-missing"):
        assert way in res.output


# -- also ---------------------------------------------------------------------------------------------------
def test_unknown_dataset_is_named_as_such() -> None:
    res = invoke("run", "--method", "vadclip", "--dataset", "synthtic")
    assert res.exit_code == 2
    assert "unknown dataset 'synthtic' (did you mean 'synthetic'?)" in res.output


def test_version_and_datasets_list() -> None:
    from vadbench import __version__

    res = invoke("--version")
    assert res.exit_code == 0 and res.output.strip() == f"vadbench {__version__}"
    res = invoke("datasets", "list")
    assert res.exit_code == 0, res.output
    for name in ("ucf-crime", "shanghaitech", "synthetic", "nwpu-campus"):
        assert name in res.output


def test_help_has_no_type_tag_on_flags() -> None:
    res = invoke("gt", "export", "--help")
    assert res.exit_code == 0
    assert "<bool>" not in res.output
    assert "<path>" in res.output  # options that take a value keep their type


def test_library_warning_is_one_line(tmp_path: Path) -> None:
    scores, labels = tmp_path / "s.npy", tmp_path / "y.npy"
    np.save(labels, np.array([0, 0, 1, 1, 0, 0], np.uint8))
    np.save(scores, np.linspace(0, 5, 6))  # outside [0, 1]: auc_macro_rule=pad01 warns
    lengths = tmp_path / "lengths.csv"
    lengths.write_text("video,n\na,3\nb,3\n")
    res = invoke("score", "--labels", labels, "--scores", scores, "--lengths", lengths,
                 "--protocol", "ped2/official")
    assert "warning: auc_macro_rule=pad01" in res.output
    assert "warnings.warn" not in res.output


# -- 3. one shared results file ---------------------------------------------------------------------------
def test_results_file_is_shared_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vadbench.paths import RESULTS_FILE, results_file

    monkeypatch.delenv("VADBENCH_RESULTS", raising=False)
    assert results_file() == RESULTS_FILE == Path("runs") / "results.csv"
    monkeypatch.setenv("VADBENCH_RESULTS", str(tmp_path / "r.csv"))
    assert results_file() == tmp_path / "r.csv"
    assert results_file(tmp_path / "x.csv") == tmp_path / "x.csv"


def test_regress_defaults_to_the_shared_results_file_and_shipped_baselines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # outside the checkout: the baselines are found all the same
    monkeypatch.delenv("VADBENCH_RESULTS", raising=False)
    res = invoke("regress")
    assert res.exit_code == 2, res.output
    assert "runs/results.csv" in res.output  # the file `vadbench run` appends to
    assert "baselines.csv" not in res.output.split("error:", 1)[1]


def test_run_and_grid_take_results_option() -> None:
    for cmd in (("run", "--help"), ("grid", "--help")):
        out = invoke(*cmd).output
        assert "--results" in out and "runs/results.csv" in out


# -- 4. seeds and repeats are visible -----------------------------------------------------------------------
def test_gate_compares_like_with_like_seed() -> None:
    import pandas as pd

    from vadbench import leaderboard as lb

    res = pd.DataFrame({
        "method": ["m", "m"], "dataset": ["d", "d"], "protocol": ["p", "p"], "status": ["ok", "ok"],
        "source": ["vadbench"] * 2, "timestamp": ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"],
        "run_id": ["r0", "r1"], "preset": ["tiny", "tiny"], "seed": [0, 1], "auc_micro": [0.60, 0.80],
    })
    base = pd.DataFrame({"method": ["m"], "dataset": ["d"], "protocol": ["p"], "metric": ["auc_micro"],
                         "value": [60.0], "tolerance": [1.0], "_line": [2], "preset": ["tiny"], "seed": [0]})
    (check,) = lb.regress(res, base)
    assert (check.status, check.run_id) == ("ok", "r0")  # the seed-0 run, not the later seed-1 one
    (check,) = lb.regress(res[res["seed"] == 1], base)
    assert check.status == "missing" and "seed 0" in check.detail


def test_rerun_of_an_identical_config_is_reported_not_appended(tmp_path: Path) -> None:
    from vadbench.leaderboard import read_results
    from vadbench.runner import run

    results = tmp_path / "results.csv"
    # the tiny preset: its data is generated once per test session (the default preset's took 90 s here)
    kwargs = dict(
        leaderboard=results, runs_dir=tmp_path / "runs", progress=False, report=False, preset="tiny"
    )
    first = run("random", "synthetic", **kwargs)
    again = run("random", "synthetic", **kwargs)
    assert first.appended and not again.appended
    assert again.run_id == first.run_id and set(again.resumed) >= {"fit", "score"}
    assert len(read_results(results)) == 1


# -- 5. documented numbers are the ones the gate re-measures --------------------------------------------
def test_committed_rows_agree_with_the_gated_baselines() -> None:
    """Every committed measured row (leaderboards/results.csv, shown in the README) whose configuration has a
    baseline row lies within that baseline's tolerance: `make regress` re-runs the baseline from the
    committed code, so a committed number that no longer matches its code fails `make test`. (Deterministic
    means: the same machine kind and library builds; the tolerance covers BLAS / library drift.)"""
    from vadbench import leaderboard as lb
    from vadbench.paths import PROJECT_ROOT

    committed = lb.read_results(PROJECT_ROOT / "leaderboards" / "results.csv")
    base = lb.read_baselines(PROJECT_ROOT / "leaderboards" / "baselines.csv")
    checked = 0
    for b in base.to_dict("records"):
        if b.get("tolerance_ci"):
            continue
        same = committed[(committed["method"] == b["method"]) & (committed["dataset"] == b["dataset"])
                         & (committed["data"] == "")  # the anchors are measured on the default data
                         & (committed["protocol"] == b["protocol"]) & (committed["preset"] == b["preset"])
                         & (committed["seed"].astype(str) == str(int(float(b["seed"]))))]
        for value in same[b["metric"]]:
            checked += 1
            assert abs(100 * value - b["value"]) <= b["tolerance"] + 1.0, (b["method"], b["preset"], value)
    assert checked >= 5  # the methods' tiny rows are documented and gated


# -- 6. + proof: the README's usage lines connect --------------------------------------------------------
def test_readme_usage_lines_connect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """extract -> run reuses the features -> leaderboard shows the row (with its seed) -> regress compares it,
    with the defaults a user gets (the shared results file runs/results.csv of the working folder)."""
    import re

    from vadbench.leaderboard import read_results
    from vadbench.paths import PROJECT_ROOT

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VADBENCH_RESULTS", raising=False)
    out = invoke("extract", "--dataset", "synthetic", "--method", "vadclip", "--preset", "tiny",
                 "--no-progress")
    assert out.exit_code == 0, out.output
    feature_hash = re.search(r"feature hash (\S+)", out.output).group(1)
    assert "reused by: vadbench run --method vadclip --dataset synthetic --preset tiny" in out.output
    out = invoke("run", "--method", "vadclip", "--preset", "tiny", "--no-progress")
    assert out.exit_code == 0, out.output
    (row,) = read_results(tmp_path / "runs" / "results.csv").to_dict("records")
    assert row["feature_hash"] == feature_hash  # run used the extracted features
    out = invoke("leaderboard", "--dataset", "synthetic", "--no-published")
    assert out.exit_code == 0, out.output
    shown = [line for line in out.output.splitlines() if line.startswith("| vadclip | vadbench |")]
    assert shown and all("seed 0" in line for line in shown)
    lines = (PROJECT_ROOT / "leaderboards" / "baselines.csv").read_text().splitlines(keepends=True)
    mine = tmp_path / "vadclip-baselines.csv"
    mine.write_text(lines[0] + "".join(line for line in lines[1:] if line.startswith("vadclip,")))
    out = invoke("regress", "--baseline", mine)
    assert out.exit_code == 0, out.output
    assert "PASS" in out.output


def test_datasets_make_names_unknown_datasets_and_takes_dataset_option(tmp_path: Path) -> None:
    res = invoke("datasets", "make", "synthtic")
    assert res.exit_code == 2 and "unknown dataset 'synthtic' (did you mean 'synthetic'?)" in res.output
    res = invoke("datasets", "make", "--dataset", "ped2")
    assert res.exit_code == 2 and "datasets/ped2/README.md" in res.output
    from vadbench.paths import card_dir

    assert (card_dir("datasets", "ped2") / "README.md").is_file()  # the card named exists
