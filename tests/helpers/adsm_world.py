"""A tiny object world for ADSM tests: walkers, cyclists and carts crossing a textured 64x64 frame.

Every scene shares the background, so only the scene id tells scenes apart. Walkers (red, legs swinging,
1 px/frame), cyclists (blue with dark wheels, 3 px/frame) and carts (green box, 2 px/frame, anomalous
everywhere). Frames are written as PNG folders; boxes are exact, given as ``vadbench.tracks.Track``.

Example:
    >>> frames, boxes = render(20, [("walker", 0, 30, 1)])  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

H = W = 64
SHAPES = {"walker": (6, 14), "cyclist": (14, 12), "cart": (14, 12)}
SPEED = {"walker": 1, "cyclist": 3, "cart": 2}


def background(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(90, 140, size=(8, 8, 3)).astype(np.float32)
    bg = np.kron(base, np.ones((8, 8, 1)))
    bg += rng.normal(0, 4, size=bg.shape)
    return np.clip(bg, 0, 255).astype(np.uint8)


def _draw(frame: np.ndarray, kind: str, x: int, y: int, t: int) -> np.ndarray:
    w, h = SHAPES[kind]
    box = np.array([x, y, x + w, y + h], np.float32)
    sl = (slice(max(0, y), min(H, y + h)), slice(max(0, x), min(W, x + w)))
    if kind == "walker":
        frame[sl] = (200, 60, 60)
        frame[max(0, y) : max(0, y + 4), max(0, x + 1) : min(W, x + 5)] = (230, 190, 160)  # head
        leg = x + (0 if (t // 2) % 2 == 0 else 3)
        frame[max(0, y + 10) : min(H, y + h), max(0, x) : min(W, x + w)] = (120, 120, 120)
        frame[max(0, y + 10) : min(H, y + h), max(0, leg) : min(W, leg + 3)] = (40, 40, 90)
    elif kind == "cyclist":
        frame[max(0, y) : min(H, y + 7), max(0, x + 4) : min(W, x + 10)] = (60, 60, 210)
        for cx in (x + 2, x + 11):
            frame[max(0, y + 7) : min(H, y + h), max(0, cx - 2) : min(W, cx + 2)] = (20, 20, 20)
            spoke = (t % 2) * 2
            frame[max(0, y + 8 + spoke) : min(H, y + 9 + spoke), max(0, cx - 1) : min(W, cx + 1)] = (
                200,
                200,
                200,
            )
    else:
        frame[sl] = (40, 170, 60)
        frame[max(0, y + 9) : min(H, y + h), max(0, x + 1) : min(W, x + 4)] = (10, 10, 10)
        frame[max(0, y + 9) : min(H, y + h), max(0, x + 10) : min(W, x + 13)] = (10, 10, 10)
    return box


def render(
    n_frames: int, objects: list[tuple[str, int, int, int]], seed: int = 0
) -> tuple[np.ndarray, list[tuple[str, np.ndarray, np.ndarray]]]:
    """``objects``: (kind, first frame, row y, direction +-1). Returns frames (n, H, W, 3) and per object
    (kind, frames, boxes) of the frames where its box overlaps the frame by at least half its width."""
    bg = background(seed)
    frames = np.repeat(bg[None], n_frames, axis=0)
    tracks = []
    for kind, t0, y, d in objects:
        w, _ = SHAPES[kind]
        fr, bx = [], []
        for t in range(t0, n_frames):
            x = (-w // 2 + SPEED[kind] * (t - t0)) if d > 0 else (W - w // 2 - SPEED[kind] * (t - t0))
            if x + w // 2 < 0 or x + w // 2 >= W:
                continue
            box = _draw(frames[t], kind, x, y, t)
            fr.append(t)
            bx.append(np.clip(box, 0, [W, H, W, H]))
        tracks.append((kind, np.array(fr, np.int64), np.array(bx, np.float32)))
    return frames, tracks


@dataclass
class Sample:
    """A tracks sample of the platform contract (video, path, scene, n_frames, tracks, meta)."""

    video: str
    path: Path
    scene: str | None
    n_frames: int
    tracks: list[Any]
    kinds: dict[int, str] = field(default_factory=dict)
    fps: float = 25.0
    label: int | None = None
    classes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


def make_video(
    root: Path, video: str, scene: str, n_frames: int, objects: list[tuple[str, int, int, int]], seed: int = 0
) -> Sample:
    from vadbench.tracks import Track
    from vadbench.video.writer import write_frames

    frames, objs = render(n_frames, objects, seed)
    path = root / video
    write_frames(path, frames, ext="png")
    tracks, kinds = [], {}
    for i, (kind, fr, bx) in enumerate(objs):
        tracks.append(Track(i + 1, fr, bx, np.ones(len(fr), np.float32), video=video, path=path))
        kinds[i + 1] = kind
    return Sample(video, path, scene, n_frames, tracks, kinds)
