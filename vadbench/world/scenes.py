"""Renders of the synthetic world with the structured state of every visible object in every frame.

:func:`world_videos` draws the videos of one *world seed* with the generator's own planning, rendering and
state code (:mod:`vadbench.datasets._synth_world`, :mod:`vadbench.datasets._synth_render`; generator
version :data:`vadbench.datasets.synthetic.GENERATOR_VERSION`) under the world's own frame size and counts
(:data:`WORLD_PARAMS`), and returns, per frame, an :class:`ObjectState` per object in view: kind, colour,
size, pose, action, direction, place, layout and box. World seeds never overlap benchmark seeds
(:mod:`vadbench.world.seeds`).

Example:
    >>> v = next(world_videos(1_000_000, n_frames=8))  # doctest: +SKIP
    >>> v.frames.shape, v.states[0][0].kind  # doctest: +SKIP
    ((8, 96, 128, 3), 'person')
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

#: The world's videos: 2 cameras x (1 normal + 6 with 1-3 events) per seed, 128 x 96 (the ``tiny`` preset's
#: size; people 20-40 px tall).
WORLD_PARAMS = {"width": 128, "height": 96, "scenes": 2, "train_per_scene": 1, "test_per_scene": 6}
WORLD_PRESET = "world"


@dataclass(frozen=True)
class ObjectState:
    """One object in one frame (the generator's state words; vehicles have pose "")."""

    oid: int
    kind: str
    colour: str
    size: str
    pose: str  # upright / lying / riding ("" for vehicles)
    action: str
    direction: str
    place: str
    scene: str  # the layout: promenade, boulevard, crossing, corridor
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive)
    visible: float


@dataclass
class WorldVideo:
    seed: int
    video: str
    scene: str
    frames: np.ndarray  # (n, H, W, 3) uint8
    states: list[list[ObjectState]] = field(default_factory=list)


def _states(table, n: int) -> list[list[ObjectState]]:
    out: list[list[ObjectState]] = [[] for _ in range(n)]
    cols = ["frame", "object_id", "kind", "colour", "size", "pose", "action", "direction", "place", "layout",
            "x1", "y1", "x2", "y2", "visible"]
    for t, oid, kind, colour, size, pose, action, direction, place, layout, x1, y1, x2, y2, vis in \
            table[cols].itertuples(index=False):
        pose = "" if pose == "vehicle" else pose
        out[int(t)].append(ObjectState(int(oid), kind, colour, size, pose, action, direction, place, layout,
                                       (int(x1), int(y1), int(x2), int(y2)), float(vis)))
    return out


def world_videos(seed: int, *, n_frames: int = 48) -> Iterator[WorldVideo]:
    """The videos of world seed ``seed`` (normal traffic; events of every type), rendered with states."""
    from vadbench.datasets import _synth_render as R
    from vadbench.datasets import _synth_world as SW

    w = SW.world(int(seed), WORLD_PRESET, {**WORLD_PARAMS, "frames": [n_frames, n_frames]})
    for vp in w.videos:
        tracks, rng = SW.build_video(w, vp)
        gain, noise = float(rng.uniform(0.92, 1.08)), float(rng.uniform(1.5, 2.5))
        frames, _ = R.render(w.scenes[vp.scene], tracks, vp.n_frames, rng, gain=gain, noise=noise)
        table = SW.states(w, vp.video, tracks)
        yield WorldVideo(int(seed), vp.video, w.scenes[vp.scene].name, frames, _states(table, vp.n_frames))
