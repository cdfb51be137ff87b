"""The runner (vadbench.runner): resolution, inputs, fit/score, protocol, run folder, rows, resume, leakage.

These tests use a small fake dataset (per-video ``.npy`` "frame signals" written under ``tmp_path``) and fake
methods registered only inside the tests; the end-to-end path with the real pieces is in test_end_to_end.py.
"""

from __future__ import annotations

import dataclasses
import json
from html import escape as html_escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from vadbench.errors import ConfigError, DataError, VadbenchError
from vadbench.methods.base import Method
from vadbench.registry import DATASETS, METHODS
from vadbench.runner import (
    config_hash,
    default_protocol_name,
    resolve_split_variant,
    run,
)

PROTOCOL = "sht-semi/official"


def make_fake_dataset(name: str = "fakeds", n_train: int = 6, n_test: int = 6, n_frames: int = 64) -> type:
    """A dataset class built inside a function (so submitit pickles it by value). Test videos t0..: even ones
    are abnormal on frames [20, 40) (signal +3), odd ones normal; train videos: half abnormal (for weak)."""

    class _Split:
        def __init__(self, name: str, train: list[str], test: list[str]) -> None:
            self.name, self.train, self.test = name, train, test

    class FakeDataset:
        conventions = ("official",)
        default_convention = "official"
        splits = ("semi", "weak")

        def __init__(self, root: Any = None, *, create: bool = True, types: bool = False, **_: Any) -> None:
            self.root = Path(root)
            self.types = types
            if create and not (self.root / "signals").is_dir():
                rng = np.random.default_rng(0)
                (self.root / "signals").mkdir(parents=True)
                for video, abnormal in self._layout():
                    x = rng.normal(0, 1, n_frames).astype(np.float32)
                    if abnormal:
                        x[20:40] += 3.0
                    np.save(self.root / "signals" / f"{video}.npy", x)

        @staticmethod
        def _layout() -> list[tuple[str, bool]]:
            train = [(f"r{i}", i >= n_train // 2) for i in range(n_train)]
            return train + [(f"t{i}", i % 2 == 0) for i in range(n_test)]

        def videos(self) -> pd.DataFrame:
            if not (self.root / "signals").is_dir():
                raise DataError(f"{self.root / 'signals'}: folder not found (expected one .npy per video)")
            rows = [
                {
                    "video": v,
                    "subset": "train" if v.startswith("r") else "test",
                    "path": str(self.root / "signals" / f"{v}.npy"),
                    "n_frames": n_frames,
                    "fps": 25.0,
                    "scene": "01",
                    "label": int(ab),
                    "classes": ("fall",) if ab else (),
                }
                for v, ab in self._layout()
            ]
            return pd.DataFrame(rows)

        def split(self, variant: str | None = None) -> _Split:
            table = self.videos()
            test = list(table.loc[table.subset == "test", "video"])
            train = table[table.subset == "train"]
            if variant == "semi":
                train = train[train.label == 0]
            return _Split(variant or "semi", list(train.video), test)

        def frame_labels(
            self, convention: Any = None, *, split: Any = None, videos: Any = None, lengths: Any = None
        ) -> dict[str, np.ndarray]:
            assert convention == "official", convention
            out = {}
            for v, ab in self._layout():
                if videos is not None and v not in videos:
                    continue
                y = np.zeros(n_frames, np.uint8)
                if ab and v.startswith("t"):
                    y[20:40] = 1
                out[v] = y
            return out

        def check(self) -> list[str]:
            return [] if (self.root / "signals").is_dir() else [f"missing folder {self.root / 'signals'}"]

        def anomaly_types(self) -> dict[str, tuple[str, ...]]:
            if not self.types:
                return {}
            return {"t0": ("fall",), "t2": ("fire",), "t4": ("fall", "fire")}

    FakeDataset.name = name
    return FakeDataset


def make_fake_method(name: str = "fake-semi", supervision: str = "semi", **attrs: Any) -> type:
    """A frames-kind method: 1 - exp(-|z|) of each frame signal vs the training frames (saved via torch)."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        checkpoint_selection: str = "none"

    class FakeMethod(Method):
        input_kind = "frames"
        unit = "frame"
        fit_calls = 0
        seen_fit: list[Any] = []
        seen_score: list[Any] = []

        def fit(self, samples):
            type(self).fit_calls += 1
            type(self).seen_fit = list(samples)
            x = np.concatenate([np.load(s.path) for s in samples])
            self.mu, self.sd = float(x.mean()), float(x.std())
            if self.test_evaluator is not None:
                self.selection_metrics = self.test_evaluator()
            return self

        def score(self, sample):
            type(self).seen_score.append(sample)
            return 1.0 - np.exp(-np.abs(np.load(sample.path) - self.mu) / self.sd)  # in [0, 1)

        def state_dict(self):
            import torch

            return {"mu": torch.tensor(self.mu), "sd": torch.tensor(self.sd)}

        def load_state_dict(self, state):
            self.mu, self.sd = float(state["mu"]), float(state["sd"])

    FakeMethod.name = name
    FakeMethod.Config = Config
    FakeMethod.supervision = supervision
    for k, v in attrs.items():
        setattr(FakeMethod, k, v)
    return FakeMethod


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Register the fake dataset and a fake semi method for this test only."""
    ds, meth = make_fake_dataset(), make_fake_method()
    monkeypatch.setitem(DATASETS._items, "fakeds", ds)
    monkeypatch.setitem(METHODS._items, "fake-semi", meth)
    import vadbench.runner as runner

    monkeypatch.setitem(runner.DEFAULT_PROTOCOLS, "fakeds", {"weak": "sht-weak/rtfm", "*": PROTOCOL})
    return {
        "dataset": ds,
        "method": meth,
        "root": tmp_path / "data",
        "runs": tmp_path / "runs",
        "csv": tmp_path / "results.csv",
    }


def _run(f: dict[str, Any], method: str = "fake-semi", **kw: Any):
    args = {
        "root": f["root"],
        "runs_dir": f["runs"],
        "leaderboard": f["csv"],
        "device": "cpu",
        "progress": False,
    }
    args.update(kw)
    return run(method, "fakeds", **args)


# -- pure helpers --------------------------------------------------------------------------------------------


def test_resolve_split_variant_by_supervision() -> None:
    assert resolve_split_variant(("semi", "weak"), "weak", "weak") == "weak"
    assert resolve_split_variant(("semi", "weak"), "semi", "semi") == "semi"
    assert resolve_split_variant(("semi", "weak"), "zero-shot", "test") == "semi"
    assert resolve_split_variant(("test",), "weak", "test") == "test"
    assert resolve_split_variant(("test",), "semi", None) == "test"
    with pytest.raises(ConfigError, match="weak method cannot run on the 'semi' split"):
        resolve_split_variant(("semi", "weak"), "weak", "semi")


def test_default_protocols() -> None:
    assert default_protocol_name("shanghaitech", "weak") == "sht-weak/rtfm"
    assert default_protocol_name("synthetic", "semi") == "sht-semi/official"
    assert default_protocol_name("ucf-crime", "weak") == "ucf/deepmil"
    with pytest.raises(ConfigError, match="no default protocol for dataset 'nope'"):
        default_protocol_name("nope", "weak")


def test_config_hash_is_order_free_and_value_sensitive() -> None:
    assert config_hash({"a": 1, "b": {"c": 2}}) == config_hash({"b": {"c": 2}, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


# -- a full run on the fakes ---------------------------------------------------------------------------------


def test_run_writes_folder_and_row(fakes: dict[str, Any]) -> None:
    from vadbench.leaderboard import read_results
    from vadbench.protocol import Protocol

    res = _run(fakes)
    d = res.run_dir
    assert res.status == "ok" and d.parent == fakes["runs"] and res.run_id == d.name
    for name in (
        "config.yaml",
        "scores.npz",
        "metrics.json",
        "report.html",
        "checkpoint.safetensors",
        "state.json",
        "plots/roc_pr.png",
        "plots/scores.png",
    ):
        assert (d / name).is_file(), name
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    protocol = str(Protocol.preset(PROTOCOL))
    assert cfg["method"] == "fake-semi" and cfg["dataset"] == "fakeds" and cfg["protocol"] == protocol
    assert cfg["seed"] == 0 and cfg["device"] == "cpu" and cfg["selection"] == "none"
    with np.load(d / "scores.npz") as z:
        assert sorted(z.files) == [f"t{i}" for i in range(6)]
        assert all(z[k].shape == (64,) for k in z.files)
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["split"] == "semi" and metrics["n_train"] == 3 and metrics["n_test"] == 6
    assert metrics["metrics"]["auc_micro"] > 0.9  # the +3 signal is easy
    assert metrics["metrics"] == pytest.approx(res.metrics, nan_ok=True)
    html = (d / "report.html").read_text()
    assert html_escape(protocol) in html and "data:image/png;base64," in html
    rows = read_results(fakes["csv"])
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["status"], row["method"], row["dataset"], row["split"], row["protocol"]) == (
        "ok",
        "fake-semi",
        "fakeds",
        "semi",
        protocol,
    )
    assert row["run_id"] == res.run_id and row["n_test"] == 6 and row["n_frames"] == 6 * 64
    assert row["auc_micro"] == pytest.approx(res.metrics["auc_micro"])
    assert row["selection"] == "none" and row["config_hash"] == cfg["config_hash"]


def test_rerun_resumes_and_fresh_refits(fakes: dict[str, Any]) -> None:
    meth = fakes["method"]
    first = _run(fakes)
    assert meth.fit_calls == 1 and first.resumed == []
    meth.seen_score.clear()
    again = _run(fakes)
    assert meth.fit_calls == 1, "a re-run of the same config must not refit"
    assert again.resumed == ["fit", "score"] and again.run_id == first.run_id
    assert again.metrics["auc_micro"] == first.metrics["auc_micro"]
    assert meth.seen_score == []
    # a changed config is a different run
    other = _run(fakes, seed=1)
    assert other.run_id != first.run_id and meth.fit_calls == 2
    fresh = _run(fakes, fresh=True)
    assert meth.fit_calls == 3 and fresh.resumed == [] and fresh.run_id == first.run_id


def test_changed_data_is_a_new_run(
    fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = _run(fakes)
    monkeypatch.setitem(DATASETS._items, "fakeds", make_fake_dataset(n_test=4))
    second = _run(fakes)  # same config, same root: only the data differ
    assert second.run_id != first.run_id and fakes["method"].fit_calls == 2 and second.resumed == []
    cfg = yaml.safe_load((second.run_dir / "config.yaml").read_text())
    assert cfg["config_hash"] != "" and len(cfg["data_fingerprint"]) == 16 and cfg["code"]["vadbench"]


def test_interrupted_after_fit_resumes_scoring(fakes: dict[str, Any]) -> None:
    meth = fakes["method"]
    first = _run(fakes)
    (first.run_dir / "scores.npz").unlink()  # as if killed while scoring
    state = json.loads((first.run_dir / "state.json").read_text())
    state["scored"] = False
    (first.run_dir / "state.json").write_text(json.dumps(state))
    again = _run(fakes)
    assert meth.fit_calls == 1 and again.resumed == ["fit"]
    assert (again.run_dir / "scores.npz").is_file()


def test_methods_never_see_test_labels(fakes: dict[str, Any]) -> None:
    meth = fakes["method"]
    _run(fakes)
    assert {s.video for s in meth.seen_fit} == {"r0", "r1", "r2"}  # semi: normal training videos only
    assert all(s.label == 0 for s in meth.seen_fit)
    assert {s.video for s in meth.seen_score} == {f"t{i}" for i in range(6)}
    from vadbench.methods.base import LabelAccessError

    for s in meth.seen_score:  # test samples raise on any label access
        with pytest.raises(LabelAccessError):
            _ = s.label
        with pytest.raises(LabelAccessError):
            _ = s.classes


def test_weak_method_gets_weak_split_with_labels(
    fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    weak = make_fake_method("fake-weak", "weak")
    monkeypatch.setitem(METHODS._items, "fake-weak", weak)
    with pytest.raises(ConfigError, match="weak method cannot run on the 'semi' split"):
        _run(fakes, method="fake-weak", protocol=PROTOCOL)
    from vadbench.protocol import Protocol

    weak_official = str(Protocol.preset(PROTOCOL).replace(split="weak"))
    res = _run(fakes, method="fake-weak", protocol=weak_official)
    assert res.row["split"] == "weak"
    assert {s.video: s.label for s in weak.seen_fit} == {"r0": 0, "r1": 0, "r2": 0, "r3": 1, "r4": 1, "r5": 1}
    assert all(s.classes == ("fall",) for s in weak.seen_fit if s.label == 1)


def test_checkpoint_selection_needs_explicit_flag(fakes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="--select-on-test"):
        _run(fakes, overrides={"checkpoint_selection": "test_auc_c"})
    res = _run(fakes, overrides={"checkpoint_selection": "test_auc_c"}, select_on_test=True)
    assert res.row["selection"] == "test"
    assert "selection=test" in res.row["protocol"]
    # the method got the callback and it returned protocol metrics, never the labels
    assert not hasattr(fakes["method"], "labels")
    cfg = yaml.safe_load((res.run_dir / "config.yaml").read_text())
    assert cfg["selection"] == "test"


def test_test_evaluator_returns_metrics(fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    got: dict[str, Any] = {}
    meth = fakes["method"]
    orig_fit = meth.fit

    def fit(self, samples):
        orig_fit(self, samples)
        got.update(self.selection_metrics)
        return self

    monkeypatch.setattr(meth, "fit", fit)
    _run(fakes, select_on_test=True)
    assert set(got) == {"score"} and got["score"]["auc_micro"] > 0.9


def test_missing_dataset_names_card_and_suggests_synthetic(fakes: dict[str, Any], tmp_path: Path) -> None:
    from vadbench.runner import open_dataset

    with pytest.raises(DataError) as err:
        open_dataset("fakeds", tmp_path / "absent", {"create": False})
    text = str(err.value)
    assert "signals" in text and "folder not found" in text
    assert "datasets/fakeds/README.md" in text and "--dataset synthetic" in text


def test_bad_scores_name_the_video(fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    meth = fakes["method"]
    monkeypatch.setattr(meth, "score", lambda self, s: np.zeros((3, 2)))
    with pytest.raises(VadbenchError, match=r"returned scores of shape \(3, 2\) for video 't0'"):
        _run(fakes)
    monkeypatch.setattr(meth, "score", lambda self, s: np.full(64, np.nan))
    with pytest.raises(VadbenchError, match="expected a finite"):
        _run(fakes, seed=3)


def test_wrong_length_scores_fail_under_strict_alignment(fakes: dict[str, Any], monkeypatch) -> None:
    meth = fakes["method"]
    monkeypatch.setattr(meth, "score", lambda self, s: np.zeros(60))
    with pytest.raises(VadbenchError, match="t0"):
        _run(fakes)


def test_inputs_that_cannot_fit_the_convention_fail_before_training(
    fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, meth = fakes["dataset"], fakes["method"]
    orig = ds.frame_labels
    monkeypatch.setattr(
        ds, "frame_labels", lambda self, *a, **k: {v: np.r_[y, 0] for v, y in orig(self, *a, **k).items()}
    )
    with pytest.raises(ConfigError, match=r"checked before training.*64 scores but 65 labels"):
        _run(fakes)
    assert meth.fit_calls == 0


def test_unknown_names_and_presets(fakes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        _run(fakes, method="nope")
    with pytest.raises(ConfigError, match="unknown device"):
        _run(fakes, device="tpu")
    with pytest.raises(ConfigError, match="protocol 'no-such-protocol'"):
        _run(fakes, protocol="no-such-protocol")
    with pytest.raises(ConfigError):
        _run(fakes, preset="no-such-preset")


def test_per_type_auc_when_dataset_records_types(fakes: dict[str, Any]) -> None:
    ds = fakes["dataset"]
    res = run(
        "fake-semi",
        ds(root=fakes["root"], types=True),
        runs_dir=fakes["runs"],
        device="cpu",
        progress=False,
        protocol=PROTOCOL,
    )
    per_type = json.loads((res.run_dir / "metrics.json").read_text())["per_type"]
    assert set(per_type) == {"fall", "fire"}
    assert per_type["fall"]["n_videos"] == 2 and per_type["fire"]["n_videos"] == 2
    # fall: t0, t4 + the 3 normal test videos
    assert per_type["fall"]["n_frames"] == 5 * 64 and per_type["fall"]["auc_micro"] > 0.9
    assert "AUC per anomaly type" in (res.run_dir / "report.html").read_text()


def test_cli_run_and_methods_list(fakes: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from vadbench.cli import app

    runner = CliRunner()
    args = [
        "run",
        "--method",
        "fake-semi",
        "--dataset",
        "fakeds",
        "--root",
        str(fakes["root"]),
        "--device",
        "cpu",
        "--runs-dir",
        str(fakes["runs"]),
        "--leaderboard",
        str(fakes["csv"]),
        "--no-progress",
    ]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "auc_micro" in out.output and "run folder" in out.output
    out = runner.invoke(app, args)
    assert out.exit_code == 0 and "resumed: fit, score" in out.output
    assert "not appended again" in out.output  # an identical re-run is reported, not recorded twice
    assert len(pd.read_csv(fakes["csv"])) == 1
    bad = runner.invoke(app, ["run", "--method", "nope", "--no-progress"])
    assert bad.exit_code == 2 and "unknown method 'nope'" in bad.output
    bad = runner.invoke(app, [*args, "--set", "novalue"])
    assert bad.exit_code == 2 and "--set expects key=value" in bad.output
    listed = runner.invoke(app, ["methods", "list"])
    assert listed.exit_code == 0 and "fake-semi" in listed.output and "frames" in listed.output


def test_failed_run_row_names_its_run_folder(fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that fails after planning leaves error.txt in its folder and its failed row has the same id."""
    from vadbench.runner import run_or_fail

    meth = fakes["method"]

    def broken_fit(self, samples):
        raise RuntimeError("diverged on purpose")

    monkeypatch.setattr(meth, "fit", broken_fit)
    res = run_or_fail(
        "fake-semi",
        "fakeds",
        root=fakes["root"],
        runs_dir=fakes["runs"],
        leaderboard=fakes["csv"],
        device="cpu",
        progress=False,
    )
    assert res.status == "failed" and "diverged on purpose" in res.row["error"]
    folder = fakes["runs"] / res.row["run_id"]
    assert folder.is_dir() and "diverged on purpose" in (folder / "error.txt").read_text()
    assert res.row["fidelity"] == "code"


def test_unit_is_checked_against_the_protocol_at_config_time(fakes: dict[str, Any]) -> None:
    with pytest.raises(
        ConfigError, match=r"returns one score per frame \(unit=frame\).*expects unit=snippet16"
    ):
        _run(fakes, protocol="sht-weak/rtfm;split=semi")
