"""Numpy rendering for the synthetic dataset: scenes, agent paths, sprites, occluders and sensor noise.

Pure numpy (no PIL / av here). Everything is driven by explicit ``numpy.random.Generator`` objects so
that :mod:`vadbench.datasets.synthetic` can make the output a function of the seed alone. Written from
scratch because no library renders tiny surveillance-like scenes with per-object ground truth.

Geometry: pixel ``(row i, column j)`` has its centre at ``(x=j, y=i)``. A *person height* ``h(y)`` (pixels)
sets the perspective scale at ground row ``y``; every sprite is drawn in body units of that height.

Example:
    >>> import numpy as np
    >>> scene = make_scene(np.random.default_rng(0), index=1, width=96, height=64, template=0, bikes=True)
    >>> scene.background.shape, len(scene.lanes) > 0
    ((64, 96, 3), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Frames per second written into the training videos (and used to turn m/s into pixels per frame).
FPS = 15
#: World height of a person in metres (speeds are in m/s, converted with the local person height).
PERSON_M = 1.7
#: Normal speeds (m/s): walkers and, in scenes that allow bikes, cyclists.
WALK_SPEED = (0.9, 1.8)
BIKE_SPEED = (3.2, 5.0)

KINDS = ("person", "cyclist", "vehicle")


# --------------------------------------------------------------------------------------------------
# scene


@dataclass
class Lane:
    """A straight walking lane from ``p0`` to ``p1`` (both beyond the frame). ``flow``: +1 only p0->p1,
    -1 only p1->p0, 0 both ways (then nobody can walk "against the flow" on it)."""

    p0: np.ndarray
    p1: np.ndarray
    half_width: float
    flow: int

    @property
    def length(self) -> float:
        return float(np.linalg.norm(self.p1 - self.p0))

    @property
    def unit(self) -> np.ndarray:
        return (self.p1 - self.p0) / self.length

    @property
    def normal(self) -> np.ndarray:
        u = self.unit
        return np.array([-u[1], u[0]])

    def point(self, s: float, direction: int, lateral: float = 0.0) -> np.ndarray:
        """The point at distance ``s`` from the start of travel in ``direction`` (+1 or -1)."""
        start, d = (self.p0, self.unit) if direction > 0 else (self.p1, -self.unit)
        return start + s * d + lateral * self.normal


@dataclass
class Occluder:
    """A static foreground object (tree, pillar, hedge) standing on ``lane`` at distance ``s`` (from p0)."""

    kind: str
    lane: int
    s: float


@dataclass
class SceneSpec:
    """One camera: static background, lanes with their flow, foreground occluders, spots to stand at."""

    index: int
    width: int
    height: int
    template: int
    background: np.ndarray  # (H, W, 3) float32 in 0..255
    fg_rgb: np.ndarray  # (H, W, 3) float32, premultiplied by fg_alpha
    fg_alpha: np.ndarray  # (H, W) float32 in [0, 1]
    lanes: list[Lane]
    occluders: list[Occluder]
    rest_spots: list[tuple[float, float]]
    bikes_allowed: bool
    scale_a: float
    scale_b: float
    density: float  # mean arrivals per lane per frame
    walkways: list[tuple[np.ndarray, np.ndarray, float]] = field(default_factory=list)  # centre, dir, half
    name: str = ""

    def place(self, x: float, y: float) -> str:
        """``walkway`` when the ground point ``(x, y)`` lies on a paved walkway, else ``grass``."""
        for c, d, half in self.walkways:
            if abs((x - c[0]) * -d[1] + (y - c[1]) * d[0]) <= half + 0.5:
                return "walkway"
        return "grass"

    def person_height(self, y: float | np.ndarray) -> float | np.ndarray:
        """Person height in pixels at ground row ``y`` (perspective: farther = higher up = smaller)."""
        yy = np.clip(y, 0.0, self.height)
        return self.height * (self.scale_a + self.scale_b * yy / self.height)


def _upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a (gh, gw, C) grid to (height, width, C) with two interpolation matrices."""

    def weights(n_out: int, n_in: int) -> np.ndarray:
        pos = np.linspace(0, n_in - 1, n_out)
        lo = np.clip(np.floor(pos).astype(int), 0, n_in - 2)
        frac = pos - lo
        w = np.zeros((n_out, n_in), np.float32)
        w[np.arange(n_out), lo] = 1 - frac
        w[np.arange(n_out), lo + 1] += frac
        return w

    wy, wx = weights(height, grid.shape[0]), weights(width, grid.shape[1])
    return np.einsum("ia,abc,jb->ijc", wy, grid.astype(np.float32), wx)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """An RGB colour (0..255) from hue/saturation/value in [0, 1]."""
    i = int(h * 6) % 6
    f = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, np.float32) * 255


