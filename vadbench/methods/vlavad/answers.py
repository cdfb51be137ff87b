"""VLAVAD's VLM answers (spec 4.2) and their text embeddings (spec 4.5).

- :data:`PROMPT_POOL`: the paper's three questions; :func:`normalise_answer`: lower-case, strip surrounding
  whitespace and final punctuation.
- :class:`AnswerCache`: answers of every crop of every track of one video, for one question, on disk under
  ``cache_dir()/"vlavad-answers"/<key>/`` where the key hashes (the tracks' content and crop settings, the
  VLM's weights id, the question, the decoding, the normalisation). Changing lambda, sigma, k or the temporal
  model therefore costs no VLM call. Files are written atomically, one per video, so an interrupted run
  resumes.
- :func:`answer_tracks`: crops the tracks of one video (the video is decoded once) and asks the VLM.
- :class:`TextEmbedder`: the CLIP text tower (open_clip); its width is read from the encoder.

Example:
    >>> normalise_answer("  Standing still. ")
    'standing still'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError

#: The paper's prompt pool (spec 4.2 [paper]).
PROMPT_POOL: tuple[str, ...] = (
    "What is the pose of the person in the picture?",
    "What is the behavior or action of the person in the picture?",
    "What does the person in the picture look like?",
)
#: Bumped when the normalisation rule changes (part of the cache key).
NORMALISATION = "lower-strip-final-punct-v1"
_FINAL_PUNCT = re.compile(r"[\s.,;:!?]+$")


def normalise_answer(text: str) -> str:
    """Lower-case, strip surrounding whitespace and trailing punctuation (spec 4.2 [reconstruction])."""
    return _FINAL_PUNCT.sub("", text.strip().lower()).strip()


def tracks_key(tracks: Sequence[Any], video: str) -> str:
    """A content hash of one video's tracks (ids, frames, boxes): the answers' dependence on the track
    settings, without needing to know them."""
    h = hashlib.sha256(video.encode())
    for t in sorted(tracks, key=lambda t: t.id):
        h.update(str(t.id).encode())
        h.update(np.asarray(t.frames, np.int64).tobytes())
        h.update(np.asarray(t.boxes, np.float32).round(2).tobytes())
    return h.hexdigest()[:16]


def vlm_weights_id(vlm: Any) -> str:
    """A stable id of a VLM's weights: the hub commit when it was loaded from the hub, else a hash of its
    parameters (computed once and kept on the object)."""
    cached = getattr(vlm, "_vlavad_weights_id", None)
    if cached:
        return cached
    model = getattr(vlm, "model", vlm)
    commit = getattr(getattr(model, "config", None), "_commit_hash", None)
    if commit:
        wid = f"hub-{commit}"
    else:
        from vadbench.backbones.clip import weights_hash

        wid = f"sha-{weights_hash(model)}"
    try:
        vlm._vlavad_weights_id = wid
    except AttributeError:  # pragma: no cover - objects without a __dict__
        pass
    return wid


class AnswerCache:
    """Answers per video under one key (see the module docstring): ``get(video, tracks_key)`` returns
    ``{track id: [answer per crop]}`` or None; ``put`` writes one video atomically."""

    def __init__(self, key: dict[str, Any], root: str | Path | None = None) -> None:
        from vadbench.paths import cache_dir

        self.key = key
        self.hash = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = (Path(root) if root is not None else cache_dir() / "vlavad-answers") / self.hash
        self.hits = 0
        self.misses = 0

    def _file(self, video: str) -> Path:
        return self.dir / (video.replace("/", "__") + ".json")

    def get(self, video: str, tkey: str) -> dict[int, list[str]] | None:
        file = self._file(video)
        if not file.exists():
            self.misses += 1
            return None
        try:
            data = json.loads(file.read_text())
        except json.JSONDecodeError:
            self.misses += 1
            return None
        if data.get("tracks_key") != tkey:
            self.misses += 1
            return None
        self.hits += 1
        return {int(k): list(v) for k, v in data["answers"].items()}

    def put(self, video: str, tkey: str, answers: dict[int, list[str]]) -> None:
        from vadbench.datasets._io import atomic_write_bytes

        self.dir.mkdir(parents=True, exist_ok=True)
        key_file = self.dir / "key.json"
        if not key_file.exists():
            atomic_write_bytes(key_file, json.dumps(self.key, indent=1, sort_keys=True).encode())
        body = {"video": video, "tracks_key": tkey, "answers": {str(k): v for k, v in answers.items()}}
        atomic_write_bytes(self._file(video), json.dumps(body).encode())


def answer_tracks(vlm: Any, tracks: Sequence[Any], question: str, *, max_new_tokens: int = 10,
                  batch_size: int = 8, margin: float = 0.0, every: int = 1,
                  window: tuple[int, int] | None = None, square: tuple[float, int] | None = None,
                  size: int | None = None, video: str = "") -> dict[int, list[str]]:
    """Normalised answers of ``vlm`` to ``question`` for every crop of every track of one video (greedy).
    ``every`` > 1 asks only crops 0, k, 2k, ... of each track; the crops between take the answer of the last
    asked one. ``window=(span, step)`` asks each of those crops as a short clip instead of one image: the
    ``span`` crops of the track around it, ``step`` apart (:func:`track_clip_windows`), cut by their union
    box.
    ``margin``, ``square`` and ``size``: the crop geometry (:func:`vadbench.tracks.crop_box`)."""
    from vadbench.tracks import crop_tracks

    if not tracks:
        return {}
    asked = [t if every == 1 else _every(t, every) for t in tracks]
    if window is None:
        crops = crop_tracks(asked, margin=margin, square=square, size=size)
        flat: list[Any] = [c for t in asked for c in crops[t.id]]
    else:
        span, step = window
        pseudo = []
        for t in tracks:  # one pseudo-track per asked crop: its window's frames, cut by the union box
            for frames, box in track_clip_windows(t, span, step, at=range(0, len(t), every)):
                pseudo.append(dataclasses.replace(t, id=len(pseudo), frames=frames, scores=np.ones(span),
                                                  boxes=np.repeat(box[None], span, 0), det_boxes=None))
        clips = crop_tracks(pseudo, margin=margin, square=square, size=size)
        flat = [np.stack(clips[p.id]) for p in pseudo]
    raw = vlm.answer(flat, question, max_new_tokens=max_new_tokens, do_sample=False, batch_size=batch_size)
    if len(raw) != len(flat):
        raise DataError(f"video {video!r}: the VLM returned {len(raw)} answers for {len(flat)} crops")
    out, k = {}, 0
    for t, a in zip(tracks, asked, strict=True):
        n = len(a)
        got = [normalise_answer(x) for x in raw[k : k + n]]
        out[t.id] = [got[i // every] for i in range(len(t))]
        k += n
    return out


def track_clip_windows(track: Any, span: int, step: int,
                       at: Sequence[int] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each crop i of ``track`` (or each i in ``at``): the frames of its crops i + (j - span // 2) * step
    for j < span (clipped to the track, so its first and last crops repeat), and the union of their boxes.

    >>> from vadbench.tracks import Track
    >>> t = Track(0, np.arange(5), np.array([[i, 0, i + 2, 2] for i in range(5)], float), np.ones(5))
    >>> frames, box = track_clip_windows(t, 4, 2)[0]
    >>> frames.tolist(), box.tolist()
    ([0, 0, 0, 2], [0.0, 0.0, 4.0, 2.0])
    """
    n = len(track)
    out = []
    for i in range(n) if at is None else at:
        idx = np.clip(i + (np.arange(span) - span // 2) * step, 0, n - 1)
        b = track.boxes[idx]
        box = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()], dtype=float)
        out.append((np.asarray(track.frames)[idx], box))
    return out


