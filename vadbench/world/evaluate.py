"""Accuracies of world-clip and world-vlm on renders of unseen world seeds
(:func:`vadbench.world.seeds.eval_seeds`).

- world-clip, zero-shot from text prompts on object crops: ``kind`` (person / cyclist / vehicle, prompts
  "a photo of a {kind}"), ``pose`` (persons and cyclists: upright / lying / riding, prompts
  :data:`POSE_PROMPTS`) and ``recall@1`` (each crop retrieves its canonical caption among all distinct
  canonical captions of the evaluation crops).
- world-vlm, per question: the greedy answer equals the true one (crops: pose, look, caption; tracks:
  action, direction); yes / no clip questions: ``p_yes / (p_yes + p_no) > 0.5`` equals the truth.

Accuracy is over the natural mix of the renders; ``balanced`` is the mean of the per-answer recalls (a
constant answer gets 1 / number of answers there).

Example:
    >>> _acc(["a", "b", "b"], ["a", "b", "a"])
    (0.6666666666666666, 0.75)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vadbench.world import captions as C
from vadbench.world import data as D
from vadbench.world.seeds import eval_seeds
from vadbench.world.vocab import KINDS

POSE_PROMPTS = {"upright": "a photo of a person upright", "lying": "a photo of a person lying on the ground",
                "riding": "a photo of a cyclist riding a bicycle"}


def _acc(pred: Sequence[str], true: Sequence[str]) -> tuple[float, float]:
    p, t = np.asarray(pred), np.asarray(true)
    if len(t) == 0:
        return float("nan"), float("nan")
    recalls = [float(np.mean(p[t == c] == c)) for c in np.unique(t)]
    return float(np.mean(p == t)), float(np.mean(recalls))


def _embed_images(model: Any, images: np.ndarray, batch: int = 256) -> Any:
    import torch
    import torch.nn.functional as F

    from vadbench.backbones.clip import image_config
    from vadbench.world.train import images_to_tensor

    cfg = image_config(model)
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = images_to_tensor(images[i : i + batch], cfg["mean"], cfg["std"])
            out.append(F.normalize(model.encode_image(x), dim=-1))
    return torch.cat(out)


def _embed_texts(model: Any, tokenizer: Any, texts: Sequence[str]) -> Any:
    import torch
    import torch.nn.functional as F

    with torch.inference_mode():
        return F.normalize(model.encode_text(tokenizer(list(texts))), dim=-1)


def eval_clip(model: Any, tokenizer: Any, items: Sequence[D.ClipItem]) -> dict[str, Any]:
    """Kind / pose zero-shot accuracy and caption recall@1 on crops (``items`` with a kind)."""
    crops = [it for it in items if it.kind]
    img = _embed_images(model, np.stack([it.image for it in crops]))
    kind_txt = _embed_texts(model, tokenizer, [f"a photo of a {k}" for k in KINDS])
    kind_pred = [KINDS[int(i)] for i in (img @ kind_txt.T).argmax(1)]
    posed = [i for i, it in enumerate(crops) if it.pose]
    poses = list(POSE_PROMPTS)
    pose_txt = _embed_texts(model, tokenizer, [POSE_PROMPTS[p] for p in poses])
    pose_pred = [poses[int(i)] for i in (img[posed] @ pose_txt.T).argmax(1)]
    caps = [it.captions[0] for it in crops]
    uniq = sorted(set(caps))
    cap_txt = _embed_texts(model, tokenizer, uniq)
    best = (img @ cap_txt.T).argmax(1)
    hits = [uniq[int(b)] == c for b, c in zip(best, caps, strict=True)]
    kind, kind_b = _acc(kind_pred, [it.kind for it in crops])
    pose, pose_b = _acc(pose_pred, [crops[i].pose for i in posed])
    return {"kind": kind, "pose": pose, "recall@1": float(np.mean(hits)),
            "balanced": {"kind": kind_b, "pose": pose_b},
            "n": {"crops": len(crops), "posed": len(posed), "captions": len(uniq)}}


def question_name(question: str, kind: str) -> str:
    """The report's key of a question: the question itself, or ``<question> (one crop)`` for the action
    asked of a single crop (the same question asked of a short track keeps the plain key).

    >>> question_name(C.ACTION_Q, "image").endswith("(one crop)")
    True
    """
    return f"{question} (one crop)" if (question, kind) == (C.ACTION_Q, "image") else question


def eval_vlm(vlm: Any, items: Sequence[D.VLMItem], batch_size: int = 32, per_question: int = 240,
             seed: int = 0) -> dict[str, Any]:
    """Per question: accuracy (and balanced accuracy, counts) of world-vlm's answers on up to
    ``per_question`` items drawn uniformly (seeded) from those of the question."""
    acc: dict[str, float] = {}
    bal: dict[str, float] = {}
    counts: dict[str, int] = {}
    asked = [*((q, "image") for q in C.CROP_QUESTIONS), *((q, "track") for q in C.TRACK_QUESTIONS),
             *((q, "clip") for q in C.CLIP_QUESTIONS)]
    for q, kind in asked:
        sel = [it for it in items if it.question == q and it.kind == kind]
        name = question_name(q, kind)
        if not sel:
            continue
        if len(sel) > per_question:
            keep = np.random.default_rng([seed, len(sel)]).choice(len(sel), per_question, replace=False)
            sel = [sel[i] for i in sorted(keep)]
        media = [it.media for it in sel]
        if q in C.CLIP_QUESTIONS:
            score = vlm.yes_no(media, q, batch_size=batch_size).score
            pred = ["yes" if s > 0.5 else "no" for s in score]
        else:
            pred = vlm.answer(media, q, max_new_tokens=14, batch_size=batch_size)
        acc[name], bal[name] = _acc([p.strip().lower() for p in pred], [it.answer for it in sel])
        counts[name] = len(sel)
    return {"accuracy": acc, "balanced": bal, "n": counts}


def evaluate(clip: tuple[Any, Any] | None, vlm: Any | None, *, n_seeds: int = 2, n_frames: int = 48,
             log: Any = print, per_question: int = 240,
             clip_frame_size: tuple[int, int] = D.CLIP_FRAME_SIZE) -> dict[str, Any]:
    """The report of ``vadbench world eval``: ``{"clip": {...}, "vlm": {...}, "balanced": ..., "n": ...}``;
    the clip questions are asked of frames of ``clip_frame_size`` (the size the VLM was trained on)."""
    from vadbench.world.models import IMAGE_SIZE

    seeds = eval_seeds(n_seeds)
    out: dict[str, Any] = {"clip": {}, "vlm": {}, "balanced": {}, "n": {},
                           "eval_seeds": [seeds[0], seeds[-1]] if seeds else []}
    if clip is not None:
        r = eval_clip(clip[0], clip[1], D.clip_items(seeds, n_frames=n_frames, size=IMAGE_SIZE, frames=False))
        out["clip"] = {k: r[k] for k in ("kind", "pose", "recall@1")}
        out["balanced"]["clip"], out["n"]["clip"] = r["balanced"], r["n"]
        log(f"world-clip: {out['clip']}")
    if vlm is not None:
        r = eval_vlm(vlm, D.vlm_items(seeds, n_frames=n_frames, frame_size=tuple(clip_frame_size)),
                     per_question=per_question)
        out["vlm"], out["balanced"]["vlm"], out["n"]["vlm"] = r["accuracy"], r["balanced"], r["n"]
        log(f"world-vlm: {out['vlm']}")
    return out
