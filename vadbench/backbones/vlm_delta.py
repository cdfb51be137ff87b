"""Low-level access to a chat VLM (:class:`vadbench.backbones.vlm.VLM`, e.g. Qwen2.5-VL) for methods that
adapt or train against it: encodings of (clip, prompt), logits and hidden states with a visual-token mask
(with or without gradients), per-sample low-rank weight deltas on named linear modules for one forward pass
(also under generation with several samples per input and the key / value cache), sampling that returns
token ids, masks and log-probs, and the log-probs of given completions.

A delta for module ``name`` is a pair ``(A, B)`` with ``A: (N, r, d_in)`` and ``B: (N, d_out, r)``, one per
item of the batch; inside :func:`low_rank_deltas` the module computes ``W x + b + scale · B (A x)`` with
``scale = alpha / r``, i.e. ``W ← W + scale · B·A`` for that item only. When the batch holds ``k`` rows per
item (``num_return_sequences`` in generation, :meth:`VLMBatch.expand`), each item's delta serves its ``k``
consecutive rows.

Example:
    >>> import numpy as np, torch
    >>> from vadbench.backbones.vlm import tiny_vlm
    >>> vlm = tiny_vlm("chat", seed=0)
    >>> clip = np.zeros((4, 56, 56, 3), np.uint8)
    >>> batch = encode(vlm, [clip], "does this clip show an anomalous event ?", answer_prefix="<answer>")
    >>> names = target_modules(vlm.model, ("q_proj", "v_proj"))
    >>> len(names)  # 2 decoder layers x 2 modules
    4
    >>> out = forward(vlm, batch)
    >>> out.logits.shape[0], bool(out.visual_mask.any())
    (1, True)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError

#: Keys of a processor encoding that hold one entry per batch row.
_ROW_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")
#: (pixel key, grid key) pairs of the visual inputs whose rows are split per item by the grid's products.
_VISUAL_KEYS = (("pixel_values_videos", "video_grid_thw"), ("pixel_values", "image_grid_thw"))


@dataclass
class VLMBatch:
    """A processor encoding of ``n`` (media, prompt) items on the model's device; ``visual_mask`` (N, L) is
    True at image / video placeholder tokens (where the vision features enter the decoder)."""

    inputs: dict[str, Any]
    visual_mask: Any
    n: int

    @property
    def input_ids(self) -> Any:
        return self.inputs["input_ids"]

    @property
    def attention_mask(self) -> Any:
        return self.inputs["attention_mask"]

    def expand(self, k: int) -> VLMBatch:
        """Each item repeated ``k`` times in consecutive rows (item 0 x k, item 1 x k, ...)."""
        if k == 1:
            return self
        import torch

        out: dict[str, Any] = {}
        for key, val in self.inputs.items():
            if key in _ROW_KEYS or key == "second_per_grid_ts":
                out[key] = val.repeat_interleave(k, dim=0)
        for pix, grid in _VISUAL_KEYS:
            if pix in self.inputs:
                sizes = self.inputs[grid].prod(-1).tolist()
                parts = torch.split(self.inputs[pix], sizes, dim=0)
                out[pix] = torch.cat([p for p in parts for _ in range(k)], dim=0)
                out[grid] = self.inputs[grid].repeat_interleave(k, dim=0)
        missing = set(self.inputs) - set(out)
        if missing:
            raise ConfigError(f"VLMBatch.expand: do not know how to repeat the inputs {sorted(missing)}")
        return VLMBatch(out, self.visual_mask.repeat_interleave(k, dim=0), self.n * k)


def select(batch: VLMBatch, items: Sequence[int]) -> VLMBatch:
    """The items ``items`` of ``batch`` (in that order), e.g. a micro-batch."""
    import torch

    idx = [int(i) for i in items]
    out: dict[str, Any] = {}
    for key, val in batch.inputs.items():
        if key in _ROW_KEYS or key == "second_per_grid_ts":
            out[key] = val[idx]
    for pix, grid in _VISUAL_KEYS:
        if pix in batch.inputs:
            parts = torch.split(batch.inputs[pix], batch.inputs[grid].prod(-1).tolist(), dim=0)
            out[pix] = torch.cat([parts[i] for i in idx], dim=0)
            out[grid] = batch.inputs[grid][idx]
    missing = set(batch.inputs) - set(out)
    if missing:
        raise ConfigError(f"select: do not know how to split the inputs {sorted(missing)}")
    return VLMBatch(out, batch.visual_mask[idx], len(idx))


@dataclass
class VLMOutput:
    """``logits`` (N, L', V) (the last ``L'`` positions when ``logits_to_keep`` was given), ``hidden_states``
    (tuple of (N, L, d): embeddings then each decoder layer), ``visual_mask`` / ``attention_mask`` (N, L)."""

    logits: Any
    hidden_states: tuple[Any, ...]
    visual_mask: Any
    attention_mask: Any


@dataclass
class Samples:
    """``G`` sampled completions per item, rows ordered item-major: ``ids`` (N·G, T) int, ``mask`` (N·G, T)
    float (1 up to and including the end-of-sequence token), ``logprobs`` (N·G, T) the sampling distribution's
    log-probability of each token (temperature applied; 0 where masked), ``texts`` decoded (special tokens
    kept, end-of-sequence and padding removed)."""

    ids: Any
    mask: Any
    logprobs: Any
    texts: list[str]
    group: int


def _chat_only(vlm: Any) -> None:
    if getattr(vlm, "family", "chat") != "chat":
        raise ConfigError(f"this VLM API needs a chat VLM (e.g. Qwen2.5-VL); got family {vlm.family!r}")


def encode(vlm: Any, media: Sequence[Any], prompt: str | Sequence[str], *, answer_prefix: str = "",
           kind: str = "video") -> VLMBatch:
    """Encode ``media`` (clips as ``(F, H, W, 3)`` uint8 arrays or frame lists; or images with
    ``kind="image"``) with ``prompt`` (one, or one per item) through the VLM's chat template."""
    from vadbench.backbones.vlm import _clip, _image

    _chat_only(vlm)
    items = list(media)
    if not items:
        raise DataError("VLM encode: no clip given")
    prompts = [prompt] * len(items) if isinstance(prompt, str) else list(prompt)
    if len(prompts) != len(items):
        raise DataError(f"VLM encode: {len(items)} clips but {len(prompts)} prompts")
    if kind not in ("video", "image"):
        raise ConfigError(f"VLM encode: kind must be 'video' or 'image', got {kind!r}")
    conv = [_clip(x) if kind == "video" else _image(x) for x in items]
    texts = [vlm.prompt(p, media=kind, answer_prefix=answer_prefix) for p in prompts]
    enc = vlm._inputs(texts, conv, kind)
    inputs = dict(enc.items())
    visual_ids = [i for i in (getattr(vlm.model.config, "image_token_id", None),
                              getattr(vlm.model.config, "video_token_id", None)) if i is not None]
    ids = inputs["input_ids"]
    vmask = ids == visual_ids[0] if visual_ids else ids < 0
    for i in visual_ids[1:]:
        vmask = vmask | (ids == i)
    return VLMBatch(inputs, vmask, len(items))


