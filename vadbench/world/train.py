"""Training of world-clip (contrastive, open_clip) and world-vlm (next-token loss on answers, transformers).

:func:`train_clip` learns from crops and frames with their captions (:func:`vadbench.world.data.clip_items`):
the symmetric CLIP loss, where every caption in the batch that is the same string as an item's own counts as
a positive (templated captions repeat). :func:`train_vlm` initialises the VLM's vision tower from world-clip
(:func:`vadbench.world.models.init_vision_from_clip`) and trains the whole model on questions and answers
(:func:`vadbench.world.data.vlm_items`), the loss on the answer tokens only. Both draw items balanced over
their labels and fix every random choice with ``seed``.

Example:
    >>> cfg = TrainConfig.smoke()
    >>> cfg.clip_steps < TrainConfig().clip_steps
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vadbench.world import captions as C
from vadbench.world import data as D
from vadbench.world.seeds import train_seeds

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """Sizes of the training run (the defaults build the shipped models)."""

    seed: int = 0
    clip_seeds: int = 32  # world seeds (14 videos each)
    clip_steps: int = 2000
    clip_batch: int = 128
    clip_lr: float = 2e-3
    vlm_seeds: int = 24
    vlm_steps: int = 2000
    vlm_batch: int = 32
    vlm_lr: float = 2e-3
    vlm_augment: bool = True  # flips (not for direction questions), gain, noise, shifts; encoded per batch
    #: Stage 1: the VLM's vision tower distilled from world-clip's image embeddings (its blocks are not
    #: world-clip's: RMSNorm, gated MLP, 2-D rotary positions, so copied weights are only a start).
    distill_steps: int = 1500
    distill_batch: int = 64
    distill_lr: float = 1e-3
    #: Stage 1, motion: weight of a second distillation target, the optical flow of each temporal patch pair
    #: of tracks and clips (per merged token, see :func:`motion_targets`); 0 = appearance only. Without it the
    #: tower only ever sees images (each frame doubled into the temporal patch), its two temporal filter slots
    #: stay equal and it cannot see what changes between the two frames of a pair.
    distill_motion: float = 1.0
    distill_videos: int = 16  # tracks / clips per distillation step (with ``distill_motion`` > 0)
    #: Stage 1, content: weight of a third target, dense over the merged tokens of clips: which kinds, poses,
    #: actions and places each token's square holds (``data.cell_labels``; binary cross-entropy), with
    #: ``distill_videos // 2`` clips a step on top; 0 = off (the world-vlms before 2026-12-05). Without it
    #: nothing in stage 1 shows the tower people at the scale of a whole frame (crops are 1.6 x one object).
    distill_dense: float = 0.3
    #: The clip frames of the yes / no questions, (width, height): ``data.CLIP_FRAME_SIZE`` is what the
    #: shipped world-vlm was trained on and what its consumers feed it; another size is recorded in the
    #: manifest, and loading sizes the processors for it.
    clip_frame_size: tuple[int, int] = D.CLIP_FRAME_SIZE
    #: Stage 2: the vision tower's learning rate as a fraction of ``vlm_lr`` (0 = frozen, LLaVA-style).
    vision_lr_scale: float = 0.0
    #: Stage 2: how evenly the answers of one question are drawn (:func:`captions.balanced`'s ``power``;
    #: every question keeps its share): 0 = the natural mix of its answers (the shipped world-vlm, as a real
    #: VLM sees the world), 0.5 = square-root sampling, 1 = every answer alike (world-vlm until 2026-12-04:
    #: the answers' prior becomes uniform, so rare answers such as "running" are over-predicted on common
    #: content — walkers).
    vlm_balance: float = 0.0
    n_frames: int = 48
    threads: int = 1  # on a shared 2-core machine one thread ran 5-10x faster than two (oversubscribed)

    @classmethod
    def smoke(cls, **changes: Any) -> TrainConfig:
        """A few seconds' run (tests, pipeline checks)."""
        base = {"clip_seeds": 1, "clip_steps": 3, "clip_batch": 16, "vlm_seeds": 1, "vlm_steps": 3,
                "vlm_batch": 4, "n_frames": 48, "distill_steps": 2, "distill_batch": 4, "distill_videos": 2}
        return cls(**{**base, **changes})


