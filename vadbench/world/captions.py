"""Sentences from the world's structured state: captions (world-clip), questions and answers (world-vlm).

Every text is a function of :class:`~vadbench.world.scenes.ObjectState` values. A crop shows one object's
kind, colour, pose and place (its size is lost when the crop is resized, so crop captions leave it out);
a short track adds action and direction; a frame adds how many objects there are and their sizes. No text
speaks of anomalies: the world's models know its content, not the benchmark's labels.

Example:
    >>> from vadbench.world.scenes import ObjectState
    >>> s = ObjectState(0, "person", "red", "small", "lying", "falling", "still", "walkway", "promenade",
    ...                 (0, 0, 4, 4), 1.0)
    >>> crop_caption(s)
    'a person in red lying on the ground on the walkway'
    >>> answer(s, POSE_Q), answer(s, ACTION_Q), answer(s, LOOK_Q)
    ('lying', 'falling', 'a person in red')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from vadbench.world.scenes import ObjectState

#: VLAVAD's three questions (spec 4.2) and two more about a short track.
POSE_Q = "What is the pose of the person in the picture?"
ACTION_Q = "What is the behavior or action of the person in the picture?"
LOOK_Q = "What does the person in the picture look like?"
DIRECTION_Q = "Where is the person in the picture going?"
DESCRIBE_Q = "Describe the image."
#: Questions about one crop, and about a short track of crops (a clip of the object). The action is asked
#: of both: VLAVAD asks it of single crops, as of BLIP-2 on real data; a track shows it better.
CROP_QUESTIONS = (POSE_Q, ACTION_Q, LOOK_Q, DESCRIBE_Q)
TRACK_QUESTIONS = (ACTION_Q, DIRECTION_Q)

_POSE_PHRASE = {"upright": "upright", "lying": "lying on the ground", "riding": "riding a bicycle", "": ""}


def noun_phrase(s: ObjectState) -> str:
    """``person in red`` / ``cyclist in blue`` / ``red vehicle``."""
    return f"{s.colour} vehicle" if s.kind == "vehicle" else f"{s.kind} in {s.colour}"


def crop_caption(s: ObjectState) -> str:
    """The canonical caption of a crop of ``s`` (retrieval uses it)."""
    pose = _POSE_PHRASE[s.pose]
    return " ".join(w for w in ("a", noun_phrase(s), pose, "on the", s.place) if w)


def crop_captions(s: ObjectState) -> list[str]:
    """Caption variants of a crop (training draws one at random); the first is :func:`crop_caption`."""
    pose = _POSE_PHRASE[s.pose]
    kind_pose = f"{s.kind} {pose}".strip()
    return [
        crop_caption(s),
        f"a photo of a {kind_pose}",
        f"a photo of a {s.kind}",
        f"a {noun_phrase(s)}",
        f"a {noun_phrase(s)} {pose}".strip(),
        f"a {s.kind} on the {s.place}",
    ]


def frame_caption(states: Sequence[ObjectState], scene: str) -> str:
    """A frame: its scene and up to three objects, largest first (``an empty promenade scene``).

    The layout names (promenade, boulevard, crossing, corridor) are not in world-clip's vocabulary of the
    shipped run: world-clip reads them as its unknown token (one "scene" word for every layout)."""
    seen = sorted((s for s in states if s.visible >= 0.5), key=lambda s: -(s.box[3] - s.box[1]))
    if not seen:
        return f"an empty {scene} scene"
    parts = [f"a {s.size} {noun_phrase(s)} {_POSE_PHRASE[s.pose]}".strip() for s in seen[:3]]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"a {scene} scene with {listed}"


def _action_word(s: ObjectState) -> str:
    # loitering is standing for long: a short track cannot show the difference, so it answers "standing"
    return "standing" if s.action == "loitering" else s.action


ANSWERS: dict[str, Callable[[ObjectState], str]] = {
    POSE_Q: lambda s: s.pose or "none",
    LOOK_Q: lambda s: f"a {noun_phrase(s)}",
    DESCRIBE_Q: lambda s: crop_caption(s),
    ACTION_Q: _action_word,
    DIRECTION_Q: lambda s: s.direction,
}


def answer(s: ObjectState, question: str) -> str:
    """The answer to one of :data:`CROP_QUESTIONS` / :data:`TRACK_QUESTIONS` about ``s``."""
    return ANSWERS[question](s)


# -- yes / no questions about a short clip of whole frames -------------------------------------------------

def clearly_visible(s: ObjectState) -> bool:
    """At least 40 % visible and at least 5 px on its longer side (what a clip question may ask about)."""
    return s.visible >= 0.4 and max(s.box[2] - s.box[0], s.box[3] - s.box[1]) >= 5


CLIP_QUESTIONS: dict[str, Callable[[ObjectState], bool]] = {
    "Is anyone running?": lambda s: s.kind == "person" and s.action == "running",
    "Is there a vehicle on the walkway?": lambda s: s.kind == "vehicle" and s.place == "walkway",
    "Is anyone lying on the ground?": lambda s: s.pose == "lying",
    "Is anyone riding a bicycle?": lambda s: s.kind == "cyclist",
    "Is anyone standing still?": lambda s: s.kind == "person" and s.action in ("standing", "loitering"),
}


#: What stage 1 teaches the VLM's vision tower to see in each merged token of a clip (``distill_dense``):
#: the kinds, and what the clip questions ask about, of a clearly visible object whose box centre is there.
CELL_TESTS: dict[str, Callable[[ObjectState], bool]] = {
    "person": lambda s: s.kind == "person",
    "cyclist": lambda s: s.kind == "cyclist",
    "vehicle": lambda s: s.kind == "vehicle",
    "lying": lambda s: s.pose == "lying",
    "running": CLIP_QUESTIONS["Is anyone running?"],
    "standing": CLIP_QUESTIONS["Is anyone standing still?"],
    "on the walkway": lambda s: s.place == "walkway",
}


def clip_answer(frames_states: Sequence[Sequence[ObjectState]], question: str) -> str | None:
    """``yes`` when what the question asks holds for a clearly visible object in at least half the frames,
    ``no`` when it holds in none (even for a barely visible one), None (ambiguous: not used) otherwise."""
    test = CLIP_QUESTIONS[question]
    strong = [any(test(s) and clearly_visible(s) for s in st) for st in frames_states]
    weak = [any(test(s) for s in st) for st in frames_states]
    if 2 * sum(strong) >= len(strong):
        return "yes"
    if not any(weak):
        return "no"
    return None


def balanced(items: Sequence[object], keys: Sequence[str], rng: np.random.Generator, n: int,
             power: float = 1.0) -> list:
    """``n`` items drawn so that every group (the part of a key before ``|``, if any) has the same chance,
    and within a group every key: a key is a label (``person/upright``) or ``group|label``. ``power`` < 1
    tempers the balance inside a group: a key's chance goes with its count to the ``1 - power`` (1: every
    key alike; 0.5: square-root sampling; 0: the natural mix of the group). A training loop that draws
    many times from the same keys computes :func:`balanced_weights` once and calls :func:`draw`.

    >>> keys = ["q|a"] * 9 + ["q|b"]
    >>> sum(k == "q|b" for k in balanced(keys, keys, np.random.default_rng(0), 1000)) > 400
    True
    >>> sum(k == "q|b" for k in balanced(keys, keys, np.random.default_rng(0), 1000, power=0.0)) < 200
    True
    """
    return draw(items, balanced_weights(keys, power), rng, n)


def balanced_weights(keys: Sequence[str], power: float = 1.0) -> np.ndarray:
    """The chance of each item in :func:`balanced`'s draw (summing to 1), one per key."""
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"balanced: power must lie in [0, 1] (0 = natural mix, 1 = every key alike), "
                         f"got {power}")
    groups = np.asarray([k.split("|", 1)[0] if "|" in k else "" for k in keys])
    keys_a = np.asarray(keys)
    _, g_inv, g_counts = np.unique(groups, return_inverse=True, return_counts=True)
    _, k_inv, k_counts = np.unique(keys_a, return_inverse=True, return_counts=True)
    n_groups = len(g_counts)
    if power == 1.0:  # kept as it was: the world-vlm models before 2026-12-04 were drawn with these weights
        labels_per_group = {g: len(set(keys_a[groups == g])) for g in set(groups)}
        w = 1.0 / (n_groups * np.array([labels_per_group[g] for g in groups]) * k_counts[k_inv])
    else:
        mass = {g: float(np.sum(np.unique(keys_a[groups == g], return_counts=True)[1] ** (1.0 - power)))
                for g in set(groups)}
        w = k_counts[k_inv].astype(float) ** -power / (n_groups * np.array([mass[g] for g in groups]))
    return w / w.sum()


def draw(items: Sequence[object], p: np.ndarray, rng: np.random.Generator, n: int) -> list:
    """``n`` of ``items`` drawn with chances ``p`` (with replacement only when ``n`` exceeds them)."""
    idx = rng.choice(len(items), size=n, replace=n > len(items), p=p)
    return [items[i] for i in idx]