def _segment_through_frame(c: np.ndarray, d: np.ndarray, width: int, height: int, margin: float):
    """End points of the line ``c + s d`` clipped to the frame grown by ``margin`` (slab method)."""
    lo, hi = -np.inf, np.inf
    for k, size in ((0, width), (1, height)):
        if abs(d[k]) < 1e-9:
            continue
        a, b = (-margin - c[k]) / d[k], (size + margin - c[k]) / d[k]
        lo, hi = max(lo, min(a, b)), min(hi, max(a, b))
    return c + lo * d, c + hi * d


#: Names of the four scene layouts (``_TEMPLATES``), used in the structured state.
TEMPLATE_NAMES = ("promenade", "boulevard", "crossing", "corridor")

# Templates: walkways as (centre x, centre y) in frame fractions, angle (deg), half width (fraction of H),
# and lanes (lateral offset in fractions of H, flow). Angles are jittered per scene.
_TEMPLATES = [
    # promenade: far walkway flowing right->left, near walkway flowing left->right
    [((0.5, 0.42), 4.0, 0.07, [(0.0, -1)]), ((0.5, 0.80), -3.0, 0.09, [(0.0, +1)])],
    # diagonal boulevard: two one-way lanes side by side, opposite flows
    [((0.5, 0.62), -24.0, 0.16, [(-0.075, +1), (0.075, -1)])],
    # crossing: a two-way horizontal walkway and a one-way path coming towards the camera
    [((0.5, 0.55), 2.0, 0.08, [(0.0, 0)]), ((0.62, 0.6), 72.0, 0.07, [(0.0, +1)])],
    # corridor receding into the distance: lane going away on the left, coming closer on the right
    [((0.45, 0.6), -62.0, 0.15, [(-0.07, -1), (0.07, +1)])],
]


