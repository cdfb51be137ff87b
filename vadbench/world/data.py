"""Training and evaluation data of the world's models, rendered in memory from world seeds.

- :func:`clip_items`: object crops and whole frames (``size`` x ``size`` uint8) with caption variants and
  labels (kind, pose) for world-clip.
- :func:`vlm_items`: questions with answers about a crop (image), a short track of an object (video) or a
  short clip of whole frames (video, yes / no) for world-vlm.

Example:
    >>> items = clip_items([1_000_000], n_frames=8, every=4, size=56)  # doctest: +SKIP
    >>> items[0].image.shape  # doctest: +SKIP
    (56, 56, 3)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from vadbench.tracks import square_box
from vadbench.world import captions as C
from vadbench.world.scenes import ObjectState, WorldVideo, world_videos

#: Objects smaller than this (longer box side, px) or less visible are not cropped.
MIN_BOX, MIN_VISIBLE = 7, 0.6


@dataclass
class ClipItem:
    image: np.ndarray  # (S, S, 3) uint8
    captions: list[str]  # variants; [0] is the canonical one
    kind: str = ""  # crops only ("" for whole frames)
    pose: str = ""


@dataclass
class VLMItem:
    media: np.ndarray  # (H, W, 3) image or (F, H, W, 3) clip, uint8
    question: str
    answer: str
    kind: str = field(default="image")  # image | track | clip
    label: str = ""  # what training balances over (default: the answer)
    #: clips only: (pairs, rows, cols, len(CELL_TESTS)) 0 / 1, what each merged token of the clip holds
    #: (:func:`cell_labels`), for stage 1's dense target
    cells: np.ndarray | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return f"{self.question}|{self.label or self.answer}"


def resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))


#: How the world models see an object: a square of ``CROP_SCALE`` times the box's longest side (at least
#: ``CROP_MIN_SIDE`` px), shifted into the frame (:func:`vadbench.tracks.square_box`), resized to their size.
CROP_SCALE, CROP_MIN_SIDE = 1.6, 12
#: The frames of the clips the world-vlm is asked yes / no questions about: (width, height); the shipped
#: world-vlm was trained on them (its manifest's ``clip_frame_size``) and its consumers (COPRA's ``world``
#: frame geometry) feed it them. 224 x 168 since 2026-12-05; the world-vlms before were trained on
#: :data:`LEGACY_CLIP_FRAME_SIZE`.
CLIP_FRAME_SIZE = (224, 168)
#: The clip frames of every world-vlm trained before ``clip_frame_size`` was recorded in its manifest.
LEGACY_CLIP_FRAME_SIZE = (112, 84)


def crop(frame: np.ndarray, box: Sequence[int], size: int) -> np.ndarray:
    """The world models' crop of ``box`` (see :data:`CROP_SCALE`), ``size`` x ``size`` pixels."""
    h, w = frame.shape[:2]
    a, b, c, d = square_box(box, w, h, CROP_SCALE, CROP_MIN_SIDE)
    return resize(np.ascontiguousarray(frame[b:d, a:c]), size, size)


def token_cell() -> int:
    """Side (px) of the square of a clip frame that one merged token of world-vlm's vision tower covers."""
    from vadbench.world.models import VLM_VISION

    return int(VLM_VISION["patch_size"] * VLM_VISION["spatial_merge_size"])


