"""Result rows, the locking append (with real concurrent processes), readers, published numbers, rendering."""

from __future__ import annotations

import csv
import doctest
import math
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

import vadbench
from vadbench import leaderboard as lb
from vadbench.errors import ConfigError, DataError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPEC_PUBLISHED = PROJECT_ROOT.parent / "shared" / "specs" / "published.csv"
PUBLISHED = PROJECT_ROOT / "leaderboards" / "published.csv"


def _row(**kw):
    base = dict(
        method="vadclip", dataset="synthetic", split="weak", protocol="split=weak;gt=official", commit="c0"
    )
    base.update(kw)
    return lb.make_row(**base)


# ---------------------------------------------------------------------------------------------------- columns


def test_result_columns_are_the_agreed_contract():
    assert lb.RESULT_COLUMNS == (
        "run_id",
        "timestamp",
        "source",
        "reference",
        "status",
        "error",
        "method",
        "dataset",
        "data",
        "split",
        "protocol",
        "backbone",
        "feature_hash",
        "seed",
        "config_hash",
        "preset",
        "options",
        "fidelity",
        "selection",
        "epochs",
        "n_train",
        "n_test",
        "n_frames",
        "fit_s",
        "score_s",
        "device",
        "vadbench_version",
        "commit",
        "auc_micro",
        "auc_macro",
        "n_one_class",
        "auc_abnormal",
        "auc_abnormal_macro",
        "ap",
        "pr_auc",
        "far",
        "map_iou@0.1",
        "map_iou@0.2",
        "map_iou@0.3",
        "map_iou@0.4",
        "map_iou@0.5",
        "map_iou_avg",
        *(f"{m}_{b}" for m in ("auc_micro", "auc_macro", "auc_abnormal", "auc_abnormal_macro", "ap", "pr_auc")
          for b in ("ci_low", "ci_high")),
        "ci_method",
        "ci_level",
        "ci_resamples",
        "ci_seed",
    )


def test_metric_columns_cover_the_scorer_keys():
    import numpy as np

    from vadbench import metrics

    labels = np.array([0, 0, 1, 1, 0, 1, 0, 0])
    scores = np.array([0.1, 0.2, 0.8, 0.7, 0.3, 0.9, 0.2, 0.1])
    keys = set(metrics.evaluate(labels, scores, lengths=np.array([4, 4])))
    assert keys <= set(lb.METRIC_COLUMNS), keys - set(lb.METRIC_COLUMNS)


def test_anticipation_columns_are_canonical():
    assert lb.anticipation_column(1) == "anticipation_auc@1.0s"
    assert lb.canonical_metric("anticipation_auc@1s") == "anticipation_auc@1.0s"
    assert lb.canonical_metric("anticipation_auc@2.50s") == "anticipation_auc@2.5s"
    assert lb.canonical_metric("anticipation_auc@s") is None
    assert lb.canonical_metric("auc_frame") is None
    assert lb.is_published_metric("auc_frame") and lb.is_published_metric("ap_unspecified")
    assert lb.is_published_metric("far_all@0.5") and not lb.is_published_metric("auc")


# ------------------------------------------------------------------------------------------------ percent


def test_percent_conversion_and_rendering():
    assert lb.to_percent(0.8802) == 88.02
    assert lb.from_percent(88.02) == 0.8802
    assert lb.from_percent(lb.to_percent(0.123456789)) == pytest.approx(0.123456789, abs=1e-12)
    assert math.isnan(lb.to_percent(None)) and math.isnan(lb.from_percent(float("nan")))
    assert lb.format_percent(84.51) == "84.51"
    assert lb.format_percent(lb.to_percent(0.87144)) == "87.14"
    assert lb.format_percent(99.0) == "99.00"
    assert lb.format_percent(None) == lb.format_percent(float("nan")) == "–"


# ------------------------------------------------------------------------------------------------ rows