def _schedule(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def images_to_tensor(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> Any:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 normalised."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (x - m) / s


def _augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        img = img[:, ::-1]
    gain = rng.uniform(0.85, 1.15)
    dx, dy = rng.integers(-3, 4, 2)
    img = np.roll(img, (int(dy), int(dx)), (0, 1))
    return np.clip(img.astype(np.float32) * gain + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


def augment_item(it: D.VLMItem, rng: np.random.Generator) -> D.VLMItem:
    """A VLM item with its picture or clip flipped (except for the direction question, whose answer a flip
    would change), its gain and noise jittered, and a picture shifted by up to 3 px (wrapping)."""
    import dataclasses

    from vadbench.world.captions import DIRECTION_Q

    m = it.media.astype(np.float32)
    if rng.random() < 0.5 and it.question != DIRECTION_Q:
        m = m[..., ::-1, :]
    m = m * rng.uniform(0.85, 1.15) + rng.normal(0, 2, m.shape)
    if m.ndim == 3:
        dx, dy = rng.integers(-3, 4, 2)
        m = np.roll(m, (int(dy), int(dx)), (0, 1))
    return dataclasses.replace(it, media=np.clip(m, 0, 255).astype(np.uint8))


def clip_loss(img: Any, txt: Any, scale: Any, same: Any) -> Any:
    """Symmetric contrastive loss; ``same[i, j]`` marks item j's caption equal to item i's."""
    import torch

    logits = scale * img @ txt.T
    target = same.float() / same.float().sum(1, keepdim=True)
    li = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
    lt = -(target * torch.log_softmax(logits.T, 1)).sum(1).mean()
    return (li + lt) / 2


def train_clip(cfg: TrainConfig, log: Log = print, items: list[D.ClipItem] | None = None) -> Any:
    """Train world-clip from scratch; returns the model (eval mode)."""
    import torch
    import torch.nn.functional as F

    from vadbench.backbones.clip import image_config
    from vadbench.world.models import IMAGE_SIZE, build_clip, clip_tokenizer

    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng([cfg.seed, 11])
    t0 = time.time()
    if items is None:
        items = D.clip_items(train_seeds(cfg.seed, cfg.clip_seeds), n_frames=cfg.n_frames, size=IMAGE_SIZE)
    crops = [it for it in items if it.kind]
    frames = [it for it in items if not it.kind]
    log(f"world-clip: {len(crops)} crops and {len(frames)} frames from {cfg.clip_seeds} world seeds "
        f"({time.time() - t0:.0f} s)")
    model = build_clip(cfg.seed)
    model.train()
    tok = clip_tokenizer()
    icfg = image_config(model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.clip_lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, cfg.clip_steps, 30))
    chances = C.balanced_weights([f"{it.kind}/{it.pose}" for it in crops])  # once: the keys never change
    n_frames = max(1, cfg.clip_batch // 5) if frames else 0
    torch.manual_seed(cfg.seed)
    for step in range(cfg.clip_steps):
        batch = C.draw(crops, chances, rng, cfg.clip_batch - n_frames)
        if n_frames:
            batch += [frames[i] for i in rng.integers(0, len(frames), n_frames)]
        texts = [it.captions[int(rng.integers(len(it.captions)))] for it in batch]
        imgs = np.stack([_augment(it.image, rng) for it in batch])
        uniq = sorted(set(texts))
        index = torch.tensor([uniq.index(t) for t in texts])
        img = F.normalize(model.encode_image(images_to_tensor(imgs, icfg["mean"], icfg["std"])), dim=-1)
        txt = F.normalize(model.encode_text(tok(uniq)), dim=-1)[index]
        same = index[:, None] == index[None, :]
        loss = clip_loss(img, txt, model.logit_scale.exp().clamp(max=100), same)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == cfg.clip_steps - 1:
            log(f"world-clip step {step + 1}/{cfg.clip_steps} loss {loss.item():.3f} "
                f"({time.time() - t0:.0f} s)")
    return model.eval()


# -- world-vlm ---------------------------------------------------------------------------------------------

@dataclass
class Encoded:
    """One VLM training example, processed once: token ids, answer mask and the vision inputs."""

    input_ids: Any
    answer_mask: Any
    vision: dict[str, Any]
    kind: str  # image | video


def encode_items(vlm: Any, items: Sequence[D.VLMItem]) -> list[Encoded]:
    """Every item as prompt + answer + end-of-turn tokens (the loss covers the answer and the end tag).

    Each distinct picture or clip goes through the image / video processor once (a crop is asked several
    questions); the vision placeholders are expanded as the processor does, and ``mm_token_type_ids``
    marks them (1 image, 2 video) as the processor's own output does.
    """
    import torch

    proc, tok = vlm.processor, vlm.processor.tokenizer
    merge = proc.image_processor.merge_size ** 2
    pads = {"image": "<|image_pad|>", "video": "<|video_pad|>"}
    vision_of: dict[int, tuple[dict[str, Any], int]] = {}
    sec = None
    out: list[Encoded] = []
    for it in items:
        kind = "image" if it.kind == "image" else "video"
        key = id(it.media)
        if key not in vision_of:
            if kind == "image":
                v = dict(proc.image_processor(images=[it.media], return_tensors="pt"))
                grid = v["image_grid_thw"]
            else:
                v = dict(proc.video_processor(videos=[it.media], return_tensors="pt", do_sample_frames=False))
                if sec is None:
                    sec = proc(text=[pads["video"]], videos=[it.media], return_tensors="pt",
                               do_sample_frames=False).get("second_per_grid_ts")
                if sec is not None:
                    v["second_per_grid_ts"] = sec
                grid = v["video_grid_thw"]
            vision_of[key] = (v, int(grid.prod()) // merge)
        vision, n_tokens = vision_of[key]
        prompt = vlm.prompt(it.question, media=kind).replace(pads[kind], pads[kind] * n_tokens, 1)
        full = prompt + it.answer + "<|im_end|>"
        ids = tok(full, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
        mask = torch.zeros(len(ids), dtype=torch.bool)
        mask[n_prompt:] = True
        out.append(Encoded(ids, mask, vision, kind))
    return out


def mm_token_types(ids: Any, vocab: dict[str, int]) -> Any:
    """1 on image placeholders, 2 on video placeholders, 0 elsewhere."""
    return (ids == vocab["<|image_pad|>"]).long() + 2 * (ids == vocab["<|video_pad|>"]).long()


def collate(batch: Sequence[Encoded], pad_id: int, vocab: dict[str, int]) -> dict[str, Any]:
    import torch

    n = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    att = torch.zeros((len(batch), n), dtype=torch.long)
    labels = torch.full((len(batch), n), -100, dtype=torch.long)
    for i, e in enumerate(batch):
        k = len(e.input_ids)
        ids[i, :k], att[i, :k] = e.input_ids, 1
        labels[i, :k] = torch.where(e.answer_mask, e.input_ids, torch.full_like(e.input_ids, -100))
    out: dict[str, Any] = {"input_ids": ids, "attention_mask": att, "labels": labels,
                           "mm_token_type_ids": mm_token_types(ids, vocab)}
    for key in batch[0].vision:
        out[key] = torch.cat([e.vision[key] for e in batch])
    return out


def motion_targets(video: np.ndarray, cell: int) -> np.ndarray:
    """What the vision tower's merged tokens of ``video`` (F, H, W, 3), F even, learn to predict in stage 1:
    per temporal patch pair (frames 2p, 2p + 1) and per ``cell`` x ``cell`` square (one merged token), the
    flow histogram of :func:`vadbench.video.motion.cell_histograms`, ``log1p`` of the shares x 100; rows in
    the tower's token order (pair, row, column), shape (F / 2 x H / cell x W / cell, bins)."""
    from vadbench.video.motion import cell_histograms

    rows = [cell_histograms(video[2 * p], video[2 * p + 1], cell) for p in range(len(video) // 2)]
    return np.log1p(np.stack(rows).reshape(-1, rows[0].shape[-1]))


def _dense_targets(picked: Sequence[int], flips: Sequence[bool], clips: Sequence[np.ndarray],
                   cells_of: dict[int, np.ndarray], grid_thw: Any, merge: int) -> tuple[Any, Any]:
    """The dense target's rows of the tower's output (clips with cell labels, in token order) and their
    labels (flipped with their clip)."""
    import torch

    rows: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    start = 0
    for i, flip, thw in zip(picked, flips, grid_thw.tolist(), strict=True):
        n = thw[0] * thw[1] * thw[2] // merge**2
        cells = cells_of.get(id(clips[i]))
        if cells is not None:
            lab = cells[:, :, ::-1] if flip else cells
            if lab.size // lab.shape[-1] != n:
                raise ValueError(f"clip cell labels {cells.shape} do not match its {n} tokens (grid {thw})")
            rows.append(np.arange(start, start + n))
            labels.append(lab.reshape(n, -1))
        start += n
    if not rows:
        return torch.zeros((0, 0)), np.zeros(0, np.int64)
    return torch.from_numpy(np.concatenate(labels).astype(np.float32)), np.concatenate(rows)


def distill_vision(model: Any, processor: Any, clip_model: Any, items: Sequence[D.VLMItem],
                   cfg: TrainConfig, rng: np.random.Generator, log: Log = print) -> float:
    """Stage 1: train the VLM's vision tower (and a throw-away linear head on its mean-pooled output tokens)
    so that each crop's pooled tokens point where world-clip's image embedding of the crop points (cosine
    loss; world-clip frozen). With ``cfg.distill_motion`` > 0, also a second throw-away head on every merged
    token of tracks and clips regresses the optical flow of its square in its pair of frames
    (:func:`motion_targets`, mean squared error, that weight): world-clip sees single images, the flow
    target teaches the temporal patch what moves. Returns the last loss."""
    import torch
    import torch.nn.functional as F

    from vadbench.video.motion import N_BINS
    from vadbench.world.evaluate import _embed_images

    crops = np.stack(list({id(it.media): it.media for it in items if it.kind == "image"}.values()))
    clips = list({id(it.media): it.media for it in items if it.kind != "image"}.values())
    cells_of = {id(it.media): it.cells for it in items if it.cells is not None}
    dense_idx = [i for i, c in enumerate(clips) if id(c) in cells_of] if cfg.distill_dense > 0 else []
    with torch.no_grad():
        target = _embed_images(clip_model, crops)
    vis = model.model.visual
    width = vis.merger.mlp[-1].out_features
    torch.manual_seed(cfg.seed)  # the throw-away heads' initialisation: same seed, same weights
    head = torch.nn.Linear(width, target.shape[1])
    cell = processor.image_processor.patch_size * processor.image_processor.merge_size
    use_motion = cfg.distill_motion > 0 and bool(clips)
    motion_head = torch.nn.Linear(width, N_BINS) if use_motion else None
    extra = list(motion_head.parameters()) if motion_head is not None else []
    dense_head, pos_weight = None, None
    if dense_idx:
        all_cells = np.concatenate([cells_of[id(clips[i])].reshape(-1, len(C.CELL_TESTS)) for i in dense_idx])
        share = all_cells.mean(0).clip(1e-4, None)
        pos_weight = torch.as_tensor(np.sqrt((1 - share) / share).clip(1, 30), dtype=torch.float32)
        dense_head = torch.nn.Linear(width, len(C.CELL_TESTS))
        extra += list(dense_head.parameters())
        log(f"world-vlm stage 1 dense target: {len(dense_idx)} clips, share of tokens per attribute "
            + ", ".join(f"{k} {v:.3f}" for k, v in zip(C.CELL_TESTS, share, strict=True)))
    opt = torch.optim.AdamW([*vis.parameters(), *head.parameters(), *extra], lr=cfg.distill_lr,
                            weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, cfg.distill_steps, 30))
    vis.train()
    loss = torch.zeros(())
    t0 = time.time()
    for step in range(cfg.distill_steps):
        idx = rng.integers(0, len(crops), cfg.distill_batch)
        imgs = [_augment(crops[i], rng) for i in idx]
        v = processor.image_processor(images=imgs, return_tensors="pt")
        tokens = vis(v["pixel_values"], grid_thw=v["image_grid_thw"]).pooler_output
        z = F.normalize(head(tokens.view(len(idx), -1, tokens.shape[-1]).mean(1)), dim=-1)
        loss_a = (1 - (z * target[torch.as_tensor(idx)]).sum(-1)).mean()
        loss_m, loss_d = torch.zeros(()), torch.zeros(())
        if motion_head is not None or dense_head is not None:
            picked = [int(i) for i in rng.integers(0, len(clips), cfg.distill_videos)]
            if dense_head is not None:
                extra_n = cfg.distill_videos // 2
                picked += [dense_idx[int(i)] for i in rng.integers(0, len(dense_idx), extra_n)]
            flips = [bool(rng.random() < 0.5) for _ in picked]
            vids = [np.ascontiguousarray(clips[i][:, :, ::-1]) if f else clips[i]
                    for i, f in zip(picked, flips, strict=True)]
            vv = processor.video_processor(videos=vids, return_tensors="pt", do_sample_frames=False)
            out = vis(vv["pixel_values_videos"], grid_thw=vv["video_grid_thw"]).pooler_output
            if motion_head is not None:
                goal = torch.from_numpy(np.concatenate([motion_targets(c, cell) for c in vids]))
                loss_m = F.mse_loss(motion_head(out), goal)
            if dense_head is not None:
                dense_goal, rows = _dense_targets(picked, flips, clips, cells_of, vv["video_grid_thw"],
                                              processor.image_processor.merge_size)
                if len(rows):
                    loss_d = F.binary_cross_entropy_with_logits(dense_head(out[rows]), dense_goal,
                                                                pos_weight=pos_weight)
        loss = loss_a + cfg.distill_motion * loss_m + cfg.distill_dense * loss_d
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == cfg.distill_steps - 1:
            log(f"world-vlm vision distillation step {step + 1}/{cfg.distill_steps} loss {loss_a.item():.3f}"
                + (f" motion {loss_m.item():.3f}" if motion_head is not None else "")
                + (f" dense {loss_d.item():.3f}" if dense_head is not None else "")
                + f" ({time.time() - t0:.0f} s, {len(crops)} crops, {len(clips)} clips)")
    return float(loss.detach())


def train_vlm(cfg: TrainConfig, clip_model: Any | None, log: Log = print,
              items: list[D.VLMItem] | None = None) -> tuple[Any, Any]:
    """Train world-vlm (vision tower from ``clip_model`` where shapes allow); returns (model, processor)."""
    import torch

    from vadbench.backbones.vlm import VLM
    from vadbench.world.models import build_vlm, init_vision_from_clip

    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng([cfg.seed, 12])
    t0 = time.time()
    if items is None:
        seeds = train_seeds(cfg.seed, cfg.clip_seeds + cfg.vlm_seeds)[cfg.clip_seeds:]
        items = D.vlm_items(seeds, n_frames=cfg.n_frames, rng=rng, frame_size=tuple(cfg.clip_frame_size))
    model, processor = build_vlm(cfg.seed, tuple(cfg.clip_frame_size))
    copied = init_vision_from_clip(model, clip_model) if clip_model is not None else []
    vlm = VLM(model, processor, family="chat")
    encoded = None if cfg.vlm_augment else encode_items(vlm, items)
    log(f"world-vlm: {len(items)} questions from {cfg.vlm_seeds} world seeds, {len(copied)} vision tensors "
        f"from world-clip ({time.time() - t0:.0f} s)")
    if clip_model is not None and cfg.distill_steps > 0:
        distill_vision(model, processor, clip_model, items, cfg, rng, log)
    kinds = ["image" if it.kind == "image" else "video" for it in items]
    groups = {k: [i for i, kk in enumerate(kinds) if kk == k] for k in ("image", "video")}
    chances = {k: C.balanced_weights([items[i].key for i in idx], cfg.vlm_balance)  # once, not every step
               for k, idx in groups.items() if idx}
    model.train()
    visual = model.model.visual
    tower = [p for n, p in visual.named_parameters() if not n.startswith("merger.")]
    for p in tower:
        p.requires_grad_(cfg.vision_lr_scale > 0)
    tower_ids = {id(p) for p in tower}
    groups_lr = [{"params": [p for p in model.parameters() if id(p) not in tower_ids], "lr": cfg.vlm_lr}]
    if cfg.vision_lr_scale > 0:
        groups_lr.append({"params": tower, "lr": cfg.vlm_lr * cfg.vision_lr_scale})
    opt = torch.optim.AdamW(groups_lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, cfg.vlm_steps, 30))
    pad = processor.tokenizer.pad_token_id
    vocab = processor.tokenizer.get_vocab()
    torch.manual_seed(cfg.seed)
    for step in range(cfg.vlm_steps):
        kind = "image" if step % 2 == 0 and groups["image"] else "video"
        if not groups[kind]:
            kind = "image"
        idx = C.draw(groups[kind], chances[kind], rng, cfg.vlm_batch)
        batch = (encode_items(vlm, [augment_item(items[i], rng) for i in idx]) if encoded is None
                 else [encoded[i] for i in idx])
        out = model(**collate(batch, pad, vocab))
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == cfg.vlm_steps - 1:
            log(f"world-vlm step {step + 1}/{cfg.vlm_steps} loss {out.loss.item():.3f} "
                f"({time.time() - t0:.0f} s)")
    for p in tower:
        p.requires_grad_(True)
    return model.eval(), processor


def build(cfg: TrainConfig, folder: Any, log: Log = print, eval_seeds: int = 2,
          eval_per_question: int = 240, clip_from: Any = None) -> dict[str, Any]:
    """``vadbench world train``: train world-clip (or load it from the weights folder ``clip_from``), then
    world-vlm, evaluate both on unseen seeds and save the weights with their manifest into ``folder``;
    returns the manifest."""
    import platform
    from pathlib import Path

    from vadbench.backbones.vlm import VLM
    from vadbench.datasets.synthetic import GENERATOR_VERSION
    from vadbench.world.evaluate import evaluate
    from vadbench.world.models import clip_tokenizer
    from vadbench.world.store import save

    t0 = time.time()
    clip_source = None
    if clip_from is not None:
        from vadbench.world import WORLD_CLIP
        from vadbench.world.store import load_world_clip, read_manifest, weights_sha

        clip_model = load_world_clip(folder=Path(clip_from))[0]
        clip_source = {"folder": str(clip_from), "sha256": weights_sha(WORLD_CLIP, Path(clip_from)),
                       "training": read_manifest(Path(clip_from)).get("training", {})}
        log(f"world-clip loaded from {clip_from} (not retrained)")
    else:
        clip_model = train_clip(cfg, log)
    t_clip = time.time() - t0
    vlm_model, processor = train_vlm(cfg, clip_model, log)
    t_train = time.time() - t0
    log(f"trained in {t_train:.0f} s (world-clip {t_clip:.0f} s); evaluating on {eval_seeds} unseen seeds")
    report = evaluate((clip_model, clip_tokenizer()), VLM(vlm_model, processor, family="chat"),
                      n_seeds=eval_seeds, n_frames=cfg.n_frames, log=log, per_question=eval_per_question,
                      clip_frame_size=tuple(cfg.clip_frame_size))
    seeds = train_seeds(cfg.seed, cfg.clip_seeds + cfg.vlm_seeds)
    info = {
        "training": {"seed": cfg.seed, "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
                     "world_seeds": [seeds[0], seeds[-1]], "generator_version": GENERATOR_VERSION,
                     "train_seconds": round(t_train, 1), "clip_seconds": round(t_clip, 1),
                     "torch_threads": cfg.threads, "machine": platform.machine(),
                     **({"world_clip_from": clip_source} if clip_source else {})},
        "accuracy": report,
    }
    return save(Path(folder), clip_model, vlm_model, info)
