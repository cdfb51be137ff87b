"""COPRA's GRPO training loop (spec 4.6 [reconstruction]): balanced batches of training segments, G sampled
answers per segment from the adapted VLM, rewards and group advantages (:mod:`.grpo`), and AdamW + cosine on
the adapter only (the VLM is frozen; gradients reach the adapter through the low-rank deltas).

Resumable: with ``method.work_dir`` set, the adapter, optimiser, schedule and history are saved after every
epoch (``copra-resume.pt``) and a later ``fit`` with the same data continues from there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

RESUME_FILE = "copra-resume.pt"


def _cycle(rng: np.random.Generator, n: int) -> Any:
    while True:
        yield from rng.permutation(n).tolist()


def _chunks(n: int, size: int) -> list[list[int]]:
    size = size if size > 0 else n
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def _rows(items: Sequence[int], group: int) -> list[int]:
    """Completion rows (item-major, ``group`` per item) of ``items``."""
    return [i * group + g for i in items for g in range(group)]


def binary_logprobs(m: Any, batch: Any, deltas: Any, *, grad: bool) -> Any:
    """``(N, 2)`` log-probs of (no, yes) at the answer position, renormalised over the two answers: the
    distribution the score ``p(yes) / (p(yes) + p(no))`` reads (yes / no summed over their spellings)."""
    import torch

    from vadbench.backbones import vlm_delta as vd

    logits = vd.next_token_logits(m.vlm, batch, deltas=deltas, scale=m.scale, grad=grad)
    logp = torch.log_softmax(logits.float() / m.cfg.temperature, -1)
    two = torch.stack([torch.logsumexp(logp[:, m.no_ids], -1), torch.logsumexp(logp[:, m.yes_ids], -1)], -1)
    return torch.log_softmax(two, -1)


def answer_step(
    m: Any, samples: Sequence[Any], segs: Sequence[tuple[int, int, int]], opt: Any, *, seed: int
) -> dict[str, float]:
    """``rollout=answer``: G answers (yes / no) per window sampled from :func:`binary_logprobs` of the adapted
    model after the ``<answer>`` prefix, then the same rewards, group advantages and clipped surrogate + KL
    (:mod:`.grpo`) on that one answer token."""
    import torch

    from vadbench.backbones import vlm_delta as vd
    from vadbench.methods.copra import grpo

    c, g = m.cfg, m.cfg.group
    clips = [m._clip(samples[i], k) for i, k, _ in segs]
    labels = np.array([y for *_, y in segs])
    cond = m._condition(vd.encode(m.vlm, clips, m.prompt))  # the condition never sees the prefix (as scoring)
    enc = vd.encode(m.vlm, clips, m.prompt, answer_prefix="<answer>")
    with torch.no_grad():
        old = binary_logprobs(m, enc, m._adapter_deltas(cond, enc.n), grad=False)
        ref = binary_logprobs(m, enc, None, grad=False)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    picks = torch.multinomial(old.exp().cpu(), g, replacement=True, generator=gen).reshape(-1)  # item-major
    texts = ["<answer>yes</answer>" if int(a) else "<answer>no</answer>" for a in picks]
    r = grpo.rewards(texts, np.repeat(labels, g), fmt_weight=c.fmt_weight)
    adv = torch.as_tensor(grpo.group_advantages(r.reshape(-1, g)).reshape(-1), dtype=torch.float32)
    idx = picks.to(old.device)[:, None]
    rows = torch.arange(len(segs), device=old.device).repeat_interleave(g)
    mask = torch.ones(len(idx), 1, device=old.device)
    stats: dict[str, float] = {}
    for _ in range(c.updates_per_batch):
        opt.zero_grad(set_to_none=True)
        logp = binary_logprobs(m, enc, m._adapter_deltas(cond, enc.n, grad=True), grad=True)
        loss, stats = grpo.grpo_loss(
            logp[rows].gather(1, idx), old[rows].gather(1, idx), ref[rows].gather(1, idx),
            adv.to(old.device), mask, clip=c.clip_eps, beta=c.beta,
        )
        loss.backward()
        stats = {"loss": float(loss.detach()), **stats}
        if c.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(m.adapter.parameters(), c.max_grad_norm)
        opt.step()
    yes = picks.numpy().astype(bool)
    return {**stats, "reward": float(r.mean()), "format": 1.0,
            "accuracy": float(np.mean(yes == np.repeat(labels, g).astype(bool)))}


def grpo_step(
    m: Any, samples: Sequence[Any], segs: Sequence[tuple[int, int, int]], opt: Any, *, seed: int
) -> dict[str, float]:
    """One GRPO batch: sample, reward, ``updates_per_batch`` gradient steps. Returns logged terms."""
    import torch

    from vadbench.backbones import vlm_delta as vd
    from vadbench.methods.copra import grpo

    c = m.cfg
    if c.rollout == "answer":
        return answer_step(m, samples, segs, opt, seed=seed)
    clips = [m._clip(samples[i], k) for i, k, _ in segs]
    labels = np.array([y for *_, y in segs])
    batch = vd.encode(m.vlm, clips, m.prompt)
    cond = m._condition(batch)
    with torch.no_grad():
        deltas = m._adapter_deltas(cond, batch.n)
    smp = vd.sample(
        m.vlm,
        batch,
        c.group,
        max_new_tokens=c.max_new_tokens,
        temperature=c.temperature,
        deltas=deltas,
        scale=m.scale,
        seed=seed,
    )
    r = grpo.rewards(smp.texts, np.repeat(labels, c.group), reasoning=c.reasoning, fmt_weight=c.fmt_weight)
    adv_np = grpo.group_advantages(r.reshape(-1, c.group)).reshape(-1)
    adv = torch.as_tensor(adv_np, dtype=torch.float32, device=smp.ids.device)
    chunks = _chunks(batch.n, c.micro_batch)
    g = c.group
    refs = []
    for ch in chunks:  # the frozen model's log-probs, per micro-batch
        sub, rows = vd.select(batch, ch), _rows(ch, g)
        refs.append(
            vd.sequence_logprobs(
                m.vlm, sub, smp.ids[rows], smp.mask[rows], temperature=c.temperature, grad=False
            )
            if c.beta > 0
            else torch.zeros_like(smp.logprobs[rows])
        )
    n_tokens = float(smp.mask.sum().clamp(min=1))
    olds: list[Any] = [None] * len(chunks)
    totals: dict[str, float] = {}
    for _ in range(c.updates_per_batch):
        opt.zero_grad(set_to_none=True)
        totals = {}
        for ci, ch in enumerate(chunks):
            sub, rows = vd.select(batch, ch), _rows(ch, g)
            sub_cond = None if cond is None else (cond[0][ch], cond[1][ch])
            deltas = m._adapter_deltas(sub_cond, len(ch), grad=True)
            logp = vd.sequence_logprobs(
                m.vlm,
                sub,
                smp.ids[rows],
                smp.mask[rows],
                temperature=c.temperature,
                deltas=deltas,
                scale=m.scale,
                grad=True,
            )
            if olds[ci] is None:
                olds[ci] = logp.detach()  # on-policy: the sampling policy is the current adapter
            loss, stats = grpo.grpo_loss(
                logp, olds[ci], refs[ci], adv[rows], smp.mask[rows], clip=c.clip_eps, beta=c.beta
            )
            share = float(smp.mask[rows].sum()) / n_tokens  # the loss is a mean over all tokens of the batch
            (loss * share).backward()
            for k, v in {"loss": float(loss.detach()), **stats}.items():
                totals[k] = totals.get(k, 0.0) + v * share
        if c.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(m.adapter.parameters(), c.max_grad_norm)
        opt.step()
    parsed = [grpo.parse_answer(t, reasoning=c.reasoning) for t in smp.texts]
    return {
        **totals,
        "reward": float(r.mean()),
        "format": float(np.mean([ok for _, ok in parsed])),
        "accuracy": float(
            np.mean(
                [
                    (a == "yes") == bool(y) and a is not None
                    for (a, _), y in zip(parsed, np.repeat(labels, c.group), strict=True)
                ]
            )
        ),
    }


def train_grpo(m: Any, samples: Sequence[Any], segments: Sequence[tuple[int, int, int]]) -> None:
    """Train ``m.adapter`` with GRPO on ``segments`` ((sample index, window index, label))."""
    import torch

    c = m.cfg
    rng = np.random.default_rng(m.seed)
    pos = [s for s in segments if s[2]]
    neg = [s for s in segments if not s[2]]
    if c.max_train_segments and len(segments) > c.max_train_segments:
        k = c.max_train_segments
        n_pos = min(len(pos), max(1, round(k * len(pos) / len(segments))))
        pos = [pos[i] for i in sorted(rng.choice(len(pos), n_pos, replace=False))]
        neg = [neg[i] for i in sorted(rng.choice(len(neg), min(len(neg), k - n_pos), replace=False))]
    steps_per_epoch = max(1, math.ceil((len(pos) + len(neg)) / c.batch_size))
    total = steps_per_epoch * c.epochs
    m.adapter.train()
    opt = torch.optim.AdamW(m.adapter.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    start_epoch = 0
    resume = m.work_dir / RESUME_FILE if m.work_dir else None
    if resume is not None and resume.is_file():
        st = torch.load(resume, map_location=m.device, weights_only=False)
        m.adapter.load_state_dict(st["adapter"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        m.history, start_epoch = st["history"], st["epoch"] + 1
        rng.bit_generator.state = st["rng"]
        m._log(f"resumed after epoch {st['epoch'] + 1} from {resume}")
    half = max(1, c.batch_size // 2)
    for epoch in range(start_epoch, c.epochs):
        pos_it, neg_it = _cycle(rng, len(pos)), _cycle(rng, len(neg))
        for step in range(steps_per_epoch):
            segs = [pos[next(pos_it)] for _ in range(half)] + [
                neg[next(neg_it)] for _ in range(c.batch_size - half)
            ]
            seed = int(m.seed * 1_000_003 + epoch * 10_007 + step)
            stats = grpo_step(m, samples, segs, opt, seed=seed)
            sched.step()
            m.history.append({"epoch": epoch, "step": step, **stats})
            if step % 10 == 0 or step == steps_per_epoch - 1:
                m._log(
                    f"epoch {epoch + 1}/{c.epochs} step {step + 1}/{steps_per_epoch} "
                    f"reward {stats['reward']:.3f} acc {stats['accuracy']:.3f} fmt {stats['format']:.3f} "
                    f"kl {stats['kl']:.4f}"
                )
        if resume is not None:
            resume.parent.mkdir(parents=True, exist_ok=True)
            tmp = resume.with_name(resume.name + ".tmp")
            torch.save(
                {
                    "adapter": m.adapter.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "history": m.history,
                    "epoch": epoch,
                    "rng": rng.bit_generator.state,
                },
                tmp,
            )
            tmp.replace(resume)
    m.adapter.eval()
