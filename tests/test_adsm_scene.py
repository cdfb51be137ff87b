"""The scene condition of ADSM on the tiny object world (slow: the NCST is trained for 1,000 steps on CPU).

Scene 0 allows bikes (walkers and cyclists in training, about as many cyclist clips as walker clips), scene 1
does not (walkers only); both share the background, so only the scene id tells them apart. Test clips (new
rows and start frames): walkers, a cyclist and a cart (anomalous in every scene), each scored under both scene
ids with the same noise draws. Width 192 = the values of one 8x8x3 patch token (the card's width rule).

Measured (this fixture with its seeds 0 / 1 / 2 for torch and the batch draw; 3 December 2026):
- ``dsm_loss`` indicator (the tiny-wide preset's): moving the same clip from the allowed to the banned scene
  raises the cyclist's score more than the walkers' — AUC of the per-clip change, walkers vs cyclist, 1.000 /
  0.996 / 0.993; mean change cyclist +0.88 / +0.69 / +0.70, walkers -0.51 / -0.41 / -0.42 — and where bikes
  are allowed the cyclist sits with the walkers, far below the cart (cart above cyclist and above walkers:
  AUC 1.000 on every seed; mean loss walker 100.7, cyclist 105.2, cart 161.1 on seed 0).
- The effect is small against the cart's gap of about 56: ranked against the walkers the cyclist moves from
  0.690 / 0.632 / 0.737 (allowed) to 0.763 / 0.701 / 0.798 (banned). Singled out where bikes are banned (AUC
  +0.2 over the allowed scene), as the paper describes, is NOT reached at this scale: a strict xfail.
- The paper's indicator (||s|| / PSNR, levels min-max pooled) moves the cyclist the other way: AUC of the
  per-clip change 0.169 / 0.135 / 0.139 (walkers rise by 0.11, the cyclist by 0.10). It changes with the
  scene id (tested: mean |change| of the cyclist 0.097 / 0.104 / 0.090) and ranks the cyclist near the
  walkers where bikes are allowed (0.576 / 0.528 / 0.647, not tested).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.adsm_world import render

pytestmark = pytest.mark.slow
C, N, P = 16, 4, 8
STEPS = 1000


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


def _bike_scene(k):
    return [
        ("walker", 0, 6 + 4 * k, 1),
        ("cyclist", 3 * k, 30, -1),
        ("walker", 10, 46, -1),
        ("cyclist", 20, 20, 1),
        ("cyclist", 2 + 5 * k, 8 + 3 * k, 1),
        ("cyclist", 12, 40 - k, -1),
        ("cyclist", 25 + k, 2 + 2 * k, -1),
        ("cyclist", 30, 44, 1),
    ]


def _no_bike_scene(k):
    return [("walker", 0, 6 + 4 * k, 1), ("walker", 3 * k, 30, -1), ("walker", 10, 46, -1)]


@pytest.fixture(scope="module")
def scores():
    """Per indicator ("paper": ||s|| / PSNR per level, min-max over the walkers' and the cyclist's clips of
    both scenes per level, mean over levels; "dsm_loss"), per "kind@scene": one score per test clip."""
    import torch

    from vadbench.methods.adsm.clips import to_model_range
    from vadbench.methods.adsm.inference import dsm_loss_scores, inference_sigmas, level_scores
    from vadbench.methods.adsm.losses import training_loss
    from vadbench.methods.adsm.torch_model import NCST

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    xs, ss = [], []
    for k in range(3):
        for clips in _clips(_bike_scene(k)).values():
            xs += clips
            ss += [0] * len(clips)
        for clips in _clips(_no_bike_scene(k)).values():
            xs += clips
            ss += [1] * len(clips)
    x, s = to_model_range(np.stack(xs)), torch.tensor(ss)
    torch.manual_seed(0)
    model = NCST(clip_len=N, crop_size=C, patch=P, hidden=192, depth=2, heads=4, n_scenes=2)
    opt = torch.optim.Adamax(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)
    rng = np.random.default_rng(0)
    for _ in range(STEPS):
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
    test |= _clips([("cart", 8, 22, 1)])  # rendered apart: its crops hold no other object
    clips = {k: to_model_range(np.stack(v)) for k, v in test.items()}
    sig = inference_sigmas(8, 1e-3, 1.0)

    def scene_ids(c, scene):
        return torch.full((len(c),), scene)

    def paper(c, scene):
        gen = torch.Generator().manual_seed(1)
        return level_scores(model, c, scene_ids(c, scene), sig, patch=P, generator=gen).numpy()

    def dsm(c, scene):
        gen = torch.Generator().manual_seed(1)
        return dsm_loss_scores(model, c, scene_ids(c, scene), sig, patch=P, generator=gen).numpy()

    def name(kind, scene):
        return f"{kind}@{'bikes' if scene == 0 else 'nobikes'}"

    pairs = [(kind, scene) for kind in ("walker", "cyclist", "cart") for scene in (0, 1)]
    raw = {name(kind, sc): paper(clips[kind], sc) for kind, sc in pairs if kind != "cart"}
    pooled = np.concatenate(list(raw.values()))
    lo, hi = pooled.min(0), pooled.max(0)
    out = {
        "paper": {k: ((v - lo) / (hi - lo)).mean(1) for k, v in raw.items()},
        "dsm_loss": {name(kind, sc): dsm(clips[kind], sc) for kind, sc in pairs},
    }
    torch.set_num_threads(n_threads)
    return out


def _change(score, kind):
    """Per clip: its score under the no-bike scene id minus under the bike scene id (same noise draw)."""
    return score[f"{kind}@nobikes"] - score[f"{kind}@bikes"]


def test_the_scene_id_changes_the_scores(scores):
    assert np.abs(_change(scores["paper"], "cyclist")).mean() > 0.02


def test_the_scene_condition_raises_the_cyclist_where_bikes_are_not_allowed(scores):
    dsm = scores["dsm_loss"]
    assert _change(dsm, "cyclist").mean() > max(0.0, _change(dsm, "walker").mean())
    assert _auc(_change(dsm, "walker"), _change(dsm, "cyclist")) > 0.85


def test_the_cyclist_stays_normal_where_bikes_are_allowed(scores):
    dsm = scores["dsm_loss"]
    assert _auc(dsm["cyclist@bikes"], dsm["cart@bikes"]) > 0.95
    assert _auc(dsm["walker@bikes"], dsm["cart@bikes"]) > 0.95


@pytest.mark.xfail(
    strict=True,
    reason="not reached at CPU scale: the banned scene raises the cyclist only a little "
    "(AUC walker<cyclist 0.690 -> 0.763, 0.632 -> 0.701, 0.737 -> 0.798 over seeds 0-2 with dsm_loss; "
    "the paper's indicator moves it the other way)",
)
def test_the_cyclist_is_singled_out_where_bikes_are_not_allowed(scores):
    dsm = scores["dsm_loss"]
    allowed = _auc(dsm["walker@bikes"], dsm["cyclist@bikes"])
    forbidden = _auc(dsm["walker@nobikes"], dsm["cyclist@nobikes"])
    assert forbidden > allowed + 0.2
