"""ByteTrack multi-object tracker (Zhang et al., ECCV 2022) and identity metrics against ground-truth boxes.

A port of the official ``yolox/tracker/byte_tracker.py`` (github.com/ifzhang/ByteTrack) in numpy/scipy:
a constant-velocity Kalman filter on (cx, cy, aspect, h), a first association of high-score detections
(score > ``track_thresh``) with tracked and lost tracks on IoU fused with the detection score, a second
association of the low-score detections (``low_thresh`` < score <= ``track_thresh``) with the still unmatched
tracked tracks (this recovers partly occluded objects), unconfirmed tracks matched at IoU cost 0.7, and new
tracks only from detections above ``track_thresh + 0.1``. Matching is the official ``lap.lapjv`` with a cost
limit, reproduced exactly with :func:`scipy.optimize.linear_sum_assignment` on the extended cost matrix.

Why our own: the maintained implementation (Roboflow ``trackers``; ``supervision`` dropped ``ByteTrack`` in
0.27) needs ``opencv-python`` + ``supervision`` + ``requests``, and the official one needs ``lap`` /
``cython_bbox`` builds; this port is ~250 lines on numpy/scipy that the project already has.

Example:
    >>> import numpy as np
    >>> from vadbench.backbones.tracker import ByteTracker
    >>> tr = ByteTracker()
    >>> for t in range(3):
    ...     out = tr.update(np.array([[10.0 + 2 * t, 10, 40 + 2 * t, 80]]), np.array([0.9]))
    >>> [(o.track_id, o.det_index) for o in out]
    [(1, 0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError

#: The official ByteTrack defaults (``tools/demo_track.py`` / ``track.py`` arguments, ``BYTETracker``).
BYTETRACK_DEFAULTS: dict[str, Any] = {
    "track_thresh": 0.5,  # high / low split; new tracks need track_thresh + new_track_margin
    "low_thresh": 0.1,  # detections at or below are dropped (hard-coded 0.1 in the official code)
    "match_thresh": 0.8,  # first association, IoU cost limit
    "second_match_thresh": 0.5,  # second (low-score) association, IoU cost limit (hard-coded)
    "unconfirmed_match_thresh": 0.7,  # unconfirmed tracks, IoU cost limit (hard-coded)
    "new_track_margin": 0.1,  # det_thresh = track_thresh + 0.1 (hard-coded)
    "track_buffer": 30,  # frames a lost track is kept, at 30 fps
    "frame_rate": 30.0,
    "fuse_score": True,  # IoU similarity x detection score in the first association (not mot20)
    "duplicate_iou": 0.85,  # remove_duplicate_stracks: IoU distance < 0.15 between tracked and lost
    "plus_one": True,  # cython_bbox IoU uses the +1 pixel convention for widths / heights
}


def iou_matrix(a: np.ndarray, b: np.ndarray, *, plus_one: bool = False) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` boxes in ``x1, y1, x2, y2``.

    ``plus_one`` uses the pixel-inclusive convention of ``cython_bbox`` (width = x2 - x1 + 1).

    >>> iou_matrix(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10], [20, 20, 30, 30]])).round(3)
    array([[0.333, 0.   ]])
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    one = 1.0 if plus_one else 0.0
    area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
    area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + one
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + one
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def linear_assignment(cost: np.ndarray, thresh: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Minimum-cost matching where a row / column may stay unmatched at cost ``thresh / 2``.

    Equivalent to ByteTrack's ``lap.lapjv(cost, extend_cost=True, cost_limit=thresh)``: pairs costing more
    than ``thresh`` are never matched. Returns ``(matches, unmatched_rows, unmatched_cols)``.

    >>> linear_assignment(np.array([[0.1, 0.9], [0.95, 0.2]]), 0.8)
    ([(0, 0), (1, 1)], [], [])
    """
    cost = np.asarray(cost, dtype=np.float64)
    n, m = cost.shape
    if n == 0 or m == 0:
        return [], list(range(n)), list(range(m))
    from scipy.optimize import linear_sum_assignment

    ext = np.full((n + m, n + m), thresh / 2.0)
    ext[n:, m:] = 0.0
    ext[:n, :m] = cost
    rows, cols = linear_sum_assignment(ext)
    matches = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if r < n and c < m]
    matched_r = {r for r, _ in matches}
    matched_c = {c for _, c in matches}
    return matches, [r for r in range(n) if r not in matched_r], [c for c in range(m) if c not in matched_c]


