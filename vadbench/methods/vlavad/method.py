"""VLAVAD (Li & Jiang, BMVC 2024) as a vadbench Method: tracks -> VLM answers -> SPA + A_s, S3M + A_t.

Card: ``methods/vlavad/README.md`` (every reconstruction named). Pure parts: :mod:`.scores` (SPA, A_s, A_t,
fusion), :mod:`.torch_model` / :mod:`.scan` (S3M and the ablation predictors), :mod:`.answers` (prompt pool,
answer cache, text embeddings).

``score_outputs`` returns per frame ``score`` = A_s + lambda * A_t (headline), ``static`` (A_s) and
``temporal`` (A_t). The Gaussian smoothing of the paper is the protocol's ``smooth=gauss(sigma,reflect)``
step (set by the presets), not done here, so it happens once.

Example:
    >>> from vadbench.methods.vlavad.method import VLAVADConfig
    >>> VLAVADConfig().window_in, VLAVADConfig().lam
    (10, 0.1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import Method
from vadbench.methods.vlavad.answers import (
    NORMALISATION,
    PROMPT_POOL,
    AnswerCache,
    TextEmbedder,
    answer_tracks,
    check_prompt_format,
    load_answerer,
    tracks_key,
    vlm_weights_id,
)
from vadbench.methods.vlavad.scores import (
    AnswerTable,
    frame_max,
    fuse,
    spa_degenerate,
    spa_rank,
    static_scores,
    temporal_errors,
)

_POSITIVE_INTS = ("max_new_tokens", "spa_k", "knn_k", "n_layers", "window_in", "window_out", "batch_size",
                  "epochs", "vlm_batch_size", "knn_max_train", "answer_every", "d_state", "expand", "d_conv",
                  "track_span", "track_step")
_NON_NEGATIVE = ("lr", "lam", "grad_clip", "momentum", "crop_margin", "empty_frame_score")


@dataclass(frozen=True)
class VLAVADConfig:
    """Every option with its default (spec section 8; ``[r]`` = reconstruction, see the card).

    >>> VLAVADConfig(temporal_model="gru").temporal_model
    'gru'
    """

    answerer: str = "blip2-opt-2.7b"  # [paper] BLIP-2 ViT-g OPT-2.7B; "world-vlm", "tiny-blip2[:seed]"
    questions: tuple[str, ...] = PROMPT_POOL  # [paper]
    prompt_format: Literal["blip2", "chat"] = "blip2"  # [r] "Question: {q} Answer:"; chat: world-vlm
    max_new_tokens: int = 10  # [r] greedy
    vlm_batch_size: int = 8
    answer_every: int = 1  # [extension] ask every k-th crop of a track; 1 = every crop (paper)
    track_questions: tuple[str, ...] = ()  # [extension] asked of a short clip of the track, not one crop
    track_span: int = 4  # [extension] crops per clip (world-vlm's training clips: 4 crops, 2 apart)
    track_step: int = 2
    crop_margin: float = 0.0  # [r]
    crop_geometry: Literal["box", "world"] = "box"  # [r] box: the tracker's box; world: world models' crops
    text_encoder: str = "ViT-B-32"  # [r] CLIP ViT-B/32 text tower
    text_pretrained: str | None = "openai"
    spa: Literal["select_one", "all"] = "select_one"  # [paper] one question
    spa_k: int = 10  # [unknown] k of F_topk
    static_source: Literal["spa", "knn", "none"] = "spa"  # Table 2: knn (CLIP image), none (A_t only)
    static_floor: Literal["plus_one", "zero_is_one"] = "plus_one"  # [r] 1 / (f + 1)
    static_frequency: Literal["count", "relative"] = "count"
    knn_k: int = 1  # [r] kNN ablation: distance to the k-th nearest normal crop
    knn_max_train: int = 20000  # [r] training crops kept for the kNN bank (evenly subsampled)
    temporal_model: Literal["s3m", "gru", "transformer", "none"] = "s3m"  # Table 2 ablations
    n_layers: int = 3  # [paper]
    d_state: int = 16  # [r]
    expand: int = 2  # [r]
    d_conv: int = 4  # [r]
    window_in: int = 10  # [paper] Ped2 / Avenue; 20 ShanghaiTech
    window_out: int = 2  # [paper] Ped2 / Avenue; 4 ShanghaiTech
    optimizer: Literal["sgd", "adam"] = "sgd"  # [r] SGD momentum 0.9 at the printed rate
    lr: float = 0.5  # [paper] Ped2 / Avenue; 0.05 ShanghaiTech
    momentum: float = 0.9
    batch_size: int = 256  # [r]
    epochs: int = 20  # [r]
    grad_clip: float = 1.0  # [r]
    horizon: Literal["first", "all"] = "first"  # [r]
    lam: float = 0.1  # [paper] lambda
    empty_frame_score: float = 0.0  # [r] frames without objects

    def __post_init__(self) -> None:
        for key in _POSITIVE_INTS:
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"option {key} must be an integer >= 1, got {v!r}")
        for key in _NON_NEGATIVE:
            v = getattr(self, key)
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"option {key} must be a finite number >= 0, got {v!r}")
        if not self.questions or not all(isinstance(q, str) and q for q in self.questions):
            raise ConfigError("option questions must be a non-empty list of questions")
        if self.crop_geometry == "world" and self.crop_margin:
            raise ConfigError(f"option crop_margin ({self.crop_margin}) applies to crop_geometry 'box' only; "
                              f"'world' crops have the world models' own margin")
        extra = [q for q in self.track_questions if q not in self.questions]
        if extra:
            raise ConfigError(f"option track_questions names questions that are not asked: {extra} "
                              f"(the questions are {list(self.questions)})")
        if self.static_source == "none" and self.temporal_model == "none":
            raise ConfigError("static_source='none' and temporal_model='none' leave no score")


class VLAVAD(Method):
    """VLAVAD on object tracks (semi-supervised: normal training videos only)."""

    name: ClassVar[str] = "vlavad"
    aliases: ClassVar[tuple[str, ...]] = ("vision-language-assisted",)
    supervision = "semi"
    input_kind = "tracks"
    unit = "frame"
    fidelity = "reconstruction"
    Config = VLAVADConfig
    headline = "score"

    @classmethod
    def contract_config(cls) -> dict[str, Any]:
        """Seconds on any small set: the shipped world-vlm (answers every crop, offline), one question asked
        every 8th crop, tiny CLIP text tower, one S3M block, one epoch."""
        return {"answerer": "world-vlm", "prompt_format": "chat", "questions": [PROMPT_POOL[0]],
                "answer_every": 8,
                "text_encoder": "tiny", "text_pretrained": None, "window_in": 4, "window_out": 2,
                "n_layers": 1, "epochs": 1, "optimizer": "adam", "lr": 1e-3, "batch_size": 64}

    def __init__(self, config: Mapping[str, Any] | None = None, *, device: str = "cpu",
                 seed: int = 0) -> None:
        super().__init__(config, device=device, seed=seed)
        self.answerer: Any = None  # set by the caller to reuse a loaded VLM; loaded lazily otherwise
        self.embedder: TextEmbedder | None = None
        self.table: AnswerTable | None = None
        self.selected: list[str] = []
        self.spa_scores: list[tuple[str, float]] = []
        self.predictor: Any = None
        self.width: int | None = None
        self.knn_bank: np.ndarray | None = None
        self._caches: dict[str, AnswerCache] = {}
        self.vlm_id: str | None = None

    # ------------------------------------------------------------------------------------------ parts
    def _vlm(self) -> Any:
        if self.answerer is None:
            self.answerer = load_answerer(self.cfg.answerer, device=self.device, seed=self.seed)
        check_prompt_format(self.answerer, self.cfg.prompt_format)
        if self.cfg.track_questions and getattr(self.answerer, "family", "") == "blip2":
            raise ConfigError(f"VLAVAD: track_questions asks clips, but the answerer {self.cfg.answerer!r} "
                              f"is a BLIP-2 model, which answers about single images only; use a video VLM "
                              f"(prompt_format 'chat') or leave track_questions empty")
        return self.answerer

    def _embedder(self) -> TextEmbedder:
        if self.embedder is None:
            self.embedder = TextEmbedder(self.cfg.text_encoder, self.cfg.text_pretrained, device=self.device)
        return self.embedder

    def _cache(self, question: str) -> AnswerCache:
        if question not in self._caches:
            vlm = self._vlm()
            self.vlm_id = vlm_weights_id(vlm)
            key = {
                "vlm": self.vlm_id, "question": question, "prompt_format": self.cfg.prompt_format,
                "decoding": {"greedy": True, "max_new_tokens": self.cfg.max_new_tokens},
                "answer_every": self.cfg.answer_every,
                **self._window_key(question),
                "normalisation": NORMALISATION,
                "crop": {"which": "boxes", "margin": self.cfg.crop_margin, **self._crop_key()},
            }
            self._caches[question] = AnswerCache(key)
        return self._caches[question]

    def _crop_geometry(self) -> dict[str, Any]:
        """``square`` / ``size`` of the crops: none for ``box``; for ``world`` the world models' own crop
        (:data:`vadbench.world.data.CROP_SCALE`: a square around the box, resized to their image size)."""
        if self.cfg.crop_geometry == "box":
            return {}
        from vadbench.world.data import CROP_MIN_SIDE, CROP_SCALE
        from vadbench.world.models import IMAGE_SIZE

        return {"square": (CROP_SCALE, CROP_MIN_SIDE), "size": IMAGE_SIZE}

    def _crop_key(self) -> dict[str, Any]:
        """The crop geometry's part of the answer cache key (absent for ``box``: older caches stay valid)."""
        g = self._crop_geometry()
        return {"square": list(g["square"]), "size": g["size"]} if g else {}

    def _window(self, question: str) -> tuple[int, int] | None:
        """(span, step) of the clips ``question`` is asked of, or None when it is asked of single crops."""
        if question not in self.cfg.track_questions:
            return None
        return self.cfg.track_span, self.cfg.track_step

    def _window_key(self, question: str) -> dict[str, Any]:
        """The clip settings' part of the answer cache key (none for single crops: old caches stay valid)."""
        w = self._window(question)
        return {} if w is None else {"clip": {"span": w[0], "step": w[1], "union_box": True}}

    def answers(self, sample: Any, question: str) -> dict[int, list[str]]:
        """Normalised answers per track of one video (from the answer cache or asked now)."""
        tracks = list(sample.tracks)
        if not tracks:
            return {}
        cache = self._cache(question)
        tkey = tracks_key(tracks, sample.video)
        got = cache.get(sample.video, tkey)
        if got is None or set(got) != {t.id for t in tracks}:
            got = answer_tracks(self._vlm(), tracks, question, max_new_tokens=self.cfg.max_new_tokens,
                                batch_size=self.cfg.vlm_batch_size, margin=self.cfg.crop_margin,
                                every=self.cfg.answer_every, window=self._window(question),
                                **self._crop_geometry(), video=sample.video)
            cache.put(sample.video, tkey, got)
        return got

    def _build_predictor(self, width: int) -> Any:
        from vadbench.methods.vlavad.torch_model import build_predictor

        return build_predictor(self.cfg.temporal_model, width, n_layers=self.cfg.n_layers,
                               horizon=self.cfg.window_out, d_state=self.cfg.d_state, expand=self.cfg.expand,
                               d_conv=self.cfg.d_conv, max_len=max(64, self.cfg.window_in))

    # ------------------------------------------------------------------------------------------ fit
    def fit(self, samples: Sequence[Any]) -> VLAVAD:
        cfg = self.cfg
        samples = list(samples)
        n_tracks = sum(len(s.tracks) for s in samples)
        if not samples or n_tracks == 0:
            raise DataError(
                f"VLAVAD: no object track in the training set ({len(samples)} videos"
                f"{': ' + ', '.join(s.video for s in samples[:5]) if samples else ''}); check the tracks "
                f"settings (detector threshold, min_box_area)"
            )
        per_q: dict[str, dict[str, dict[int, list[str]]]] = {}
        for q in cfg.questions:
            per_q[q] = {s.video: self.answers(s, q) for s in samples}
        flat = {q: [a for v in per_q[q].values() for ans in v.values() for a in ans] for q in cfg.questions}
        mute = [q for q, ans in flat.items() if not any(ans)]
        if len(mute) == len(flat):
            raise DataError(
                f"VLAVAD: the VLM {cfg.answerer!r} returned an empty answer for all {len(flat[mute[0]])} "
                f"training crops to every question ({len(mute)}): it cannot answer the prompt format "
                f"{cfg.prompt_format!r}"
            )
        if mute:
            import warnings

            warnings.warn(f"VLAVAD: the VLM gave only empty answers to {mute}; SPA ignores them",
                          stacklevel=2)
        self.table = AnswerTable.count({q: a for q, a in flat.items() if q not in mute})
        self.spa_scores = spa_rank(self.table, cfg.spa_k)
        if cfg.spa == "select_one" and spa_degenerate(self.table, cfg.spa_k):
            import warnings

            sizes = ", ".join(str(len(c)) for c in self.table.counts.values())
            warnings.warn(f"VLAVAD: SPA cannot choose: every question has at most spa_k={cfg.spa_k} distinct "
                          f"answers ({sizes}), so every F_topk is 1 and the first question of the pool is "
                          f"taken; set a smaller spa_k", stacklevel=2)
        ranked = [q for q, _ in self.spa_scores]
        self.selected = ranked[:1] if cfg.spa == "select_one" else ranked
        if cfg.static_source == "knn":
            self.knn_bank = self._knn_features(samples, train=True)
        if cfg.temporal_model != "none":
            self._fit_temporal(samples, per_q[self.selected[0]])
        return self

    def _fit_temporal(self, samples: Sequence[Any], answers: dict[str, dict[int, list[str]]]) -> None:
        import torch

        cfg = self.cfg
        emb = self._embedder()
        self.width = emb.width
        need = cfg.window_in + cfg.window_out
        # the embeddings of every usable track, concatenated, and the start of every window in them: batches
        # are gathered on the fly (materialising all windows would take L_in + p times the memory)
        seqs, starts, offset = [], [], 0
        for s in samples:
            for t in s.tracks:
                ans = answers[s.video][t.id]
                if len(ans) < need:
                    continue
                seqs.append(emb(ans))
                starts.append(offset + np.arange(len(ans) - need + 1))
                offset += len(ans)
        if not seqs:
            raise DataError(
                f"VLAVAD: no training track has {need} steps (window_in {cfg.window_in} + window_out "
                f"{cfg.window_out}); the temporal model cannot be trained"
            )
        flat = torch.from_numpy(np.concatenate(seqs))
        window_starts = torch.from_numpy(np.concatenate(starts))
        steps = torch.arange(need)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = self._build_predictor(self.width).to(self.device)
            params = list(model.parameters())
            opt = (torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum) if cfg.optimizer == "sgd"
                   else torch.optim.Adam(params, lr=cfg.lr))
            gen = torch.Generator().manual_seed(self.seed)
            model.train()
            self.history = []
            for epoch in range(cfg.epochs):
                perm = torch.randperm(len(window_starts), generator=gen)
                total, count = 0.0, 0
                for start in range(0, len(perm), cfg.batch_size):
                    rows = window_starts[perm[start : start + cfg.batch_size]]
                    batch = flat[rows[:, None] + steps].to(self.device)
                    x, y = batch[:, : cfg.window_in], batch[:, cfg.window_in :]
                    loss = ((model(x) - y) ** 2).sum(-1).mean()
                    opt.zero_grad()
                    loss.backward()
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                    opt.step()
                    total += float(loss.detach()) * len(batch)
                    count += len(batch)
                self.history.append({"epoch": epoch, "loss": total / count, "windows": len(perm)})
                if not math.isfinite(total):
                    raise DataError(f"VLAVAD: the temporal model's loss diverged at epoch {epoch} "
                                    f"(lr {cfg.lr}, optimizer {cfg.optimizer})")
        self.predictor = model.eval()

    def _knn_features(self, samples: Sequence[Any], *, train: bool) -> Any:
        """CLIP image embeddings of every crop (Table 2's kNN ablation): train -> the bank, test -> per
        video ``{track id: (n, d)}``."""
        import torch

        from vadbench.backbones.clip import load_clip
        from vadbench.tracks import crop_tracks

        if not hasattr(self, "_clip_image"):
            self._clip_image = load_clip(self.cfg.text_encoder, self.cfg.text_pretrained, device=self.device)
        model, preprocess, _ = self._clip_image
        from PIL import Image

        def embed(crops: list[np.ndarray]) -> np.ndarray:
            out = []
            for start in range(0, len(crops), 256):
                x = torch.stack([preprocess(Image.fromarray(c)) for c in crops[start : start + 256]])
                with torch.inference_mode():
                    e = model.encode_image(x.to(self.device)).float()
                out.append(torch.nn.functional.normalize(e, dim=-1).cpu().numpy())
            return np.concatenate(out) if out else np.zeros((0, 1), np.float32)

        geometry = {"margin": self.cfg.crop_margin, **self._crop_geometry()}
        if train:
            bank = [embed([c for cs in crop_tracks(s.tracks, **geometry).values() for c in cs])
                    for s in samples if s.tracks]
            feats = np.concatenate(bank)
            if len(feats) > self.cfg.knn_max_train:
                feats = feats[np.linspace(0, len(feats) - 1, self.cfg.knn_max_train).round().astype(int)]
            return feats.astype(np.float32)
        s = samples[0]
        crops = crop_tracks(s.tracks, **geometry) if s.tracks else {}
        return {tid: embed(cs) for tid, cs in crops.items()}

    # ------------------------------------------------------------------------------------------ score
    def _check_fitted(self) -> None:
        if self.table is None:
            raise ConfigError("VLAVAD: score called before fit (or load)")

    def score_outputs(self, sample: Any) -> dict[str, np.ndarray]:
        import torch

        self._check_fitted()
        cfg = self.cfg
        n = int(sample.n_frames)
        tracks = list(sample.tracks)
        static_obj: list[tuple[np.ndarray, np.ndarray]] = []
        temporal_obj: list[tuple[np.ndarray, np.ndarray]] = []
        answers = {q: self.answers(sample, q) for q in self.selected} if tracks else {}
        if cfg.static_source == "spa" and tracks:
            for t in tracks:
                a_s = sum(static_scores(answers[q][t.id], self.table.counts[q], self.table.n[q],
                                        floor=cfg.static_floor, frequency=cfg.static_frequency)
                          for q in self.selected)
                static_obj.append((t.frames, a_s))
        elif cfg.static_source == "knn" and tracks:
            feats = self._knn_features([sample], train=False)
            bank = torch.from_numpy(self.knn_bank)
            k = min(cfg.knn_k, len(bank))
            for t in tracks:
                sim = torch.from_numpy(feats[t.id]) @ bank.T
                d = 1.0 - sim.topk(k, dim=1).values[:, -1]
                static_obj.append((t.frames, d.numpy()))
        if cfg.temporal_model != "none" and tracks:
            emb = self._embedder()
            q = self.selected[0]
            for t in tracks:
                e = emb(answers[q][t.id])
                m = len(e) - cfg.window_in
                if m > 0:
                    idx = np.arange(m)[:, None] + np.arange(cfg.window_in)[None]
                    with torch.inference_mode():
                        x = torch.from_numpy(e[idx]).to(self.device)
                        pred = torch.cat([self.predictor(x[i : i + 1024]) for i in range(0, m, 1024)])
                    a_t = temporal_errors(e, pred.cpu().numpy(), cfg.window_in, horizon=cfg.horizon)
                else:
                    a_t = np.zeros(len(e))
                temporal_obj.append((t.frames, a_t))
        empty = cfg.empty_frame_score
        a_s = frame_max(n, static_obj, empty=empty) if static_obj else np.full(n, empty)
        a_t = frame_max(n, temporal_obj, empty=empty) if temporal_obj else np.full(n, empty)
        if cfg.static_source == "none":
            score = a_t
        elif cfg.temporal_model == "none":
            score = a_s
        else:
            score = fuse(a_s, a_t, cfg.lam)
        return {"score": np.asarray(score, np.float32), "static": a_s.astype(np.float32),
                "temporal": a_t.astype(np.float32)}

    def score(self, sample: Any) -> np.ndarray:
        return self.score_outputs(sample)[self.headline]

    # ------------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        import torch

        out: dict[str, Any] = {}
        if self.predictor is not None:
            out.update({f"predictor.{k}": v for k, v in self.predictor.state_dict().items()})
        if self.knn_bank is not None:
            out["knn_bank"] = torch.from_numpy(self.knn_bank)
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        import torch

        if "knn_bank" in state:
            self.knn_bank = np.asarray(state["knn_bank"], np.float32)
        pred = {k.removeprefix("predictor."): torch.as_tensor(v) for k, v in state.items()
                if k.startswith("predictor.")}
        self._pending_predictor = pred or None
        self._restore_predictor()

    def _restore_predictor(self) -> None:
        """Build the predictor from loaded weights once the width (JSON state) is known too."""
        pred = getattr(self, "_pending_predictor", None)
        if pred is None or self.width is None:
            return
        model = self._build_predictor(self.width)
        model.load_state_dict(pred)
        self.predictor = model.to(self.device).eval()
        self._pending_predictor = None

    def extra_state(self) -> dict[str, Any]:
        """JSON state: the answer table, the SPA ranking and selection, the embedding width, the VLM id."""
        self._check_fitted()
        return {"table": self.table.to_json(), "spa_scores": self.spa_scores, "selected": self.selected,
                "width": self.width, "vlm": self.vlm_id}

    def load_extra_state(self, d: Mapping[str, Any]) -> None:
        if "table" not in d or not d["table"].get("counts"):
            raise DataError("VLAVAD state: the answer table is empty or missing")
        self.table = AnswerTable.from_json(d["table"])
        self.spa_scores = [(q, float(f)) for q, f in d["spa_scores"]]
        self.selected = list(d["selected"])
        self.width = d.get("width")
        self.vlm_id = d.get("vlm")
        self._restore_predictor()