def test_make_row_fills_version_commit_timestamp_and_defaults():
    row = lb.make_row(method="m", dataset="d", protocol="p", metrics={"auc_micro": 0.75, "n_one_class": 3})
    assert row["vadbench_version"] == vadbench.__version__
    assert row["commit"] == lb.git_commit()
    assert row["commit"] == "unknown" or row["commit"][:40].isalnum() and len(row["commit"]) >= 40
    stamp = datetime.fromisoformat(row["timestamp"])
    assert stamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert row["source"] == "vadbench" and row["status"] == "ok" and row["selection"] == "none"
    assert len(row["run_id"]) == 12
    assert row["auc_micro"] == 0.75 and row["n_one_class"] == 3
    assert lb.make_row(method="m", dataset="d", protocol="p")["run_id"] != row["run_id"]


def test_git_commit_reads_the_checkout_or_says_unknown(monkeypatch):
    lb.git_commit.cache_clear()
    try:
        if (PROJECT_ROOT / ".git").exists():
            head = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
            ).stdout.strip()
            if head:
                assert lb.git_commit().split("+")[0] == head
        lb.git_commit.cache_clear()

        def no_git(*args, **kwargs):
            raise FileNotFoundError("git")

        monkeypatch.setattr(lb.rows.subprocess, "run", no_git)
        assert lb.git_commit() == "unknown"
    finally:
        lb.git_commit.cache_clear()


def test_unknown_columns_are_a_config_error_naming_them():
    with pytest.raises(ConfigError, match=r"unknown column\(s\) \['auc', 'colour'\]"):
        lb.validate_row({"method": "m", "dataset": "d", "protocol": "p", "colour": "red", "auc": 0.5})
    with pytest.raises(ConfigError, match="unknown column"):
        lb.make_row(method="m", dataset="d", protocol="p", metrics={"AUC": 0.5})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": {"ap": 84.5}}, r"fractions in \[0, 1\], found 84.5 \(looks like percent"),
        ({"metrics": {"ap": -0.1}}, r"column 'ap': metric values are fractions"),
        ({"metrics": {"ap": "high"}}, r"column 'ap': expected a number, found 'high'"),
        ({"metrics": {"ap": True}}, r"found a boolean"),
        ({"metrics": {"n_one_class": 1.5}}, r"'n_one_class': expected an integer"),
        ({"seed": 0.5}, r"'seed': expected an integer"),
        ({"fit_s": -1.0}, r"'fit_s': expected seconds >= 0"),
        ({"source": "blog"}, r"'source': expected one of \['vadbench', 'paper'\], found 'blog'"),
        ({"status": "error"}, r"'status': expected one of \['ok', 'failed'\]"),
        ({"selection": "val"}, r"'selection': expected one of"),
        ({"protocol": ""}, r"'protocol' is required for a measured"),
        ({"source": "paper"}, r"'reference' is required for a source=paper row"),
        ({"metrics": {"ap": float("inf")}}, r"finite"),
    ],
)
def test_bad_row_values_are_clear_config_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        _row(**changes)


def test_metric_given_twice_is_an_error():
    with pytest.raises(ConfigError, match="given twice"):
        lb.validate_row(
            {
                "method": "m",
                "dataset": "d",
                "protocol": "p",
                "anticipation_auc@1s": 0.5,
                "anticipation_auc@1.0s": 0.6,
            }
        )
    with pytest.raises(ConfigError, match="both in metrics and as a field"):
        lb.make_row(method="m", dataset="d", protocol="p", ap=0.5, metrics={"ap": 0.4})


# ------------------------------------------------------------------------------------------------ append/read