def forward(vlm: Any, batch: VLMBatch, *, grad: bool = False, hidden_states: bool = True,
            logits_to_keep: int = 0) -> VLMOutput:
    """One forward pass of the (possibly delta-adapted) model; ``grad=False`` runs under ``no_grad``.
    ``logits_to_keep > 0``
    computes the logits of the last positions only (less memory with large vocabularies)."""
    import torch

    ctx = contextlib.nullcontext() if grad else torch.no_grad()
    kw: dict[str, Any] = {"output_hidden_states": hidden_states}
    if logits_to_keep:
        kw["logits_to_keep"] = logits_to_keep
    with ctx:
        out = vlm.model(**batch.inputs, **kw)
    return VLMOutput(out.logits, tuple(out.hidden_states or ()), batch.visual_mask, batch.attention_mask)


# ------------------------------------------------------------------------------------------------ deltas
def target_modules(model: Any, modules: Sequence[str]) -> list[str]:
    """Names of the decoder's linear modules whose last name part is in ``modules``, ordered by layer then by
    the order of ``modules`` (the vision tower is excluded). Every decoder layer must have every module.

    Raises :class:`ConfigError` naming what the model has when a module is missing."""
    import torch

    pat = re.compile(r"(?:^|\.)layers\.(\d+)\.(?:.*\.)?([^.]+)$")
    found: dict[tuple[int, str], str] = {}
    layers: set[int] = set()
    linear_names: set[str] = set()
    for name, mod in model.named_modules():
        if "visual" in name.split(".") or "vision" in name or not isinstance(mod, torch.nn.Linear):
            continue
        m = pat.search(name)
        if not m:
            continue
        layers.add(int(m.group(1)))
        linear_names.add(m.group(2))
        if m.group(2) in modules:
            found[(int(m.group(1)), m.group(2))] = name
    missing = [(layer, mod) for layer in sorted(layers) for mod in modules if (layer, mod) not in found]
    if not layers or missing:
        where = f"layer {missing[0][0]} has no {missing[0][1]!r}" if missing else "no decoder layers found"
        raise ConfigError(
            f"the VLM {type(model).__name__} lacks the modules {list(modules)} to adapt ({where}); its "
            f"decoder layers have the linear modules {sorted(linear_names)}"
        )
    return [found[(layer, mod)] for layer in sorted(layers) for mod in modules]


