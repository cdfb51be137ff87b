"""``vadbench leaderboard``: sources of rows, formats, filters, README update and error exits."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vadbench import leaderboard as lb
from vadbench.commands.leaderboard import register

PROTO = "split=test;gt=vadclip;crops=crop:0;expand=repeat16;selection=none"
LEAKY = "split=test;gt=vadclip;crops=crop:0;expand=repeat16;selection=test"


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()
    register({"root": root})
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A cwd with leaderboards/results.csv (the default results file) holding two xd-violence runs."""
    monkeypatch.chdir(tmp_path)
    default = tmp_path / "leaderboards" / "results.csv"
    lb.append_row(
        default,
        lb.make_row(
            method="vadclip",
            dataset="xd-violence",
            split="test",
            protocol=PROTO,
            metrics={"ap": 0.8123, "pr_auc": 0.80},
            commit="c",
        ),
    )
    lb.append_row(
        default,
        lb.make_row(
            method="vadclip",
            dataset="xd-violence",
            split="test",
            protocol=LEAKY,
            selection="test",
            metrics={"ap": 0.8456},
            commit="c",
        ),
    )
    return tmp_path


def _invoke(app, *args):
    return CliRunner().invoke(app, ["leaderboard", *map(str, args)])


def test_default_results_and_published_side_by_side(app, workdir):
    out = _invoke(app, "--dataset", "xd-violence")
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert "| vadclip | vadbench | – | test | P1 |  | 81.23 | 80.00 |" in text
    assert "| vadclip | vadbench | – | test | P2 | ⚠ selection=test | 84.56 | – |" in text
    # published numbers from the checkout
    assert "| vadclip | paper [1, 2] | – | test | – |  | 84.51 |" in text
    assert f"- P1: `{PROTO}`" in text and f"- P2: `{LEAKY}`" in text
    assert "### ucf-crime" not in text


def test_extra_results_files_are_added(app, workdir, tmp_path_factory):
    extra = tmp_path_factory.mktemp("extra") / "more.csv"
    lb.append_row(
        extra,
        lb.make_row(
            method="newmethod",
            dataset="synthetic",
            split="weak",
            protocol="p",
            metrics={"auc_micro": 0.5},
            commit="c",
        ),
    )
    out = _invoke(app, "--results", extra, "--no-published")
    assert out.exit_code == 0, out.output
    assert "### synthetic" in out.stdout
    assert "| newmethod | vadbench | – | weak | P1 |  | 50.00 |" in out.stdout
    assert "### xd-violence" in out.stdout and "paper" not in out.stdout.split("_Values")[1].split("\n", 1)[1]


def test_unstated_variants_are_marked(app, workdir):
    out = _invoke(app, "--dataset", "ped2", "--metrics", "auc_frame")
    assert out.exit_code == 0, out.output
    rows = [line for line in out.stdout.splitlines() if line.startswith("| vlavad ")]
    assert rows == [
        "| vlavad | paper [1] | – | test | – |  | 99.00 | protocol not comparable / variant not stated "
        "(auc_frame) |"
    ]


def test_csv_and_html_formats(app, workdir):
    out = _invoke(app, "--dataset", "xd-violence", "--format", "csv")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(out.stdout.splitlines()))
    leaky = [r for r in rows if r["selection"] == "test"]
    assert len(leaky) == 1 and leaky[0]["protocol"] == LEAKY and leaky[0]["ap"] == "84.56"
    out = _invoke(app, "--dataset", "xd-violence", "--format", "html", "--out", workdir / "lb.html")
    assert out.exit_code == 0, out.output
    page = (workdir / "lb.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'class="leak"' in page and "84.56" in page


def test_update_readme_replaces_the_marked_section(app, workdir):
    readme = workdir / "README.md"
    readme.write_text("# x\n\n<!-- leaderboard:start -->\nstale\n<!-- leaderboard:end -->\n\n## After\n")
    out = _invoke(app, "--dataset", "xd-violence", "--update-readme", readme)
    assert out.exit_code == 0, out.output
    text = readme.read_text()
    assert "stale" not in text and text.startswith("# x\n\n<!-- leaderboard:start -->\n_Values in percent")
    assert text.endswith("<!-- leaderboard:end -->\n\n## After\n") and "| vadclip | vadbench |" in text
    assert out.stdout == "" and "updated" in out.stderr
    again = _invoke(app, "--dataset", "xd-violence", "--update-readme", readme)
    assert again.exit_code == 0 and "unchanged" in again.stderr and readme.read_text() == text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "--format: expected one of md, csv, html, found 'pdf'"),
        (["--format", "csv", "--update-readme", "README.md"], "--update-readme writes markdown"),
        (["--dataset", "atlantis"], "--dataset 'atlantis': no measured or published rows"),
        (["--metrics", "ap,auc"], "--metrics: unknown metric(s) ['auc']"),
        (["--update-readme", "missing.md"], "README missing.md not found"),
        (["--results", "nope.csv"], "results file nope.csv not found"),
        (["--published", "nope.csv"], "published file nope.csv not found"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(app, workdir, args, message):
    out = _invoke(app, *args)
    assert out.exit_code == 2, out.output
    assert message in " ".join(out.output.split())


def test_malformed_default_results_exit_2_naming_the_line(app, workdir):
    default = workdir / "leaderboards" / "results.csv"
    with default.open("a") as handle:
        handle.write("vadbench,ok\n")
    out = _invoke(app)
    assert out.exit_code == 2
    assert "leaderboards/results.csv: line 4: 2 fields" in " ".join(out.output.split())


def test_readme_without_markers_exit_2(app, workdir):
    (workdir / "README.md").write_text("# no markers\n")
    out = _invoke(app, "--update-readme", "README.md")
    assert out.exit_code == 2 and "found 0 and 0" in out.output
    assert (workdir / "README.md").read_text() == "# no markers\n"