def test_append_and_read_round_trip(tmp_path):
    path = tmp_path / "sub" / "results.csv"
    first = _row(seed=3, metrics={"auc_micro": 0.123456789012345, "ap": 0.5, "n_one_class": 2}, fit_s=1.25)
    failed = _row(status="failed", error="Traceback:\n  boom\r\nValueError: x")
    lb.append_row(path, first)
    lb.append_row(path, failed)
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and lines[0].split(",") == list(lb.RESULT_COLUMNS)
    df = lb.read_results(path)
    assert list(df.columns[: len(lb.RESULT_COLUMNS)]) == list(lb.RESULT_COLUMNS)
    assert df["auc_micro"].iloc[0] == 0.123456789012345  # full float precision kept
    assert int(df["seed"].iloc[0]) == 3 and df["seed"].isna().iloc[1]
    assert int(df["n_one_class"].iloc[0]) == 2
    assert df["fit_s"].iloc[0] == 1.25
    assert math.isnan(df["ap"].iloc[1])
    assert df["error"].iloc[1] == "Traceback:\\n  boom\\nValueError: x"  # one physical line per row
    assert df["status"].tolist() == ["ok", "failed"]
    assert df["_line"].tolist() == [2, 3]
    assert df["commit"].tolist() == ["c0", "c0"]


def test_append_adds_new_anticipation_columns(tmp_path):
    path = tmp_path / "r.csv"
    lb.append_row(path, _row(metrics={"auc_micro": 0.6}))
    lb.append_row(path, _row(metrics={"anticipation_auc@1s": 0.61, "anticipation_auc@0.5s": 0.65}))
    header = path.read_text().splitlines()[0].split(",")
    assert header[-2:] == ["anticipation_auc@0.5s", "anticipation_auc@1.0s"]
    df = lb.read_results(path)
    assert math.isnan(df["anticipation_auc@1.0s"].iloc[0]) and df["anticipation_auc@1.0s"].iloc[1] == 0.61


def test_append_to_a_malformed_file_fails_and_leaves_it_unchanged(tmp_path):
    path = tmp_path / "r.csv"
    lb.append_row(path, _row())
    with path.open("a") as handle:
        handle.write("partial,line\n")
    before = path.read_bytes()
    with pytest.raises(DataError, match=r"r.csv: line 3: 2 fields, but the header has 58"):
        lb.append_row(path, _row())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.csv.lock"]  # no temp file left


def test_append_rejects_unknown_keys_before_touching_the_file(tmp_path):
    path = tmp_path / "r.csv"
    with pytest.raises(ConfigError, match=r"\['bogus'\]"):
        lb.append_row(path, {"method": "m", "dataset": "d", "protocol": "p", "bogus": 1})
    assert not path.exists()


def test_append_fills_defaults_for_a_plain_dict(tmp_path):
    path = tmp_path / "r.csv"
    lb.append_row(path, {"method": "m", "dataset": "d", "split": "test", "protocol": "p", "ap": 0.5})
    df = lb.read_results(path)
    assert df["vadbench_version"].iloc[0] == vadbench.__version__ and df["commit"].iloc[0] == lb.git_commit()
    assert datetime.fromisoformat(df["timestamp"].iloc[0]).utcoffset().total_seconds() == 0
    assert (
        df["source"].iloc[0] == "vadbench"
        and df["status"].iloc[0] == "ok"
        and len(df["run_id"].iloc[0]) == 12
    )


def test_append_gives_up_on_a_held_lock_with_a_clear_error(tmp_path, monkeypatch):
    from filelock import FileLock

    path = tmp_path / "r.csv"
    monkeypatch.setattr(lb.store, "LOCK_TIMEOUT_S", 0.2)
    with FileLock(str(tmp_path / "r.csv.lock")):
        with pytest.raises(DataError, match=r"could not lock .*r.csv within 0 s"):
            lb.append_row(path, _row())
    assert not path.exists()
    lb.append_row(path, _row())
    assert len(lb.read_results(path)) == 1


_WORKER = textwrap.dedent(
    """
    import sys
    from vadbench.leaderboard import append_row, make_row
    path, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for i in range(n):
        append_row(path, make_row(method=f"w{worker}", dataset="d", protocol="p", seed=i, commit="c",
                                  error="x" * 2000, metrics={"auc_micro": (worker * n + i) / 1000}))
    """
)


