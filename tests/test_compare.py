"""``vadbench compare`` and the leaderboard's uncertainty: run folders built by the runner's hook
(:func:`vadbench.bootstrap.run_intervals`), protocol refusals naming the fields, seeds per side, the CLI,
seed aggregation and not-significant marks in the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from vadbench import leaderboard as lb
from vadbench.bootstrap import FRAMES_FILE, run_intervals
from vadbench.commands import compare as compare_cmd
from vadbench.commands import leaderboard as leaderboard_cmd
from vadbench.compare import compare, protocol_differences, read_run, resolve
from vadbench.errors import ConfigError, DataError

PROTOCOL = "ped2/official;auc_macro_rule=skip"
N_VIDEOS = 40


def _world(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels, levels = {}, {}
    for i in range(N_VIDEOS):
        n = int(rng.integers(10, 30))
        y = np.zeros(n, dtype=int)
        if i % 2 == 0:
            y[n // 3: n // 3 + n // 4 + 1] = 1
        labels[f"v{i:02d}"] = y
        levels[f"v{i:02d}"] = rng.normal(0, 0.5)
    return labels, levels


def make_run(root: Path, name: str, method: str, seed: int, strength: float, protocol: str = PROTOCOL,
             dataset: str = "synthetic", results: Path | None = None) -> Path:
    """A run folder as the runner leaves it: row.json + frames.npz from the hook (+ a results row)."""
    from vadbench.protocol import Protocol

    labels, levels = _world()
    rng = np.random.default_rng(1000 + seed + int(100 * strength))
    scores = {v: levels[v] + strength * y + rng.normal(0, 1, y.size) for v, y in labels.items()}
    video_labels = {v: int(y.any()) for v, y in labels.items()}
    run_dir = root / name
    p = str(Protocol.from_string(protocol))
    cells = run_intervals(p, scores, labels, video_labels, n_resamples=200, frames_path=run_dir / FRAMES_FILE)
    from vadbench.protocol import evaluate_protocol

    metrics = evaluate_protocol(p, scores, labels, video_labels=video_labels)
    row = lb.make_row(method=method, dataset=dataset, protocol=p, split="test", seed=seed, run_id=name,
                      preset="tiny", commit="c", metrics={**metrics, **cells})
    (run_dir / "row.json").write_text(json.dumps(row))
    if results is not None:
        lb.append_row(results, row)
    return run_dir


def test_protocol_differences_name_each_field():
    assert protocol_differences("ucf/rtfm", "ucf/rtfm") == []
    diffs = protocol_differences("ucf/rtfm", "xd/xdviodet")
    assert "gt: rtfm vs xdviodet" in diffs and "crops: mean10 vs mean5" in diffs


def test_compare_finds_a_real_difference_and_reports_seeds(tmp_path):
    a = [read_run(make_run(tmp_path, f"good-{s}", "good", s, 1.5)) for s in range(3)]
    b = [read_run(make_run(tmp_path, f"weak-{s}", "weak", s, 0.5)) for s in range(3)]
    c = compare(a, b, metrics=("auc_micro", "ap"), n_resamples=300)
    for r in c.results.values():
        assert r.diff > 0 and r.low > 0 and r.p_value < 0.01 and len(r.seeds_a) == 3
        assert r.dominant in ("videos", "seeds")
    same = compare(a[:1], a[:1], metrics=("auc_micro",), n_resamples=100)
    assert same.results["auc_micro"].diff == 0 and same.results["auc_micro"].p_value == 1.0


def test_different_protocols_are_refused_with_the_fields_named(tmp_path):
    a = read_run(make_run(tmp_path, "a", "good", 0, 1.0))
    b = read_run(make_run(tmp_path, "b", "weak", 0, 0.5, protocol=PROTOCOL + ";smooth=gauss(3,reflect)"))
    with pytest.raises(ConfigError, match=r"different protocols .*smooth: none vs gauss\(3,reflect\)"):
        compare([a], [b])
    c = read_run(make_run(tmp_path, "c", "weak", 0, 0.5, dataset="ped2"))
    with pytest.raises(ConfigError, match="different datasets"):
        compare([a], [c])


def test_missing_frames_and_bad_items_are_clear(tmp_path):
    run = make_run(tmp_path, "a", "good", 0, 1.0)
    (run / FRAMES_FILE).unlink()
    with pytest.raises(DataError, match=r"frames.npz not found.*re-run"):
        compare([read_run(run)], [read_run(run)])
    with pytest.raises(ConfigError, match="not a run folder"):
        resolve("nope", tmp_path)
    with pytest.raises(DataError, match="no row.json"):
        read_run(tmp_path)


def _app() -> typer.Typer:
    root = typer.Typer()
    compare_cmd.register({"root": root})
    leaderboard_cmd.register({"root": root})
    return root


def test_cli_by_method_over_seeds_and_by_folder(tmp_path):
    results = tmp_path / "results.csv"
    for s in range(3):
        make_run(tmp_path / "runs", f"good-{s}", "good", s, 1.5, results=results)
        make_run(tmp_path / "runs", f"weak-{s}", "weak", s, 0.5, results=results)
    out = CliRunner().invoke(_app(), ["compare", "method=good", "method=weak", "--results", str(results),
                                      "--runs-dir", str(tmp_path / "runs"), "--resamples", "200", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["a"] == ["good-0", "good-1", "good-2"] and doc["n_videos"] == N_VIDEOS
    assert doc["metrics"]["auc_micro"]["diff"] > 0 and doc["metrics"]["auc_micro"]["p_value"] < 0.05
    text = CliRunner().invoke(_app(), ["compare", str(tmp_path / "runs" / "good-0"), "weak-0,weak-1",
                                       "--runs-dir", str(tmp_path / "runs"), "--resamples", "100"])
    assert text.exit_code == 0, text.output
    assert "A − B = +" in text.stdout and "95 % CI" in text.stdout and "dominate" in text.stdout
    bad = CliRunner().invoke(_app(), ["compare", "x", "y", "--runs-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "not a run folder" in bad.output


def test_leaderboard_intervals_seeds_and_significance(tmp_path):
    results = tmp_path / "results.csv"
    runs = tmp_path / "runs"
    for s in range(3):
        make_run(runs, f"good-{s}", "good", s, 1.5, results=results)
    make_run(runs, "twin-0", "twin", 0, 1.5, results=results)  # same strength as good: not significant
    make_run(runs, "weak-0", "weak", 0, 0.2, results=results)
    frame = lb.read_results(results)

    from vadbench.commands.leaderboard import paired_p_value

    (table,) = lb.build_tables(frame, None, metrics=["auc_micro"],
                               paired=lambda a, b, m: paired_p_value(runs, a, b, m, n_resamples=300))
    rows = {r.method: r for r in table.rows}
    assert rows["good"].n_seeds == 3 and "auc_micro" in rows["good"].spread and not rows["good"].intervals
    twin = rows["twin"]
    assert twin.n_seeds == 1 and twin.intervals["auc_micro"][0] < twin.values["auc_micro"]
    order = [r.method for r in table.rows]
    assert order.index("weak") == 2
    lower = table.rows[1]
    assert lower.similar_above.startswith("paired p=")  # good (3 seeds) vs twin: the same model
    assert table.rows[2].similar_above == ""  # weak is clearly below
    text = lb.render_markdown([table])
    assert "± " in text and "mean ± std over 3 seeds" in text and "≈ row above" in text
    twin = next(line for line in text.splitlines() if line.startswith("| twin "))
    assert "[" in twin and "]" in twin
    out = CliRunner().invoke(_app(), ["leaderboard", "--results", str(results), "--no-published",
                                      "--runs-dir", str(runs), "--metrics", "auc_micro"])
    assert out.exit_code == 0, out.output
    assert "≈ row above" in out.stdout