def make_scene(
    rng: np.random.Generator, index: int, width: int, height: int, template: int, bikes: bool
) -> SceneSpec:
    """Build one camera view: textured gradient ground, paved walkways, optional wall, occluders."""
    H, W = height, width
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    hue = rng.uniform(0.15, 0.45)  # greenish to yellowish ground
    c1 = _hsv(hue, rng.uniform(0.25, 0.55), rng.uniform(0.35, 0.6))
    c2 = _hsv((hue + rng.uniform(-0.08, 0.08)) % 1, rng.uniform(0.2, 0.5), rng.uniform(0.45, 0.75))
    ang = rng.uniform(0, 2 * np.pi)
    t = (xx * np.cos(ang) + yy * np.sin(ang)) / (abs(W * np.cos(ang)) + abs(H * np.sin(ang)) + 1e-6)
    t = (t - t.min()) / (t.max() - t.min() + 1e-6)
    bg = c1 * (1 - t[..., None]) + c2 * t[..., None]
    bg += _upsample(rng.normal(0, 12, (5, 7, 3)), H, W)
    bg += _upsample(rng.normal(0, 6, (H // 4, W // 4, 1)), H, W)
    bg += rng.normal(0, 3, (H, W, 1)).astype(np.float32)

    walkways = _TEMPLATES[template % len(_TEMPLATES)]
    lanes: list[Lane] = []
    walkway_geo: list[tuple[np.ndarray, np.ndarray, float]] = []
    pave = _hsv(rng.uniform(0.05, 0.12), rng.uniform(0.05, 0.25), rng.uniform(0.55, 0.8))
    tile = rng.uniform(4.0, 7.0)
    for (cx, cy), deg, hw, lane_defs in walkways:
        theta = np.deg2rad(deg + rng.uniform(-6, 6))
        c = np.array([(cx + rng.uniform(-0.05, 0.05)) * W, (cy + rng.uniform(-0.03, 0.03)) * H])
        d = np.array([np.cos(theta), np.sin(theta)])
        n = np.array([-d[1], d[0]])
        half = hw * H * rng.uniform(0.9, 1.15)
        walkway_geo.append((c, d, float(half)))
        dist = (xx - c[0]) * n[0] + (yy - c[1]) * n[1]
        along = (xx - c[0]) * d[0] + (yy - c[1]) * d[1]
        cover = np.clip(half + 0.5 - np.abs(dist), 0, 1)[..., None]
        grid = ((np.mod(along, tile) < 0.8) | (np.mod(dist, tile) < 0.8)).astype(np.float32)[..., None]
        pav = pave + rng.normal(0, 4, (H, W, 1)).astype(np.float32) - 14 * grid
        edge = np.clip(1.5 - np.abs(np.abs(dist) - half), 0, 1)[..., None]
        bg = bg * (1 - cover) + pav * cover
        bg = bg * (1 - 0.5 * edge) + 0.5 * edge * (pave * 0.6)
        for off, flow in lane_defs:
            lc = c + off * H * n
            p0, p1 = _segment_through_frame(lc, d, W, H, margin=0.25 * H)
            lanes.append(Lane(p0, p1, half_width=max(1.0, 0.25 * half), flow=flow))

    if template % len(_TEMPLATES) in (1, 3):  # a wall with windows across the top
        top = int(rng.uniform(0.12, 0.2) * H)
        wall = _hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.3), rng.uniform(0.4, 0.7))
        win = ((np.mod(xx, 9) < 4) & (np.mod(yy, 7) < 3)).astype(np.float32)[..., None]
        bg[:top] = (wall - 45 * win + rng.normal(0, 2, (H, W, 1)).astype(np.float32))[:top]

    # people are 0.12-0.15 H tall at the top row and 0.32-0.41 H at the bottom (tens of pixels)
    scale_a, scale_b = rng.uniform(0.12, 0.15), rng.uniform(0.20, 0.26)
    scene = SceneSpec(
        index=index, width=W, height=H, template=template, background=np.clip(bg, 0, 255),
        fg_rgb=np.zeros((H, W, 3), np.float32), fg_alpha=np.zeros((H, W), np.float32), lanes=lanes,
        occluders=[], rest_spots=[], bikes_allowed=bikes, scale_a=scale_a, scale_b=scale_b,
        density=rng.uniform(0.009, 0.014), walkways=walkway_geo,
        name=TEMPLATE_NAMES[template % len(_TEMPLATES)],
    )
    _add_occluders(rng, scene, xx, yy)
    _add_rest_spots(rng, scene)
    return scene


def _add_occluders(rng: np.random.Generator, scene: SceneSpec, xx: np.ndarray, yy: np.ndarray) -> None:
    """Place one or two static foreground objects on lanes (trees, pillars or a hedge)."""
    W, H = scene.width, scene.height
    n_occ = 1 + int(rng.random() < 0.6)
    for _ in range(n_occ):
        li = int(rng.integers(len(scene.lanes)))
        lane = scene.lanes[li]
        # a point on the visible part of the lane
        for _try in range(20):
            s = rng.uniform(0.3, 0.7) * lane.length
            p = lane.point(s, +1)
            if 0.15 * W < p[0] < 0.85 * W and 0.2 * H < p[1] < 0.95 * H:
                break
        foot = p + lane.normal * rng.uniform(0.3, 0.8) * lane.half_width  # slightly in front
        h = float(scene.person_height(foot[1]))
        kind = ["tree", "pillar", "hedge"][int(rng.integers(3))]
        if kind == "tree":
            trunk = _soft_box(xx, yy, foot[0], foot[1] - 0.6 * h, 0.12 * h + 0.3, 0.6 * h)
            crown = _soft_disk(xx, yy, foot[0], foot[1] - 1.35 * h, 0.55 * h)
            tex = rng.normal(0, 10, (H, W, 1)).astype(np.float32)
            green = _hsv(rng.uniform(0.25, 0.38), 0.6, rng.uniform(0.3, 0.5)) + tex
            brown = np.array([90, 65, 40], np.float32)
            rgb = brown * trunk[..., None] * (1 - crown[..., None]) + green * crown[..., None]
            alpha = np.maximum(trunk, crown)
            rgb = rgb / np.maximum(alpha, 1e-6)[..., None]
        elif kind == "pillar":
            alpha = _soft_box(xx, yy, foot[0], foot[1] - 1.1 * h, 0.28 * h, 1.1 * h)
            col = _hsv(rng.uniform(0, 1), rng.uniform(0, 0.2), rng.uniform(0.5, 0.85))
            shade = (0.75 + 0.25 * np.clip((xx - foot[0]) / (0.3 * h), -1, 1))[..., None]
            rgb = col * shade * np.ones((H, W, 1), np.float32)
        else:  # hedge: long and low, hides legs
            ang = np.arctan2(lane.unit[1], lane.unit[0])
            u = (xx - foot[0]) * np.cos(ang) + (yy - foot[1]) * np.sin(ang)
            v = -(xx - foot[0]) * np.sin(ang) + (yy - foot[1]) * np.cos(ang) + 0.25 * h
            alpha = _soft_box(u, v, 0, 0, 1.6 * h, 0.28 * h)
            rgb = _hsv(rng.uniform(0.27, 0.36), 0.55, 0.35) + rng.normal(0, 9, (H, W, 1)).astype(np.float32)
        a = alpha.astype(np.float32)
        # "over" compositing, kept premultiplied: fg_rgb holds colour * alpha
        scene.fg_rgb = (rgb * a[..., None] + scene.fg_rgb * (1 - a[..., None])).astype(np.float32)
        scene.fg_alpha = (a + scene.fg_alpha * (1 - a)).astype(np.float32)
        scene.occluders.append(Occluder(kind, li, float(s)))


def _add_rest_spots(rng: np.random.Generator, scene: SceneSpec) -> None:
    """Spots beside a walkway where people stand or wait (standing there is normal)."""
    for lane in scene.lanes[:2]:
        for _try in range(20):
            s = rng.uniform(0.25, 0.75) * lane.length
            side = 1 if rng.random() < 0.5 else -1
            p = lane.point(s, +1, lateral=side * (lane.half_width * 4 + 0.1 * scene.height))
            W, H = scene.width, scene.height
            if 0.1 * W < p[0] < 0.9 * W and 0.2 * H < p[1] < 0.97 * H:
                scene.rest_spots.append((float(p[0]), float(p[1])))
                break


# --------------------------------------------------------------------------------------------------
# agents


#: What an object is doing in a frame (``Track.action`` holds indices into this tuple).
ACTIONS = ("walking", "running", "standing", "loitering", "falling", "lying", "getting up", "riding",
           "driving", "parked")
#: World speed (m/s) above which a person counts as running (walkers: ``WALK_SPEED``).
RUN_ABOVE = 2.4


@dataclass
class Track:
    """One object over local time ``tau`` (0 .. len-1); it appears in frame ``t0 + tau``.

    Per ``tau``: position of the feet ``x, y`` (pixels), leg ``phase``, body ``angle`` (0 upright,
    ±pi/2 lying), world ``speed`` (m/s) and ``action`` (index into ``ACTIONS``); ``abnormal`` marks the
    frames in which the object is in an anomalous state. ``flow``: ``with`` / ``against`` the one-way flow
    of its lane, ``two-way`` lane, or ``none`` (off the walkways).
    """

    oid: int
    kind: str
    t0: int
    x: np.ndarray
    y: np.ndarray
    phase: np.ndarray
    angle: np.ndarray
    speed: np.ndarray
    action: np.ndarray
    heading: int
    side_view: bool
    colors: dict[str, np.ndarray]
    abnormal: np.ndarray  # bool per tau: the object is anomalous in this frame
    event: int = -1
    scale: float = 1.0  # size relative to a person (vehicles are drawn in person units too)
    flow: str = "none"
    meta: dict = field(default_factory=dict)

    def at(self, t: int) -> int | None:
        """Local index of frame ``t`` or None when the object does not exist then."""
        tau = t - self.t0
        return tau if 0 <= tau < len(self.x) else None


def random_colors(rng: np.random.Generator, kind: str) -> dict[str, np.ndarray]:
    """Clothes / body colours of one object."""
    skin = [np.array(c, np.float32) for c in ((224, 184, 150), (190, 140, 100), (140, 95, 65), (95, 65, 45))]
    cols = {
        "shirt": _hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.8), rng.uniform(0.25, 0.9)),
        "pants": _hsv(rng.uniform(0.55, 0.7), rng.uniform(0.1, 0.5), rng.uniform(0.12, 0.4)),
        "skin": skin[int(rng.integers(len(skin)))],
    }
    if kind == "cyclist":
        cols["bike"] = _hsv(rng.uniform(0, 1), 0.5, 0.3)
    if kind == "vehicle":
        cols["body"] = _hsv(rng.uniform(0, 1), rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))
        cols["glass"] = np.array([45, 55, 70], np.float32)
    return cols