def _every(track: Any, k: int) -> Any:
    """The track restricted to its crops 0, k, 2k, ..."""
    sel = slice(None, None, k)
    det = None if track.det_boxes is None else track.det_boxes[sel]
    return dataclasses.replace(track, frames=track.frames[sel], boxes=track.boxes[sel],
                               scores=track.scores[sel], det_boxes=det)


#: ``prompt_format`` -> the VLM family that can take it.
PROMPT_FORMATS = {"blip2": "blip2", "chat": "chat"}


def check_prompt_format(vlm: Any, prompt_format: str) -> None:
    """Refuse a VLM that cannot take the prompt format: ``blip2`` ("Question: {q} Answer:", VLAVAD's
    [reconstruction]) needs a BLIP-2-family model, ``chat`` (the question as the user turn of the model's chat
    template, e.g. ``world-vlm``) a chat-family model."""
    if prompt_format not in PROMPT_FORMATS:
        raise ConfigError(f"unknown prompt format {prompt_format!r}; known: {', '.join(PROMPT_FORMATS)}")
    if not callable(getattr(vlm, "answer", None)):
        raise ConfigError(f"the answerer {type(vlm).__name__} has no answer(images, question, ...) method")
    family = getattr(vlm, "family", None)
    if family != PROMPT_FORMATS[prompt_format]:
        shown = "'Question: {q} Answer:'" if prompt_format == "blip2" else "a chat template"
        need = PROMPT_FORMATS[prompt_format]
        raise ConfigError(
            f"VLAVAD's prompt format {prompt_format!r} ({shown}) needs a {need}-family VLM; "
            f"the answerer {type(vlm).__name__} has family {family!r}"
        )


