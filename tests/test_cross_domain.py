"""Cross-domain training (``train_dataset``): train on one dataset's training videos, score another's
test set.

COPRA (tiny random VLM) trained on a fake XD-Violence root and scored on a fake UCF-Crime root, both in their
real release layouts (tests/helpers/data.py); the choice is in the config (hash), the row and the fit; inputs
that cannot serve both datasets are refused with a clear error.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from tests.helpers.data import XD_TRAIN, make_fake_root
from vadbench.cross_domain import check_compatible, rescale_clips, train_input_options
from vadbench.errors import ConfigError, DataError
from vadbench.methods.copra.method import Copra
from vadbench.runner import resolve_config, run


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("cross-roots")
    return {ds: make_fake_root(ds, base / ds) for ds in ("ucf-crime", "xd-violence")}


def test_copra_trained_on_xd_scores_ucf(roots, tmp_path, one_torch_thread, monkeypatch):
    seen: list[str] = []
    fit = Copra.fit

    def recording_fit(self, samples):
        seen.extend(s.video for s in samples)
        return fit(self, samples)

    monkeypatch.setattr(Copra, "fit", recording_fit)
    res = run(
        "copra",
        "ucf-crime",
        root=roots["ucf-crime"],
        preset="none",
        device="cpu",
        runs_dir=tmp_path / "runs",
        overrides={**Copra.contract_config(), "segment_labels": "video"},
        train_dataset="xd-violence",
        train_root=roots["xd-violence"],
        progress=False,
        report=False,
    )
    assert res.status == "ok" and np.isfinite(res.metrics["auc_micro"])
    assert res.row["split"] == "test;train=xd-violence"
    assert sorted(seen) == sorted(XD_TRAIN) and res.row["n_train"] == len(XD_TRAIN)  # XD's, not UCF's
    cfg = yaml.safe_load((res.run_dir / "config.yaml").read_text())
    cross = cfg["train_dataset"]
    assert cross["dataset"] == "xd-violence" and cross["root"] == str(roots["xd-violence"])
    assert cross["inputs"]["clips"] and cross["data_fingerprint"]
    in_domain, _, _ = resolve_config("copra", "ucf-crime", roots["ucf-crime"], preset="none")
    cross_cfg, _, _ = resolve_config(
        "copra", "ucf-crime", roots["ucf-crime"], preset="none", train_dataset="xd-violence"
    )
    from vadbench.runner import config_hash

    assert config_hash(in_domain) != config_hash(cross_cfg)  # the choice changes the config hash


def test_clear_errors(roots):
    with pytest.raises(ConfigError, match="evaluated dataset itself"):
        resolve_config("copra", "ucf-crime", preset="none", train_dataset="ucf-crime")
    with pytest.raises(ConfigError, match="train_root given without train_dataset"):
        resolve_config("copra", "ucf-crime", preset="none", train_root="/x")
    with pytest.raises(ConfigError, match="community feature files"):
        train_input_options(
            "features", {"source": "rtfm-i3d", "root": "/feats"}, dataset="ucf-crime",
            train_dataset="xd-violence", fps=30.0, train_fps=24.0,
        )
    wide = r"'xd-violence' video 'a' are 1024-d.*'ucf-crime' video 'b' are 2048-d"
    with pytest.raises(DataError, match=wide):
        check_compatible(
            "features", {"a": np.zeros((3, 1, 1024))}, {"b": np.zeros((3, 1, 2048))},
            dataset="ucf-crime", train_dataset="xd-violence",
        )


def test_training_root_without_training_videos_is_named(tmp_path):
    ucf = make_fake_root("ucf-crime", tmp_path / "ucf")
    xd = make_fake_root("xd-violence", tmp_path / "xd")
    shutil.rmtree(xd / "train")
    with pytest.raises(DataError, match="dataset 'xd-violence' split 'test' has no training video"):
        run("copra", "ucf-crime", root=ucf, preset="none", device="cpu",
            runs_dir=tmp_path / "runs", overrides=Copra.contract_config(), train_dataset="xd-violence",
            train_root=xd, progress=False, report=False)


def test_clips_cover_the_same_seconds():
    """UCF-Crime 2 s windows (60 frames at 30 fps) are 48 frames of XD-Violence (24 fps), and back."""
    assert rescale_clips({"window": 60, "stride": 30, "frames": 8}, from_fps=30, to_fps=24) == {
        "window": 48, "stride": 24, "frames": 8}
    assert rescale_clips({"window": 48, "stride": 24, "frames": 8}, from_fps=24, to_fps=30) == {
        "window": 60, "stride": 30, "frames": 8}
    assert rescale_clips({"window": 16, "stride": 8, "frames": 4}, from_fps=None, to_fps=24)["window"] == 16


def test_presets_name_the_training_dataset():
    """The card's cross-domain presets: UCF-Crime from XD-Violence and back."""
    for dataset, preset, source in (("ucf-crime", "from-xd-violence", "xd-violence"),
                                    ("xd-violence", "from-ucf-crime", "ucf-crime")):
        cfg, _, _ = resolve_config("copra", dataset, preset=preset)
        assert cfg["train_dataset"] == {"dataset": source, "root": None} and cfg["preset"] == preset
    assert "train_dataset" not in resolve_config("copra", "ucf-crime")[0]  # in-domain by default