def lane_path(
    scene: SceneSpec,
    lane: Lane,
    direction: int,
    speed: np.ndarray,
    rng: np.random.Generator,
    *,
    s0: float = 0.0,
) -> dict[str, np.ndarray]:
    """Positions of one object moving along ``lane`` with world ``speed[tau]`` (m/s; 0 = standing).

    In pixels the object speeds up as it comes closer: ``ds/dtau = v(tau) h(y(s)) / (1.7 m · FPS)``, solved
    in closed form in the cumulative walking time since ``h`` is linear in ``y`` and ``y`` in ``s``. ``s0``:
    the distance along the lane (in the direction of travel) at ``tau = 0``. The path is cut when the lane
    ends. Returns ``x, y, s, phase, speed`` (``phase`` advances with the distance walked).
    """
    start, d = (lane.p0, lane.unit) if direction > 0 else (lane.p1, -lane.unit)
    H = scene.height
    speed = np.asarray(speed, np.float64)
    alpha0 = H * scene.scale_a + scene.scale_b * start[1]
    beta0 = scene.scale_b * d[1]

    def s_of(w: np.ndarray) -> np.ndarray:
        if abs(beta0) < 1e-9:
            return alpha0 * w
        return alpha0 / beta0 * np.expm1(beta0 * w)

    if abs(beta0) < 1e-9:
        w0 = s0 / alpha0
    else:
        w0 = float(np.log1p(beta0 * s0 / alpha0) / beta0)
    k = speed / PERSON_M / FPS
    w = w0 + np.concatenate([[0.0], np.cumsum(k[:-1])])
    s = s_of(w)
    keep = int(np.searchsorted(s, lane.length, side="right"))
    s, speed = s[:keep], speed[:keep]
    lateral = rng.uniform(-1, 1) * lane.half_width
    amp, freq, ph0 = rng.uniform(0.2, 0.6), rng.uniform(0.01, 0.04), rng.uniform(0, 6.3)
    tau = np.arange(keep)
    lat = lateral + amp * np.sin(freq * tau + ph0)
    pts = start[None] + s[:, None] * d[None] + lat[:, None] * lane.normal[None]
    still = speed < 0.05
    pts = pts + np.cumsum(rng.normal(0, 0.06, (keep, 2)) * still[:, None], axis=0)  # sway while standing
    walked = np.concatenate([[0.0], np.cumsum(speed[:-1])]) / PERSON_M / FPS
    phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * 1.1 * walked
    return {
        "x": pts[:, 0].astype(np.float32), "y": pts[:, 1].astype(np.float32), "s": s.astype(np.float32),
        "phase": phase.astype(np.float32), "speed": speed.astype(np.float32),
    }