class TextEmbedder:
    """L2-normalised CLIP text embeddings of answers (unique answers embedded once, in batches).

    >>> emb = TextEmbedder("tiny", None)
    >>> emb.width, emb(["standing", "walking"]).shape
    (64, (2, 64))
    """

    def __init__(self, name: str = "ViT-B-32", pretrained: str | None = "openai", *, device: str = "cpu",
                 seed: int = 0, batch_size: int = 256) -> None:
        import torch

        from vadbench.backbones.clip import load_clip, weights_hash

        self.model, _, self.tokenizer = load_clip(name, pretrained, device=device, seed=seed)
        self.device = device
        self.batch_size = batch_size
        with torch.inference_mode():
            probe = self.model.encode_text(self.tokenizer([""]).to(device))
        self.width = int(probe.shape[-1])
        self.weights_id = weights_hash(self.model)
        self._memo: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        todo = sorted({t for t in texts if t not in self._memo})
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            with torch.inference_mode():
                e = self.model.encode_text(self.tokenizer(chunk).to(self.device)).float()
                e = torch.nn.functional.normalize(e, dim=-1).cpu().numpy()
            self._memo.update(zip(chunk, e, strict=True))
        if not len(texts):
            return np.zeros((0, self.width), np.float32)
        return np.stack([self._memo[t] for t in texts]).astype(np.float32)


def load_answerer(name: str, *, device: str = "cpu", seed: int = 0) -> Any:
    """The VLM named ``name``: ``tiny-blip2[:<seed>]`` (random tiny BLIP-2, for plumbing), ``world-vlm`` (the
    suite's synthetic-world VLM, when installed) or a BLIP-2 preset / Hugging Face id / local folder. A hub id
    that is not in the local cache fails at once with a clear error (no download is attempted offline)."""
    from vadbench.backbones import vlm as vlm_mod

    if name == "tiny-blip2" or name.startswith("tiny-blip2:"):  # "tiny-blip2:<weights seed>"
        wseed = int(name.split(":", 1)[1]) if ":" in name else seed
        return vlm_mod.tiny_vlm("blip2", seed=wseed, device=device)
    return vlm_mod.VLM.from_pretrained(name, device=device)  # presets, world-vlm, hub ids, folders
