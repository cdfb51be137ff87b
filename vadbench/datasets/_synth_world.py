"""The synthetic world without pixels: plan, objects, anomalous events, frame labels and per-object states.

Everything here is a function of ``(seed, preset)`` and needs no rendering: the frame labels, the typed
event segments and the per-object, per-frame structured state (kind, colour, size, action, pose,
direction, flow, place, scene) come from the object tracks and the scene geometry alone. The renderer
(:mod:`vadbench.datasets._synth_render`) draws the same tracks, and its pixel masks agree with these labels
frame for frame (one "in view" rule: :func:`~vadbench.datasets._synth_render.clipped_box`).

Content-free probes stay at chance by construction: every video (normal or not) has 1-3 featured objects
(anomalies in test videos, extra walkers in training videos), all videos draw their length from the same
range, and the event onsets (and test-video lengths) are placed by a seeded local search so that frame
index, t / T, closeness to the centre and video length give a frame AUC of 50 ± 1.5 on both splits
(:data:`PROBE_TARGET`).

Example:
    >>> w = world(0, "tiny")  # doctest: +SKIP
    >>> states(w, w.videos[0].video).columns[:4].tolist()  # doctest: +SKIP
    ['frame', 'object_id', 'kind', 'colour']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from vadbench.datasets import _synth_render as R
from vadbench.datasets.synthetic import (
    ANOMALY_SPEED,
    ANOMALY_TYPES,
    LOITER_AFTER,
    OCCLUDED_VISIBLE,
    SMALL_FRAC,
    TYPE_COLUMNS,
    TYPE_WEIGHTS,
    VEHICLE_SCALE,
    WEAK_TEST_TO_TRAIN,
    WEAK_TRAIN_KEEP,
)

if TYPE_CHECKING:
    import pandas as pd

#: Featured objects per video (anomalies in test videos, extra walkers in training videos): P(1, 2, 3).
EVENTS_P = (0.6, 0.28, 0.12)
#: An event shows at least this many abnormal frames in its video; a test video keeps this share normal.
MIN_EVENT_FRAMES = 8
MAX_ABNORMAL_SHARE = 0.85
#: Share of events already in progress when their video starts (their label starts at frame 0).
IN_PROGRESS_P = 0.12
#: The placement search stops when every content-free probe is within this of 0.5 (AUC), on both splits.
PROBE_TARGET = 0.015
#: Structured state columns (one row per object per frame in view), see :func:`states`.
STATE_COLUMNS = ("frame", "object_id", "kind", "colour", "size", "size_px", "action", "pose", "direction",
                 "flow", "place", "scene", "layout", "bikes_allowed", "x1", "y1", "x2", "y2", "visible",
                 "is_anomalous", "event", "type")


@dataclass
class EventPlan:
    """One anomalous object of a test video: its track in local time and where its anomaly lies."""

    event: int
    type: str
    track: R.Track  # t0 is set by the placement (frame of local tau 0)
    a0: int  # first local tau in an anomalous state and in view
    length: int  # frames in an anomalous state and in view (contiguous)
    onset: int = 0  # video frame of a0 (may be negative: in progress when the video starts)

    def segment(self, n: int) -> tuple[int, int]:
        """The event's abnormal frames ``[start, end)`` within a video of ``n`` frames."""
        return max(self.onset, 0), min(self.onset + self.length, n)


@dataclass
class VideoPlan:
    video: str
    subset: str  # "train" / "test" (official folder)
    scene: int
    n_frames: int
    key: tuple[int, ...]  # rng key of the video's traffic and sensor
    events: list[EventPlan] = field(default_factory=list)
    featured: int = 1  # featured objects (events, or extra walkers in training videos)
    types: list[str] = field(default_factory=list)
    weak: str = ""  # "train" / "test"

    def labels(self) -> np.ndarray:
        """Official frame labels (uint8 0/1, one per frame): the union of the event segments."""
        y = np.zeros(self.n_frames, np.uint8)
        for e in self.events:
            s, t = e.segment(self.n_frames)
            y[s:t] = 1
        return y


@dataclass
class World:
    """The plan of one synthetic dataset: scenes (``SceneSpec`` by index), scene table, videos."""

    seed: int
    preset: str
    params: dict[str, Any]
    scenes: dict[int, R.SceneSpec]
    scene_meta: list[dict[str, Any]]
    videos: list[VideoPlan]
    probes: dict[str, dict[str, float]] = field(default_factory=dict)

    def video(self, name: str) -> VideoPlan:
        for v in self.videos:
            if v.video == name:
                return v
        raise KeyError(f"synthetic {self.preset} seed {self.seed} has no video {name!r}")


