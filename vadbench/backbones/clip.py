"""CLIP image and text towers through open_clip, plus a tiny seeded configuration for tests.

``load_clip(name, pretrained, device, seed)`` returns ``(model, preprocess, tokenizer)``:

- ``name="ViT-B-16", pretrained="openai"``: the real model VadCLIP uses (downloaded by open_clip on a user's
  machine; QuickGELU is switched on when the pretrained tag asks for it, as OpenAI's weights need).
- ``pretrained=<path>``: a local checkpoint (``.pt`` / ``.bin`` read with ``weights_only=True``, or
  ``.safetensors``, or OpenAI's own TorchScript release) loaded into the architecture ``name``. A state dict
  does not say which activation its towers were trained with, so the activation is decided by, in order:
  the explicit ``quick_gelu`` argument (or a ``*-quickgelu`` model name), the checkpoint's own record
  (safetensors metadata ``quick_gelu`` / a ``"quick_gelu"`` entry of a torch dict, as
  :func:`save_clip_checkpoint` writes; OpenAI's TorchScript files are QuickGELU); otherwise loading fails
  with a message asking for ``quick_gelu`` (OpenAI weights: true) rather than guessing.
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

#: ``tiny512``: the tiny towers with a 512-d output (the width of ViT-B/16's embedding), so that methods on
#: 512-d community features (VadCLIP's CLIP csv features) can be tested without the real model.
TINY512 = "tiny512"
TINY_CONFIGS: dict[str, dict[str, Any]] = {TINY: TINY_CONFIG, TINY512: {**TINY_CONFIG, "embed_dim": 512}}

_REGISTER_LOCK = threading.Lock()
_registered = False


def register_tiny() -> str:
    """Register the tiny configs (:data:`TINY_CONFIGS`) with open_clip (once per process) and return the
    open_clip name of ``tiny``.

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
        for name, cfg in TINY_CONFIGS.items():
            path = folder / f"vadbench-{name}.json"
            path.write_text(json.dumps(cfg))
        open_clip.add_model_config(folder)
        _registered = True
    return TINY_OPEN_CLIP_NAME


def open_clip_name(name: str) -> str:
    """The open_clip model name of a backbone name (``tiny`` -> ``vadbench-tiny``; others unchanged)."""
    if name in TINY_CONFIGS or name.removeprefix("vadbench-") in TINY_CONFIGS:
        register_tiny()
        return f"vadbench-{name.removeprefix('vadbench-')}"
    return name


def _quick_gelu_for(name: str, pretrained: str | None) -> bool:
    if not pretrained or os.path.exists(pretrained):
        return False
    from open_clip.pretrained import get_pretrained_cfg

    return bool(get_pretrained_cfg(name, pretrained).get("quick_gelu", False))


def uses_quick_gelu(model: Any) -> bool:
    """Whether a CLIP model's transformers use QuickGELU (``x * sigmoid(1.702 x)``, OpenAI's activation)."""
    from open_clip.transformer import QuickGELU

    return any(isinstance(m, QuickGELU) for m in model.modules())


