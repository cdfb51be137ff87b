"""Renders of the synthetic world with the structured state of every visible object in every frame.

:func:`render_world` draws one video of the world from a *world seed* with the generator's own scene,
traffic and event code (:mod:`vadbench.datasets.synthetic`, :mod:`vadbench.datasets._synth_render`) and
returns its frames with, per frame, an :class:`ObjectState` per visible object: kind, colour, size, pose,
action, direction, place, scene and box. The world's models learn from these; no benchmark video is drawn
here (world seeds live in their own rng stream, :mod:`vadbench.world.seeds`).

Example:
    >>> v = render_world(1_000_000, n_frames=8, width=96, height=64)  # doctest: +SKIP
    >>> v.frames.shape, v.states[0][0].kind  # doctest: +SKIP
    ((8, 64, 96, 3), 'person')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vadbench.world.vocab import colour_name

#: rng stream tag of world renders (the benchmark's videos use the generator's seed keys instead).
WORLD_STREAM = 7_301
SCENE_NAMES = ("promenade", "boulevard", "crossing", "corridor")
#: Speeds (m/s) separating standing / walking / running persons.
STANDING_BELOW, RUNNING_ABOVE = 0.35, 2.6
#: Events drawn into world videos so that every kind, pose and action occurs (the world's content; nothing
#: here says "anomaly").
EVENTS = ("vehicle", "runner", "wrong_way", "loitering", "falling", "bicycle")
#: Their probabilities (rare poses and actions are drawn more often than in the benchmark).
EVENT_WEIGHTS = (0.2, 0.25, 0.05, 0.1, 0.25, 0.15)


@dataclass(frozen=True)
class ObjectState:
    """One object in one frame (all words from :mod:`vadbench.world.vocab`)."""

    oid: int
    kind: str
    colour: str
    size: str
    pose: str  # upright / lying / riding ("" for vehicles)
    action: str
    direction: str
    place: str
    scene: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive)
    visible: float


@dataclass
class WorldVideo:
    seed: int
    scene: str
    frames: np.ndarray  # (n, H, W, 3) uint8
    states: list[list[ObjectState]] = field(default_factory=list)


def _size(h_box: int, height: int) -> str:
    frac = h_box / height
    return "small" if frac < 0.14 else "large" if frac > 0.26 else "medium"


def _on_walkway(scene: Any, x: float, y: float) -> bool:
    for lane in scene.lanes:
        rel = np.array([x, y]) - lane.p0
        dist = abs(float(rel @ lane.normal))
        if dist < 4.2 * lane.half_width + 1.0:
            return True
    return False


def _motion(tr: Any, tau: int, scene: Any) -> tuple[float, float, float]:
    """(speed m/s, vx, vy) of a track at local time ``tau`` (central difference over up to +-2 frames)."""
    from vadbench.datasets import _synth_render as R

    lo, hi = max(0, tau - 2), min(len(tr.x) - 1, tau + 2)
    if hi <= lo:
        return 0.0, 0.0, 0.0
    vx = float(tr.x[hi] - tr.x[lo]) / (hi - lo)
    vy = float(tr.y[hi] - tr.y[lo]) / (hi - lo)
    h = float(scene.person_height(tr.y[tau]))
    speed = float(np.hypot(vx, vy)) / max(h, 1e-6) * R.PERSON_M * R.FPS
    return speed, vx, vy


def object_state(scene: Any, tr: Any, tau: int, box: tuple[int, int, int, int], visible: float,
                 scene_name: str) -> ObjectState:
    """The state of track ``tr`` at local time ``tau`` (see :class:`ObjectState`)."""
    speed, vx, vy = _motion(tr, tau, scene)
    lying = abs(float(tr.angle[tau])) > 0.5
    if tr.kind == "vehicle":
        pose, action = "", "driving"
    elif tr.kind == "cyclist":
        pose, action = "riding", "riding"
    elif lying or abs(float(tr.angle[tau])) > 0.05:
        pose, action = ("lying" if lying else "upright"), "falling"
    elif speed < STANDING_BELOW:
        loiter = tr.meta.get("type") == "loitering" and bool(tr.abnormal[tau])
        pose, action = "upright", "loitering" if loiter else "standing"
    else:
        pose, action = "upright", "running" if speed > RUNNING_ABOVE else "walking"
    if speed < STANDING_BELOW or action == "falling":
        direction = "still"
    elif abs(vx) >= abs(vy):
        direction = "right" if vx > 0 else "left"
    else:
        direction = "towards" if vy > 0 else "away"
    colour = colour_name(tr.colors["body" if tr.kind == "vehicle" else "shirt"])
    x1, y1, x2, y2 = box
    place = "walkway" if _on_walkway(scene, (x1 + x2) / 2, y2) else "grass"
    return ObjectState(int(tr.oid), tr.kind, colour, _size(y2 - y1, scene.height), pose, action, direction,
                       place, scene_name, box, float(visible))


def render_world(seed: int, *, n_frames: int = 48, width: int = 128, height: int = 96) -> WorldVideo:
    """One world video: a random scene layout, normal traffic and one or two events, with states."""
    from vadbench.datasets import _synth_render as R
    from vadbench.datasets import synthetic as S

    rng = np.random.default_rng([WORLD_STREAM, int(seed)])
    template = int(rng.integers(4))
    scene = R.make_scene(rng, 1, width, height, template, bool(rng.random() < 0.5))
    tracks: list = []
    S._traffic(scene, n_frames, rng, tracks)
    n_events = 2 + int(rng.random() < 0.5)
    for e in range(n_events):
        etype = EVENTS[int(rng.choice(len(EVENTS), p=EVENT_WEIGHTS))]
        if etype == "wrong_way" and not any(ln.flow for ln in scene.lanes):
            etype = "runner"
        S._anomaly(scene, etype, n_frames, int(rng.integers(0, max(1, n_frames // 2))), rng, tracks, e)
    gain, noise = float(rng.uniform(0.92, 1.08)), float(rng.uniform(1.5, 2.5))
    frames, _, boxes, _ = R.render(scene, tracks, n_frames, rng, gain=gain, noise=noise)
    by_oid = {tr.oid: tr for tr in tracks}
    name = SCENE_NAMES[template]
    states: list[list[ObjectState]] = [[] for _ in range(n_frames)]
    for t, oid, x1, y1, x2, y2, _kind, _abn, _ev, vis in boxes:
        tr = by_oid[oid]
        states[t].append(object_state(scene, tr, t - tr.t0, (x1, y1, x2, y2), vis, name))
    return WorldVideo(int(seed), name, frames, states)
