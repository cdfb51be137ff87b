"""The scene condition of ADSM on the tiny object world (slow: the NCST is trained for 300 steps on CPU).

Scene 0 allows bikes (walkers and cyclists in training), scene 1 does not (walkers only); both share the
background, so only the scene id tells them apart. Measured (tests/helpers/adsm_world.py, 300 steps, seed 0):
the scene id changes the scores of the same clips, and the cyclist in its allowed scene is not ranked above
the walkers (AUC about 0.26). The property the paper claims — the cyclist singled out in the no-bike scene —
is NOT reached at this CPU scale: after 300 and after 2,000 steps the no-bike scene raises the walkers' and
the cyclist's scores alike (AUC walker < cyclist: 0.26 in both scenes); that test is a strict xfail.
Width 64 is narrower than a patch token (8x8x3 = 192 values, see the card's width rule); the same 300 steps at
width 192 (2 December 2026, /tmp script, not kept) do not reach it either: AUC walker < cyclist 0.615 where
bikes are allowed and 0.616 where they are not (mean score change of the cyclist between scenes 0.013); the
cyclist's DSM loss rises by 0.29 in the no-bike scene and the walkers' falls by 0.07 (losses about 250).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.adsm_world import render

pytestmark = pytest.mark.slow
C, N, P = 16, 4, 8


def _clips(objects, n_frames=48):
    from vadbench.methods.adsm.clips import crop_square, window_starts

    frames, objs = render(n_frames, objects)
    out: dict[str, list[np.ndarray]] = {}
    for kind, fr, bx in objs:
        crops = np.stack([crop_square(frames[f], b, C) for f, b in zip(fr, bx, strict=True)])
        out.setdefault(kind, []).extend(crops[s : s + N] for s in window_starts(len(fr), clip_len=N))
    return out


def _auc(neg, pos):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))


@pytest.fixture(scope="module")
def scores():
    import torch

    from vadbench.methods.adsm.clips import to_model_range
    from vadbench.methods.adsm.inference import inference_sigmas, level_scores
    from vadbench.methods.adsm.losses import training_loss
    from vadbench.methods.adsm.torch_model import NCST

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    xs, ss = [], []
    for k in range(3):
        bikes = [
            ("walker", 0, 6 + 4 * k, 1),
            ("cyclist", 3 * k, 30, -1),
            ("walker", 10, 46, -1),
            ("cyclist", 20, 20, 1),
        ]
        for clips in _clips(bikes).values():
            xs += clips
            ss += [0] * len(clips)
        for clips in _clips(
            [("walker", 0, 6 + 4 * k, 1), ("walker", 3 * k, 30, -1), ("walker", 10, 46, -1)]
        ).values():
            xs += clips
            ss += [1] * len(clips)
    x, s = to_model_range(np.stack(xs)), torch.tensor(ss)
    torch.manual_seed(0)
    model = NCST(clip_len=N, crop_size=C, patch=P, hidden=64, depth=2, heads=4, n_scenes=2)
    opt = torch.optim.Adamax(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 300)
    rng = np.random.default_rng(0)
    for _ in range(300):
        idx = torch.from_numpy(rng.choice(len(x), 64))
        loss = training_loss(
            model,
            x[idx],
            s[idx],
            patch=P,
            sigma_min=1e-3,
            sigma_max=1.0,
            scene_dropout=0.1,
            null_scene=model.null_scene,
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    test = _clips([("walker", 0, 10, 1), ("cyclist", 0, 30, -1), ("walker", 5, 40, -1)])
    walker, cyclist = (to_model_range(np.stack(test[k])) for k in ("walker", "cyclist"))
    sig = inference_sigmas(8, 1e-3, 1.0)

    def run(clips, scene):
        gen = torch.Generator().manual_seed(1)
        return level_scores(
            model, clips, torch.full((len(clips),), scene), sig, patch=P, generator=gen
        ).numpy()

    raw = {
        "walker@bikes": run(walker, 0),
        "cyclist@bikes": run(cyclist, 0),
        "walker@nobikes": run(walker, 1),
        "cyclist@nobikes": run(cyclist, 1),
    }
    pooled = np.concatenate(list(raw.values()))
    lo, hi = pooled.min(0), pooled.max(0)
    torch.set_num_threads(n_threads)
    return {k: ((v - lo) / (hi - lo)).mean(1) for k, v in raw.items()}


def test_the_scene_id_changes_the_scores(scores):
    assert np.abs(scores["cyclist@nobikes"] - scores["cyclist@bikes"]).mean() > 0.02


def test_the_cyclist_stays_normal_where_bikes_are_allowed(scores):
    assert _auc(scores["walker@bikes"], scores["cyclist@bikes"]) < 0.6


@pytest.mark.xfail(
    strict=True,
    reason="not reached at CPU scale: the no-bike scene raises walkers and the "
    "cyclist alike (AUC walker<cyclist 0.26 in both scenes after 300 and 2,000 steps; at width 192, "
    "300 steps: 0.615 allowed, 0.616 not allowed)",
)
def test_the_cyclist_is_singled_out_where_bikes_are_not_allowed(scores):
    allowed = _auc(scores["walker@bikes"], scores["cyclist@bikes"])
    forbidden = _auc(scores["walker@nobikes"], scores["cyclist@nobikes"])
    assert forbidden > allowed + 0.2