def save_clip_checkpoint(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save a CLIP model's weights as safetensors with its activation in the metadata (``quick_gelu``), so
    :func:`load_clip` rebuilds the same towers from the file alone. Atomic."""
    from safetensors.torch import save as save_bytes

    from vadbench.atomic import atomic_write_bytes

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"quick_gelu": "true" if uses_quick_gelu(model) else "false", "format": "vadbench-clip"}
    return atomic_write_bytes(path, save_bytes(state, metadata=meta))


def _is_torchscript(path: Path) -> bool:
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.split("/", 1)[-1].startswith("code/") for n in zf.namelist())


def _read_local_checkpoint(path: Path) -> tuple[dict[str, Any], bool | None]:
    """``(state dict, quick_gelu recorded by the file or None)``: safetensors (metadata), a torch dict
    (``weights_only=True``; an optional ``"quick_gelu"`` entry) or OpenAI's TorchScript release
    (QuickGELU)."""
    import torch

    recorded: bool | None = None
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        if "quick_gelu" in meta:
            recorded = meta["quick_gelu"].strip().lower() in ("1", "true", "yes")
        state = load_file(str(path))
    elif _is_torchscript(path):
        state = torch.jit.load(str(path), map_location="cpu").state_dict()  # OpenAI's clip release
        recorded = True
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "quick_gelu" in state:
            recorded = bool(state["quick_gelu"])
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return {k.removeprefix("module."): v for k, v in state.items()}, recorded


def _load_local_checkpoint(model: Any, path: Path, state: dict[str, Any] | None = None) -> None:
    """Load a local state dict (``.safetensors`` or a torch file, read with ``weights_only=True``)."""
    if state is None:
        state = _read_local_checkpoint(path)[0]
    state = {k: v for k, v in state.items() if k not in ("input_resolution", "context_length", "vocab_size")}
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
    quick_gelu: bool | None = None,
) -> tuple[Any, Any, Any]:
    """Build a CLIP model, its evaluation image transform and its tokenizer (all via open_clip).

    ``pretrained`` is ``None`` (random initialisation fixed by ``seed``), an open_clip tag (``"openai"``) or a
    path to a local checkpoint. The model is returned in ``eval()`` mode on ``device``. ``precision`` is an
    open_clip precision (``fp32``, ``fp16``, ``bf16``); VadCLIP runs fp16 on CUDA and fp32 on CPU.
    ``quick_gelu``: the towers' activation (None: from the pretrained tag, or from a local checkpoint's
    record; see the module doc).

    Example:
        >>> m1, _, _ = load_clip("tiny", seed=1)
        >>> m2, _, _ = load_clip("tiny", seed=1)
        >>> weights_hash(m1) == weights_hash(m2)
        True
    """
    import open_clip
    import torch

    oc_name = open_clip_name(name)
    if oc_name not in open_clip.list_models():
        raise ConfigError(
            f"unknown CLIP backbone {name!r}; known: {TINY!r} and the open_clip models "
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
            if oc_name.removeprefix("vadbench-") in TINY_CONFIGS:
                raise ConfigError(f"the tiny CLIP has no pretrained tag ({tag!r}); use None or a local path")
            tags = open_clip.list_pretrained_tags_by_model(oc_name)
            if tag not in tags:
                raise ConfigError(f"unknown pretrained tag {tag!r} for {oc_name}; known: {', '.join(tags)}")

    state: dict[str, Any] | None = None
    if quick_gelu is not None:
        force_quick_gelu = bool(quick_gelu)
    elif oc_name.endswith("-quickgelu"):
        force_quick_gelu = True
    elif local is not None:
        state, recorded = _read_local_checkpoint(local)
        if recorded is None:
            raise ConfigError(
                f"CLIP checkpoint {local}: a state dict does not record whether its towers use QuickGELU "
                f"(OpenAI's weights) or GELU, and loading it into the wrong one gives wrong features with no "
                f"error. Say it: quick_gelu=true for OpenAI weights (--feature quick_gelu=true), "
                f"false otherwise, or save the model with vadbench.backbones.clip.save_clip_checkpoint"
            )
        force_quick_gelu = recorded
    else:
        force_quick_gelu = _quick_gelu_for(oc_name, tag)
    with torch.random.fork_rng(devices=[]), _quiet_random_init(tag is None):
        torch.manual_seed(seed)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                oc_name,
                pretrained=tag,
                device="cpu",
                precision="fp32",
                force_quick_gelu=force_quick_gelu,
            )
        except RuntimeError as err:
            if tag is not None:
                raise DataError(
                    f"could not load CLIP weights {oc_name}/{tag}: {err}. Without network access, download "
                    f"them once elsewhere and pass the checkpoint file as pretrained=<path>"
                ) from None
            raise
    if local is not None:
        _load_local_checkpoint(model, local, state)
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
