"""``vadbench score``: file formats, protocols, JSON / table output, recording a row, errors (exit code 2)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vadbench.cli import app
from vadbench.metrics import evaluate
from vadbench.protocol import Protocol, evaluate_protocol

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, ["score", *map(str, args)])


def run_json(*args: str | Path) -> dict:
    res = run(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def same(got: dict, ref: dict) -> None:
    for k, v in ref.items():
        if isinstance(v, float) and math.isnan(v):
            assert got[k] is None, k
        else:
            assert got[k] == pytest.approx(v, abs=1e-12), k


@pytest.fixture
def data(tmp_path: Path) -> dict:
    rng = np.random.default_rng(0)
    names = ["Test001", "Test002", "Test003"]
    lens = [40, 25, 31]
    y = {v: (rng.random(n) < 0.4).astype(np.int64) for v, n in zip(names, lens, strict=True)}
    y["Test003"][:] = 1  # a one-class video
    s = {v: rng.random(n) for v, n in zip(names, lens, strict=True)}
    np.savez(tmp_path / "labels.npz", **y)
    np.savez(tmp_path / "scores.npz", **s)
    np.save(tmp_path / "labels.npy", np.concatenate(list(y.values()))[None, :])  # MNAD-style (1, N)
    np.save(tmp_path / "scores.npy", np.concatenate(list(s.values())))
    with open(tmp_path / "lengths.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["video", "n_frames"])
        w.writerows(zip(names, lens, strict=True))
    with open(tmp_path / "scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["video", "score"])
        for v in names:
            w.writerows((v, repr(float(x))) for x in s[v])
    (tmp_path / "single.csv").write_text("\n".join(repr(float(x)) for v in names for x in s[v]) + "\n")
    return {"dir": tmp_path, "y": y, "s": s, "names": names, "lens": lens}


def test_npz_inputs_match_the_library(data):
    d = data["dir"]
    got = run_json("--labels", d / "labels.npz", "--scores", d / "scores.npz", "--protocol", "ped2/official")
    ref = evaluate_protocol("ped2/official", data["s"], data["y"])
    same(got, ref)
    assert got["n_videos"] == 3 and got["n_frames"] == 96 and got["n_one_class"] == 1
    assert got["protocol"] == str(Protocol.preset("ped2/official"))


@pytest.mark.parametrize("scores", ["scores.npy", "scores.csv", "scores.npz"])
def test_concatenated_labels_with_lengths(data, scores):
    d = data["dir"]
    got = run_json(
        "--labels",
        d / "labels.npy",
        "--lengths",
        d / "lengths.csv",
        "--scores",
        d / scores,
        "--protocol",
        "ped2/official;smooth=gauss(2,reflect)",
    )
    p = Protocol.preset("ped2/official").replace(smooth="gauss(2,reflect)")
    same(got, evaluate_protocol(p, data["s"], data["y"]))


def test_concatenation_without_lengths_gives_micro_metrics_only(data):
    d = data["dir"]
    got = run_json("--labels", d / "labels.npy", "--scores", d / "single.csv")
    y = np.concatenate(list(data["y"].values()))
    s = np.concatenate(list(data["s"].values()))
    same(got, evaluate(y, s))
    assert got["auc_macro"] is None and got["n_videos"] is None


def test_snippet_scores_with_crops_and_repeat16(tmp_path):
    rng = np.random.default_rng(1)
    y = {"a": np.r_[np.zeros(32), np.ones(16)], "b": np.zeros(32)}
    crops = {"a": rng.random((3, 10)), "b": rng.random((2, 10))}
    np.savez(tmp_path / "y.npz", **y)
    np.savez(tmp_path / "s.npz", **crops)
    np.save(tmp_path / "s.npy", np.concatenate([crops["a"], crops["b"]]))  # (5, 10) snippet x crop
    ref = evaluate_protocol("ucf/rtfm", crops, y, video_labels={"a": 1, "b": 0})
    (tmp_path / "vl.csv").write_text("video,label\na,1\nb,0\n")
    for s in ("s.npz", "s.npy"):
        got = run_json(
            "--labels",
            tmp_path / "y.npz",
            "--scores",
            tmp_path / s,
            "--protocol",
            "ucf/rtfm",
            "--video-labels",
            tmp_path / "vl.csv",
        )
        same(got, ref)
    assert not math.isnan(ref["auc_abnormal"])


def test_table_output(data):
    d = data["dir"]
    res = runner.invoke(
        app,
        ["score", "--labels", str(d / "labels.npz"), "--scores", str(d / "scores.npz")],
        env={"COLUMNS": "250"},
    )
    assert res.exit_code == 0, res.output
    for text in ("auc_micro", "pr_auc", "n_one_class", "split=test;gt=official", "3 videos, 96 frames"):
        assert text in res.stdout
    assert "needs video labels" in res.stdout  # auc_abnormal is n/a without video labels


def test_record_appends_a_result_row(data):
    from vadbench.leaderboard import read_results

    d = data["dir"]
    out = d / "results.csv"
    for _ in range(2):
        got = run_json(
            "--labels",
            d / "labels.npz",
            "--scores",
            d / "scores.npz",
            "--protocol",
            "ped2/official",
            "--record",
            out,
            "--method",
            "mine",
            "--dataset",
            "ped2",
        )
    table = read_results(out)
    assert len(table) == 2 and set(table["method"]) == {"mine"} and set(table["dataset"]) == {"ped2"}
    assert table["auc_micro"].iloc[-1] == pytest.approx(got["auc_micro"])
    assert table["protocol"].iloc[-1] == got["protocol"] and table["run_id"].iloc[-1] == got["run_id"]
    assert int(table["n_frames"].iloc[-1]) == 96


def test_interval_beside_the_value_in_json_table_and_row(data):
    from vadbench.bootstrap import bootstrap
    from vadbench.leaderboard import read_results

    d = data["dir"]
    out = d / "ci.csv"
    args = ("--labels", d / "labels.npz", "--scores", d / "scores.npz", "--protocol", "ped2/official",
            "--ci-resamples", "200", "--ci-seed", "5")
    got = run_json(*args, "--record", out, "--method", "mine", "--dataset", "ped2")
    y = np.concatenate(list(data["y"].values()))
    s = np.concatenate(list(data["s"].values()))
    ref = bootstrap(y, s, data["lens"], one_class="pad01", n_resamples=200, seed=5)
    assert got["auc_micro_ci_low"] == pytest.approx(ref.low["auc_micro"], abs=1e-12)
    assert got["ap_ci_high"] == pytest.approx(ref.high["ap"], abs=1e-12)
    assert (got["ci_resamples"], got["ci_seed"], got["ci_method"]) == (200, 5, "percentile")
    row = read_results(out).iloc[-1]
    assert row["auc_micro_ci_low"] == pytest.approx(got["auc_micro_ci_low"]) and row["ci_seed"] == 5
    res = runner.invoke(app, ["score", *map(str, args)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "95 % CI (percentile, 200 video resamples, seed 5)" in res.stdout
    assert f"[{100 * ref.low['auc_micro']:.2f}, {100 * ref.high['auc_micro']:.2f}]" in res.stdout
    no_lengths = run_json("--labels", d / "labels.npy", "--scores", d / "single.csv")
    assert "auc_micro_ci_low" not in no_lengths  # no video boundaries: no video bootstrap


def err(res) -> str:
    assert res.exit_code == 2, (res.exit_code, res.output)
    return " ".join((res.stderr or res.output).split())


def test_errors_are_clear(data, tmp_path):
    d = data["dir"]
    np.savez(tmp_path / "short.npz", Test001=np.zeros(39), Test002=np.zeros(25), Test003=np.zeros(31))
    msg = err(run("--labels", d / "labels.npz", "--scores", tmp_path / "short.npz"))
    assert "video 'Test001': 39 scores but 40 labels (align=strict)" in msg
    bad = dict(data["s"])
    bad["Test002"] = bad["Test002"].copy()
    bad["Test002"][3] = np.nan
    np.savez(tmp_path / "nan.npz", **bad)
    assert "video 'Test002' frame 3: score is nan" in err(
        run("--labels", d / "labels.npz", "--scores", tmp_path / "nan.npz")
    )
    assert "scores file not found" in err(
        run("--labels", d / "labels.npz", "--scores", tmp_path / "nope.npz")
    )
    (tmp_path / "s.json").write_text("{}")
    assert "unknown format '.json'" in err(run("--labels", d / "labels.npz", "--scores", tmp_path / "s.json"))
    assert "unknown protocol preset 'ped3'" in err(
        run("--labels", d / "labels.npz", "--scores", d / "scores.npz", "--protocol", "ped3")
    )
    assert "--record needs --method and --dataset" in err(
        run("--labels", d / "labels.npz", "--scores", d / "scores.npz", "--record", tmp_path / "r.csv")
    )
    (tmp_path / "l.csv").write_text("video,n_frames\nTest001,40\nTest002,25\nTest003,30\n")
    assert "lengths sum to 95 frames over 3 videos but the labels have 96" in err(
        run("--labels", d / "labels.npy", "--lengths", tmp_path / "l.csv", "--scores", d / "scores.npy")
    )
    assert "protocol steps normalise=minmax_video work per video: give --lengths" in err(
        run(
            "--labels", d / "labels.npy", "--scores", d / "scores.npy", "--protocol", "normalise=minmax_video"
        )
    )
    (tmp_path / "odd.csv").write_text("video,score\na,0.1\nb\n")
    assert "row 2 is 'b'; expected `video,score`" in err(
        run("--labels", d / "labels.npz", "--scores", tmp_path / "odd.csv")
    )
    assert "give --labels (a labels file) or --dataset" in err(run("--scores", d / "scores.npz"))
    np.save(tmp_path / "s95.npy", np.zeros(95))
    assert "95 scores but the labels' 3 videos need 96" in err(
        run("--labels", d / "labels.npy", "--lengths", d / "lengths.csv", "--scores", tmp_path / "s95.npy")
    )


@pytest.mark.realdata
def test_dataset_labels_from_the_ped2_loader(realdata, tmp_path):
    """Ped2 labels built by the loader from the real ped2.mat, frame counts from the per-video table."""
    pytest.importorskip("vadbench.datasets.ped2")
    root = tmp_path / "ped2"
    root.mkdir()
    (root / "ped2.mat").symlink_to(realdata / "ped2" / "ped2.mat")
    with open(realdata / "tables" / "ped2_test_videos.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    (tmp_path / "n.csv").write_text(
        "video,n_frames\n" + "".join(f"{r['video']},{r['n_frames']}\n" for r in rows)
    )
    rng = np.random.default_rng(3)
    labels, scores = {}, {}
    for r in rows:
        n = int(r["n_frames"])
        s_, e_ = (int(x) for x in r["ped2.mat range (1-based incl)"].split(":"))
        y = np.zeros(n, dtype=np.int64)
        y[s_ - 1 : e_] = 1  # MATLAB 1-based inclusive
        labels[r["video"]] = y
        scores[r["video"]] = rng.random(n) + 0.3 * y
    np.savez(tmp_path / "s.npz", **scores)
    got = run_json(
        "--dataset",
        "ped2",
        "--root",
        root,
        "--frame-counts",
        tmp_path / "n.csv",
        "--scores",
        tmp_path / "s.npz",
        "--protocol",
        "ped2/official",
    )
    ref = evaluate_protocol("ped2/official", scores, labels, video_labels={v: 1 for v in labels})
    assert got["n_frames"] == 2010 and got["n_videos"] == 12 and got["n_one_class"] == 4  # Test008-011
    same(got, ref)