def stand_path(rng: np.random.Generator, x: float, y: float, n: int) -> dict[str, np.ndarray]:
    """A person standing (swaying, shifting weight) at ``(x, y)`` for ``n`` frames."""
    jitter = np.cumsum(rng.normal(0, 0.05, (n, 2)), axis=0)
    jitter -= np.linspace(0, 1, n)[:, None] * jitter[-1:]  # stays near the spot
    return {
        "x": (x + jitter[:, 0]).astype(np.float32), "y": (y + 0.3 * jitter[:, 1]).astype(np.float32),
        "phase": np.full(n, rng.uniform(0, 6.3), np.float32), "speed": np.zeros(n, np.float32),
    }


def object_box(track: Track, tau: int, h: float) -> tuple[float, float, float, float]:
    """The unclipped box ``(x1, y1, x2, y2)`` of the object's body at local time ``tau`` (person height
    ``h`` pixels, times ``track.scale``), from its body-unit extent rotated by its angle."""
    u0, u1, v0, v1 = _EXTENT[_extent_key(track)]
    th = float(track.angle[tau])
    c, s = math.cos(th), math.sin(th)
    x, y = float(track.x[tau]), float(track.y[tau])
    dx = [(u * c + v * s) * h for u in (u0, u1) for v in (v0, v1)]
    dy = [(u * s - v * c) * h for u in (u0, u1) for v in (v0, v1)]
    return x + min(dx), y + min(dy), x + max(dx), y + max(dy)


