"""ADSM as a method on a tiny object world (tests/helpers/adsm_world.py): fit, scores, persistence, errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tests.helpers.adsm_world import make_video
from vadbench.errors import ConfigError, DataError

TINY = {
    "crop_size": 16,
    "patch": 8,
    "clip_len": 4,
    "hidden": 32,
    "depth": 1,
    "heads": 2,
    "epochs": 1,
    "batch_size": 32,
    "levels": 4,
    "segment_len": 4,
    "lr": 2e-3,
    "train_stride": 2,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("adsm_world")
    train = [
        make_video(root, "01_001", "01", 32, [("walker", 0, 6, 1), ("cyclist", 0, 30, -1)]),
        make_video(root, "02_001", "02", 32, [("walker", 0, 6, 1), ("walker", 4, 30, -1)]),
    ]
    test = make_video(root, "02_0001", "02", 40, [("walker", 0, 10, 1), ("cart", 12, 40, 1)])
    return root, train, test


@pytest.fixture(scope="module")
def fitted(world, one_torch_thread_module):
    from vadbench.methods.adsm import ADSM

    m = ADSM(TINY, seed=0)
    m.progress = False
    return m.fit(world[1])


@pytest.fixture(scope="module")
def one_torch_thread_module():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_config_is_validated():
    from vadbench.methods.adsm import ADSM, ADSMConfig

    assert ADSMConfig().levels == 20 and ADSMConfig().hidden == 768  # code defaults = paper scale
    with pytest.raises(ConfigError, match="unknown option.*known"):
        ADSM({"nope": 1})
    with pytest.raises(ConfigError, match="integer"):
        ADSM({"levels": 2.5})
    with pytest.raises(ConfigError, match="multiple of patch"):
        ADSM({"crop_size": 20, "patch": 8})
    with pytest.raises(ConfigError, match="boxes_dir"):
        ADSM({"tracker": "boxes_file"})
    assert ADSM.name == "adsm" and "score-matching" in ADSM.aliases and ADSM.fidelity == "reconstruction"


def test_registered_under_both_names():
    from vadbench.registry import METHODS

    assert METHODS.get("adsm") is METHODS.get("score-matching")


def test_fit_and_score_one_value_per_frame(fitted, world):
    _, _, test = world
    s = fitted.score(test)
    assert s.shape == (test.n_frames,) and s.dtype == np.float32
    assert np.all(np.isfinite(s)) and s.min() >= 0.0 and s.max() <= 1.0
    assert len(fitted.history) == 1 and np.isfinite(fitted.history[0]["loss"])
    assert fitted.scenes == ["01", "02"]


def test_scoring_is_reproducible_and_survives_save_load(fitted, world, tmp_path):
    from vadbench.methods.adsm import ADSM

    _, _, test = world
    a = fitted.score(test)
    assert np.array_equal(a, fitted.score(test))  # one noise draw per clip, seeded by (seed, video)
    path = fitted.save(tmp_path / "adsm.safetensors")
    b = ADSM(TINY, seed=5).load(path).score(test)  # the inference seed comes with the state
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_whole_frame_and_boxes_file_trackers(world, tmp_path):
    from vadbench.methods.adsm import ADSM

    _, train, test = world
    m = ADSM({**TINY, "tracker": "whole_frame", "crop_size": 16}, seed=0)
    m.progress = False
    runs = m.object_runs(test)
    assert len(runs) == 1 and len(runs[0].frames) == test.n_frames and runs[0].crops.shape[1:] == (16, 16, 3)
    # boxes files written from the tracks (no label column): the same crops as the bytetrack input
    for smp in (*train, test):
        rows = ["frame,object_id,x1,y1,x2,y2"]
        for t in smp.tracks:
            rows += [
                f"{f},{t.id},{b[0]},{b[1]},{b[2]},{b[3]}" for f, b in zip(t.frames, t.boxes, strict=True)
            ]
        (tmp_path / f"{smp.video}.csv").write_text("\n".join(rows) + "\n")
    fb = ADSM({**TINY, "tracker": "boxes_file", "boxes_dir": str(tmp_path)})
    bt = ADSM(TINY)
    a, b = fb.object_runs(test), bt.object_runs(test)
    assert [r.track_id for r in a] == [r.track_id for r in b]
    assert all(np.array_equal(x.crops, y.crops) for x, y in zip(a, b, strict=True))
    (tmp_path / f"{test.video}.csv").write_text("frame,object_id,x1,y1,x2,y2,is_anomalous\n0,1,0,0,8,8,1\n")
    with pytest.raises(DataError, match="anomaly labels"):
        fb.object_runs(test)


def test_no_track_in_training_is_an_error(world):
    from vadbench.methods.adsm import ADSM

    _, train, _ = world
    empty = [copy.copy(s) for s in train]
    for s in empty:
        s.tracks = [t for t in s.tracks if len(t) < 4]  # nothing long enough for one clip
    with pytest.raises(DataError, match="no track in the whole training set"):
        ADSM(TINY).fit(empty)


def test_crop_outside_the_frame_is_an_error(world):
    from vadbench.methods.adsm import ADSM
    from vadbench.tracks import Track

    _, train, _ = world
    bad = copy.copy(train[0])
    t = bad.tracks[0]
    boxes = t.boxes.copy()
    boxes[3] = [200, 200, 210, 220]
    bad.tracks = [Track(t.id, t.frames, boxes, t.scores, video=t.video, path=t.path)]
    with pytest.raises(DataError, match=r"01_001.*track 1 frame 3.*outside the 64x64 frame"):
        ADSM(TINY).object_runs(bad)


def test_unseen_scene_needs_the_null_embedding(world):
    from vadbench.methods.adsm import ADSM

    _, train, test = world
    other = copy.copy(test)
    other.scene = "99"
    m = ADSM({**TINY, "scene_dropout": 0.0})
    m.progress = False
    m.fit(train)
    with pytest.raises(DataError, match="scene '99' was not seen in training.*no null scene"):
        m.score(other)
    m2 = ADSM({**TINY, "scene_condition": False})
    m2.progress = False
    m2.fit(train)
    assert m2.scene_index(other) == m2.model.null_scene and m2.score(other).shape == (other.n_frames,)


def test_frames_without_objects_score_zero_before_normalisation(fitted, world):
    _, _, test = world
    empty = copy.copy(test)
    empty.tracks = []
    assert np.all(fitted.score(empty) == 0.0)


def test_dsm_loss_indicator_scores_each_clip_by_its_training_objective(fitted, world, tmp_path):
    """``indicator=dsm_loss``: the same model and aggregation, one level per clip = the clip's DSM loss."""
    from vadbench.methods.adsm import ADSM

    _, _, test = world
    m = ADSM({**TINY, "indicator": "dsm_loss"}, seed=0).load(fitted.save(tmp_path / "adsm.safetensors"))
    runs = m.object_runs(test, scene=m.scene_index(test))
    pairs = m.clip_indicator(runs, video=test.video)
    losses = m.clip_dsm_losses(runs, video=test.video)
    assert [p[1].shape[1] for p in pairs] == [1] * len(runs)
    for (_, ind), loss in zip(pairs, losses, strict=True):
        np.testing.assert_allclose(ind[:, 0], loss)
    s = m.score(test)
    assert s.shape == (test.n_frames,) and s.min() >= 0.0 and s.max() <= 1.0
    assert not np.allclose(s, fitted.score(test))  # a different indicator, not the paper's levels
    with pytest.raises(ConfigError, match="level_weights"):
        ADSM({**TINY, "indicator": "dsm_loss", "level_weights": [1.0] * TINY["levels"]})
    with pytest.raises(ConfigError, match="indicator"):
        ADSM({**TINY, "indicator": "psnr"})
    for ablation in ({"autoregressive": False}, {"appearance_term": False}, {"score_norm": "motion"}):
        with pytest.raises(ConfigError, match="dsm_loss"):  # an ablation of the paper's indicator only
            ADSM({**TINY, "indicator": "dsm_loss", **ablation})
