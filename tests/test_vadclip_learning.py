"""VadCLIP learns from weak labels: synthetic features where the abnormal snippets of abnormal videos are
shifted along a hidden direction; only video labels are given. Snippet AUC on held-out videos must beat a
floor that the untrained model does not reach.

Measured (seed 0, this data): untrained C 0.43 / A 0.51; trained (6 epochs, loop ucf) C 0.88 / A 0.92.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vadbench.methods.base import FeatureSample
from vadbench.methods.vadclip import VadCLIP

FLOOR = 0.75  # well below the measured 0.88 / 0.92, well above chance
D = 64


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test of this module runs on one torch thread (conftest ``one_torch_thread``)."""


def make_videos(rng, n_normal, n_abnormal, direction, shift=1.5):
    """(sample, snippet truth) pairs; T in [12, 120) so some videos exceed visual_length=64 (averaged)."""
    out = []
    for i in range(n_normal + n_abnormal):
        t = int(rng.integers(12, 120))
        x = rng.normal(size=(t, D)).astype(np.float32)
        y = np.zeros(t, int)
        label = int(i >= n_normal)
        if label:
            n = int(rng.integers(max(2, t // 8), t // 3 + 1))
            s = int(rng.integers(0, t - n + 1))
            x[s : s + n] += shift * direction
            y[s : s + n] = 1
        out.append((FeatureSample(f"v{i}", x, label=label, classes=("abnormal",) if label else ()), y))
    return out


def snippet_auc(method, videos):
    y = np.concatenate([t for _, t in videos])
    outs = [method.score_outputs(s) for s, _ in videos]
    return {k: roc_auc_score(y, np.concatenate([o[k] for o in outs])) for k in ("c", "a")}


def test_vadclip_learns_from_video_labels():
    rng = np.random.default_rng(0)
    u = rng.normal(size=D)
    u = (u / np.linalg.norm(u)).astype(np.float32)
    train, test = make_videos(rng, 32, 32, u), make_videos(rng, 12, 12, u)
    cfg = {
        "clip_model": "tiny",
        "clip_pretrained": None,
        "embed_dim": D,
        "classes": "binary",
        "loop": "ucf",
        "batch_normal": 8,
        "batch_abnormal": 8,
        "epochs": 6,
        "lr": 1.0e-3,
        "milestones": [100],
        "layers": 1,
        "visual_length": 64,
    }
    method = VadCLIP(cfg, seed=0)
    method.progress = False
    method._ensure_model()
    untrained = snippet_auc(method, test)
    method.fit([s for s, _ in train])
    trained = snippet_auc(method, test)
    assert trained["c"] > FLOOR and trained["a"] > FLOOR, trained
    assert untrained["c"] < FLOOR and untrained["a"] < FLOOR, untrained
    assert method.history[-1]["loss"] < method.history[0]["loss"]
    assert [h["steps"] for h in method.history] == [4] * 6  # min(32//8, 32//8) steps, drop_last