# --------------------------------------------------------------------------------------------------
# planning


def world(seed: int, preset: str, params: dict[str, Any]) -> World:
    """The plan of ``(seed, preset)`` with preset ``params`` (cached: deterministic and pixel-free)."""
    return _world(seed, preset, json.dumps(params, sort_keys=True))


@lru_cache(maxsize=8)
def _world(seed: int, preset: str, params_json: str) -> World:
    p = json.loads(params_json)
    rng = np.random.default_rng([seed, 1])
    offset = int(rng.integers(4))
    scene_meta = [{"scene": s, "template": (s - 1 + offset) % 4, "bikes_allowed": (s - 1) % 3 == 0}
                  for s in range(1, p["scenes"] + 1)]
    scenes = {sc["scene"]: R.make_scene(np.random.default_rng([seed, 0, sc["scene"]]), sc["scene"],
                                        p["width"], p["height"], sc["template"], sc["bikes_allowed"])
              for sc in scene_meta}
    lo, hi = p["frames"]
    videos: list[VideoPlan] = []
    for sc in scene_meta:
        s = sc["scene"]
        for k in range(1, p["train_per_scene"] + 1):
            videos.append(VideoPlan(f"{s:02d}_{k:03d}", "train", s, int(rng.integers(lo, hi + 1)),
                                    (seed, 2, s, 0, k), featured=_n_featured(rng)))
        for k in range(1, p["test_per_scene"] + 1):
            videos.append(VideoPlan(f"{s:02d}_{k:04d}", "test", s, int(rng.integers(lo, hi + 1)),
                                    (seed, 2, s, 1, k), featured=_n_featured(rng)))
    tests = [v for v in videos if v.subset == "test"]
    _assign_types(tests, scene_meta, rng)
    for v in tests:
        for e, etype in enumerate(v.types):
            erng = np.random.default_rng([seed, 3, v.scene, int(v.video[3:]), e])
            v.events.append(_event(scenes[v.scene], etype, e, erng))
    _weak_split(videos, scene_meta, rng)
    w = World(seed, preset, p, scenes, scene_meta, videos)
    w.probes = _place(w, np.random.default_rng([seed, 4]), (lo, hi))
    return w


def _n_featured(rng: np.random.Generator) -> int:
    return 1 + int(rng.choice(len(EVENTS_P), p=EVENTS_P))


def _assign_types(tests: list[VideoPlan], scene_meta: list[dict], rng: np.random.Generator) -> None:
    """Anomaly types for every event slot: each type at least twice (so in two scenes when it can be),
    the rest in proportion to ``TYPE_WEIGHTS``; each type goes to the scene that has it least so far."""
    slots = [(v, i) for v in tests for i in range(v.featured)]
    n = len(slots)
    types = list(TYPE_WEIGHTS)
    deck = [t for t in types for _ in range(2)][:n]
    rest = n - len(deck)
    if rest > 0:
        w = np.array([TYPE_WEIGHTS[t] for t in types])
        share = w / w.sum() * rest
        counts = np.floor(share).astype(int)
        for i in np.argsort(-(share - np.floor(share)), kind="stable")[: rest - counts.sum()]:
            counts[i] += 1
        deck += [t for t, c in zip(types, counts, strict=True) for _ in range(int(c))]
    deck.sort(key=lambda t: (t != "bicycle", rng.random()))  # the constrained type first
    bikes = {sc["scene"]: sc["bikes_allowed"] for sc in scene_meta}
    free = list(slots)
    per_scene: dict[tuple[str, int], int] = {}
    for t in deck:
        ok = [s for s in free if not (t == "bicycle" and bikes[s[0].scene])]
        if not ok:  # only bike scenes left: another type
            t = str(rng.choice([x for x in types if x != "bicycle"]))
            ok = free
        least = min(per_scene.get((t, s[0].scene), 0) for s in ok)
        pick = [s for s in ok if per_scene.get((t, s[0].scene), 0) == least]
        slot = pick[int(rng.integers(len(pick)))]
        free.remove(slot)
        per_scene[(t, slot[0].scene)] = per_scene.get((t, slot[0].scene), 0) + 1
        slot[0].types.append(t)
    for v in tests:
        rng.shuffle(v.types)


