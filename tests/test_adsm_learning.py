"""ADSM learns: on the tiny object world (tests/helpers/adsm_world.py) a model trained on normal videos has a
lower DSM loss and a lower ADSM score on normal objects (walkers, cyclists where allowed) than on an
anomalous one (a cart), and its frame scores are higher where the cart is.

Measured over seeds 0, 1, 2 (this configuration): AUC normal < cart of the DSM loss 0.95, 0.96, 0.91 and of
the ADSM clip score 0.89, 0.93, 0.91; the floors below are 0.8. Untrained (loss 384 for every clip) both
are at chance."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tests.helpers.adsm_world import make_video

CFG = {
    "crop_size": 16,
    "patch": 8,
    "clip_len": 4,
    "hidden": 64,
    "depth": 2,
    "heads": 4,
    "epochs": 10,
    "batch_size": 64,
    "levels": 8,
    "segment_len": 4,
    "lr": 3e-3,
}


def _auc(neg: np.ndarray, pos: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    from vadbench.methods.adsm import ADSM

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("adsm_learn")
    train = []
    for k in range(3):
        train.append(
            make_video(
                root,
                f"01_{k:03d}",
                "01",
                48,
                [
                    ("walker", 0, 6 + 4 * k, 1),
                    ("cyclist", 3 * k, 30, -1),
                    ("walker", 10, 46, -1),
                    ("cyclist", 20, 20, 1),
                ],
            )
        )
        train.append(
            make_video(
                root,
                f"02_{k:03d}",
                "02",
                48,
                [("walker", 0, 6 + 4 * k, 1), ("walker", 3 * k, 30, -1), ("walker", 10, 46, -1)],
            )
        )
    test = make_video(
        root, "01_0001", "01", 48, [("walker", 0, 10, 1), ("cyclist", 0, 30, -1), ("cart", 14, 46, 1)]
    )
    m = ADSM(CFG, seed=0)
    m.progress = False
    m.fit(train)
    yield m, test
    torch.set_num_threads(n)


def test_dsm_loss_is_lower_on_normal_than_on_anomalous_clips(trained):
    m, test = trained
    runs = m.object_runs(test, scene=m.scene_index(test))
    losses = dict(
        zip([test.kinds[r.track_id] for r in runs], m.clip_dsm_losses(runs, video=test.video), strict=True)
    )
    first = m.history[0]["loss"]
    assert m.history[-1]["loss"] < first - 10  # it trained (initial loss 0.5 * n * 3 p^2 = 384)
    normal = np.r_[losses["walker"], losses["cyclist"]]
    assert normal.mean() < losses["cart"].mean()
    assert _auc(normal, losses["cart"]) > 0.8


def test_adsm_scores_rank_the_anomalous_object_and_its_frames_higher(trained):
    m, test = trained
    runs = m.object_runs(test, scene=m.scene_index(test))
    raw = {
        test.kinds[r.track_id]: sc
        for r, (_, sc) in zip(runs, m.clip_level_scores(runs, video="t"), strict=True)
    }
    pooled = np.concatenate(list(raw.values()))
    lo, hi = pooled.min(0), pooled.max(0)
    score = {k: ((v - lo) / (hi - lo)).mean(1) for k, v in raw.items()}
    assert _auc(np.r_[score["walker"], score["cyclist"]], score["cart"]) > 0.8
    frames = m.score(test)
    cart = next(t for t in test.tracks if test.kinds[t.id] == "cart")
    inside = np.zeros(test.n_frames, bool)
    inside[cart.frames[3:]] = True  # frames with a cart clip
    assert frames[inside].mean() > frames[~inside].mean()
    # content matters: the same video without the cart does not single out those frames
    no_cart = copy.copy(test)
    no_cart.tracks = [t for t in test.tracks if test.kinds[t.id] != "cart"]
    assert m.score(no_cart)[inside].mean() < frames[inside].mean()