def _extent_key(track: Track) -> str:
    if track.kind == "vehicle":
        return "vehicle_side" if track.side_view else "vehicle_front"
    return track.kind


# --------------------------------------------------------------------------------------------------
# sprites


def _clip01(a):
    """Clip to [0, 1] (np.minimum / np.maximum: much cheaper than np.clip on small patches)."""
    return np.minimum(np.maximum(a, 0.0), 1.0)


# Anti-aliased shapes: coverage in [0, 1] of each pixel. x / y may be broadcastable (a row and a column
# for upright sprites, so that a box is an outer product of two 1-D profiles).
def _soft_box(x, y, cx, cy, hw, hh):
    return _clip01(hw + 0.5 - np.abs(x - cx)) * _clip01(hh + 0.5 - np.abs(y - cy))


def _soft_disk(x, y, cx, cy, r):
    return _clip01(r + 0.5 - np.sqrt((x - cx) ** 2 + (y - cy) ** 2))


def _soft_ring(x, y, cx, cy, r, t):
    return _clip01(t + 0.5 - np.abs(np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r))


_TYRE = np.array([25, 25, 25], np.float32)

# body-unit extents (u_min, u_max, v_min, v_max) in person heights
_EXTENT = {
    "person": (-0.3, 0.3, -0.02, 1.0),
    "cyclist": (-0.55, 0.55, -0.02, 1.0),
    "vehicle_side": (-1.15, 1.15, -0.02, 0.85),
    "vehicle_front": (-0.7, 0.7, -0.02, 0.9),
}