def _weak_split(videos: list[VideoPlan], scene_meta: list[dict], rng: np.random.Generator) -> None:
    """Zhong-style weak re-split, stratified by first anomaly type and scene (test videos) and by scene
    (training videos)."""
    tests = [v for v in videos if v.subset == "test"]
    order = sorted(tests, key=lambda v: (list(TYPE_WEIGHTS).index(v.types[0]), v.scene, rng.random()))
    for i, v in enumerate(order):
        v.weak = "train" if int((i + 1) * WEAK_TEST_TO_TRAIN) > int(i * WEAK_TEST_TO_TRAIN) else "test"
    for sc in scene_meta:
        train = [v for v in videos if v.subset == "train" and v.scene == sc["scene"]]
        idx = rng.permutation(len(train))
        keep = int(round(len(train) * WEAK_TRAIN_KEEP))
        for j, i in enumerate(idx):
            train[int(i)].weak = "train" if j < keep else "test"


# --------------------------------------------------------------------------------------------------
# objects


def _track(scene: R.SceneSpec, kind: str, path: dict, lane: R.Lane | None, direction: int,
           rng: np.random.Generator, *, action: np.ndarray | None = None, angle: np.ndarray | None = None,
           abnormal: np.ndarray | None = None, event: int = -1) -> R.Track:
    """A track (oid and t0 set later) with default actions from kind and speed."""
    m = len(path["x"])
    speed = np.asarray(path["speed"], np.float32)
    if action is None:
        action = _default_actions(kind, speed)
    heading, side, flow = 1, True, "none"
    if lane is not None:
        ux = float(lane.unit[0]) * direction
        heading = 1 if ux >= 0 else -1
        side = abs(float(lane.unit[0])) > 0.55
        flow = "two-way" if lane.flow == 0 else ("with" if direction == lane.flow else "against")
    return R.Track(
        oid=-1, kind=kind, t0=0, x=path["x"], y=path["y"], phase=path["phase"],
        angle=np.zeros(m, np.float32) if angle is None else angle.astype(np.float32), speed=speed,
        action=action.astype(np.int8), heading=heading, side_view=side, colors=R.random_colors(rng, kind),
        abnormal=np.zeros(m, bool) if abnormal is None else abnormal, event=event, flow=flow,
        scale=VEHICLE_SCALE if kind == "vehicle" else 1.0,
    )


def _default_actions(kind: str, speed: np.ndarray) -> np.ndarray:
    A = R.ACTIONS.index
    if kind == "cyclist":
        return np.full(len(speed), A("riding"), np.int8)
    if kind == "vehicle":
        return np.where(speed < 0.05, A("parked"), A("driving")).astype(np.int8)
    return np.select([speed < 0.05, speed > R.RUN_ABOVE], [A("standing"), A("running")],
                     A("walking")).astype(np.int8)


def _in_view_s(scene: R.SceneSpec, lane: R.Lane, d: int) -> tuple[float, float]:
    """Distances along the lane (direction ``d``) between which the feet are inside the frame."""
    s = np.linspace(0, lane.length, 400)
    pts = np.stack([lane.point(v, d) for v in s])
    inside = ((pts[:, 0] >= 0) & (pts[:, 0] < scene.width) & (pts[:, 1] >= 0)
              & (pts[:, 1] < scene.height + 0.2 * np.asarray(scene.person_height(pts[:, 1]))))
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return 0.0, lane.length
    return float(s[idx[0]]), float(s[idx[-1]])


def _reach(scene: R.SceneSpec, lane: R.Lane, d: int, speed: float, s_at: float) -> int:
    """Frames a constant-speed walker needs from the lane start to distance ``s_at``."""
    p = R.lane_path(scene, lane, d, np.full(6000, speed), np.random.default_rng(0))
    return int(np.searchsorted(p["s"], s_at))


def _smooth(v: np.ndarray, k: int = 4) -> np.ndarray:
    """Speed changes over ``k`` frames (a moving average)."""
    pad = np.concatenate([np.full(k, v[0]), v])
    c = np.cumsum(pad)
    return (c[k:] - c[:-k]) / k


