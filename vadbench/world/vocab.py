"""The vocabulary of the synthetic world: attribute values, their words, and the two tokenizers.

- :class:`WordTokenizer`: world-clip's tokenizer, open_clip-shaped (``tokenizer(texts) -> (N, L) ids``):
  ``<sot> words <eot> <pad>...`` with ``<pad>`` = 0 and ``<eot>`` the largest id (open_clip's text tower and
  VadCLIP's prompt learner find the end of a text by ``argmax``).
- :func:`vlm_tokenizer`: world-vlm's word-level fast tokenizer (:func:`vadbench.backbones.vlm.tiny_tokenizer`
  over :data:`WORDS`), with the chat and ``<answer>`` tags.

Example:
    >>> tok = WordTokenizer(context_length=10)
    >>> ids = tok(["a person lying on the walkway"])[0].tolist()
    >>> ids[0] == tok.sot_id and ids[9] == 0 and max(ids) == tok.eot_id
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

KINDS = ("person", "cyclist", "vehicle")
#: What one frame shows of a body: upright (standing or walking), lying (fallen), riding (on a bicycle).
POSES = ("upright", "lying", "riding")
ACTIONS = ("walking", "running", "standing", "loitering", "falling", "lying", "getting up", "riding",
           "driving", "parked")
DIRECTIONS = ("left", "right", "towards the camera", "away from the camera", "still")
PLACES = ("walkway", "grass")
SIZES = ("small", "medium", "large")
COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white", "grey", "black")

#: Words the captions, questions and answers use, plus the words of the methods' own prompts (VLAVAD's three
#: questions, COPRA's yes / no prompt, VadCLIP's synthetic class names) so they tokenize without unknowns.
_EXTRA = (
    "a an the of in on at and or with to is are there anyone someone anybody what does do this that picture "
    "image photo scene clip video frame person people persons cyclist cyclists vehicle vehicles car cart "
    "bicycle bike ground upright lying riding pose behavior behaviour action look like describe answer "
    "question yes no none empty nobody one two three four many street walking running standing loitering "
    "falling getting up parked driving wrong way against flow moving going camera towards away from left "
    "right still fallen over "
    "small medium large size colour color shirt wearing normal abnormal anomaly anomalous event events "
    "runner fighting shooting robbery explosion road accident vandalism such as you are surveillance "
    "analyst system user assistant show shows it its his her he she they who where which how many think "
    "first then inside".split()
)
_PHRASES = (*KINDS, *POSES, *ACTIONS, *DIRECTIONS, *PLACES, *SIZES, *COLOURS, *_EXTRA)
WORDS: tuple[str, ...] = tuple(dict.fromkeys(w for p in _PHRASES for w in p.split()))

_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def words_of(text: str) -> list[str]:
    """Lower-cased words and punctuation marks of ``text``.

    >>> words_of("Is anyone running?")
    ['is', 'anyone', 'running', '?']
    """
    return _TOKEN.findall(text.lower())


class WordTokenizer:
    """world-clip's word-level tokenizer in open_clip's calling convention (see the module docstring).

    Punctuation is dropped; a word outside :data:`WORDS` becomes ``<unk>``; texts longer than the context are
    cut so that ``<eot>`` stays last.
    """

    def __init__(self, words: Sequence[str] = WORDS, context_length: int = 32) -> None:
        self.words = tuple(words)
        self.vocab = {w: i + 1 for i, w in enumerate(self.words)}
        self.unk_id = len(self.words) + 1
        self.sot_id = len(self.words) + 2
        self.eot_id = len(self.words) + 3
        self.vocab_size = len(self.words) + 4
        self.context_length = context_length

    def encode(self, text: str) -> list[int]:
        return [self.vocab.get(w, self.unk_id) for w in words_of(text) if w.isalnum()]

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> Any:
        import torch

        if isinstance(texts, str):
            texts = [texts]
        n = context_length or self.context_length
        out = torch.zeros(len(texts), n, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text)][: n - 1] + [self.eot_id]
            out[i, : len(ids)] = torch.tensor(ids)
        return out


#: The tiny tokenizer's special tokens and base words as world-vlm was trained with them, frozen here: the
#: shipped embedding table follows exactly this order, whatever later changes to the tiny test vocabulary of
#: :mod:`vadbench.backbones.vlm` add.
VLM_SPECIALS = ("[PAD]", "[UNK]", "<s>", "</s>", "<image>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<answer>", "</answer>", "<think>",
                "</think>")
VLM_BASE_WORDS = (
    "yes no the a an person people in picture what is of pose behavior or action does look like question "
    "answer describe image : ? . , walking running standing sitting fighting user assistant system you are "
    "video surveillance analyst this clip show anomalous event such as shooting robbery explosion road "
    "accident vandalism with"
).split()


def vlm_tokenizer() -> Any:
    """world-vlm's tokenizer: the word-level tokenizer of :mod:`vadbench.backbones.vlm` over :data:`WORDS`.

    >>> tok = vlm_tokenizer()
    >>> tok.unk_token_id in tok("Is anyone running on the walkway?", add_special_tokens=False).input_ids
    False
    """
    from vadbench.backbones.vlm import tiny_tokenizer

    return tiny_tokenizer(tuple(dict.fromkeys([*VLM_BASE_WORDS, *WORDS])), specials=VLM_SPECIALS)