def sprite(track: Track, tau: int, h: float, width: int | None = None, height: int | None = None):
    """Render ``track`` at local time ``tau`` with person height ``h`` pixels.

    Returns ``(i0, j0, alpha, rgb)``: the patch's top-left pixel, its coverage (ph, pw) and colour
    (ph, pw, 3); all numpy, vectorised over the patch pixels. None when the patch lies outside a
    ``width`` x ``height`` frame.
    """
    x, y = float(track.x[tau]), float(track.y[tau])
    th = float(track.angle[tau])
    u0, u1, v0, v1 = _EXTENT[_extent_key(track)]
    c, s = math.cos(th), math.sin(th)
    dx = [(u * c + v * s) * h for u in (u0, u1) for v in (v0, v1)]
    dy = [(u * s - v * c) * h for u in (u0, u1) for v in (v0, v1)]
    j0, j1 = math.floor(x + min(dx)) - 1, math.ceil(x + max(dx)) + 2
    i0, i1 = math.floor(y + min(dy)) - 1, math.ceil(y + max(dy)) + 2
    if width is not None and height is not None and (j1 <= 0 or i1 <= 0 or j0 >= width or i0 >= height):
        return None
    ox = np.arange(j0, j1, dtype=np.float32)[None, :] - x
    oy = np.arange(i0, i1, dtype=np.float32)[:, None] - y
    if th == 0.0:  # upright: separable, U varies along columns only and V along rows only
        U, V = ox, -oy
    else:
        U, V = ox * c + oy * s, ox * s - oy * c
    cols = track.colors
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    m = 0.5  # minimum half size in pixels so that far objects stay visible
    if track.kind == "person":
        v = float(track.speed[tau])
        # legs swing wider and the body leans forward when running; feet together when standing
        amp = 0.0 if v < 0.05 else (0.2 if v > RUN_ABOVE else 0.09)
        lean = (0.07 if v > RUN_ABOVE else 0.0) * track.heading * h
        sw = amp * np.sin(float(track.phase[tau]))
        for k, sign in ((0, -1), (1, 1)):
            cu = (sign * 0.05 + (sw if k == 0 else -sw)) * h
            layers.append((_soft_box(U, V, cu, 0.23 * h, max(0.05 * h, m), 0.23 * h), cols["pants"]))
        layers.append((_soft_box(U, V, 0.5 * lean, 0.6 * h, max(0.13 * h, m), 0.18 * h), cols["shirt"]))
        layers.append((_soft_disk(U, V, lean, 0.87 * h, max(0.09 * h, 0.7)), cols["skin"]))
    elif track.kind == "cyclist":
        Uh = U * track.heading
        t = max(0.035 * h, 0.45)
        for cu in (-0.3, 0.3):
            layers.append((_soft_ring(Uh, V, cu * h, 0.16 * h, 0.15 * h, t), _TYRE))
        layers.append((_soft_box(Uh, V, 0, 0.24 * h, 0.28 * h, max(0.03 * h, m)), cols["bike"]))
        sw = 0.06 * np.sin(float(track.phase[tau]))
        layers.append((_soft_box(Uh, V, sw * h, 0.32 * h, max(0.05 * h, m), 0.13 * h), cols["pants"]))
        layers.append((_soft_box(Uh, V, 0.07 * h, 0.6 * h, max(0.11 * h, m), 0.16 * h), cols["shirt"]))
        layers.append((_soft_disk(Uh, V, 0.14 * h, 0.84 * h, max(0.085 * h, 0.7)), cols["skin"]))
    else:  # vehicle
        Uh = U * track.heading
        dark = np.array([20, 20, 20], np.float32)
        if track.side_view:
            layers.append((_soft_box(Uh, V, 0, 0.33 * h, 1.05 * h, 0.21 * h), cols["body"]))
            layers.append((_soft_box(Uh, V, -0.1 * h, 0.64 * h, 0.55 * h, 0.12 * h), cols["body"] * 0.85))
            layers.append((_soft_box(Uh, V, 0.05 * h, 0.65 * h, 0.38 * h, 0.08 * h), cols["glass"]))
            for cu in (-0.65, 0.65):
                layers.append((_soft_disk(Uh, V, cu * h, 0.13 * h, 0.13 * h), dark))
        else:
            layers.append((_soft_box(Uh, V, 0, 0.36 * h, 0.62 * h, 0.24 * h), cols["body"]))
            layers.append((_soft_box(Uh, V, 0, 0.71 * h, 0.46 * h, 0.12 * h), cols["glass"]))
            for cu in (-0.45, 0.45):
                layers.append((_soft_box(Uh, V, cu * h, 0.07 * h, 0.08 * h, 0.07 * h), dark))
    shape = (i1 - i0, j1 - j0)
    alpha = np.zeros(shape, np.float32)
    rgb = np.zeros(shape + (3,), np.float32)
    for cov, col in layers:
        cov = np.broadcast_to(cov, shape).astype(np.float32)
        rgb = rgb * (1 - cov[..., None]) + col * cov[..., None]
        alpha = 1 - (1 - alpha) * (1 - cov)
    rgb = rgb / np.maximum(alpha, 1e-6)[..., None]  # un-premultiply (alpha may be < layer coverages)
    return i0, j0, alpha, rgb


