"""The regression gate: library checks and every exit code of ``vadbench regress`` (0 pass, 1 fail, 2 bad)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vadbench import leaderboard as lb
from vadbench.commands.leaderboard import register
from vadbench.errors import DataError

PROTO = "split=weak;gt=official;unit=snippet16;selection=none"
HEADER = "method,dataset,protocol,metric,value,tolerance,notes\n"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()
    register({"root": root})
    return root


def _invoke(app, *args):
    return CliRunner().invoke(app, ["regress", *map(str, args)])


def _results(path: Path, *rows: dict) -> Path:
    for i, row in enumerate(rows):
        fields = dict(
            method="vadclip",
            dataset="synthetic",
            split="weak",
            protocol=PROTO,
            commit="c",
            timestamp=f"2024-01-{i + 1:02d}T00:00:00+00:00",
        )
        fields.update(row)
        lb.append_row(path, lb.make_row(**fields))
    return path


def _baseline(path: Path, *lines: str) -> Path:
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return path


# ------------------------------------------------------------------------------------------------ library


def test_regress_statuses(tmp_path):
    results = lb.read_results(
        _results(
            tmp_path / "r.csv",
            {"metrics": {"auc_micro": 0.90, "ap": 0.70, "far": 0.05}},
            {"metrics": {"auc_micro": 0.80, "ap": 0.75, "far": 0.02}},  # latest ok: this one
            {"status": "failed", "error": "boom"},  # failed rows never count
            {"method": "other", "metrics": {"auc_micro": 0.5}},
        )
    )
    base = lb.read_baselines(
        _baseline(
            tmp_path / "b.csv",
            f"vadclip,synthetic,{PROTO},auc_micro,80.4,,within default 0.5",
            f"vadclip,synthetic,{PROTO},ap,76,0.5,regression by 1 point",
            f"vadclip,synthetic,{PROTO},far,3,0.5,lower is better: 2 < 3 is an improvement",
            f"vadclip,synthetic,{PROTO},auc_abnormal,50,,never measured",
            "vadclip,synthetic,other-protocol,auc_micro,50,,",
            f"other,synthetic,{PROTO},auc_micro,49,0,exactly edge +1 -> improved",
            f"ghost,synthetic,{PROTO},auc_micro,50,,",
        )
    )
    checks = lb.regress(results, base)
    assert [c.status for c in checks] == [
        "ok",
        "regression",
        "improved",
        "missing",
        "missing",
        "improved",
        "missing",
    ]
    assert (
        checks[0].measured == 80.0 and checks[0].tolerance == 0.5 and checks[0].delta == pytest.approx(-0.4)
    )
    assert checks[1].delta == pytest.approx(-1.0) and checks[1].failed
    assert "has no auc_abnormal value" in checks[3].detail
    assert "no row with this protocol string; found: " + PROTO in checks[4].detail
    assert "no result row for method 'ghost'" in checks[6].detail
    assert checks[0].run_id and checks[0].line == 2


def test_far_rise_is_a_regression(tmp_path):
    results = lb.read_results(_results(tmp_path / "r.csv", {"metrics": {"far": 0.04}}))
    base = lb.read_baselines(_baseline(tmp_path / "b.csv", f"vadclip,synthetic,{PROTO},far,3,0.5,"))
    (check,) = lb.regress(results, base)
    assert check.status == "regression" and check.delta == pytest.approx(1.0)


def test_only_failed_rows_is_missing_with_the_error(tmp_path):
    results = lb.read_results(_results(tmp_path / "r.csv", {"status": "failed", "error": "CUDA OOM"}))
    base = lb.read_baselines(_baseline(tmp_path / "b.csv", f"vadclip,synthetic,{PROTO},ap,50,,"))
    (check,) = lb.regress(results, base)
    assert check.status == "missing" and "1 failed; last error: CUDA OOM" in check.detail


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["vadclip,synthetic,p,ap,abc,,"], r"line 2: column 'value': expected a number, found 'abc'"),
        (["vadclip,synthetic,p,ap,80,lots,"], r"line 2: column 'tolerance': expected a number"),
        (["vadclip,synthetic,p,ap,80,-1,"], r"line 2: column 'tolerance': expected points >= 0"),
        (
            ["vadclip,synthetic,p,ap,180,,"],
            r"line 2: column 'value': expected percent in \[0, 100\], found 180",
        ),
        (["vadclip,synthetic,p,auc,80,,"], r"line 2: column 'metric': 'auc' is not a result metric"),
        (["vadclip,synthetic,p,n_one_class,1,,"], r"'n_one_class' is not a result metric"),
        (["vadclip,synthetic,,ap,80,,"], r"line 2: column 'protocol' is blank"),
        (["vadclip,synthetic,p,ap,80"], r"line 2: 5 fields, but the header has 7"),
        (
            ["vadclip,synthetic,p,ap,80,,", "vadclip,synthetic,p,ap,81,,"],
            r"line 3: duplicates the baseline of line 2",
        ),
    ],
)
def test_malformed_baselines_are_data_errors(tmp_path, lines, message):
    with pytest.raises(DataError, match=message):
        lb.read_baselines(_baseline(tmp_path / "b.csv", *lines))


def test_baseline_header_errors(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("method,dataset,metric,value\nm,d,ap,80\n")
    with pytest.raises(DataError, match=r"missing required column\(s\) \['protocol'\]"):
        lb.read_baselines(path)
    path.write_text("method,dataset,protocol,metric,value,owner\nm,d,p,ap,80,me\n")
    with pytest.raises(DataError, match=r"unknown column\(s\) \['owner'\]"):
        lb.read_baselines(path)


def test_committed_baselines_file_parses():
    base = lb.read_baselines(PROJECT_ROOT / "leaderboards" / "baselines.csv")
    assert list(base.columns[:9]) == list(lb.BASELINE_COLUMNS)
    assert set(zip(base["method"], base["preset"], strict=True)) >= {("vadclip", "tiny")}  # what --rerun runs


# ---------------------------------------------------------------------------------------- CLI exit codes


def test_exit_0_when_every_baseline_holds(app, tmp_path):
    results = _results(tmp_path / "r.csv", {"metrics": {"auc_micro": 0.812, "ap": 0.70}})
    base = _baseline(
        tmp_path / "b.csv", f"vadclip,synthetic,{PROTO},auc_micro,81,,", f"vadclip,synthetic,{PROTO},ap,60,1,"
    )
    out = _invoke(app, "--results", results, "--baseline", base)
    assert out.exit_code == 0, out.output
    assert "PASS" in out.output and "1 ok, 1 improved" in out.output and "IMPROVED" in out.output
    assert "81.20" in out.output


def test_exit_1_on_regression(app, tmp_path):
    results = _results(tmp_path / "r.csv", {"metrics": {"auc_micro": 0.80}})
    base = _baseline(tmp_path / "b.csv", f"vadclip,synthetic,{PROTO},auc_micro,81,0.5,")
    out = _invoke(app, "--results", results, "--baseline", base)
    assert out.exit_code == 1, out.output
    assert "REGRESSION" in out.output and "FAIL" in out.output and "-1.00" in out.output
    assert "baseline line 2" in out.output


def test_exit_1_on_missing_result(app, tmp_path):
    results = _results(tmp_path / "r.csv", {"metrics": {"auc_micro": 0.80}})
    base = _baseline(tmp_path / "b.csv", f"vadclip,synthetic,{PROTO}+other,auc_micro,50,,")
    out = _invoke(app, "--results", results, "--baseline", base)
    assert out.exit_code == 1, out.output
    assert "MISSING" in out.output and "1 missing" in out.output


def test_empty_baseline_passes_with_a_warning_or_fails_when_required(app, tmp_path):
    results = _results(tmp_path / "r.csv", {"metrics": {"auc_micro": 0.80}})
    base = _baseline(tmp_path / "b.csv")
    out = _invoke(app, "--results", results, "--baseline", base)
    assert out.exit_code == 0 and "no baseline rows" in out.output and "vacuously" in out.output
    out = _invoke(app, "--results", results, "--baseline", base, "--no-allow-empty")
    assert out.exit_code == 1 and "no baseline rows" in out.output


@pytest.mark.parametrize(
    ("results_text", "baseline_text", "message"),
    [
        (
            "source,status,method,dataset,split,protocol,auc_micro\nvadbench,ok,vadclip,synthetic,weak,p,0.8\n",
            HEADER + "vadclip,synthetic,p,auc_micro,eighty,,\n",
            "expected a number, found 'eighty'",
        ),
        (
            "source,status,method,dataset,split,protocol,auc_micro\nvadbench,ok,vadclip,synthetic,weak,p,high\n",
            HEADER + "vadclip,synthetic,p,auc_micro,80,,\n",
            "column 'auc_micro': expected a number",
        ),
        (
            "source,status,method,dataset,split,protocol,auc_micro\nvadbench,ok,vadclip\n",
            HEADER,
            "line 2: 3 fields",
        ),
        ("method,dataset\nvadclip,synthetic\n", HEADER, "missing required column"),
        (None, HEADER, "not found"),
        ("source,status,method,dataset,split,protocol\n", None, "not found"),
    ],
)
def test_exit_2_on_missing_or_malformed_csv(app, tmp_path, results_text, baseline_text, message):
    results, base = tmp_path / "r.csv", tmp_path / "b.csv"
    if results_text is not None:
        results.write_text(textwrap.dedent(results_text))
    if baseline_text is not None:
        base.write_text(baseline_text)
    out = _invoke(app, "--results", results, "--baseline", base)
    assert out.exit_code == 2, out.output
    assert "error:" in out.output and message in " ".join(out.output.split())


def test_results_option_is_required(app):
    out = _invoke(app)
    assert out.exit_code == 2 and "--results" in out.output
