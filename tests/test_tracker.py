"""ByteTrack: assignment, Kalman filter, and identity metrics on moving-box scenarios with ground truth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vadbench.backbones.tracker import (
    ByteTracker,
    KalmanFilter,
    identity_metrics,
    iou_matrix,
    linear_assignment,
    track_detections,
)
from vadbench.errors import ConfigError, DataError


# ---------------------------------------------------------------------------------------------------------
# scenario helpers
# ---------------------------------------------------------------------------------------------------------
def make_scenario(objects, n_frames, *, jitter=0.0, seed=0, clutter=0):
    """objects: list of dicts with start (x, y), velocity (vx, vy), size (w, h), score(frame) -> float|None.

    Returns (detections per frame, gt {id: {frame: box}}). A score of None means no detection (full occlusion)
    but the object is still in the ground truth.
    """
    rng = np.random.default_rng(seed)
    gt: dict[int, dict[int, np.ndarray]] = {}
    dets = []
    for f in range(n_frames):
        boxes, scores = [], []
        for oid, o in enumerate(objects, start=1):
            if not o.get("start_frame", 0) <= f < o.get("end_frame", n_frames):
                continue
            x = o["start"][0] + o["velocity"][0] * f
            y = o["start"][1] + o["velocity"][1] * f
            w, h = o["size"]
            box = np.array([x, y, x + w, y + h], dtype=np.float64)
            gt.setdefault(oid, {})[f] = box
            s = o.get("score", lambda f: 0.9)(f)
            if s is not None:
                boxes.append(box + rng.normal(0, jitter, 4))
                scores.append(s)
        for _ in range(clutter):  # isolated random low-confidence false positives
            x, y = rng.uniform(0, 600, 2)
            boxes.append(np.array([x, y, x + 20, y + 40]))
            scores.append(rng.uniform(0.11, 0.45))
        dets.append((np.array(boxes).reshape(-1, 4), np.array(scores)))
    return dets, gt


def as_pred(seqs):
    return {s.track_id: {int(f): b.astype(np.float64) for f, b in zip(s.frames, s.boxes, strict=True)}
            for s in seqs}


def run(dets, gt, **params):
    seqs = track_detections(dets, **params)
    return seqs, identity_metrics(gt, as_pred(seqs))


# ---------------------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------------------
def test_iou_matrix_known_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 20, 20]])
    b = np.array([[0, 0, 10, 10], [10, 10, 20, 20], [30, 30, 40, 40]])
    m = iou_matrix(a, b)
    np.testing.assert_allclose(m, [[1, 0, 0], [0.25, 0.25, 0]])
    # pixel-inclusive convention of cython_bbox: 11x11 boxes overlapping in one pixel row
    touching = iou_matrix(np.array([[0, 0, 10, 10]]), np.array([[10, 0, 20, 10]]), plus_one=True)[0, 0]
    assert touching == pytest.approx(11 / (2 * 121 - 11))
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def _brute_force(cost, thresh):
    n, m = cost.shape
    best = np.inf
    for k in range(min(n, m) + 1):
        for rows in itertools.combinations(range(n), k):
            for cols in itertools.permutations(range(m), k):
                c = sum(cost[r, q] for r, q in zip(rows, cols, strict=True)) + (n - k + m - k) * thresh / 2
                best = min(best, c)
    return best


def test_linear_assignment_is_the_optimal_cost_limited_matching():
    rng = np.random.default_rng(1)
    for _ in range(60):
        n, m = rng.integers(1, 5, 2)
        cost = rng.uniform(0, 1, (n, m))
        thresh = float(rng.uniform(0.2, 0.9))
        matches, ur, uc = linear_assignment(cost, thresh)
        total = sum(cost[r, c] for r, c in matches) + (len(ur) + len(uc)) * thresh / 2
        assert total == pytest.approx(_brute_force(cost, thresh))
        assert all(cost[r, c] <= thresh for r, c in matches)
        assert sorted([r for r, _ in matches] + ur) == list(range(n))
        assert sorted([c for _, c in matches] + uc) == list(range(m))
    assert linear_assignment(np.zeros((0, 3)), 0.5) == ([], [], [0, 1, 2])


def test_kalman_filter_learns_constant_velocity():
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.array([100.0, 50.0, 0.5, 80.0]))
    for t in range(1, 30):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, np.array([100.0 + 4 * t, 50.0 - 1 * t, 0.5, 80.0]))
    pred, _ = kf.predict(mean, cov)
    np.testing.assert_allclose(pred[:2], [100 + 4 * 30, 50 - 30], atol=0.5)
    np.testing.assert_allclose(pred[4:6], [4, -1], atol=0.1)


def test_identity_metrics_counts_switches_and_fragments():
    box = lambda x: np.array([x, 0.0, x + 10, 10])  # noqa: E731
    gt = {1: {f: box(f) for f in range(6)}}
    same = {5: {f: box(f) for f in range(6)}}
    assert identity_metrics(gt, same) == {
        "id_switches": 0, "fragmentations": 0, "misses": 0, "false_positives": 0, "matches": 6, "gt_boxes": 6
    }
    switched = {5: {f: box(f) for f in range(3)}, 6: {f: box(f) for f in range(3, 6)}}
    assert identity_metrics(gt, switched)["id_switches"] == 1
    gap = {5: {f: box(f) for f in (0, 1, 4, 5)}}
    r = identity_metrics(gt, gap)
    assert (r["id_switches"], r["fragmentations"], r["misses"]) == (0, 1, 2)
    far = {5: {f: box(f + 100) for f in range(6)}}
    r = identity_metrics(gt, far)
    assert (r["matches"], r["misses"], r["false_positives"]) == (0, 6, 6)


# ---------------------------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------------------------
def test_single_track_follows_object_with_kalman_box():
    dets, gt = make_scenario([{"start": (10, 20), "velocity": (3, 1), "size": (30, 70)}], 25, jitter=1.0)
    seqs, m = run(dets, gt)
    assert len(seqs) == 1 and seqs[0].frames.tolist() == list(range(25))
    assert m["id_switches"] == 0 and m["misses"] == 0
    # the Kalman box is smoother than the noisy detections
    truth = np.array([gt[1][f] for f in range(25)])
    assert np.abs(seqs[0].boxes[10:] - truth[10:]).mean() < np.abs(seqs[0].det_boxes[10:] - truth[10:]).mean()


def test_crossing_objects_keep_their_identities():
    # two people walk towards each other; while they overlap the one behind is half hidden (low score)
    back = lambda f: 0.35 if 17 <= f <= 23 else 0.9  # noqa: E731
    objects = [
        {"start": (0, 100), "velocity": (6, 0), "size": (40, 90)},
        {"start": (240, 104), "velocity": (-6, 0), "size": (40, 90), "score": back},
    ]
    dets, gt = make_scenario(objects, 40, jitter=0.5, seed=3)
    seqs, m = run(dets, gt)
    assert m["id_switches"] == 0
    assert m["fragmentations"] == 0
    assert len(seqs) == 2
    # the same scene without the low-score association loses the hidden person and swaps identities
    _, m_high_only = run(dets, gt, low_thresh=0.5)
    assert m_high_only["id_switches"] >= 1


def test_low_score_second_association_recovers_partly_occluded_object():
    # the object walks behind an obstacle: its detector score drops to 0.2-0.4 for 12 frames
    occluded = lambda f: 0.2 + 0.02 * (f % 10) if 10 <= f < 22 else 0.9  # noqa: E731
    objects = [
        {"start": (20, 50), "velocity": (5, 0), "size": (40, 90), "score": occluded},
        {"start": (400, 300), "velocity": (-3, 1), "size": (40, 90)},
    ]
    dets, gt = make_scenario(objects, 35, jitter=0.5, seed=4)
    seqs, m = run(dets, gt)
    assert (m["id_switches"], m["fragmentations"], m["misses"]) == (0, 0, 0)
    # without the second association (only high-score boxes, as SORT), the occluded frames are lost
    _, m_high_only = run(dets, gt, low_thresh=0.5)
    assert m_high_only["misses"] >= 12
    assert m_high_only["fragmentations"] >= 1


def test_full_occlusion_reidentified_within_buffer_and_new_id_after():
    hidden = lambda f: None if 10 <= f < 18 else 0.9  # noqa: E731
    obj = [{"start": (20, 50), "velocity": (4, 1), "size": (40, 90), "score": hidden}]
    dets, gt = make_scenario(obj, 30, seed=5)
    seqs, m = run(dets, gt, track_buffer=30)
    assert len(seqs) == 1 and m["id_switches"] == 0 and m["fragmentations"] == 1 and m["misses"] == 8
    seqs, m = run(dets, gt, track_buffer=5)  # lost for longer than the buffer -> removed, a new id starts
    assert len(seqs) == 2 and m["id_switches"] == 1


def test_weak_and_one_frame_detections_do_not_create_tracks():
    dets = []
    for f in range(10):
        boxes = [[10 + f, 10, 50 + f, 90], [200, 200, 240, 290], [400, 10, 440, 90]]
        # below det_thresh 0.6; below low_thresh; one frame only
        scores = [0.55, 0.05, 0.9 if f == 5 else 0.0]
        keep = [i for i in range(3) if scores[i] > 0]
        dets.append((np.array(boxes, float)[keep], np.array(scores)[keep]))
    assert track_detections(dets) == []


def test_many_objects_with_clutter_are_tracked_without_switches():
    rng = np.random.default_rng(7)
    objects = [
        {
            "start": tuple(rng.uniform(0, 500, 2)),
            "velocity": tuple(rng.uniform(-4, 4, 2)),
            "size": (30 + rng.uniform(0, 20), 70 + rng.uniform(0, 30)),
            "start_frame": int(rng.integers(0, 10)),
            "end_frame": int(rng.integers(40, 60)),
        }
        for _ in range(8)
    ]
    dets, gt = make_scenario(objects, 60, jitter=1.0, seed=8, clutter=3)
    seqs, m = run(dets, gt)
    assert m["id_switches"] <= 1
    assert m["matches"] >= 0.95 * m["gt_boxes"]
    # clutter boxes are low-score: they never start tracks, so false positives stay rare
    assert m["false_positives"] <= 0.02 * m["gt_boxes"]


def test_frame_rate_scales_the_lost_buffer():
    assert ByteTracker(frame_rate=15, track_buffer=30).max_time_lost == 15
    assert ByteTracker().max_time_lost == 30


def test_bad_inputs_raise_clear_errors():
    tr = ByteTracker()
    with pytest.raises(DataError, match="2 boxes but 1 scores"):
        tr.update(np.array([[0, 0, 10, 10], [0, 0, 5, 5]]), np.array([0.9]))
    with pytest.raises(DataError, match="x2 > x1"):
        tr.update(np.array([[10, 0, 5, 10]]), np.array([0.9]))
    with pytest.raises(DataError, match="NaN"):
        tr.update(np.array([[0, 0, np.nan, 10]]), np.array([0.9]))
    with pytest.raises(ConfigError, match="low_thresh <= track_thresh"):
        ByteTracker(low_thresh=0.7, track_thresh=0.5)
    with pytest.raises(ConfigError, match="unknown ByteTrack option"):
        track_detections([], track_tresh=0.4)