def clipped_box(scene: SceneSpec, track: Track, tau: int) -> tuple[int, int, int, int] | None:
    """The object's integer box ``(x1, y1, x2, y2)`` (x2 / y2 exclusive) clipped to the frame, or None when
    less than 2×2 pixels of it lie inside: the one rule for "in view" (boxes, labels and masks use it)."""
    h = float(scene.person_height(track.y[tau])) * track.scale
    bx1, by1, bx2, by2 = object_box(track, tau, h)
    x1, y1 = max(0, math.floor(bx1)), max(0, math.floor(by1))
    x2, y2 = min(scene.width, math.ceil(bx2)), min(scene.height, math.ceil(by2))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return x1, y1, x2, y2


def render(
    scene: SceneSpec,
    tracks: list[Track],
    n: int,
    rng: np.random.Generator,
    *,
    gain: float,
    noise: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` frames: ``frames`` (n, H, W, 3) uint8 and ``mask`` (n, H, W) uint8, the pixels of the
    objects in an anomalous state (coverage >= 0.5, or their clipped box when the sprite is thinner) in the
    frames where they are in view (:func:`clipped_box`), so that ``mask.any((1, 2))`` is the frame label."""
    H, W = scene.height, scene.width
    frames = np.empty((n, H, W, 3), np.uint8)
    mask = np.zeros((n, H, W), np.uint8)
    flick_amp, flick_f, flick_ph = rng.uniform(0, 0.025), rng.uniform(0.02, 0.08), rng.uniform(0, 6.3)
    fg_a = scene.fg_alpha[..., None]
    for t in range(n):
        img = scene.background.copy()
        present = [(tr, tau) for tr in tracks if (tau := tr.at(t)) is not None]
        present.sort(key=lambda p: (float(p[0].y[p[1]]), p[0].oid))  # far (small y) first
        for tr, tau in present:
            h = float(scene.person_height(tr.y[tau])) * tr.scale
            spr = sprite(tr, tau, h, W, H)
            if spr is None:
                continue
            i0, j0, a, col = spr
            ci0, cj0 = max(i0, 0), max(j0, 0)
            ci1, cj1 = min(i0 + a.shape[0], H), min(j0 + a.shape[1], W)
            if ci0 >= ci1 or cj0 >= cj1:
                continue
            a = a[ci0 - i0 : ci1 - i0, cj0 - j0 : cj1 - j0]
            col = col[ci0 - i0 : ci1 - i0, cj0 - j0 : cj1 - j0]
            region = img[ci0:ci1, cj0:cj1]
            img[ci0:ci1, cj0:cj1] = region * (1 - a[..., None]) + col * a[..., None]
            if tr.abnormal[tau] and (box := clipped_box(scene, tr, tau)) is not None:
                m = a >= 0.5
                if m.any():
                    mask[t, ci0:ci1, cj0:cj1] |= m.astype(np.uint8)
                else:
                    mask[t, box[1] : box[3], box[0] : box[2]] = 1
        img = img * (1 - fg_a) + scene.fg_rgb  # fg_rgb is premultiplied
        g = gain * (1 + flick_amp * np.sin(flick_f * t + flick_ph))
        img = img * g + rng.standard_normal((H, W, 3), dtype=np.float32) * noise
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return frames, mask
