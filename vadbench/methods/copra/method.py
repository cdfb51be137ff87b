"""COPRA (Jacob et al., arXiv 2605.15325) as a vadbench Method: a frozen chat VLM asked whether each window of
a video shows an anomaly, with per-window LoRA updates on its q_proj / v_proj generated from the window itself
and trained with GRPO on weak labels. Every design element is the spec's section 4 reconstruction
(card: ``methods/copra/README.md``; rows carry ``fidelity=reconstruction``).

Inputs: clips (``sample.windows`` (K, 2) frame ranges, ``sample.read_window(k)`` -> (F, H, W, 3) uint8), one
score per window (``unit=clip``); the protocol expands window scores to frames.

Example (tiny random VLM, no training):
    >>> import numpy as np
    >>> from vadbench.methods.copra.method import Copra, toy_clips_sample
    >>> m = Copra({"backbone": "tiny-chat", "adaptation": "none"})
    >>> frames = np.zeros((24, 56, 56, 3), np.uint8)
    >>> s = toy_clips_sample("v0", frames, window=8, stride=8, frames_per_window=4)
    >>> m.fit([]).score(s).shape
    (3,)
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import ClipsSample, Method

#: The tiny random chat VLM and a small generator: the options the contract config and the tests share.
TINY_GENERATOR: dict[str, Any] = {
    "backbone": "tiny-chat",
    "width": 32,
    "blocks": 1,
    "heads": 2,
    "segments": 2,
    "chunks": 4,
    "rank": 4,
    "alpha": 8.0,
    "max_new_tokens": 4,
}

QUESTION = (
    "Does this clip show an anomalous event such as fighting, shooting, robbery, explosion, a road "
    "accident or vandalism? Answer with <answer>yes</answer> or <answer>no</answer>."
)
REASONING_QUESTION = (
    "Does this clip show an anomalous event such as fighting, shooting, robbery, explosion, a "
    "road accident or vandalism? Think first inside <think></think>, then answer with "
    "<answer>yes</answer> or <answer>no</answer>."
)


@dataclass(frozen=True)
class Config:
    """Every option with its default (spec 4.8). ``backbone``: a VLM preset, Hugging Face id (must be in the
    local cache), local folder, or ``tiny-chat`` (random tiny Qwen2.5-VL, seed ``backbone_seed``)."""

    backbone: str = "qwen2.5-vl-3b"
    backbone_seed: int = 0
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: bfloat16 on cuda
    adaptation: Literal["none", "static", "conditional"] = "conditional"
    modules: tuple[str, ...] = ("q_proj", "v_proj")
    rank: int = 8
    alpha: float = 16.0
    width: int = 768
    blocks: int = 4
    heads: int = 8
    segments: int = 4
    chunks: int = 16
    system: str = "You are a video surveillance analyst."
    question: str = QUESTION
    reasoning: bool = False
    reasoning_question: str = REASONING_QUESTION
    group: int = 8
    # free: G free-running completions (<= max_new_tokens) scored by the reward (spec 4.6); answer: G answers
    # yes / no sampled from the score's own distribution p(yes) / (p(yes) + p(no)) after the "<answer>" prefix
    # (for a VLM that never writes the tags itself nor answers this question with yes / no unprompted)
    rollout: Literal["free", "answer"] = "free"
    clip_eps: float = 0.2
    beta: float = 0.04
    temperature: float = 1.0
    max_new_tokens: int = 64
    fmt_weight: float = 0.5
    lr: float = 1e-5
    weight_decay: float = 0.01
    epochs: int = 2
    batch_size: int = 16
    updates_per_batch: int = 1
    max_grad_norm: float = 1.0  # 0 = no clipping
    micro_batch: int = 0  # windows per forward / backward in training (0 = the whole batch); same gradient
    segment_labels: Literal["pseudo_topk", "video", "frame_gt"] = "pseudo_topk"
    topk_ratio: float = 0.3
    frame_gt_threshold: float = 0.5
    train_window_step: int = 2  # every 2nd window of the 1 s-stride scheme: 2 s training stride
    max_train_segments: int = 0  # 0 = all
    score_batch: int = 8
    # decoded: frames as read (the VLM's processor resizes them); world: each frame resized to the world-vlm's
    # clip frames (vadbench.world.data.CLIP_FRAME_SIZE), the pictures it was trained on
    frame_geometry: Literal["decoded", "world"] = "decoded"

    def __post_init__(self) -> None:
        positive = (
            "rank",
            "group",
            "epochs",
            "batch_size",
            "chunks",
            "segments",
            "score_batch",
            "updates_per_batch",
            "train_window_step",
            "max_new_tokens",
            "width",
            "blocks",
            "heads",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"option {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.micro_batch < 0:
            raise ConfigError(f"option micro_batch must be >= 0, got {self.micro_batch}")
        if not 0 < self.topk_ratio <= 1:
            raise ConfigError(f"option topk_ratio must be in (0, 1], got {self.topk_ratio}")
        if self.rollout == "answer" and self.reasoning:
            raise ConfigError(
                "option rollout=answer samples the answer token directly; it excludes reasoning=true"
            )
        if not self.modules:
            raise ConfigError("option modules must name at least one linear module of the decoder")


def toy_clips_sample(
    video: str,
    frames: np.ndarray,
    *,
    window: int,
    stride: int,
    frames_per_window: int = 8,
    label: int | None = None,
    meta: dict | None = None,
) -> ClipsSample:
    """An in-memory :class:`ClipsSample` over a ``(n, H, W, 3)`` array: windows of ``window`` frames every
    ``stride`` frames, ``frames_per_window`` sampled in each (the platform's scheme). For tests and docs."""
    from vadbench.video.sampling import clip_windows

    windows, index = clip_windows(len(frames), window, stride, frames_per_window)
    return _ArrayClips(
        video,
        windows,
        index,
        window_frames=window,
        stride=stride,
        n_frames=len(frames),
        label=label,
        meta=dict(meta or {}),
        frames=frames,
    )


@dataclass
class _ArrayClips(ClipsSample):
    frames: np.ndarray | None = None

    def read_window(self, k: int) -> np.ndarray:
        return np.asarray(self.frames)[self.frame_index[k]]


class Copra(Method):
    """COPRA; see the module docstring. Options: :class:`Config`."""

    name: ClassVar[str] = "copra"
    supervision: ClassVar[str] = "weak"
    input_kind: ClassVar[str] = "clips"
    unit: ClassVar[str] = "clip"
    fidelity: ClassVar[str] = "reconstruction"
    Config: ClassVar[type] = Config

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, device: str = "cpu", seed: int = 0
    ) -> None:
        super().__init__(config, device=device, seed=seed)
        self.vlm: Any = None  # the frozen VLM; set before fit / load to use a given one
        self._built = False
        self.adapter: Any = None  # LoRAGenerator | StaticLoRA | None
        self.train_info: dict[str, Any] = {}

    @classmethod
    def contract_config(cls) -> dict[str, Any]:
        """The tiny random VLM and a small generator (plumbing in seconds)."""
        return {**TINY_GENERATOR, "group": 2, "batch_size": 4, "epochs": 1, "max_train_segments": 8}

    # ------------------------------------------------------------------------------------------ building
    @property
    def uses_frame_labels(self) -> bool:
        """Recorded in the state: ``segment_labels=frame_gt`` trains on frame annotations."""
        return self.cfg.segment_labels == "frame_gt"

    def _load_vlm(self) -> Any:
        import torch

        from vadbench.backbones.vlm import VLM, tiny_vlm

        c = self.cfg
        if c.backbone == "tiny-chat":
            vlm = tiny_vlm("chat", seed=c.backbone_seed, device=self.device, system=c.system)
        else:
            dtype = {
                "auto": torch.bfloat16 if str(self.device).startswith("cuda") else torch.float32,
                "float32": torch.float32,
                "bfloat16": torch.bfloat16,
                "float16": torch.float16,
            }.get(c.dtype)
            if dtype is None:
                raise ConfigError(f"copra: dtype {c.dtype!r}; choose auto, float32, bfloat16 or float16")
            vlm = VLM.from_pretrained(
                c.backbone, family="chat", device=self.device, dtype=dtype, system=c.system
            )
        vlm.model.requires_grad_(False)
        return vlm

    def build(self) -> None:
        """Load the frozen VLM (unless one was given as ``self.vlm``), check the prompt's tags and build the
        adapter (idempotent)."""
        if self._built:
            return
        import torch

        from vadbench.backbones import vlm_delta as vd
        from vadbench.methods.copra.torch_model import LoRAGenerator, StaticLoRA, Target

        c = self.cfg
        if self.vlm is None:
            self.vlm = self._load_vlm()
        self.vlm.model.requires_grad_(False)
        tags = ["<answer>", "</answer>"] + (["<think>", "</think>"] if c.reasoning else [])
        vd.tag_token_ids(self.vlm.tokenizer, tags)
        self.yes_ids = self.vlm.answer_token_ids("yes")
        self.no_ids = self.vlm.answer_token_ids("no")
        self.answer_id = vd.tag_token_ids(self.vlm.tokenizer, ["<answer>"])[0]
        names = vd.target_modules(self.vlm.model, c.modules)
        shapes = vd.module_shapes(self.vlm.model, names)
        targets = [
            Target(n, int(n.split("layers.")[1].split(".")[0]), n.rsplit(".", 1)[1], *shapes[n])
            for n in names
        ]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if c.adaptation == "conditional":
                d_model = int(self.vlm.model.config.text_config.hidden_size)
                self.adapter = LoRAGenerator(
                    targets,
                    d_model,
                    rank=c.rank,
                    width=c.width,
                    blocks=c.blocks,
                    heads=c.heads,
                    segments=c.segments,
                )
            elif c.adaptation == "static":
                self.adapter = StaticLoRA(targets, rank=c.rank)
        if self.adapter is not None:
            self.adapter.to(self.device)
        self._built = True

    @property
    def scale(self) -> float:
        return self.cfg.alpha / self.cfg.rank

    @property
    def prompt(self) -> str:
        return self.cfg.reasoning_question if self.cfg.reasoning else self.cfg.question

    # ------------------------------------------------------------------------------------------ core
    def _windows(self, sample: Any) -> np.ndarray:
        w = np.asarray(getattr(sample, "windows", None) if hasattr(sample, "windows") else None)
        if not hasattr(sample, "read_window") or w.ndim != 2 or w.shape[1:] != (2,):
            raise DataError(
                f"copra: video {getattr(sample, 'video', '?')!r}: expected a clips sample (windows "
                f"(K, 2) and read_window); got {type(sample).__name__}"
            )
        wf = int(getattr(sample, "window_frames", 0) or 0)
        if len(w) == 0 or sample.n_frames < wf:
            raise DataError(
                f"copra: video {sample.video!r} has {sample.n_frames} frames, shorter than one "
                f"window of {wf} frames"
            )
        return w

    def _clip(self, sample: Any, k: int) -> np.ndarray:
        from vadbench.backbones.vlm_delta import as_uint8_clip

        try:
            clip = as_uint8_clip(sample.read_window(k))
        except DataError as err:
            raise DataError(f"copra: video {sample.video!r}, window {k}: {err}") from err
        if self.cfg.frame_geometry == "world":
            from vadbench.world.data import CLIP_FRAME_SIZE, resize

            clip = np.stack([resize(f, *CLIP_FRAME_SIZE) for f in clip])
        return clip

    def _condition(self, batch: Any) -> Any:
        """The generator's condition (spec 4.4): one frozen, non-adapted forward on the window and prompt;
        last-layer hidden states of the visual and prompt tokens mean-pooled into ``chunks`` chunks."""
        from vadbench.backbones import vlm_delta as vd

        if self.cfg.adaptation != "conditional":
            return None
        out = vd.forward(self.vlm, batch, grad=False, hidden_states=True, logits_to_keep=1)
        return vd.pool_valid(out.hidden_states[-1].float(), batch.attention_mask.bool(), self.cfg.chunks)

    def _adapter_deltas(self, cond: Any, n: int, *, grad: bool = False) -> dict[str, tuple[Any, Any]] | None:
        import torch

        if self.adapter is None:
            return None
        with torch.enable_grad() if grad else torch.no_grad():
            return self.adapter(n) if cond is None else self.adapter(*cond)

    def deltas(self, clips: list[np.ndarray]) -> dict[str, tuple[Any, Any]] | None:
        """The low-rank factors the adapter gives each clip (None with ``adaptation=none``)."""
        from vadbench.backbones import vlm_delta as vd

        self.build()
        batch = vd.encode(self.vlm, clips, self.prompt)
        return self._adapter_deltas(self._condition(batch), batch.n)

    def _answer_probs(self, clips: list[np.ndarray], *, adapted: bool = True) -> np.ndarray:
        """p(yes) / (p(yes) + p(no)) at the answer position for each clip."""
        import torch

        from vadbench.backbones import vlm_delta as vd

        base = vd.encode(self.vlm, clips, self.prompt)
        deltas = self._adapter_deltas(self._condition(base), base.n) if adapted else None
        if self.cfg.reasoning:
            ids, mask = self._reason(base, deltas)
            logits = vd.next_token_logits(self.vlm, base, ids, mask, deltas=deltas, scale=self.scale)
        else:
            enc = vd.encode(self.vlm, clips, self.prompt, answer_prefix="<answer>")
            logits = vd.next_token_logits(self.vlm, enc, deltas=deltas, scale=self.scale)
        logp = torch.log_softmax(logits.float(), -1)
        ly = torch.logsumexp(logp[:, self.yes_ids], -1)
        ln = torch.logsumexp(logp[:, self.no_ids], -1)
        return torch.sigmoid(ly - ln).cpu().numpy().astype(np.float64)

    def _reason(self, base: Any, deltas: Any) -> tuple[Any, Any]:
        """Greedy reasoning up to and including the first ``<answer>`` tag (appended when none came)."""
        import torch

        from vadbench.backbones import vlm_delta as vd

        ids, mask = vd.greedy(
            self.vlm, base, max_new_tokens=self.cfg.max_new_tokens, deltas=deltas, scale=self.scale
        )
        rows, masks = [], []
        for row, m in zip(ids.tolist(), mask.tolist(), strict=True):
            n = int(sum(m))
            row = row[:n]
            if self.answer_id in row:
                row = row[: row.index(self.answer_id) + 1]
            else:
                row = [*row[: self.cfg.max_new_tokens], self.answer_id]
            rows.append(row)
        t = max(len(r) for r in rows)
        pad = self.vlm.tokenizer.pad_token_id
        out = torch.tensor([r + [pad] * (t - len(r)) for r in rows], device=ids.device)
        masks = torch.tensor([[1.0] * len(r) + [0.0] * (t - len(r)) for r in rows], device=ids.device)
        return out, masks

    def _score_windows(self, sample: Any, ks: Sequence[int], *, adapted: bool = True) -> np.ndarray:
        out = []
        b = self.cfg.score_batch
        for i in range(0, len(ks), b):
            out.append(self._answer_probs([self._clip(sample, k) for k in ks[i : i + b]], adapted=adapted))
        return np.concatenate(out) if out else np.zeros(0)

    # ------------------------------------------------------------------------------------------ contract
    def score_outputs(self, sample: Any) -> dict[str, np.ndarray]:
        self.build()
        w = self._windows(sample)
        if self.adapter is not None:
            self.adapter.eval()
        return {"score": self._score_windows(sample, list(range(len(w)))).astype(np.float32)}

    def score(self, sample: Any) -> np.ndarray:
        return self.score_outputs(sample)[self.headline]

    def fit(self, samples: Sequence[Any]) -> Copra:
        """Segment labels, then GRPO on the adapter (nothing to train with ``adaptation=none``)."""
        self.build()
        if self.adapter is None:
            self.train_info = {"segments": 0, "uses_frame_labels": False}
            return self
        from vadbench.methods.copra.training import train_grpo

        segments = self.segment_labels(samples)
        train_grpo(self, samples, segments)
        return self

    def segment_labels(self, samples: Sequence[Any]) -> list[tuple[int, int, int]]:
        """``(sample index, window index, label)`` of the training segments (spec 4.5): normal videos' windows
        "no"; abnormal ones by ``segment_labels``. Windows are every ``train_window_step``-th."""
        self.build()
        c = self.cfg
        out: list[tuple[int, int, int]] = []
        n_pos_video = 0
        for i, s in enumerate(samples):
            if s.label is None:
                raise DataError(f"copra: training video {s.video!r} has no video label (weak supervision)")
            ks = list(range(len(self._windows(s))))[:: c.train_window_step]
            if not s.label:
                out.extend((i, k, 0) for k in ks)
                continue
            n_pos_video += 1
            if c.segment_labels == "video":
                out.extend((i, k, 1) for k in ks)
            elif c.segment_labels == "frame_gt":
                fl = s.meta.get("frame_labels")
                if fl is None:
                    raise DataError(
                        f"copra: segment_labels=frame_gt needs frame labels of training video "
                        f"{s.video!r} (sample.meta['frame_labels']); this dataset gives none"
                    )
                fl = np.asarray(fl, np.float64)
                for k in ks:
                    a, b = (int(x) for x in s.windows[k])
                    out.append((i, k, int(fl[a:b].mean() >= c.frame_gt_threshold)))
            else:  # pseudo_topk: the frozen VLM's zero-shot P(yes); top 30 % "yes", the others unused
                p = self._score_windows(s, ks, adapted=False)
                n_top = max(1, math.ceil(c.topk_ratio * len(ks)))
                top = np.argsort(-p, kind="stable")[:n_top]
                out.extend((i, ks[j], 1) for j in sorted(top))
        if not any(y for _, _, y in out) or all(y for _, _, y in out):
            raise DataError(
                f"copra: training needs normal and abnormal segments; got {len(out)} segments "
                f"from {len(samples)} videos ({n_pos_video} abnormal)"
            )
        self.train_info = {
            "segments": len(out),
            "positive": int(sum(y for *_, y in out)),
            "segment_labels": c.segment_labels,
            "uses_frame_labels": self.uses_frame_labels,
        }
        return out

    # ------------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        self.build()
        return (
            {} if self.adapter is None else {f"adapter.{k}": v for k, v in self.adapter.state_dict().items()}
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.build()
        if self.adapter is not None:
            self.adapter.load_state_dict(
                {k[len("adapter.") :]: v for k, v in state.items() if k.startswith("adapter.")}
            )

    def extra_state(self) -> dict[str, Any]:
        return {"train_info": self.train_info, "uses_frame_labels": self.uses_frame_labels}

    def load_extra_state(self, d: Mapping[str, Any]) -> None:
        self.train_info = dict(d.get("train_info", {}))

    def _log(self, msg: str) -> None:
        if self.progress:
            print(f"[copra {time.strftime('%H:%M:%S')}] {msg}", flush=True)
