"""ADSM pure parts: object clips (gaps, crops, boxes files), motion weights, NCST, DSM loss, inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vadbench.errors import DataError
from vadbench.methods.adsm.clips import crop_square, read_boxes_file, runs_of, square_box, window_starts
from vadbench.methods.adsm.inference import (
    fill_leading,
    frame_level_scores,
    inference_sigmas,
    level_scores,
    video_scores_from_levels,
)
from vadbench.methods.adsm.losses import dsm_loss, motion_weights, uniform_weights
from vadbench.methods.adsm.torch_model import NCST, NCSTBlock, patchify, unpatchify


# -- clips -------------------------------------------------------------------------------------------------
def test_windows_never_span_a_gap():
    frames = np.array([0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 20, 21])
    runs = runs_of(frames)
    assert runs == [(0, 5), (5, 11), (11, 13)]
    clips = []
    for a, b in runs:
        for st in window_starts(b - a, clip_len=4, stride=1):
            clips.append(frames[a + st:a + st + 4])
    assert len(clips) == 2 + 3  # 5 frames -> 2 windows, 6 frames -> 3, 2 frames -> none
    for c in clips:
        assert np.all(np.diff(c) == 1), c


def test_window_stride_keeps_the_last_window():
    assert window_starts(10, clip_len=4, stride=4).tolist() == [0, 4, 6]
    assert window_starts(3, clip_len=4).tolist() == []


def test_unsorted_track_frames_are_refused():
    with pytest.raises(DataError, match="strictly increasing"):
        runs_of(np.array([3, 2, 4]))


def test_square_crop_is_enlarged_and_centred():
    sq = square_box(np.array([10.0, 10, 20, 30]), enlarge=0.1)
    assert sq[2] - sq[0] == pytest.approx(22.0) and sq[3] - sq[1] == pytest.approx(22.0)
    assert (sq[0] + sq[2]) / 2 == pytest.approx(15.0) and (sq[1] + sq[3]) / 2 == pytest.approx(20.0)
    frame = np.zeros((40, 40, 3), np.uint8)
    frame[10:30, 10:20] = 255  # the object fills its box
    crop = crop_square(frame, np.array([10.0, 10, 20, 30]), 22, enlarge=0.1)
    assert crop.shape == (22, 22, 3)
    assert crop[11, 11, 0] == 255 and crop[11, 0, 0] == 0  # object in the centre, background at the sides


def test_crop_near_the_border_repeats_edge_pixels_and_outside_is_an_error():
    frame = np.zeros((20, 20, 3), np.uint8)
    frame[:, 0] = 200
    crop = crop_square(frame, np.array([0.0, 5, 4, 15]), 12, enlarge=0.1)
    assert crop[6, 0, 0] == 200  # left of the frame: the border column repeated
    with pytest.raises(DataError, match="outside the 20x20 frame"):
        crop_square(frame, np.array([25.0, 5, 30, 15]), 12, where="video 'v' track 3 frame 7")


def test_boxes_file_with_an_anomaly_column_is_refused(tmp_path):
    ok = tmp_path / "v1.csv"
    ok.write_text("frame,object_id,x1,y1,x2,y2,score\n0,1,0,0,4,4,0.9\n1,1,1,0,5,4,0.9\n3,2,0,0,4,4,1\n")
    tracks = read_boxes_file(ok, "v1")
    assert [(t, f.tolist()) for t, f, _ in tracks] == [(1, [0, 1]), (2, [3])]
    for col in ("is_anomalous", "event", "label", "anomaly_score"):
        bad = tmp_path / f"{col}.csv"
        bad.write_text(f"frame,object_id,x1,y1,x2,y2,{col}\n0,1,0,0,4,4,0\n")
        with pytest.raises(DataError, match="anomaly"):
            read_boxes_file(bad, "v2")
    with pytest.raises(DataError, match="not found"):
        read_boxes_file(tmp_path / "missing.csv", "v3")


# -- motion weights ----------------------------------------------------------------------------------------
def test_motion_weights_sum_to_one_and_follow_the_key_frame_difference():
    x = torch.zeros(2, 4, 3, 8, 8)
    x[0, -1, 0, 0, 0] = 0.5  # one pixel of one channel in patch 0
    x[0, -1, :, 5, 5] = 1.0  # all channels in patch 3
    x[0, 1, :, 0:4, 4:8] = 1.0  # a middle frame only: not a key frame, no weight
    w = motion_weights(x, 4)
    assert w.shape == (2, 4)
    assert torch.allclose(w.sum(1), torch.ones(2))
    v0, v3 = 0.5 / 3, 1.0
    assert torch.allclose(w[0], torch.tensor([v0, 0, 0, v3]) / (v0 + v3))
    assert torch.allclose(w[1], torch.full((4,), 0.25))  # a static clip: uniform
    assert torch.allclose(uniform_weights(x, 4), torch.full((2, 4), 0.25))


# -- model -------------------------------------------------------------------------------------------------
def _tiny(**kw):
    torch.manual_seed(0)
    args = dict(clip_len=4, crop_size=16, patch=8, hidden=32, depth=2, heads=4, n_scenes=2)
    args.update(kw)
    return NCST(**args)


def test_patchify_round_trip_and_token_order():
    x = torch.randn(2, 4, 3, 16, 16)
    tok = patchify(x, 8)
    assert tok.shape == (2, 4 * 4, 3 * 64)
    assert torch.equal(tok[0, 5].view(3, 8, 8), x[0, 1, :, 0:8, 8:16])  # frame 1, row 0, column 1
    assert torch.equal(unpatchify(tok, 4, 3, 16, 16, 8), x)


def test_adaln_zero_blocks_are_the_identity_at_init():
    blk = NCSTBlock(32, 4, 64)
    h, z = torch.randn(3, 10, 32), torch.randn(3, 64)
    assert torch.equal(blk(h, z), h)
    m = _tiny()
    x = torch.randn(2, 4, 3, 16, 16)
    s = m(x, torch.tensor([0.1, 1.0]), torch.tensor([0, 2]))
    assert torch.count_nonzero(s) == 0  # zero final layer
    # after a training step the conditioning matters: the scene changes the output
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.05) if p.dim() > 1 else None
    a = m(x, torch.tensor([0.1, 0.1]), torch.tensor([0, 0]))
    b = m(x, torch.tensor([0.1, 0.1]), torch.tensor([1, 1]))
    assert not torch.allclose(a, b)


def test_ncst_checks_its_input_and_counts_dit_b_parameters():
    m = _tiny()
    with pytest.raises(ValueError, match="expects clips"):
        m(torch.zeros(1, 3, 3, 16, 16), torch.tensor([0.1]), torch.tensor([0]))
    assert m.null_scene == 2 and m.scene_embed.num_embeddings == 3


# -- loss --------------------------------------------------------------------------------------------------
def test_dsm_loss_is_zero_at_the_exact_score_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 4, 3, 8, 8, generator=g) * 2 - 1
    sigma = torch.tensor([0.001, 0.1, 1.0])
    noisy = x + sigma.view(-1, 1, 1, 1, 1) * torch.randn(x.shape, generator=g)
    exact = -(noisy - x) / sigma.view(-1, 1, 1, 1, 1) ** 2
    assert float(dsm_loss(exact, noisy, x, sigma, patch=4)) == pytest.approx(0.0, abs=1e-6)
    per = dsm_loss(exact + 0.1, noisy, x, sigma, patch=4, reduce=False)
    assert torch.all(per > 0)
    # lambda = sigma^2: a score error e costs sigma^2/2 * sum w ||e||^2 (weights sum to 1 per frame)
    w = uniform_weights(x, 4)
    expected = 0.5 * sigma**2 * 4 * (0.1**2 * 3 * 16)
    got = dsm_loss(exact + 0.1, noisy, x, sigma, patch=4, weights=w, reduce=False)
    assert torch.allclose(got, expected, rtol=1e-3)


def test_motion_weighted_loss_counts_moving_patches_only():
    x = torch.zeros(1, 2, 3, 8, 8)
    x[0, 1, :, :4, :4] = 1.0  # patch 0 moves
    sigma = torch.tensor([0.5])
    noisy = x.clone()
    err_static = torch.zeros_like(x)
    err_static[0, :, :, 4:, 4:] = 1.0  # a score error in a static patch
    err_moving = torch.zeros_like(x)
    err_moving[0, :, :, :4, :4] = 1.0
    assert float(dsm_loss(err_static, noisy, x, sigma, patch=4)) == 0.0
    assert float(dsm_loss(err_moving, noisy, x, sigma, patch=4)) > 0.0


# -- inference ---------------------------------------------------------------------------------------------
def test_inference_makes_l_calls_with_increasing_sigma_on_the_denoised_clip():
    calls = []

    def model(x, sigma, scene):
        calls.append((float(sigma[0]), x.clone()))
        return -0.5 * x  # a fixed linear "score"

    x = torch.randn(2, 4, 3, 8, 8)
    sig = inference_sigmas(5, 1e-3, 1.0)
    gen = torch.Generator().manual_seed(0)
    out = level_scores(model, x, torch.zeros(2, dtype=torch.long), sig, generator=gen)
    assert out.shape == (2, 5) and torch.all(out > 0)
    assert [c[0] for c in calls] == pytest.approx(sig.tolist())
    assert np.all(np.diff(sig) > 0) and sig[0] == pytest.approx(1e-3) and sig[-1] == pytest.approx(1.0)
    # autoregressive: the input of level 2 is x^_1 + sigma_2 eps with x^_1 = x~_1 + sigma_1^2 s(x~_1)
    eps = (calls[0][1] - x) / sig[0]
    x_hat1 = calls[0][1] + sig[0] ** 2 * (-0.5 * calls[0][1])
    assert torch.allclose(calls[1][1], x_hat1 + sig[1] * eps, atol=1e-5)
    calls.clear()
    level_scores(model, x, torch.zeros(2, dtype=torch.long), sig, autoregressive=False,
                 generator=torch.Generator().manual_seed(0))
    assert torch.allclose(calls[1][1], x + sig[1] * eps, atol=1e-5)  # plain DSM: noise on x


def test_toy_gaussian_with_the_analytic_score_ranks_off_distribution_higher():
    # data ~ N(0, 0.1^2 I): the score of the noised density is -x / (0.01 + sigma^2)
    def analytic(x, sigma, scene):
        return -x / (0.01 + sigma.view(-1, 1, 1, 1, 1) ** 2)

    g = torch.Generator().manual_seed(0)
    normal = 0.1 * torch.randn(50, 1, 3, 8, 8, generator=g)  # 192 dims: ||eps|| concentrates
    off = 0.1 * torch.randn(50, 1, 3, 8, 8, generator=g) + 0.3
    sig = inference_sigmas(10, 1e-3, 1.0)
    x = torch.cat([normal, off])
    from sklearn.metrics import roc_auc_score

    for kw in ({}, {"autoregressive": False, "appearance_term": False}):  # ADSM and the plain DSM ablation
        raw = level_scores(analytic, x, torch.zeros(100, dtype=torch.long), sig, generator=g, **kw).numpy()
        score = video_scores_from_levels(raw.T, segment_len=1)
        assert roc_auc_score(np.r_[np.zeros(50), np.ones(50)], score) > 0.95, kw


def test_video_aggregation_is_in_unit_range_per_level():
    rng = np.random.default_rng(0)
    per_frame = rng.random((4, 37)) * np.array([[1], [10], [100], [1000]])
    out = video_scores_from_levels(per_frame, segment_len=8)
    assert out.min() >= 0.0 and out.max() <= 1.0  # the average of [0, 1] levels
    # each level alone gives min 0, max 1
    for i in range(4):
        w = np.eye(4)[i]
        lvl = video_scores_from_levels(per_frame, segment_len=8, level_weights=w)
        assert lvl.min() == 0.0 and lvl.max() == 1.0
        assert len(set(lvl[:8])) == 1  # constant within a segment (max pooling)
    assert np.all(video_scores_from_levels(np.ones((2, 5))) == 0.0)  # a constant video: zeros


def test_objects_max_per_frame_and_empty_frames_zero():
    frames = [np.array([1, 2, 3]), np.array([2, 3])]
    scores = [np.array([[1.0], [2.0], [3.0]]), np.array([[5.0], [0.5]])]
    out = frame_level_scores(6, frames, scores)
    assert out.tolist() == [[0.0, 1.0, 5.0, 3.0, 0.0, 0.0]]
    assert frame_level_scores(6, frames, scores, object_agg="mean")[0, 2] == pytest.approx(3.5)
    f, s = fill_leading(np.array([7, 8]), np.array([[4.0], [5.0]]), np.arange(4, 9))
    assert f.tolist() == [4, 5, 6, 7, 8] and s[:, 0].tolist() == [4.0, 4.0, 4.0, 4.0, 5.0]