def _event(scene: R.SceneSpec, etype: str, e: int, rng: np.random.Generator) -> EventPlan:
    """One anomalous object (its track from the lane start; placement later)."""
    lanes = scene.lanes
    cand = list(range(len(lanes)))
    if etype == "wrong_way":
        cand = [i for i, ln in enumerate(lanes) if ln.flow != 0]
    occl_lanes = [o for o in scene.occluders if o.lane in cand]
    occ = None
    if occl_lanes and etype in ("loitering", "falling") and rng.random() < 0.35:
        occ = occl_lanes[int(rng.integers(len(occl_lanes)))]
    li = occ.lane if occ is not None else cand[int(rng.integers(len(cand)))]
    lane = lanes[li]
    d = -lane.flow if etype == "wrong_way" else (lane.flow or (1 if rng.random() < 0.5 else -1))
    lo, hi = _in_view_s(scene, lane, d)
    N = 6000
    walk = float(rng.uniform(*R.WALK_SPEED))
    kind = {"vehicle": "vehicle", "bicycle": "cyclist"}.get(etype, "person")
    A = R.ACTIONS.index
    if occ is not None:
        s_occ = occ.s if d > 0 else lane.length - occ.s
        s_at = s_occ + float(rng.uniform(-0.1, 0.1)) * float(scene.person_height(lane.point(s_occ, d)[1]))
    else:
        s_at = lo + float(rng.uniform(0.2, 0.8)) * (hi - lo)
    action = angle = None
    if etype in ("vehicle", "bicycle"):
        v = float(rng.uniform(*ANOMALY_SPEED[etype]))
        speed = np.full(N, v)
        if etype == "vehicle" and rng.random() < 0.35:  # parks on the walkway for a while
            t_at = _reach(scene, lane, d, v, s_at)
            speed[t_at : t_at + int(rng.integers(20, 90))] = 0.0
            speed = _smooth(speed)
        path = R.lane_path(scene, lane, d, speed, rng)
        abnormal = np.ones(len(path["x"]), bool)
    elif etype == "runner":
        v = float(rng.uniform(*ANOMALY_SPEED["runner"]))
        if rng.random() < 0.4:  # runs the whole way
            speed = np.full(N, v)
        else:  # walks, runs for 1.3-7 s, walks on
            s_run = lo + float(rng.uniform(0.0, 0.6)) * (hi - lo)
            t_at = _reach(scene, lane, d, walk, s_run)
            speed = np.full(N, walk)
            speed[t_at : t_at + int(rng.integers(20, 105))] = v
            speed = _smooth(speed)
        path = R.lane_path(scene, lane, d, speed, rng)
        abnormal = path["speed"] > R.RUN_ABOVE
    elif etype == "wrong_way":
        path = R.lane_path(scene, lane, d, np.full(N, walk), rng)
        abnormal = np.ones(len(path["x"]), bool)
    else:  # loitering / falling: walk to s_at, stay, walk on
        t_at = _reach(scene, lane, d, walk, s_at)
        stay = int(rng.integers(20, 110))
        fall, getup = (6, 8) if etype == "falling" else (0, 0)
        total = LOITER_AFTER + stay if etype == "loitering" else fall + stay + getup
        speed = np.full(N, walk)
        speed[t_at : t_at + total] = 0.0
        path = R.lane_path(scene, lane, d, speed, rng)
        m = len(path["x"])
        tau = np.arange(m)
        action = _default_actions("person", path["speed"])
        if etype == "loitering":
            abnormal = (tau >= t_at + LOITER_AFTER) & (tau < t_at + total)
            action[abnormal] = A("loitering")
        else:
            abnormal = (tau >= t_at) & (tau < t_at + total)
            sign = 1.0 if rng.random() < 0.5 else -1.0
            down = np.clip((tau - t_at) / fall, 0, 1) - np.clip((tau - (t_at + fall + stay)) / getup, 0, 1)
            angle = (sign * np.pi / 2 * down).astype(np.float32)
            action[(tau >= t_at) & (tau < t_at + fall)] = A("falling")
            action[(tau >= t_at + fall) & (tau < t_at + fall + stay)] = A("lying")
            action[(tau >= t_at + fall + stay) & (tau < t_at + total)] = A("getting up")
    tr = _track(scene, kind, path, lane, d, rng, action=action, angle=angle, abnormal=abnormal, event=e)
    tr.meta = {"type": etype, "lane": li, "occluder": occ is not None}
    view = np.array([R.clipped_box(scene, tr, t) is not None for t in range(len(tr.x))])
    shown = np.flatnonzero(abnormal & view)
    if shown.size == 0:  # cannot happen for s_at in view; a clear error if the geometry changes
        raise AssertionError(f"synthetic: a {etype} event is never in view (scene {scene.index})")
    a0, a1 = int(shown[0]), int(shown[-1]) + 1
    tr.abnormal = np.zeros(len(tr.x), bool)  # anomalous = in an anomalous state (in view or not)
    tr.abnormal[a0:a1] = True
    first, last = int(np.flatnonzero(view)[0]), int(np.flatnonzero(view)[-1]) + 1
    keep = slice(max(first - 1, 0), last + 1)  # drop the frames far off-screen
    for name in ("x", "y", "phase", "angle", "speed", "action", "abnormal"):
        setattr(tr, name, getattr(tr, name)[keep])
    off = keep.start
    return EventPlan(e, etype, tr, a0 - off, a1 - a0)


