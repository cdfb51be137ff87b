"""CLIP image and text towers through open_clip, plus a tiny seeded configuration for tests.

``load_clip(name, pretrained, device, seed)`` returns ``(model, preprocess, tokenizer)``:

- ``name="ViT-B-16", pretrained="openai"``: the real model VadCLIP uses (downloaded by open_clip on a user's
  machine; QuickGELU is switched on when the pretrained tag asks for it, as OpenAI's weights need).
- ``pretrained=<path>``: a local checkpoint (``.pt`` / ``.bin`` read with ``weights_only=True``, or
  ``.safetensors``) loaded into the architecture ``name``.
- ``name="world-clip"``: the synthetic world's CLIP trained by the project (:mod:`vadbench.world`);
  ``pretrained="world"`` loads the weights shipped in the package (offline), None gives random weights.
- ``name="tiny"``: a registered open_clip config (``vadbench-tiny``: ViT width 64, 2 layers, patch 16 at
  64 px; text width 64, 2 layers, context 77, vocab 49408 so the real BPE tokenizer works) with random
  weights fixed by ``seed``. Nothing is ever downloaded for it.

Example:
    >>> import torch
    >>> model, preprocess, tokenizer = load_clip("tiny", seed=0)
    >>> with torch.no_grad():
    ...     text = model.encode_text(tokenizer(["a person running"]))
    ...     image = model.encode_image(torch.zeros(1, 3, 64, 64))
    >>> tuple(text.shape), tuple(image.shape)
    ((1, 64), (1, 64))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vadbench.errors import ConfigError, DataError

#: The user-facing name of the tiny test configuration and the open_clip config name it is registered under.
TINY = "tiny"
TINY_OPEN_CLIP_NAME = "vadbench-tiny"

#: The tiny architecture (an open_clip model config). Changing it changes every tiny feature hash.
TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

_REGISTER_LOCK = threading.Lock()
_registered = False


def register_tiny() -> str:
    """Register :data:`TINY_CONFIG` with open_clip (once per process) and return its open_clip name.

    Example:
        >>> import open_clip
        >>> register_tiny() in open_clip.list_models()
        True
    """
    global _registered
    with _REGISTER_LOCK:
        if _registered:
            return TINY_OPEN_CLIP_NAME
        import open_clip

        # open_clip only registers configs from files: write the json into a private temporary folder.
        folder = Path(tempfile.mkdtemp(prefix="vadbench-openclip-"))
        path = folder / f"{TINY_OPEN_CLIP_NAME}.json"
        path.write_text(json.dumps(TINY_CONFIG))
        open_clip.add_model_config(path)
        _registered = True
    return TINY_OPEN_CLIP_NAME


def open_clip_name(name: str) -> str:
    """The open_clip model name of a backbone name (``tiny`` -> ``vadbench-tiny``; others unchanged)."""
    return register_tiny() if name in (TINY, TINY_OPEN_CLIP_NAME) else name


def _quick_gelu_for(name: str, pretrained: str | None) -> bool:
    if not pretrained or os.path.exists(pretrained):
        return False
    from open_clip.pretrained import get_pretrained_cfg

    return bool(get_pretrained_cfg(name, pretrained).get("quick_gelu", False))


def _load_local_checkpoint(model: Any, path: Path) -> None:
    """Load a local state dict (``.safetensors`` or a torch file, read with ``weights_only=True``)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "attn_mask"]
    if missing or unexpected:
        raise DataError(
            f"checkpoint {path}: does not fit the architecture; missing keys {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected keys {list(unexpected)[:5]}"
        )


@contextlib.contextmanager
def _quiet_random_init(active: bool) -> Iterator[None]:
    """Silence open_clip's 'initialized randomly' warning when random weights are what was asked for."""
    import logging

    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "initialized randomly" not in record.getMessage()

    root = logging.getLogger()
    flt = _Drop()
    if active:
        root.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)