class KalmanFilter:
    """The DeepSORT / ByteTrack Kalman filter on ``(cx, cy, a, h, vcx, vcy, va, vh)`` (constant velocity)."""

    std_weight_position = 1.0 / 20
    std_weight_velocity = 1.0 / 160

    def __init__(self) -> None:
        self._motion = np.eye(8)
        self._motion[:4, 4:] = np.eye(4)
        self._update = np.eye(4, 8)

    def initiate(self, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.r_[xyah, np.zeros(4)]
        h = xyah[3]
        wp, wv = self.std_weight_position, self.std_weight_velocity
        std = [2 * wp * h, 2 * wp * h, 1e-2, 2 * wp * h, 10 * wv * h, 10 * wv * h, 1e-5, 10 * wv * h]
        return mean, np.diag(np.square(std))

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        wp, wv = self.std_weight_position, self.std_weight_velocity
        q = np.diag(np.square([wp * h, wp * h, 1e-2, wp * h, wv * h, wv * h, 1e-5, wv * h]))
        return self._motion @ mean, self._motion @ cov @ self._motion.T + q

    def update(self, mean: np.ndarray, cov: np.ndarray, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.linalg import cho_factor, cho_solve

        h = mean[3]
        wp = self.std_weight_position
        r = np.diag(np.square([wp * h, wp * h, 1e-1, wp * h]))
        proj_mean = self._update @ mean
        proj_cov = self._update @ cov @ self._update.T + r
        chol = cho_factor(proj_cov, lower=True, check_finite=False)
        gain = cho_solve(chol, (cov @ self._update.T).T, check_finite=False).T
        new_mean = mean + (xyah - proj_mean) @ gain.T
        new_cov = cov - gain @ proj_cov @ gain.T
        return new_mean, new_cov


class State(IntEnum):
    NEW = 0
    TRACKED = 1
    LOST = 2
    REMOVED = 3


def _xyxy_to_xyah(b: np.ndarray) -> np.ndarray:
    w, h = b[2] - b[0], b[3] - b[1]
    return np.array([b[0] + w / 2, b[1] + h / 2, w / h, h], dtype=np.float64)


@dataclass(eq=False)
class _STrack:
    box: np.ndarray  # detection box x1y1x2y2 (used until the filter is initialised)
    score: float
    det_index: int
    track_id: int = 0
    state: State = State.NEW
    is_activated: bool = False
    frame_id: int = 0
    start_frame: int = 0
    mean: np.ndarray | None = None
    cov: np.ndarray | None = None

    def xyxy(self) -> np.ndarray:
        if self.mean is None:
            return self.box.copy()
        cx, cy, a, h = self.mean[:4]
        w = a * h
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass
class TrackOutput:
    """One tracked object in one frame: the tracker's (Kalman) box, the matched detection and its score."""

    track_id: int
    box: np.ndarray  # x1, y1, x2, y2 from the Kalman state (what ByteTrack outputs)
    det_box: np.ndarray  # the matched detection box
    score: float
    det_index: int


@dataclass
class ByteTracker:
    """Online ByteTrack. Call :meth:`update` once per frame with ``(N, 4)`` xyxy boxes and ``(N,)`` scores.

    Parameters are those of :data:`BYTETRACK_DEFAULTS`; ``frame_rate`` scales the lost-track buffer.
    """

    track_thresh: float = BYTETRACK_DEFAULTS["track_thresh"]
    low_thresh: float = BYTETRACK_DEFAULTS["low_thresh"]
    match_thresh: float = BYTETRACK_DEFAULTS["match_thresh"]
    second_match_thresh: float = BYTETRACK_DEFAULTS["second_match_thresh"]
    unconfirmed_match_thresh: float = BYTETRACK_DEFAULTS["unconfirmed_match_thresh"]
    new_track_margin: float = BYTETRACK_DEFAULTS["new_track_margin"]
    track_buffer: int = BYTETRACK_DEFAULTS["track_buffer"]
    frame_rate: float = BYTETRACK_DEFAULTS["frame_rate"]
    fuse_score: bool = BYTETRACK_DEFAULTS["fuse_score"]
    duplicate_iou: float = BYTETRACK_DEFAULTS["duplicate_iou"]
    plus_one: bool = BYTETRACK_DEFAULTS["plus_one"]
    frame_id: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_thresh <= self.track_thresh <= 1.0:
            raise ConfigError(
                f"ByteTracker needs 0 <= low_thresh <= track_thresh <= 1, got low_thresh={self.low_thresh}, "
                f"track_thresh={self.track_thresh}"
            )
        if self.frame_rate <= 0:
            raise ConfigError(f"ByteTracker frame_rate must be > 0, got {self.frame_rate}")
        self.max_time_lost = int(self.frame_rate / 30.0 * self.track_buffer)
        self.kf = KalmanFilter()
        self._tracked: list[_STrack] = []
        self._lost: list[_STrack] = []
        self._next_id = 1

    # -- helpers -------------------------------------------------------------------------------------------
    def _iou_cost(self, tracks: Sequence[_STrack], dets: Sequence[_STrack]) -> np.ndarray:
        a = np.array([t.xyxy() for t in tracks]).reshape(-1, 4)
        b = np.array([d.box for d in dets]).reshape(-1, 4)
        return 1.0 - iou_matrix(a, b, plus_one=self.plus_one)

    def _fused(self, cost: np.ndarray, dets: Sequence[_STrack]) -> np.ndarray:
        if not self.fuse_score or cost.size == 0:
            return cost
        scores = np.array([d.score for d in dets])
        return 1.0 - (1.0 - cost) * scores[None, :]

    def _activate(self, det: _STrack) -> _STrack:
        det.track_id = self._next_id
        self._next_id += 1
        det.mean, det.cov = self.kf.initiate(_xyxy_to_xyah(det.box))
        det.state = State.TRACKED
        det.is_activated = self.frame_id == 1
        det.frame_id = det.start_frame = self.frame_id
        return det

    def _update_track(self, track: _STrack, det: _STrack) -> None:
        track.mean, track.cov = self.kf.update(track.mean, track.cov, _xyxy_to_xyah(det.box))
        track.box, track.score, track.det_index = det.box, det.score, det.det_index
        track.state = State.TRACKED
        track.is_activated = True
        track.frame_id = self.frame_id

    # -- main ----------------------------------------------------------------------------------------------
    def update(self, boxes: np.ndarray, scores: np.ndarray) -> list[TrackOutput]:
        """Advance one frame; returns the activated tracks of this frame (ByteTrack's online output)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(boxes) != len(scores):
            raise DataError(f"ByteTracker.update: {len(boxes)} boxes but {len(scores)} scores")
        if not (np.all(np.isfinite(boxes)) and np.all(np.isfinite(scores))):
            raise DataError("ByteTracker.update: boxes / scores contain NaN or inf")
        if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
            raise DataError("ByteTracker.update: boxes must be x1, y1, x2, y2 with x2 > x1 and y2 > y1")
        self.frame_id += 1
        activated: list[_STrack] = []
        refound: list[_STrack] = []
        lost: list[_STrack] = []
        removed: list[_STrack] = []

        high = scores > self.track_thresh
        low = (scores > self.low_thresh) & ~high
        dets = [_STrack(boxes[i], float(scores[i]), int(i)) for i in np.flatnonzero(high)]
        dets_low = [_STrack(boxes[i], float(scores[i]), int(i)) for i in np.flatnonzero(low)]

        unconfirmed = [t for t in self._tracked if not t.is_activated]
        tracked = [t for t in self._tracked if t.is_activated]

        # Step 2: first association, high-score detections with tracked + lost tracks
        pool = _joint(tracked, self._lost)
        for t in pool:
            if t.state != State.TRACKED:
                t.mean = t.mean.copy()
                t.mean[7] = 0.0
            t.mean, t.cov = self.kf.predict(t.mean, t.cov)
        cost = self._fused(self._iou_cost(pool, dets), dets)
        matches, u_track, u_det = linear_assignment(cost, self.match_thresh)
        for it, idet in matches:
            track = pool[it]
            (activated if track.state == State.TRACKED else refound).append(track)
            self._update_track(track, dets[idet])

        # Step 3: second association, low-score detections with the remaining tracked tracks
        remaining = [pool[i] for i in u_track if pool[i].state == State.TRACKED]
        cost = self._iou_cost(remaining, dets_low)
        matches, u_remaining, _ = linear_assignment(cost, self.second_match_thresh)
        for it, idet in matches:
            track = remaining[it]
            (activated if track.state == State.TRACKED else refound).append(track)
            self._update_track(track, dets_low[idet])
        for it in u_remaining:
            track = remaining[it]
            if track.state != State.LOST:
                track.state = State.LOST
                lost.append(track)

        # unconfirmed tracks (usually one frame old) with the left-over high-score detections
        dets = [dets[i] for i in u_det]
        cost = self._fused(self._iou_cost(unconfirmed, dets), dets)
        matches, u_unconf, u_det = linear_assignment(cost, self.unconfirmed_match_thresh)
        for it, idet in matches:
            self._update_track(unconfirmed[it], dets[idet])
            activated.append(unconfirmed[it])
        for it in u_unconf:
            unconfirmed[it].state = State.REMOVED
            removed.append(unconfirmed[it])

        # Step 4: new tracks
        for idet in u_det:
            if dets[idet].score >= self.track_thresh + self.new_track_margin:
                activated.append(self._activate(dets[idet]))

        # Step 5: bookkeeping
        for t in self._lost:
            if self.frame_id - t.frame_id > self.max_time_lost:
                t.state = State.REMOVED
                removed.append(t)
        keep = [t for t in self._tracked if t.state == State.TRACKED]
        self._tracked = _joint(_joint(keep, activated), refound)
        self._lost = _sub(self._lost, self._tracked)
        self._lost.extend(lost)
        self._lost = _sub(self._lost, removed)
        self._remove_duplicates()
        return [
            TrackOutput(t.track_id, t.xyxy(), np.asarray(t.box, dtype=np.float64), t.score, t.det_index)
            for t in self._tracked
            if t.is_activated
        ]

    def _remove_duplicates(self) -> None:
        if not self._tracked or not self._lost:
            return
        dist = self._iou_cost(self._tracked, [_STrack(t.xyxy(), 0.0, -1) for t in self._lost])
        dup_a, dup_b = set(), set()
        for p, q in zip(*np.nonzero(dist < 1.0 - self.duplicate_iou), strict=True):
            age_p = self._tracked[p].frame_id - self._tracked[p].start_frame
            age_q = self._lost[q].frame_id - self._lost[q].start_frame
            (dup_b if age_p > age_q else dup_a).add(int(q if age_p > age_q else p))
        self._tracked = [t for i, t in enumerate(self._tracked) if i not in dup_a]
        self._lost = [t for i, t in enumerate(self._lost) if i not in dup_b]


def _joint(a: list[_STrack], b: list[_STrack]) -> list[_STrack]:
    seen = {t.track_id for t in a}
    return a + [t for t in b if t.track_id not in seen and not seen.add(t.track_id)]


def _sub(a: list[_STrack], b: list[_STrack]) -> list[_STrack]:
    ids = {t.track_id for t in b}
    return [t for t in a if t.track_id not in ids]


@dataclass
class TrackSequence:
    """All frames of one track: ``frames`` (N,) int, ``boxes`` / ``det_boxes`` (N, 4) float32, ``scores``."""

    track_id: int
    frames: np.ndarray
    boxes: np.ndarray
    det_boxes: np.ndarray
    scores: np.ndarray


def track_detections(
    detections: Sequence[tuple[np.ndarray, np.ndarray]], **params: Any
) -> list[TrackSequence]:
    """Run :class:`ByteTracker` over per-frame ``(boxes, scores)`` (entry ``i`` is frame ``i``).

    >>> dets = [(np.array([[10.0 + 3 * t, 20, 50 + 3 * t, 90]]), np.array([0.9])) for t in range(5)]
    >>> [(s.track_id, s.frames.tolist()) for s in track_detections(dets)]
    [(1, [0, 1, 2, 3, 4])]
    """
    unknown = set(params) - set(BYTETRACK_DEFAULTS)
    if unknown:
        known = sorted(BYTETRACK_DEFAULTS)
        raise ConfigError(f"unknown ByteTrack option(s) {sorted(unknown)}; known: {known}")
    tracker = ByteTracker(**params)
    rows: dict[int, list[tuple[int, np.ndarray, np.ndarray, float]]] = {}
    for f, (boxes, scores) in enumerate(detections):
        for out in tracker.update(boxes, scores):
            rows.setdefault(out.track_id, []).append((f, out.box, out.det_box, out.score))
    seqs = []
    for tid in sorted(rows):
        r = rows[tid]
        seqs.append(
            TrackSequence(
                tid,
                np.array([x[0] for x in r], dtype=np.int64),
                np.array([x[1] for x in r], dtype=np.float32).reshape(-1, 4),
                np.array([x[2] for x in r], dtype=np.float32).reshape(-1, 4),
                np.array([x[3] for x in r], dtype=np.float32),
            )
        )
    return seqs


def identity_metrics(
    gt: dict[int, dict[int, np.ndarray]], pred: dict[int, dict[int, np.ndarray]], *, iou: float = 0.5
) -> dict[str, int]:
    """CLEAR-MOT identity counts of tracks against ground truth.

    ``gt`` / ``pred`` map ``object id -> {frame: box xyxy}``. Per frame, previous correspondences that still
    overlap at ``iou`` are kept, the rest are matched by Hungarian assignment on IoU. Returns ``id_switches``
    (a ground-truth object matched to a different track than at its last match), ``fragmentations`` (a
    ground-truth trajectory goes from tracked to untracked and back), ``misses``, ``false_positives``,
    ``matches`` and ``gt_boxes``.

    >>> box = np.array([0.0, 0, 10, 10])
    >>> identity_metrics({1: {0: box, 1: box}}, {7: {0: box}, 8: {1: box}})["id_switches"]
    1
    """
    from scipy.optimize import linear_sum_assignment

    frames = sorted({f for d in gt.values() for f in d} | {f for d in pred.values() for f in d})
    last: dict[int, int] = {}  # gt id -> pred id at its last match
    current: dict[int, int] = {}  # correspondences of the previous frame
    tracked_before: dict[int, bool] = {}
    counts = dict.fromkeys(("id_switches", "fragmentations", "misses", "false_positives", "matches"), 0)
    counts["gt_boxes"] = 0
    for f in frames:
        g_ids = [g for g in gt if f in gt[g]]
        p_ids = [p for p in pred if f in pred[p]]
        counts["gt_boxes"] += len(g_ids)
        matched: dict[int, int] = {}
        for g, p in current.items():
            if g in g_ids and p in p_ids:
                if iou_matrix(gt[g][f][None], pred[p][f][None])[0, 0] >= iou:
                    matched[g] = p
        rest_g = [g for g in g_ids if g not in matched]
        rest_p = [p for p in p_ids if p not in matched.values()]
        if rest_g and rest_p:
            m = iou_matrix(np.array([gt[g][f] for g in rest_g]), np.array([pred[p][f] for p in rest_p]))
            rows, cols = linear_sum_assignment(-m)
            for r, c in zip(rows, cols, strict=True):
                if m[r, c] >= iou:
                    matched[rest_g[r]] = rest_p[c]
        for g in g_ids:
            if g in matched:
                if g in last and last[g] != matched[g]:
                    counts["id_switches"] += 1
                if g in last and not tracked_before.get(g, False):
                    counts["fragmentations"] += 1
                last[g] = matched[g]
                tracked_before[g] = True
            else:
                counts["misses"] += 1
                tracked_before[g] = False
        counts["matches"] += len(matched)
        counts["false_positives"] += len(p_ids) - len(matched)
        current = matched
    return counts