def cell_labels(frames_states: Sequence[Sequence[ObjectState]], frame_hw: tuple[int, int],
                size: tuple[int, int], cell: int) -> np.ndarray:
    """What each ``cell`` x ``cell`` square of a clip resized from ``frame_hw`` (H, W) to ``size`` (W, H)
    holds, per temporal pair of frames: attribute ``a`` of :data:`captions.CELL_TESTS` is 1 in a square when
    a clearly visible object with it has its box centre there in either frame of the pair.
    Shape (len(frames_states) // 2, H' // cell, W' // cell, len(CELL_TESTS)), uint8.

    >>> s = ObjectState(0, "person", "red", "small", "lying", "lying", "still", "grass", "park",
    ...                 (60, 40, 80, 50), 1.0)
    >>> lab = cell_labels([[s], []], (96, 128), (112, 84), 28)
    >>> lab.shape, int(lab[0, 1, 2, 3])  # pair 0, row 1, column 2, "lying"
    ((1, 3, 4, 7), 1)
    """
    (h, w), (sw, sh) = frame_hw, size
    rows, cols = sh // cell, sw // cell
    tests = list(C.CELL_TESTS.values())
    out = np.zeros((len(frames_states) // 2, rows, cols, len(tests)), np.uint8)
    for i, states in enumerate(frames_states[: 2 * len(out)]):
        for s in states:
            if not C.clearly_visible(s):
                continue
            cx, cy = (s.box[0] + s.box[2]) / 2 * sw / w, (s.box[1] + s.box[3]) / 2 * sh / h
            r, c = min(rows - 1, int(cy // cell)), min(cols - 1, int(cx // cell))
            out[i // 2, r, c] |= np.array([t(s) for t in tests], np.uint8)
    return out


def videos(seeds: Iterable[int], n_frames: int) -> Iterator[WorldVideo]:
    for s in seeds:
        yield from world_videos(s, n_frames=n_frames)


#: Common states (upright persons walking or standing) are cropped every ``every``-th frame, the others
#: (lying, running, falling, cyclists, vehicles) in every frame: the world shows them rarely.
def _common(s: ObjectState) -> bool:
    return s.kind == "person" and s.pose == "upright" and s.action in ("walking", "standing", "loitering")


def _croppable(s: ObjectState) -> bool:
    return max(s.box[2] - s.box[0], s.box[3] - s.box[1]) >= MIN_BOX and s.visible >= MIN_VISIBLE


def clip_items(seeds: Iterable[int], *, n_frames: int = 48, every: int = 4, size: int = 56,
               frames: bool = True) -> list[ClipItem]:
    """Crops of every clearly visible object in every ``every``-th frame, plus the frames themselves."""
    out: list[ClipItem] = []
    for v in videos(seeds, n_frames):
        for t in range(n_frames):
            for s in v.states[t]:
                if _croppable(s) and (t % every == 0 or not _common(s)):
                    out.append(ClipItem(crop(v.frames[t], s.box, size), C.crop_captions(s), s.kind, s.pose))
            if frames and t % every == 0:
                out.append(ClipItem(resize(v.frames[t], size, size), [C.frame_caption(v.states[t], v.scene)]))
    return out


def _track_windows(v: WorldVideo, span: int, step: int) -> Iterator[tuple[int, ObjectState, list]]:
    """(start frame, state at the middle, states of the window) of objects visible in a whole window."""
    n = len(v.states)
    for t in range(0, n - span * step + 1, span * step // 2 or 1):
        idx = [t + k * step for k in range(span)]
        by_oid = [{s.oid: s for s in v.states[i]} for i in idx]
        for oid, mid in by_oid[span // 2].items():
            seq = [b.get(oid) for b in by_oid]
            if all(x is not None and _croppable(x) for x in seq):
                yield t, mid, seq


def vlm_items(seeds: Iterable[int], *, n_frames: int = 48, every: int = 6, crop_size: int = 56,
              frame_size: tuple[int, int] = CLIP_FRAME_SIZE, span: int = 4, step: int = 2,
              rng: np.random.Generator | None = None) -> list[VLMItem]:
    """Crops (pose, look, caption), tracks (action, direction) and clips (yes / no questions; with the
    :func:`cell_labels` of each clip)."""
    rng = rng or np.random.default_rng(0)
    cell = token_cell()
    out: list[VLMItem] = []
    for v in videos(seeds, n_frames):
        for t in range(n_frames):
            for s in v.states[t]:
                if _croppable(s) and (t % every == 0 or (not _common(s) and t % 2 == 0)):
                    img = crop(v.frames[t], s.box, crop_size)
                    label = f"{s.kind}/{s.pose}"  # look / describe have many answers: balance over content
                    out.extend(VLMItem(img, q, C.answer(s, q), "image",
                                       label if q in (C.LOOK_Q, C.DESCRIBE_Q) else "")
                               for q in C.CROP_QUESTIONS)
        for t, mid, seq in _track_windows(v, span, step):
            if len({C.answer(x, C.ACTION_Q) for x in seq}) > 1:  # the action changes inside the window
                continue
            xs = [x.box for x in seq]
            union = (min(b[0] for b in xs), min(b[1] for b in xs), max(b[2] for b in xs),
                     max(b[3] for b in xs))
            clip = np.stack([crop(v.frames[t + k * step], union, crop_size) for k in range(span)])
            for q in C.TRACK_QUESTIONS:
                if q == C.DIRECTION_Q and len({x.direction for x in seq}) > 1:
                    continue
                out.append(VLMItem(clip, q, C.answer(mid, q), "track"))
        for t in range(0, n_frames - span * step + 1, span * step):
            idx = [t + k * step for k in range(span)]
            clip = np.stack([resize(v.frames[i], *frame_size) for i in idx])
            cells = cell_labels([v.states[i] for i in idx], v.frames.shape[1:3], frame_size, cell)
            for q in C.CLIP_QUESTIONS:
                a = C.clip_answer([v.states[i] for i in idx], q)
                if a is not None:
                    out.append(VLMItem(clip, q, a, "clip", cells=cells))
    return out
