"""ADSM on the synthetic semi split (tiny set, generator v3) with the ``tiny-wide`` preset's tracks and
config: the pipeline of ``vadbench run --method adsm --preset tiny-wide`` (slow: one fit takes 2-8 min on 2
cores).

Measured (``vadbench run --dataset synthetic --seed S``, CPU, 2 December 2026; all on the card
``vadbench/methods/adsm/README.md``), AUC micro over method seeds 0 / 1 / 2 on data seed 0: ``tiny-wide``
with its ``indicator: dsm_loss`` (the clip's DSM loss; chosen on the dev worlds 100 / 101, not the paper's
indicator) 66.89 / 65.12 / 65.44; the same models with the paper's ||s|| / PSNR 61.30 / 68.98 / 63.08;
``knn`` 63.49 and ``frame-diff`` 62.24 (deterministic). The learning test (seed 0) asserts the floor below.

What the trained model does learn, on the object clips matched to the generator's objects (IoU >= 0.3; the
anomaly flags are read by this test, never by the method): its DSM loss is higher on anomalous than on normal
test clips, AUC 0.818 for ``tiny-wide`` seed 0 (vehicles 0.99, cyclists where bikes are banned 0.96, wrong
way 0.75, runners 0.70, falls 0.66) against 0.640 for the width-64 ``tiny`` model. The paper's indicator
(score norm over PSNR, autoregressive levels, min-max per video, max over objects) does not carry this to
the frames; the DSM loss as the indicator does.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SEED = 0
PRESET = "tiny-wide"
#: Best standard baseline of its supervision on this split (knn 63.49, frame-diff 62.24) + 1 point. With
#: the preset's ``indicator: dsm_loss`` (chosen on dev worlds 100 / 101) ADSM tiny-wide measured 66.89 /
#: 65.12 / 65.44 over method seeds 0 / 1 / 2 (mean 65.82 +- 0.94); with the paper's indicator 61.30 / 68.98 /
#: 63.08 (below knn on seeds 0 and 2).
LEARNING_FLOOR = 0.645
#: DSM loss, anomalous vs normal object clips: measured AUC 0.818 (tiny-wide, seed 0); width 64 gives 0.640.
DSM_FLOOR = 0.72


def _auc(neg: np.ndarray, pos: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))


@pytest.fixture(scope="module")
def fitted():
    """ADSM fitted on the normal training videos of the tiny synthetic set with the ``tiny-wide`` preset."""
    import torch

    from vadbench.datasets._synthetic_dataset import Synthetic
    from vadbench.inputs import make_samples
    from vadbench.methods.adsm import ADSM
    from vadbench.runner import load_method_preset
    from vadbench.tracks import load_tracks

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    preset = load_method_preset("adsm", "synthetic", PRESET)
    ds = Synthetic(preset="tiny")
    table = ds.videos()
    split = ds.split("semi")
    videos = list(split.train) + list(split.test)
    tracks = load_tracks(ds, videos, progress=False, **preset["inputs"]["tracks"])
    train = [s for v in split.train for s in make_samples("tracks", table, [v], tracks, train=True)[v]]
    test = [s for v in split.test for s in make_samples("tracks", table, [v], tracks, train=False)[v]]
    m = ADSM(preset["config"], seed=SEED)
    m.progress = False
    m.fit(train)
    yield m, ds, test
    torch.set_num_threads(n_threads)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x2, y2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area - inter + 1e-9)


def test_adsm_beats_knn_and_frame_diff_on_synthetic(fitted):
    from sklearn.metrics import roc_auc_score

    m, ds, test = fitted
    labels = ds.frame_labels(split="semi")
    y = np.concatenate([labels[s.video] for s in test])
    score = np.concatenate([m.score(s) for s in test])
    assert roc_auc_score(y, score) > LEARNING_FLOOR


def test_dsm_loss_is_lower_on_normal_than_on_anomalous_test_clips(fitted):
    m, ds, test = fitted
    normal, anomalous = [], []
    for s in test:
        boxes = ds.boxes(s.video)
        by_frame = {int(f): g for f, g in boxes.groupby("frame")}
        runs = m.object_runs(s, scene=m.scene_index(s))
        for run, loss in zip(runs, m.clip_dsm_losses(runs, video=s.video), strict=True):
            track = next(t for t in s.tracks if t.id == run.track_id)
            box_of = dict(zip(track.frames.tolist(), track.boxes, strict=True))
            last = run.frames[run.starts(m.cfg.clip_len, m.cfg.test_stride) + m.cfg.clip_len - 1]
            for f, value in zip(last.tolist(), loss, strict=True):
                g = by_frame.get(f)
                if g is None:
                    continue
                iou = _iou(np.asarray(box_of[f], float), g[["x1", "y1", "x2", "y2"]].to_numpy(float))
                if iou.max() >= 0.3:
                    (anomalous if g["is_anomalous"].iloc[int(iou.argmax())] else normal).append(value)
    assert len(anomalous) > 50 and len(normal) > 500
    assert np.mean(normal) < np.mean(anomalous)
    assert _auc(np.array(normal), np.array(anomalous)) > DSM_FLOOR
