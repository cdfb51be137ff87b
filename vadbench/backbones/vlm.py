"""Vision-language models from transformers: answer questions about images, caption them, and read the
probability of a yes / no answer about an image or a short clip.

Two families:

- ``blip2``: :class:`transformers.Blip2ForConditionalGeneration` (VLAVAD's BLIP-2 ViT-g + OPT-2.7B). Image
  only; the VQA prompt is ``"Question: {question} Answer:"`` (the BLIP-2 OPT convention, VLAVAD spec 4.2).
  A clip is scored frame by frame and reduced (``clip_reduce``).
- ``chat``: an instruction-tuned VLM with a chat template, loaded by ``AutoModelForImageTextToText``. The
  default for COPRA is Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``, native in transformers >= 4.49),
  which takes clips as video input (frames already sampled by the caller).

The yes / no read-out (COPRA spec 4.7) is one forward pass: the next-token distribution after the prompt
(plus ``answer_prefix``, e.g. ``"<answer>"``); ``p_yes`` / ``p_no`` sum the probabilities of the first
tokens of the answer's spellings (``variants``), and ``score = p_yes / (p_yes + p_no)`` is computed in log
space. Batches are left-padded, so a batch gives the answers of its items one by one.

Example:
    >>> vlm = VLM.from_pretrained("Salesforce/blip2-opt-2.7b")  # doctest: +SKIP
    >>> vlm.answer([crop], "What is the pose of the person in the picture?")  # doctest: +SKIP
    ['standing']
    >>> vlm.yes_no([crop], "Is the person running?").score  # doctest: +SKIP
    array([0.12], dtype=float32)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError

#: Named VLMs: Hugging Face id and family.
VLM_PRESETS: dict[str, dict[str, str]] = {
    "blip2-opt-2.7b": {"model": "Salesforce/blip2-opt-2.7b", "family": "blip2"},  # VLAVAD [paper]
    "qwen2.5-vl-3b": {"model": "Qwen/Qwen2.5-VL-3B-Instruct", "family": "chat"},  # COPRA [reconstruction]
    "qwen2.5-vl-7b": {"model": "Qwen/Qwen2.5-VL-7B-Instruct", "family": "chat"},
}

#: BLIP-2 OPT prompt for VQA (VLAVAD spec 4.2 [reconstruction]).
BLIP2_VQA_FORMAT = "Question: {question} Answer:"

#: How the spellings of an answer word are gathered for the yes / no read-out.
VARIANTS = ("exact", "case_space")


@dataclass
class YesNo:
    """Per item: ``p_yes`` / ``p_no`` (full-vocabulary next-token probabilities, p_yes + p_no <= 1) and
    ``score`` = p_yes / (p_yes + p_no) (the answer restricted to {yes, no})."""

    p_yes: np.ndarray
    p_no: np.ndarray
    score: np.ndarray


def _family_of(model: Any) -> str:
    mt = str(getattr(model.config, "model_type", ""))
    return "blip2" if mt in ("blip-2", "blip_2") else "chat"


def _is_clip(item: Any) -> bool:
    if isinstance(item, list | tuple):
        return True
    return isinstance(item, np.ndarray) and item.ndim == 4


def _image(item: Any) -> Any:
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    a = np.asarray(item)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise DataError(f"VLM: an image must be (H, W, 3) RGB or (H, W) grey; got shape {a.shape}")
    return Image.fromarray(np.ascontiguousarray(a.astype(np.uint8)))


def _clip(item: Any) -> np.ndarray:
    frames = [np.asarray(_image(f)) for f in item]
    if not frames:
        raise DataError("VLM: a clip needs at least one frame")
    if len({f.shape for f in frames}) != 1:
        raise DataError(f"VLM: the frames of a clip differ in size: {sorted({f.shape for f in frames})}")
    return np.stack(frames)


class VLM:
    """A transformers VLM with a processor; see the module docstring for the two families.

    ``variants``: ``case_space`` (default) sums the probabilities of ``yes``, ``Yes``, ``YES``, `` yes``,
    `` Yes`` (first tokens, deduplicated); ``exact`` uses only the given spelling. ``system``: the system
    message of chat prompts.
    """

    def __init__(self, model: Any, processor: Any, *, family: str | None = None, device: str = "cpu",
                 vqa_format: str = BLIP2_VQA_FORMAT, system: str | None = None,
                 variants: str = "case_space") -> None:
        self.family = family or _family_of(model)
        if self.family not in ("blip2", "chat"):
            raise ConfigError(f"unknown VLM family {self.family!r}; known: 'blip2', 'chat'")
        if variants not in VARIANTS:
            raise ConfigError(f"unknown yes/no variants rule {variants!r}; known: {', '.join(VARIANTS)}")
        self.model = model.to(device).eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device
        self.vqa_format = vqa_format
        self.system = system
        self.variants = variants
        if self.family == "chat" and not getattr(processor, "chat_template", None):
            raise ConfigError("chat VLM: the processor has no chat template (processor.chat_template)")

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, family: str | None = None, device: str = "cpu",
                        dtype: Any = None, **kwargs: Any) -> VLM:
        """Load by preset name (:data:`VLM_PRESETS`), ``world-vlm`` (shipped, :mod:`vadbench.world`), Hugging
        Face id or local folder."""
        if str(name_or_path) == "world-vlm":  # the synthetic world's VLM, shipped in the package
            from vadbench.world.store import load_world_vlm

            return load_world_vlm(device=device, **kwargs)
        import transformers

        spec = VLM_PRESETS.get(str(name_or_path))
        model_id = spec["model"] if spec else str(name_or_path)
        family = family or (spec["family"] if spec else None)
        # offline only: a Hugging Face id that is not in the local cache fails at once, no download or retries
        offline = {"local_files_only": True}
        try:
            processor = transformers.AutoProcessor.from_pretrained(model_id, **offline)
            if family is None:
                mt = transformers.AutoConfig.from_pretrained(model_id, **offline).model_type
                family = "blip2" if mt in ("blip-2", "blip_2") else "chat"
            cls_ = (transformers.Blip2ForConditionalGeneration if family == "blip2"
                    else transformers.AutoModelForImageTextToText)
            model = cls_.from_pretrained(model_id, **offline,
                                         **({"dtype": dtype} if dtype is not None else {}))
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"could not load the VLM {model_id!r} (a preset {sorted(VLM_PRESETS)}, a Hugging Face id "
                f"already in the local Hugging Face cache - nothing is downloaded - or a local folder with "
                f"config, weights and processor files): {err}"
            ) from err
        return cls(model, processor, family=family, device=device, **kwargs)

    # ------------------------------------------------------------------------------------------ prompts
    def prompt(self, question: str, *, media: str | None = "image", answer_prefix: str = "") -> str:
        """The text given to the model for ``question`` about one ``media`` (``image``, ``video``, None)."""
        if self.family == "blip2":
            text = self.vqa_format.format(question=question) if question else ""
            return text + answer_prefix
        content: list[dict[str, str]] = [{"type": media}] if media else []
        content.append({"type": "text", "text": question})
        messages: list[dict[str, Any]] = []
        if self.system:
            messages.append({"role": "system", "content": [{"type": "text", "text": self.system}]})
        messages.append({"role": "user", "content": content})
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return text + answer_prefix

    def _inputs(self, texts: list[str], media: list[Any], kind: str) -> Any:
        if kind == "video":
            if self.family == "blip2":  # pragma: no cover - clips are split into frames before
                raise ConfigError("BLIP-2 takes images only")
            kw: dict[str, Any] = {"videos": media, "do_sample_frames": False}
            if hasattr(getattr(self.processor, "video_processor", None), "cap_pixels_per_frame"):
                # Qwen2-VL processors: cap pixels per frame as the reference qwen-vl-utils does
                kw["cap_pixels_per_frame"] = True
        else:
            kw = {"images": media}
        enc = self.processor(text=texts, padding=True, return_tensors="pt", **kw)
        return enc.to(self.device)

    # ------------------------------------------------------------------------------------------ API
    def answer(self, images: Any, questions: str | Sequence[str], *, max_new_tokens: int = 10,
               do_sample: bool = False, temperature: float = 1.0, seed: int = 0, batch_size: int = 8,
               answer_prefix: str = "") -> list[str]:
        """Answers to ``questions`` (one, or one per image) about ``images`` (one or a list; a clip for
        chat models). Greedy by default; with ``do_sample`` the ``seed`` fixes the samples."""
        items = self._as_items(images)
        qs = [questions] * len(items) if isinstance(questions, str) else list(questions)
        if len(qs) != len(items):
            raise DataError(f"VLM.answer: {len(items)} images but {len(qs)} questions")
        import torch

        out: list[str] = []
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            kinds = {"video" if _is_clip(x) else "image" for x in batch}
            if len(kinds) > 1:
                raise DataError("VLM.answer: a batch mixes images and clips; pass them separately")
            kind = kinds.pop()
            if kind == "video" and self.family == "blip2":
                raise ConfigError("BLIP-2 answers about images only; pass one frame of the clip")
            media = [_clip(x) if kind == "video" else _image(x) for x in batch]
            texts = [self.prompt(q, media=kind, answer_prefix=answer_prefix)
                     for q in qs[start : start + batch_size]]
            enc = self._inputs(texts, media, kind)
            gen_kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample}
            if do_sample:
                gen_kw["temperature"] = temperature
            rng = torch.random.fork_rng(devices=[]) if do_sample else contextlib.nullcontext()
            with rng, torch.inference_mode():
                if do_sample:
                    torch.manual_seed(seed + start)
                ids = self.model.generate(**enc, **gen_kw)
            new = ids[:, enc["input_ids"].shape[1] :]
            out.extend(s.strip() for s in self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out

    def caption(self, images: Any, *, max_new_tokens: int = 20, question: str = "Describe the image.",
                batch_size: int = 8) -> list[str]:
        """Captions: BLIP-2 from the image alone; chat models answer ``question``."""
        q = "" if self.family == "blip2" else question
        return self.answer(images, q, max_new_tokens=max_new_tokens, batch_size=batch_size)

    def answer_token_ids(self, word: str) -> list[int]:
        """First-token ids of the spellings of ``word`` used by the yes / no read-out."""
        if self.variants == "exact":
            spellings = [word]
        else:
            spellings = [word, word.capitalize(), word.upper(), " " + word, " " + word.capitalize()]
        ids: list[int] = []
        unk = self.tokenizer.unk_token_id
        for s in spellings:
            toks = self.tokenizer(s, add_special_tokens=False)["input_ids"]
            if toks and toks[0] != unk and toks[0] not in ids:
                ids.append(int(toks[0]))
        if not ids:
            raise ConfigError(f"the VLM's tokenizer has no token for the answer {word!r}")
        return ids

    def yes_no(self, media: Any, question: str, *, yes: str = "yes", no: str = "no", answer_prefix: str = "",
               batch_size: int = 8, clip_reduce: str = "mean") -> YesNo:
        """P(yes) / P(no) for ``question`` about each item of ``media`` (images, or clips as frame lists or
        ``(T, H, W, 3)`` arrays). Clips go to chat models as video; BLIP-2 scores their frames and reduces
        them with ``clip_reduce`` (``mean`` of each quantity, or ``middle`` frame)."""
        if clip_reduce not in ("mean", "middle"):
            raise ConfigError(f"clip_reduce must be 'mean' or 'middle', got {clip_reduce!r}")
        yes_ids, no_ids = self.answer_token_ids(yes), self.answer_token_ids(no)
        if set(yes_ids) & set(no_ids):
            raise ConfigError(f"the answers {yes!r} and {no!r} share a first token; the read-out needs "
                              "distinct ones")
        items = self._as_items(media)
        if self.family == "blip2":
            flat, owner = [], []
            for i, x in enumerate(items):
                frames = list(_clip(x)) if _is_clip(x) else [x]
                if _is_clip(x) and clip_reduce == "middle":
                    frames = [frames[len(frames) // 2]]
                flat.extend(frames)
                owner.extend([i] * len(frames))
            ly, ln = self._log_probs(flat, question, yes_ids, no_ids, answer_prefix, batch_size)
            owner_a = np.array(owner)
            res = [self._reduce(ly[owner_a == i], ln[owner_a == i]) for i in range(len(items))]
            return YesNo(*(np.array([r[k] for r in res], np.float32) for k in range(3)))
        ly, ln = self._log_probs(items, question, yes_ids, no_ids, answer_prefix, batch_size)
        return YesNo(*(np.array(a, np.float32) for a in self._reduce_each(ly, ln)))

    # ------------------------------------------------------------------------------------------ internals
    @staticmethod
    def _as_items(media: Any) -> list[Any]:
        from PIL import Image

        if isinstance(media, Image.Image) or (isinstance(media, np.ndarray) and media.ndim in (2, 3)):
            return [media]
        items = list(media)
        if not items:
            raise DataError("VLM: no image or clip given")
        return items

    @staticmethod
    def _reduce_each(ly: np.ndarray, ln: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        score = 1.0 / (1.0 + np.exp(ln - ly))  # p_yes / (p_yes + p_no), in log space
        return np.exp(ly), np.exp(ln), score

    def _reduce(self, ly: np.ndarray, ln: np.ndarray) -> tuple[float, float, float]:
        py, pn, s = self._reduce_each(ly, ln)
        return float(py.mean()), float(pn.mean()), float(s.mean())

    def _log_probs(self, items: list[Any], question: str, yes_ids: list[int], no_ids: list[int],
                   answer_prefix: str, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        ly, ln = [], []
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            kinds = {"video" if _is_clip(x) else "image" for x in batch}
            if len(kinds) > 1:
                raise DataError("VLM.yes_no: a batch mixes images and clips; pass them separately")
            kind = kinds.pop()
            media = [_clip(x) if kind == "video" else _image(x) for x in batch]
            text = self.prompt(question, media=kind, answer_prefix=answer_prefix)
            enc = self._inputs([text] * len(batch), media, kind)
            with torch.inference_mode():
                logits = self.model(**enc).logits[:, -1, :].float()
            logp = torch.log_softmax(logits, dim=-1)
            ly.append(torch.logsumexp(logp[:, yes_ids], dim=-1).cpu().numpy())
            ln.append(torch.logsumexp(logp[:, no_ids], dim=-1).cpu().numpy())
        return np.concatenate(ly).astype(np.float64), np.concatenate(ln).astype(np.float64)


# ---------------------------------------------------------------------------------------------------------
# tiny random models (tests, smoke runs): the real architectures with small sizes, no download
# ---------------------------------------------------------------------------------------------------------
#: Words of the tiny tokenizer (lower-cased word level: any other word is the unknown token).
TINY_WORDS = (
    "yes no the a an person people in picture what is of pose behavior or action does look like question "
    "answer describe image : ? . , walking running standing sitting fighting user assistant system you are "
    "video surveillance analyst this clip show anomalous event such as shooting robbery explosion road "
    "accident vandalism with think first then inside"
).split()
_TINY_SPECIALS = ["[PAD]", "[UNK]", "<s>", "</s>", "<image>", "<|im_start|>", "<|im_end|>",
                  "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<answer>",
                  "</answer>", "<think>", "</think>"]
_TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer(words: Sequence[str] = TINY_WORDS, specials: Sequence[str] | None = None) -> Any:
    """A word-level fast tokenizer (lower-cased, punctuation split) with the special tokens BLIP-2 and
    Qwen2.5-VL need; built in memory from ``words``. ``specials`` (default: the current list) lets a trained
    model keep the exact token ids it was trained with.

    >>> tok = tiny_tokenizer()
    >>> tok.convert_ids_to_tokens(tok("Is he running?", add_special_tokens=False).input_ids)
    ['is', '[UNK]', 'running', '?']
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = list(specials if specials is not None else _TINY_SPECIALS)
    vocab = {w: i for i, w in enumerate(specials + sorted(set(words) - set(specials)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="<s>", eos_token="</s>",
        additional_special_tokens=specials[4:],
    )


def tiny_vlm(family: str = "blip2", *, seed: int = 0, device: str = "cpu", **kwargs: Any) -> VLM:
    """A randomly initialised VLM of the real architecture with tiny sizes: ``blip2`` (BLIP-2 with an OPT
    decoder, 32x32 images) or ``chat`` (Qwen2.5-VL, 56x56-112x112 images and clips). ``seed`` fixes the
    weights. Extra keyword arguments go to :class:`VLM`.

    >>> vlm = tiny_vlm("blip2", seed=0)  # doctest: +SKIP
    """
    import torch

    tokenizer = tiny_tokenizer()
    vocab = tokenizer.get_vocab()
    n = len(vocab)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "blip2":
            from transformers import (
                Blip2Config,
                Blip2ForConditionalGeneration,
                Blip2Processor,
                BlipImageProcessor,
            )

            cfg = Blip2Config(
                vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                               "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
                qformer_config={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                                "intermediate_size": 64, "encoder_hidden_size": 32, "vocab_size": n},
                text_config={"model_type": "opt", "vocab_size": n, "hidden_size": 32, "num_hidden_layers": 2,
                             "ffn_dim": 64, "num_attention_heads": 2, "max_position_embeddings": 256,
                             "word_embed_proj_dim": 32, "pad_token_id": vocab["[PAD]"],
                             "bos_token_id": vocab["<s>"], "eos_token_id": vocab["</s>"]},
                num_query_tokens=4, image_token_index=vocab["<image>"],
            )
            model = Blip2ForConditionalGeneration(cfg)
            processor = Blip2Processor(BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer,
                                       num_query_tokens=4)
        elif family == "chat":
            from transformers import (
                Qwen2_5_VLConfig,
                Qwen2_5_VLForConditionalGeneration,
                Qwen2_5_VLProcessor,
                Qwen2VLImageProcessor,
                Qwen2VLVideoProcessor,
            )

            tokenizer.eos_token = "<|im_end|>"
            cfg = Qwen2_5_VLConfig(
                text_config={"vocab_size": n, "hidden_size": 32, "intermediate_size": 64,
                             "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
                             "max_position_embeddings": 1024,
                             "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                 "mrope_section": [2, 3, 3]},
                             "pad_token_id": vocab["[PAD]"], "bos_token_id": vocab["<s>"],
                             "eos_token_id": vocab["<|im_end|>"]},
                vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                               "out_hidden_size": 32, "patch_size": 14, "spatial_merge_size": 2,
                               "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [1]},
                image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
                vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"],
            )
            model = Qwen2_5_VLForConditionalGeneration(cfg)
            pixels = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}
            processor = Qwen2_5_VLProcessor(
                image_processor=Qwen2VLImageProcessor(**pixels), tokenizer=tokenizer,
                video_processor=Qwen2VLVideoProcessor(**pixels), chat_template=_TINY_CHAT_TEMPLATE,
            )
        else:
            raise ConfigError(f"unknown VLM family {family!r}; known: 'blip2', 'chat'")
    return VLM(model, processor, family=family, device=device, **kwargs)