def module_shapes(model: Any, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``(d_in, d_out)`` of each named linear module."""
    mods = dict(model.named_modules())
    return {n: (int(mods[n].in_features), int(mods[n].out_features)) for n in names}


def _delta_hook(a: Any, b: Any, scale: float, name: str) -> Any:
    import torch

    def hook(_mod: Any, args: tuple[Any, ...], out: Any) -> Any:
        x = args[0]
        rows = x.shape[0]
        if rows % a.shape[0]:
            raise DataError(f"low-rank delta on {name}: the batch has {rows} rows, not a multiple of the "
                            f"{a.shape[0]} deltas given")
        k = rows // a.shape[0]
        aa = a if k == 1 else a.repeat_interleave(k, dim=0)
        bb = b if k == 1 else b.repeat_interleave(k, dim=0)
        h = torch.einsum("b...d,brd->b...r", x.to(aa.dtype), aa)
        return out + (scale * torch.einsum("b...r,bor->b...o", h, bb)).to(out.dtype)

    return hook


@contextlib.contextmanager
def low_rank_deltas(model: Any, deltas: Mapping[str, tuple[Any, Any]] | None, *, scale: float = 1.0
                    ) -> Iterator[None]:
    """Within the block, the named linear modules add ``scale · B (A x)`` per item (see the module
    docstring). ``deltas=None`` or ``{}`` adapts nothing. The weights never change; hooks go on exit."""
    if not deltas:
        yield
        return
    mods = dict(model.named_modules())
    handles = []
    try:
        for name, (a, b) in deltas.items():
            if name not in mods:
                raise ConfigError(f"low-rank delta for {name!r}: the model has no such module")
            mod = mods[name]
            d_in, d_out = mod.in_features, mod.out_features
            ok = (a.ndim == 3 and b.ndim == 3 and a.shape[2] == d_in and b.shape[1] == d_out
                  and a.shape[1] == b.shape[2] and a.shape[0] == b.shape[0])
            if not ok:
                raise ConfigError(f"low-rank delta for {name!r} ({d_in} -> {d_out}): expected A (N, r, "
                                  f"{d_in}) and B (N, {d_out}, r); got {tuple(a.shape)} and {tuple(b.shape)}")
            handles.append(mod.register_forward_hook(_delta_hook(a, b, scale, name)))
        yield
    finally:
        for h in handles:
            h.remove()


# ------------------------------------------------------------------------------------------------ sampling
def _completion_mask(ids: Any, eos_ids: Sequence[int]) -> Any:
    """1 up to and including the first end-of-sequence token of each row."""
    import torch

    is_eos = torch.zeros_like(ids, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= ids == e
    before = torch.cumsum(is_eos.int(), dim=1) - is_eos.int()  # eos tokens strictly before position j
    return (before == 0).float()


def _eos_ids(vlm: Any) -> list[int]:
    eos = getattr(vlm.model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = vlm.tokenizer.eos_token_id
    return [int(e) for e in (eos if isinstance(eos, list | tuple) else [eos]) if e is not None]


def media_token_ids(vlm: Any) -> list[int]:
    """Ids a completion may not contain (image / video placeholders and vision brackets): the policy of
    :func:`sample` and :func:`sequence_logprobs` gives them probability 0."""
    cfg = vlm.model.config
    keys = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    return sorted({int(getattr(cfg, k)) for k in keys if getattr(cfg, k, None) is not None})


def sample(vlm: Any, batch: VLMBatch, group: int, *, max_new_tokens: int = 64, temperature: float = 1.0,
           deltas: Mapping[str, tuple[Any, Any]] | None = None, scale: float = 1.0,
           seed: int | None = None) -> Samples:
    """``group`` sampled completions per item (pure sampling at ``temperature``: no top-k / top-p; media
    tokens excluded, :func:`media_token_ids`), with the deltas applied at every step (the key / value cache is
    computed by the adapted model). No gradients."""
    import torch

    if temperature <= 0:
        raise ConfigError(f"sampling temperature must be > 0, got {temperature}")
    eos = _eos_ids(vlm)
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng, torch.no_grad(), low_rank_deltas(vlm.model, _detached(deltas), scale=scale):
        if seed is not None:
            torch.manual_seed(seed)
        out = vlm.model.generate(
            **batch.inputs, do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
            num_return_sequences=group, max_new_tokens=max_new_tokens, return_dict_in_generate=True,
            output_scores=True, pad_token_id=vlm.tokenizer.pad_token_id, eos_token_id=eos,
            suppress_tokens=media_token_ids(vlm),
        )
    ids = out.sequences[:, batch.input_ids.shape[1]:]
    scores = torch.stack(out.scores, dim=1).float()  # logits / temperature, media tokens at -inf
    logp = torch.log_softmax(scores, -1).gather(-1, ids[..., None])[..., 0]
    mask = _completion_mask(ids, eos)
    return Samples(ids, mask, logp * mask, decode(vlm, ids, mask), group)


def _detached(deltas: Mapping[str, tuple[Any, Any]] | None) -> dict[str, tuple[Any, Any]] | None:
    return None if not deltas else {k: (a.detach(), b.detach()) for k, (a, b) in deltas.items()}


def decode(vlm: Any, ids: Any, mask: Any) -> list[str]:
    """Texts of completions, special tokens kept (answer tags may be special), end / pad tokens dropped."""
    drop = set(_eos_ids(vlm)) | {vlm.tokenizer.pad_token_id}
    rows = []
    for row, m in zip(ids.tolist(), mask.tolist(), strict=True):
        toks = [t for t, keep in zip(row, m, strict=True) if keep and t not in drop]
        rows.append(vlm.tokenizer.decode(toks, skip_special_tokens=False))
    return rows


def _with_completion(batch: VLMBatch, ids: Any, mask: Any) -> VLMBatch:
    """The prompts (repeated to the completions' rows) followed by the right-padded completions."""
    import torch

    rows = ids.shape[0]
    if rows % batch.n:
        raise DataError(f"{rows} completions for {batch.n} prompts (not a multiple)")
    big = batch.expand(rows // batch.n)
    inputs = dict(big.inputs)
    am = inputs["attention_mask"]
    inputs["input_ids"] = torch.cat([inputs["input_ids"], ids.to(am.device)], dim=1)
    inputs["attention_mask"] = torch.cat([am, mask.to(am.device, am.dtype)], dim=1)
    for key in ("mm_token_type_ids", "token_type_ids"):
        if key in inputs:
            inputs[key] = torch.cat([inputs[key], torch.zeros_like(ids, dtype=inputs[key].dtype)], dim=1)
    return VLMBatch(inputs, torch.cat([big.visual_mask, torch.zeros_like(ids, dtype=torch.bool)], 1), rows)


def sequence_logprobs(vlm: Any, batch: VLMBatch, ids: Any, mask: Any, *, temperature: float = 1.0,
                      deltas: Mapping[str, tuple[Any, Any]] | None = None, scale: float = 1.0,
                      grad: bool = True) -> Any:
    """Per-token log-probs (N·G, T) of the completions ``ids`` after each item's prompt (``batch`` holds N
    items, ``ids`` N·G rows item-major), under the model with ``deltas``; masked positions are 0."""
    import torch

    t = ids.shape[1]
    full = _with_completion(batch, ids, mask)
    with low_rank_deltas(vlm.model, deltas, scale=scale):
        out = forward(vlm, full, grad=grad, hidden_states=False, logits_to_keep=t + 1)
    logits = out.logits[:, :-1].float() / temperature
    logits[..., media_token_ids(vlm)] = -float("inf")
    logp = torch.log_softmax(logits, -1).gather(-1, ids[..., None].to(logits.device))[..., 0]
    return logp * mask.to(logp.device)


def next_token_logits(vlm: Any, batch: VLMBatch, ids: Any = None, mask: Any = None, *,
                      deltas: Mapping[str, tuple[Any, Any]] | None = None, scale: float = 1.0,
                      grad: bool = False) -> Any:
    """Logits (rows, V) of the token after each prompt, or after each prompt + completion (``ids`` / ``mask``
    right-padded, as from :func:`sample`)."""
    import torch

    if ids is None:
        with low_rank_deltas(vlm.model, deltas, scale=scale):
            return forward(vlm, batch, grad=grad, hidden_states=False, logits_to_keep=1).logits[:, -1]
    full = _with_completion(batch, ids, mask)
    with low_rank_deltas(vlm.model, deltas, scale=scale):
        logits = forward(vlm, full, grad=grad, hidden_states=False, logits_to_keep=ids.shape[1] + 1).logits
    last = mask.sum(1).long().to(logits.device)
    return logits[torch.arange(logits.shape[0], device=logits.device), last]


def greedy(vlm: Any, batch: VLMBatch, *, max_new_tokens: int = 64,
           deltas: Mapping[str, tuple[Any, Any]] | None = None, scale: float = 1.0) -> tuple[Any, Any]:
    """Greedy completions (ids, mask) with the deltas applied; media tokens excluded. No gradients."""
    import torch

    eos = _eos_ids(vlm)
    with torch.no_grad(), low_rank_deltas(vlm.model, _detached(deltas), scale=scale):
        seq = vlm.model.generate(**batch.inputs, do_sample=False, max_new_tokens=max_new_tokens,
                                 pad_token_id=vlm.tokenizer.pad_token_id, eos_token_id=eos,
                                 suppress_tokens=media_token_ids(vlm))
    ids = seq[:, batch.input_ids.shape[1]:]
    return ids, _completion_mask(ids, eos)


# ------------------------------------------------------------------------------------------------ tags
def tag_token_ids(tokenizer: Any, tags: Sequence[str]) -> list[int]:
    """The single token id of each tag (e.g. ``<answer>``); :class:`ConfigError` when the tokenizer splits a
    tag or does not know it (a prompt whose answer tags the model cannot emit as one token)."""
    ids = []
    for tag in tags:
        toks = tokenizer(tag, add_special_tokens=False)["input_ids"]
        if len(toks) != 1 or toks[0] == tokenizer.unk_token_id:
            shown = tokenizer.convert_ids_to_tokens(toks)
            raise ConfigError(f"the tokenizer has no single token for the tag {tag!r} (it gives {shown}); "
                              "the prompt's answer tags must be tokens of the VLM's vocabulary")
        ids.append(int(toks[0]))
    return ids


def pool_valid(hidden: Any, mask: Any, chunks: int) -> tuple[Any, Any]:
    """Mean-pool each row's valid positions (``mask`` True, in order) into ``chunks`` contiguous chunks:
    returns ``(N, chunks, d)`` and a ``(N, chunks)`` bool mask of non-empty chunks.

    >>> import torch
    >>> c, m = pool_valid(torch.arange(6.).view(1, 6, 1), torch.tensor([[0, 1, 1, 1, 1, 1]]).bool(), 2)
    >>> c[0, :, 0].tolist(), m.tolist()
    ([2.0, 4.5], [[True, True]])
    """
    import torch

    mask = mask.bool()
    n_valid = mask.sum(1, keepdim=True).clamp(min=1)
    rank = torch.cumsum(mask.long(), 1) - 1
    chunk = torch.div(rank * chunks, n_valid, rounding_mode="floor").clamp(0, chunks - 1)
    chunk = torch.where(mask, chunk, torch.full_like(chunk, chunks))  # invalid -> overflow bin
    onehot = torch.nn.functional.one_hot(chunk, chunks + 1)[..., :chunks].to(hidden.dtype)  # (N, L, C)
    counts = onehot.sum(1)  # (N, C)
    pooled = torch.einsum("nlc,nld->ncd", onehot, hidden) / counts.clamp(min=1)[..., None]
    return pooled, counts > 0


def as_uint8_clip(frames: Any) -> np.ndarray:
    """A ``(F, H, W, 3)`` uint8 array from a clip (array or frame list); :class:`DataError` otherwise."""
    a = np.asarray(frames)
    if a.ndim != 4 or a.shape[-1] != 3 or a.shape[0] < 1:
        raise DataError(f"a clip must be (F, H, W, 3) with F >= 1; got shape {a.shape}")
    return a.astype(np.uint8, copy=False)