# --------------------------------------------------------------------------------------------------
# placement: onsets anywhere in the video, content-free probes at chance


def probe_scores(length: int) -> dict[str, np.ndarray]:
    """The content-free probes for one label array of ``length`` frames (higher = "more abnormal"):
    ``index`` (frame index), ``t/T``, ``centre`` (closeness to the middle), ``length`` (constant).

    >>> probe_scores(4)["centre"].round(3).tolist()
    [-0.375, -0.125, -0.125, -0.375]
    """
    i = np.arange(length, dtype=np.float64)
    return {"index": i, "t/T": i / length, "centre": -np.abs((i + 0.5) / length - 0.5),
            "length": np.full(length, float(length))}


def pad_rtfm(y: np.ndarray, abnormal: bool) -> np.ndarray:
    """ShanghaiTech ``rtfm`` labels: an abnormal video's mask padded with its last label to 16·ceil(n/16),
    a normal video zeros(16·ceil(n/16))."""
    n16 = 16 * -(-len(y) // 16)
    if not abnormal:
        return np.zeros(n16, np.uint8)
    return np.concatenate([y, np.full(n16 - len(y), y[-1], y.dtype)])


def split_labels(w: World) -> dict[str, dict[str, np.ndarray]]:
    """Frame labels of each split's test set under its default convention: ``semi`` -> ``official``
    (all test videos), ``weak`` -> ``rtfm`` (the weak test list: abnormal and normal videos)."""
    semi = {v.video: v.labels() for v in w.videos if v.subset == "test"}
    weak = {v.video: pad_rtfm(semi[v.video] if v.subset == "test" else np.zeros(v.n_frames, np.uint8),
                              v.subset == "test") for v in w.videos if v.weak == "test"}
    return {"semi": dict(sorted(semi.items())), "weak": dict(sorted(weak.items()))}


def _auc_from_ranks(ranks: np.ndarray, y: np.ndarray) -> float:
    pos = y.astype(bool)
    p = int(pos.sum())
    n = len(y) - p
    if p == 0 or n == 0:
        return 0.5
    return float((ranks[pos].sum() - p * (p + 1) / 2) / (p * n))


def probe_aucs(labels: dict[str, np.ndarray]) -> dict[str, float]:
    """Micro frame AUC of each content-free probe on ``labels`` (video -> 0/1 array)."""
    from scipy.stats import rankdata

    ys = [np.asarray(labels[v]).reshape(-1) for v in labels]
    y = np.concatenate(ys)
    out = {}
    for name in ("index", "t/T", "centre", "length"):
        s = np.concatenate([probe_scores(len(a))[name] for a in ys])
        out[name] = _auc_from_ranks(rankdata(s), y)
    return out


def _fast_worst(split: dict[str, dict[str, np.ndarray]]) -> float:
    """max |AUC - 0.5| over the probes and splits, by histograms (t/T and centre binned to 1/4096): the
    search's objective, thousands of times faster than ranking."""
    worst = 0.0
    for labels in split.values():
        ys = list(labels.values())
        y = np.concatenate(ys).astype(bool)
        P = int(y.sum())
        N = len(y) - P
        if P == 0 or N == 0:
            continue
        lens = np.array([len(a) for a in ys])
        L = np.repeat(lens, lens)
        i = np.arange(len(y)) - np.repeat(np.cumsum(lens) - lens, lens)
        keys = (i, L, (i * 4096) // L, ((L - np.abs(2 * i + 1 - L)) * 2048) // L)
        for k in keys:
            pos = np.bincount(k[y], minlength=int(k.max()) + 1)
            neg = np.bincount(k[~y], minlength=int(k.max()) + 1)
            below = np.cumsum(neg) - neg
            auc = float((pos * (below + 0.5 * neg)).sum()) / (P * N)
            worst = max(worst, abs(auc - 0.5))
    return worst


def _place(w: World, rng: np.random.Generator, frames: tuple[int, int]) -> dict[str, dict[str, float]]:
    """Choose event onsets (anywhere: an event may be in progress at the first frame or still running at
    the last) and video lengths (from the common range, for test videos and the normal videos of the weak
    test list) so that every content-free probe is within ``PROBE_TARGET`` of chance on both splits: a
    seeded greedy local search from a uniform start. Returns the exact probe AUCs reached."""
    lo, hi = frames
    tests = [v for v in w.videos if v.subset == "test"]
    movable = tests + [v for v in w.videos if v.subset == "train" and v.weak == "test"]
    for v in tests:
        _redraw_video(v, rng)
    cur = _fast_worst(split_labels(w))
    for _ in range(6000):
        if cur <= PROBE_TARGET * 0.8:
            break
        v = movable[int(rng.integers(len(movable)))]
        old_n, old_on = v.n_frames, [e.onset for e in v.events]
        if not v.events or rng.random() < 0.25:
            v.n_frames = int(rng.integers(lo, hi + 1))
            if v.events:
                _redraw_video(v, rng)
        else:
            _redraw_event(v, v.events[int(rng.integers(len(v.events)))], rng)
        new = _fast_worst(split_labels(w))
        if new <= cur:
            cur = new
        else:
            v.n_frames = old_n
            for e, o in zip(v.events, old_on, strict=True):
                e.onset = o
    for v in tests:
        for e in v.events:
            e.track.t0 = e.onset - e.a0
    return {k: probe_aucs(lab) for k, lab in split_labels(w).items()}


def _ok(v: VideoPlan) -> bool:
    y = v.labels()
    return 0 < int(y.sum()) <= MAX_ABNORMAL_SHARE * v.n_frames and all(
        e.segment(v.n_frames)[1] - e.segment(v.n_frames)[0] >= min(MIN_EVENT_FRAMES, e.length)
        for e in v.events)


def _draw_onset(v: VideoPlan, e: EventPlan, rng: np.random.Generator) -> int:
    """An onset anywhere in the video (uniform over ``[0, n - 8]``), or, with probability
    ``IN_PROGRESS_P``, an event already in progress at the first frame."""
    k = min(MIN_EVENT_FRAMES, e.length)
    if e.length > k and rng.random() < IN_PROGRESS_P:
        return int(rng.integers(k - e.length, 0))
    return int(rng.integers(0, v.n_frames - k + 1))


def _redraw_event(v: VideoPlan, e: EventPlan, rng: np.random.Generator) -> None:
    old = e.onset
    for _ in range(50):
        e.onset = _draw_onset(v, e, rng)
        if _ok(v):
            return
    e.onset = old


def _redraw_video(v: VideoPlan, rng: np.random.Generator) -> None:
    for _ in range(200):
        for e in v.events:
            e.onset = _draw_onset(v, e, rng)
        if _ok(v):
            return
    raise AssertionError(f"synthetic: no valid event placement in {v.video} ({v.n_frames} frames)")


# --------------------------------------------------------------------------------------------------
# the tracks of one video


def build_video(w: World, vp: VideoPlan) -> tuple[list[R.Track], np.random.Generator]:
    """Tracks of one video (normal traffic, featured walkers or the planned anomalies) and the video's rng
    (continued by the renderer for sensor noise)."""
    scene = w.scenes[vp.scene]
    rng = np.random.default_rng(list(vp.key))
    tracks: list[R.Track] = []
    n = vp.n_frames
    _traffic(scene, n, rng, tracks)
    if vp.subset == "train":
        for _ in range(vp.featured):  # extra walkers: as many featured objects as a test video has events
            lane = scene.lanes[int(rng.integers(len(scene.lanes)))]
            d = lane.flow or (1 if rng.random() < 0.5 else -1)
            path = R.lane_path(scene, lane, d, np.full(6000, rng.uniform(*R.WALK_SPEED)), rng)
            tr = _track(scene, "person", path, lane, d, rng)
            tr.t0 = int(rng.integers(-len(path["x"]) // 2, n))
            _add(tracks, tr)
    for e in vp.events:
        tr = e.track
        tr.t0 = e.onset - e.a0
        _add(tracks, tr)
    return tracks, rng


def _add(tracks: list[R.Track], tr: R.Track) -> None:
    tr.oid = len(tracks)
    tracks.append(tr)


def _traffic(scene: R.SceneSpec, n: int, rng: np.random.Generator, tracks: list[R.Track]) -> None:
    """Normal traffic: walkers (and cyclists where allowed) on every lane in its flow direction, some in
    pairs, short stops (< ``LOITER_AFTER`` frames), people standing on the grass beside the walkways."""
    density = scene.density * rng.uniform(0.7, 1.3)
    for lane in scene.lanes:
        dirs = [lane.flow] if lane.flow else [1, -1]
        for d in dirs:
            rate = density / len(dirs)
            starts = [(0, float(rng.uniform(0, lane.length))) for _ in range(rng.poisson(rate * 120))]
            t = float(rng.exponential(1 / rate))
            while t < n:
                starts.append((int(t), 0.0))
                t += float(rng.exponential(1 / rate))
            for t0, s0 in starts:
                group = 2 if rng.random() < 0.2 else 1
                bike = scene.bikes_allowed and rng.random() < 0.25
                v = float(rng.uniform(*(R.BIKE_SPEED if bike else R.WALK_SPEED)))
                speed = np.full(3000, v)
                if not bike and rng.random() < 0.12:  # a short normal stop (phone, looking around)
                    at = int(rng.integers(10, 80))
                    speed[at : at + int(rng.integers(6, LOITER_AFTER - 3))] = 0.0
                for g in range(group):
                    path = R.lane_path(scene, lane, d, speed, rng, s0=s0)
                    if len(path["x"]) == 0:
                        continue
                    tr = _track(scene, "cyclist" if bike else "person", path, lane, d, rng)
                    tr.t0 = t0 + g * int(rng.integers(0, 3))
                    _add(tracks, tr)
    for x, y in scene.rest_spots:
        if rng.random() < 0.5:
            path = R.stand_path(rng, x, y, n)
            tr = _track(scene, "person", path, None, 1, rng)
            _add(tracks, tr)


# --------------------------------------------------------------------------------------------------
# structured state


_COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")


def colour_name(rgb: np.ndarray) -> str:
    """A plain colour word for an RGB colour (0..255).

    >>> colour_name(np.array([200, 30, 30])), colour_name(np.array([40, 40, 40]))
    ('red', 'black')
    """
    r, g, b = (float(c) / 255 for c in rgb)
    mx, mn = max(r, g, b), min(r, g, b)
    if mx < 0.22:
        return "black"
    if mx - mn < 0.12 * max(mx, 1e-6) or mx - mn < 0.06:
        return "white" if mx > 0.75 else "grey"
    if mx == r:
        h = ((g - b) / (mx - mn)) % 6
    elif mx == g:
        h = (b - r) / (mx - mn) + 2
    else:
        h = (r - g) / (mx - mn) + 4
    h *= 60
    for bound, name in ((15, "red"), (40, "orange"), (70, "yellow"), (160, "green"), (200, "cyan"),
                        (255, "blue"), (290, "purple"), (340, "pink"), (361, "red")):
        if h < bound:
            return name
    return "red"


def _direction(tr: R.Track, tau: int) -> str:
    if float(tr.speed[tau]) < 0.05 or abs(float(tr.angle[tau])) > 0.3:
        return "still"
    a, b = max(tau - 1, 0), min(tau + 1, len(tr.x) - 1)
    dx, dy = float(tr.x[b] - tr.x[a]), float(tr.y[b] - tr.y[a])
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "towards the camera" if dy > 0 else "away from the camera"


def states(w: World, video: str, tracks: list[R.Track] | None = None) -> pd.DataFrame:
    """One row per object per frame in view (``STATE_COLUMNS``), from the tracks alone (no pixels).

    ``kind`` person / cyclist / vehicle; ``colour`` of the shirt (vehicles: the body); ``size`` small /
    medium / large (person height < 0.22 H, < 0.3 H, else; vehicles count 1.4 times) and ``size_px`` the box
    height; ``action`` one of ``_synth_render.ACTIONS``; ``pose`` upright / lying / riding / vehicle;
    ``direction`` left / right / towards the camera / away from the camera / still (in the image);
    ``flow`` with / against the one-way flow, two-way, none (off the walkways); ``place`` walkway / grass;
    ``scene`` (camera id), ``layout`` (promenade, boulevard, crossing, corridor), ``bikes_allowed``; the
    box (x2 / y2 exclusive, clipped to the frame); ``visible`` (share not behind foreground objects);
    ``is_anomalous``, ``event`` (-1 for normal) and ``type`` (anomaly type or "").
    """
    import pandas as pd

    vp = w.video(video)
    scene = w.scenes[vp.scene]
    if tracks is None:
        tracks, _ = build_video(w, vp)
    H = scene.height
    rows = []
    meta = {sc["scene"]: sc for sc in w.scene_meta}[vp.scene]
    for tr in tracks:
        colour = colour_name(tr.colors["body" if tr.kind == "vehicle" else "shirt"])
        etype = tr.meta.get("type", "") if tr.event >= 0 else ""
        for t in range(max(tr.t0, 0), min(tr.t0 + len(tr.x), vp.n_frames)):
            tau = t - tr.t0
            box = R.clipped_box(scene, tr, tau)
            if box is None:
                continue
            h = float(scene.person_height(tr.y[tau])) * tr.scale
            x1, y1, x2, y2 = box
            vis = float(1 - scene.fg_alpha[y1:y2, x1:x2].mean())
            lying = abs(float(tr.angle[tau])) > np.pi / 4
            pose = {"cyclist": "riding", "vehicle": "vehicle"}.get(tr.kind, "lying" if lying else "upright")
            abn = bool(tr.abnormal[tau])
            rows.append((t, tr.oid, tr.kind, colour, "small" if h < 0.22 * H else
                         ("medium" if h < 0.3 * H else "large"), int(round(y2 - y1)),
                         R.ACTIONS[int(tr.action[tau])], pose, _direction(tr, tau), tr.flow,
                         scene.place(float(tr.x[tau]), float(tr.y[tau])), f"{vp.scene:02d}", scene.name,
                         int(meta["bikes_allowed"]), x1, y1, x2, y2, round(vis, 3), int(abn),
                         tr.event if abn else -1, etype if abn else ""))
    table = pd.DataFrame(rows, columns=list(STATE_COLUMNS))
    return table.sort_values(["frame", "object_id"], kind="stable").reset_index(drop=True)


def event_table(w: World) -> pd.DataFrame:
    """One row per test anomaly (``synthetic.TYPE_COLUMNS``): typed segments ``[start, end)`` for mAP@IoU, the
    object, its mean box height (``size_px``) and visible share, flags ``small`` and ``occluded``."""
    import pandas as pd

    rows = []
    H = w.params["height"]
    for vp in w.videos:
        if vp.subset != "test":
            continue
        scene = w.scenes[vp.scene]
        tracks, _ = _event_tracks_only(w, vp)
        for e, tr in zip(vp.events, tracks, strict=True):
            start, end = e.segment(vp.n_frames)
            sizes, vis = [], []
            for t in range(start, end):
                box = R.clipped_box(scene, tr, t - tr.t0)
                if box is None:  # cannot happen: the segment is in view by construction
                    raise AssertionError(f"synthetic: event {e.event} of {vp.video} not in view at {t}")
                x1, y1, x2, y2 = box
                sizes.append(y2 - y1)
                vis.append(float(1 - scene.fg_alpha[y1:y2, x1:x2].mean()))
            size, visible = float(np.mean(sizes)), float(np.mean(vis))
            rows.append((vp.video, e.event, e.type, ANOMALY_TYPES[e.type][0], start, end, tr.oid,
                         f"{vp.scene:02d}", round(size, 1), round(visible, 3), int(size < SMALL_FRAC * H),
                         int(visible < OCCLUDED_VISIBLE)))
    return pd.DataFrame(rows, columns=list(TYPE_COLUMNS))


def _event_tracks_only(w: World, vp: VideoPlan) -> tuple[list[R.Track], None]:
    """The event tracks with the object ids they get in :func:`build_video` (traffic is drawn first)."""
    tracks, _ = build_video(w, vp)
    return [tr for tr in tracks if tr.event >= 0], None