def test_sixteen_processes_appending_at_once_lose_no_row(tmp_path):
    """16 real processes x 8 rows: every row present once, every line parses, no temp file left."""
    path = tmp_path / "concurrent.csv"
    workers, per_worker = 16, 8
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), str(w), str(per_worker)],
            env=env,
            stderr=subprocess.PIPE,
        )
        for w in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    with path.open(newline="") as handle:
        records = list(csv.reader(handle))
    assert len(records) == 1 + workers * per_worker
    assert all(len(r) == len(records[0]) for r in records)
    df = lb.read_results(path)  # every line parses and validates
    got = sorted(zip(df["method"], df["seed"].astype(int), strict=True))
    assert got == sorted((f"w{w}", i) for w in range(workers) for i in range(per_worker))
    assert sorted(df["auc_micro"]) == pytest.approx([k / 1000 for k in range(workers * per_worker)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["concurrent.csv", "concurrent.csv.lock"]


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty results file"),
        (
            "method,dataset,split,protocol,status\nm,d,s,p,ok\n",
            r"line 1: missing required column\(s\) \['source'\]",
        ),
        (
            "source,status,method,dataset,split,protocol,colour\nvadbench,ok,m,d,s,p,red\n",
            r"line 1: unknown column\(s\) \['colour'\]",
        ),
        (
            "source,status,method,dataset,split,protocol,ap\nvadbench,ok,m,d,s,p,0.5\nvadbench,ok,m,d,s,p,abc\n",
            r"line 3: column 'ap': expected a number, found 'abc'",
        ),
        (
            "source,status,method,dataset,split,protocol,ap\nvadbench,ok,m,d,s,p,84.5\n",
            r"line 2: column 'ap': metric values are fractions in \[0, 1\], found '84.5'",
        ),
        (
            "source,status,method,dataset,split,protocol,ap\nvadbench,ok,m,d,s,p\n",
            r"line 2: 6 fields, but the header has 7",
        ),
        (
            "source,status,method,dataset,split,protocol,ap\nvadbench,ok,m,d,s,p,0.1,0.2\n",
            r"line 2: 8 fields, but the header has 7",
        ),
        (
            "source,status,method,dataset,split,protocol\nvadbench,done,m,d,s,p\n",
            r"line 2: column 'status': expected one of",
        ),
        (
            "source,status,method,dataset,split,protocol,timestamp\nvadbench,ok,m,d,s,p,yesterday\n",
            r"line 2: column 'timestamp': expected ISO 8601, found 'yesterday'",
        ),
        (
            "source,status,method,dataset,split,protocol,seed\nvadbench,ok,m,d,s,p,x1\n",
            r"line 2: column 'seed': expected a number",
        ),
        (
            "source,status,method,dataset,split,protocol,ap,ap\nvadbench,ok,m,d,s,p,0.1,0.2\n",
            r"line 1: column 'ap' appears twice",
        ),
        ('source,status,method,dataset,split,protocol\nvadbench,ok,"m,d,s,p\n', r"malformed CSV|fields"),
    ],
)
def test_malformed_results_are_clear_data_errors(tmp_path, text, message):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=message) as info:
        lb.read_results(path)
    assert str(path) in str(info.value)


def test_missing_results_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"results file .*nope.csv not found"):
        lb.read_results(tmp_path / "nope.csv")


def test_minimal_results_file_gets_every_column(tmp_path):
    path = _write(
        tmp_path / "r.csv", "source,status,method,dataset,split,protocol,ap\n\nvadbench,ok,m,d,s,p,0.5\n"
    )
    df = lb.read_results(path)
    assert set(lb.RESULT_COLUMNS) <= set(df.columns)
    assert (
        df["ap"].iloc[0] == 0.5 and df["selection"].iloc[0] == "none" and math.isnan(df["auc_micro"].iloc[0])
    )


# ------------------------------------------------------------------------------------------------ published