def load_clip(
    name: str = TINY,
    pretrained: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    seed: int = 0,
    precision: str = "fp32",
) -> tuple[Any, Any, Any]:
    """Build a CLIP model, its evaluation image transform and its tokenizer (all via open_clip).

    ``pretrained`` is ``None`` (random initialisation fixed by ``seed``), an open_clip tag (``"openai"``) or a
    path to a local checkpoint. The model is returned in ``eval()`` mode on ``device``. ``precision`` is an
    open_clip precision (``fp32``, ``fp16``, ``bf16``); VadCLIP runs fp16 on CUDA and fp32 on CPU.

    Example:
        >>> m1, _, _ = load_clip("tiny", seed=1)
        >>> m2, _, _ = load_clip("tiny", seed=1)
        >>> weights_hash(m1) == weights_hash(m2)
        True
    """
    if name == "world-clip":  # the synthetic world's own CLIP, shipped in the package (vadbench.world)
        from vadbench.world.store import load_world_clip

        return load_world_clip(pretrained, device=device, seed=seed, precision=precision)
    import open_clip
    import torch

    oc_name = open_clip_name(name)
    if oc_name not in open_clip.list_models():
        raise ConfigError(
            f"unknown CLIP backbone {name!r}; known: {TINY!r}, 'world-clip' and the open_clip models "
            f"(e.g. 'ViT-B-16', 'ViT-B-32', 'ViT-L-14')"
        )
    local: Path | None = None
    tag: str | None = None
    if pretrained is not None:
        candidate = Path(pretrained).expanduser()
        if candidate.exists() or any(sep in str(pretrained) for sep in ("/", "\\")) or candidate.suffix:
            if not candidate.is_file():
                raise DataError(f"CLIP checkpoint {candidate} not found (expected a .pt/.bin/.safetensors)")
            local = candidate
        else:
            tag = str(pretrained)
            if oc_name == TINY_OPEN_CLIP_NAME:
                raise ConfigError(f"the tiny CLIP has no pretrained tag ({tag!r}); use None or a local path")
            tags = open_clip.list_pretrained_tags_by_model(oc_name)
            if tag not in tags:
                raise ConfigError(f"unknown pretrained tag {tag!r} for {oc_name}; known: {', '.join(tags)}")

    with torch.random.fork_rng(devices=[]), _quiet_random_init(tag is None):
        torch.manual_seed(seed)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                oc_name,
                pretrained=tag,
                device="cpu",
                precision="fp32",
                force_quick_gelu=_quick_gelu_for(oc_name, tag),
            )
        except RuntimeError as err:
            if tag is not None:
                raise DataError(
                    f"could not load CLIP weights {oc_name}/{tag}: {err}. Without network access, download "
                    f"them once elsewhere and pass the checkpoint file as pretrained=<path>"
                ) from None
            raise
    if local is not None:
        _load_local_checkpoint(model, local)
    if precision in ("fp16", "bf16"):
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        model = model.to(dtype=dtype)
    elif precision != "fp32":
        raise ConfigError(f"unknown precision {precision!r}; expected fp32, fp16 or bf16")
    model = model.to(device).eval()
    tokenizer = open_clip.get_tokenizer(oc_name)
    return model, preprocess, tokenizer


def image_config(model: Any) -> dict[str, Any]:
    """Input size and normalisation of a :func:`load_clip` model: ``size`` (h, w), ``mean``, ``std``.

    Example:
        >>> image_config(load_clip("tiny")[0])["size"]
        (64, 64)
    """
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
    size = cfg.get("size", getattr(model.visual, "image_size", 224))
    if isinstance(size, int):
        size = (size, size)
    return {
        "size": (int(size[0]), int(size[1])),
        "mean": tuple(cfg.get("mean", OPENAI_DATASET_MEAN)),
        "std": tuple(cfg.get("std", OPENAI_DATASET_STD)),
    }


def weights_hash(model: Any) -> str:
    """sha256 (hex, 16 chars) of a model's parameters and buffers, in key order, as float32 bytes.

    Example:
        >>> len(weights_hash(load_clip("tiny")[0]))
        16
    """
    import torch

    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        tensor = value.detach().to("cpu", dtype=torch.float32).contiguous()
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]