def test_published_csv_is_the_spec_data():
    df = lb.read_published(PUBLISHED)
    assert list(df.columns[:7]) == list(lb.PUBLISHED_COLUMNS)
    assert len(df) >= 135
    vad = df[(df.method == "vadclip") & (df.dataset == "ucf-crime") & (df.metric == "auc_micro")]
    assert vad["value"].tolist() == [88.02] and vad["source"].iloc[0] == "VadCLIP paper (AAAI 2024), Table 2"
    assert (df["source"].str.len() > 0).all()
    if SPEC_PUBLISHED.is_file():
        with SPEC_PUBLISHED.open(newline="") as a, PUBLISHED.open(newline="") as b:
            assert list(csv.reader(a)) == list(csv.reader(b))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "method,dataset,split,metric,value,source,notes\nm,d,test,auc,90,src,\n",
            r"line 2: .*unknown metric 'auc'",
        ),
        (
            "method,dataset,split,metric,value,source,notes\nm,d,test,ap,n/a,src,\n",
            r"line 2: column 'value': expected a number, found 'n/a'",
        ),
        ("method,dataset,split,metric,value,source,notes\nm,d,test,ap,184,src,\n", r"percent in \[0, 100\]"),
        (
            "method,dataset,split,metric,value,notes\nm,d,test,ap,84,\n",
            r"missing required column\(s\) \['source'\]",
        ),
        (
            "method,dataset,split,metric,value,source,notes\nm,d,test,ap,84,,\n",
            r"line 2: column 'source' is blank",
        ),
    ],
)
def test_malformed_published_is_a_clear_data_error(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        lb.read_published(_write(tmp_path / "p.csv", text))


# ------------------------------------------------------------------------------------------------ tables


@pytest.fixture
def mixed(tmp_path):
    path = tmp_path / "results.csv"
    proto_a = "split=test;gt=vadclip;crops=crop:0;selection=none"
    proto_b = "split=test;gt=xdviodet;crops=mean5;selection=none"
    lb.append_row(
        path,
        _row(
            dataset="xd-violence",
            split="test",
            protocol=proto_a,
            metrics={"ap": 0.70},
            timestamp="2024-01-01T00:00:00+00:00",
        ),
    )
    lb.append_row(
        path,
        _row(
            dataset="xd-violence",
            split="test",
            protocol=proto_a,
            metrics={"ap": 0.8312},
            timestamp="2024-02-01T00:00:00+00:00",
        ),
    )
    lb.append_row(
        path,
        _row(
            dataset="xd-violence",
            split="test",
            protocol=proto_a,
            status="failed",
            error="oom",
            timestamp="2024-03-01T00:00:00+00:00",
        ),
    )
    lb.append_row(
        path,
        _row(
            method="other",
            dataset="xd-violence",
            split="test",
            protocol=proto_b,
            selection="test",
            metrics={"ap": 0.6, "far": 0.01},
        ),
    )
    return lb.read_results(path), lb.read_published(PUBLISHED), proto_a, proto_b


def test_tables_group_by_dataset_and_protocol(mixed):
    results, published, proto_a, proto_b = mixed
    (table,) = lb.build_tables(results, published, dataset="xd-violence")
    assert table.protocols == {"P1": proto_a, "P2": proto_b}
    measured = [r for r in table.rows if r.source == "vadbench"]
    assert [(r.method, r.protocol_id, r.values["ap"]) for r in measured] == [
        ("vadclip", "P1", 83.12),
        ("other", "P2", 60.0),
    ]
    assert measured[1].test_selected and not measured[0].test_selected
    assert all("comparable only with" in r.comparability for r in measured)
    papers = {r.method: r for r in table.rows if r.source == "paper"}
    assert papers["vadclip"].values["ap"] == 84.51 and papers["vadclip"].values["map_iou_avg"] == 24.70
    assert papers["vadclip"].comparability == lb.PAPER_PROTOCOL
    assert papers["copra"].comparability == f"{lb.NOT_COMPARABLE} (ap_unspecified)"
    all_runs = lb.build_tables(results, None, dataset="xd-violence", all_runs=True)[0]
    assert len(all_runs.rows) == 3  # two ok vadclip runs + other; the failed run never shows


def test_markdown_shows_percent_protocol_ids_leak_flag_and_marks(mixed):
    results, published, proto_a, _ = mixed
    text = lb.render_markdown(lb.build_tables(results, published, dataset="xd-violence"))
    assert "### xd-violence" in text
    assert "| vadclip | vadbench | – | test | P1 |  | 83.12 |" in text
    assert "| other | vadbench | – | test | P2 | ⚠ selection=test | 60.00 |" in text
    assert f"- P1: `{proto_a}`" in text
    assert "⚠ 2 different protocols below" in text
    assert (
        "| copra | paper [" in text
        and "protocol not comparable / variant not stated (ap_unspecified)" in text
    )
    assert "VadCLIP paper (AAAI 2024), Table 1" in text
    header = next(line for line in text.splitlines() if line.startswith("| method"))
    assert header.split(" | ")[6:8] == ["ap", "pr_auc"] or "ap" in header


def test_csv_and_html_renderings(mixed):
    results, published, proto_a, _ = mixed
    tables = lb.build_tables(results, published, dataset="xd-violence", metrics=["ap"])
    rows = list(csv.DictReader(lb.render_csv(tables).splitlines()))
    first = next(r for r in rows if r["method"] == "vadclip" and r["protocol"] == proto_a)
    assert first["ap"] == "83.12" and first["selection"] == "none"
    assert any(r["selection"] == "test" for r in rows)
    ranked = [float(r["ap"]) for r in rows if "/ablation:" not in r["method"] and r["ap"]]
    assert ranked == sorted(ranked, reverse=True)  # measured and published ranked together by value
    assert {r["method"] for r in rows} >= {"vadclip", "other", "vadclip/ablation:gcn-only"}
    assert "copra" not in {r["method"] for r in rows}  # only ap_unspecified, not in --metrics ap
    page = lb.render_html(tables)
    assert page.startswith("<!DOCTYPE html>") and '<span class="leak">⚠ selection=test</span>' in page
    assert "83.12" in page and "&lt;" not in proto_a and page.count("<table>") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no markers\n", r"found 0 and 0"),
        (
            "<!-- leaderboard:start -->\n<!-- leaderboard:start -->\n<!-- leaderboard:end -->\n",
            r"found 2 and 1",
        ),
        ("<!-- leaderboard:end -->\nx\n<!-- leaderboard:start -->\n", r"comes before"),
    ],
)
def test_readme_marker_errors(text, message):
    with pytest.raises(DataError, match=message):
        lb.replace_between_markers(text, "block")


def test_readme_update_replaces_only_the_section(tmp_path):
    readme = _write(
        tmp_path / "README.md",
        "# T\n\nintro\n<!-- leaderboard:start -->\nold\n<!-- leaderboard:end -->\n\ntail\n",
    )
    assert lb.update_readme(readme, "| a |\n|---|\n")
    assert (
        readme.read_text()
        == "# T\n\nintro\n<!-- leaderboard:start -->\n| a |\n|---|\n<!-- leaderboard:end -->\n\ntail\n"
    )
    assert not lb.update_readme(readme, "| a |\n|---|\n")  # idempotent


@pytest.mark.parametrize("part", lb._PARTS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_module_doctests_pass(part):
    result = doctest.testmod(part, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_fidelity_column_is_checked_and_shown(tmp_path):
    row = _row(fidelity="reconstruction", metrics={"auc_micro": 0.7})
    assert row["fidelity"] == "reconstruction"
    with pytest.raises(ConfigError, match="column 'fidelity'"):
        _row(fidelity="guess")
    path = tmp_path / "r.csv"
    lb.append_row(path, row)
    tables = lb.build_tables(lb.read_results(path), None, dataset="synthetic")
    assert "| reconstruction |" in lb.render_markdown(tables)
