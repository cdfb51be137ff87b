"""The shipped weights of the world's models: save (atomic, with a manifest) and load by name, offline.

``vadbench/world/weights/`` holds ``world-clip.safetensors``, ``world-vlm.safetensors`` and
``manifest.json``: per model its file, sha256, size and architecture, plus the training run (seed, world
seeds, generator version, time, threads) and the accuracies of ``vadbench world eval``. Loading checks the
sha256 and builds the architectures in code (open_clip / transformers classes), so nothing is downloaded.

Example:
    >>> model, preprocess, tokenizer = load_world_clip()  # doctest: +SKIP
    >>> vlm = load_world_vlm()  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from vadbench.errors import ConfigError, DataError
from vadbench.world import WEIGHTS_DIR, WORLD_CLIP, WORLD_TAG, WORLD_VLM

MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(folder: Path = WEIGHTS_DIR) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: no world-model manifest; rebuild the weights with `vadbench world train`")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise DataError(f"{path}: not a readable manifest ({err})") from None


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # package data: readable by everyone (mkstemp makes it private)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(folder: Path, clip_model: Any, vlm_model: Any, info: dict[str, Any]) -> dict[str, Any]:
    """Write both weight files and the manifest into ``folder`` (atomically); returns the manifest."""
    from safetensors.torch import save

    from vadbench.world.models import CLIP_CONFIG, VLM_TEXT, VLM_VISION

    folder = Path(folder)
    manifest: dict[str, Any] = {"models": {}, **info}
    for name, model, arch in ((WORLD_CLIP, clip_model, {"open_clip": CLIP_CONFIG}),
                              (WORLD_VLM, vlm_model, {"text": VLM_TEXT, "vision": VLM_VISION})):
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        if name == WORLD_VLM and "lm_head.weight" in state:
            state.pop("lm_head.weight")  # tied to the token embedding
        data = save(state)
        path = folder / f"{name}.safetensors"
        _atomic_write(path, data)
        manifest["models"][name] = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(),
                                    "bytes": len(data), "architecture": arch}
    _atomic_write(folder / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return manifest


def _weights(name: str, folder: Path) -> Any:
    from safetensors.torch import load_file

    entry = read_manifest(folder).get("models", {}).get(name)
    if entry is None:
        raise DataError(f"{folder / MANIFEST}: no entry for {name!r}; rebuild with `vadbench world train`")
    path = Path(folder) / entry["file"]
    if not path.is_file():
        raise DataError(f"{path}: weights of {name!r} missing (expected {entry['bytes']} bytes); reinstall "
                        "vadbench or rebuild with `vadbench world train`")
    sha = file_sha256(path)
    if sha != entry["sha256"]:
        raise DataError(f"{path}: sha256 {sha[:16]}... does not match the manifest's "
                        f"{entry['sha256'][:16]}...")
    return load_file(str(path))


def weights_sha(name: str, folder: Path = WEIGHTS_DIR) -> str:
    """The manifest's sha256 of a shipped model (keys the feature store)."""
    entry = read_manifest(folder).get("models", {}).get(name)
    if entry is None:
        raise DataError(f"{Path(folder) / MANIFEST}: no entry for {name!r}")
    return str(entry["sha256"])


def load_world_clip(pretrained: str | os.PathLike[str] | None = WORLD_TAG, device: str = "cpu", seed: int = 0,
                    precision: str = "fp32", folder: Path = WEIGHTS_DIR) -> tuple[Any, Any, Any]:
    """``(model, preprocess, tokenizer)`` of world-clip: shipped weights (``"world"``), random (None) or a
    local checkpoint path."""
    import open_clip
    import torch

    from vadbench.backbones.clip import _load_local_checkpoint
    from vadbench.world.models import build_clip, clip_tokenizer, register_clip

    model = build_clip(seed)
    if pretrained == WORLD_TAG:
        model.load_state_dict(_weights(WORLD_CLIP, folder))
    elif pretrained is not None:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise ConfigError(f"world-clip: pretrained must be {WORLD_TAG!r}, None or a checkpoint file; "
                              f"got {pretrained!r}")
        _load_local_checkpoint(model, path)
    if precision in ("fp16", "bf16"):
        model = model.to(dtype=torch.float16 if precision == "fp16" else torch.bfloat16)
    elif precision != "fp32":
        raise ConfigError(f"unknown precision {precision!r}; expected fp32, fp16 or bf16")
    preprocess = open_clip.image_transform(model.visual.image_size, is_train=False)
    _ = register_clip()
    return model.to(device).eval(), preprocess, clip_tokenizer()


def clip_frame_size(folder: Path = WEIGHTS_DIR) -> tuple[int, int]:
    """The clip frame size (W, H) the world-vlm of ``folder`` was trained on: its manifest's training config,
    else (manifests written before the option) ``data.LEGACY_CLIP_FRAME_SIZE``."""
    from vadbench.world.data import LEGACY_CLIP_FRAME_SIZE

    config = read_manifest(folder).get("training", {}).get("config", {})
    size = config.get("clip_frame_size", LEGACY_CLIP_FRAME_SIZE)
    return (int(size[0]), int(size[1]))


def load_world_vlm(device: str = "cpu", folder: Path = WEIGHTS_DIR, **kwargs: Any) -> Any:
    """world-vlm as a :class:`vadbench.backbones.vlm.VLM` (family ``chat``) with the shipped weights, its
    processors sized for the clip frames it was trained on (:func:`clip_frame_size`)."""
    from vadbench.backbones.vlm import VLM
    from vadbench.world.models import build_vlm

    model, processor = build_vlm(0, clip_frame_size(Path(folder)))
    state = _weights(WORLD_VLM, folder)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if [k for k in missing if k != "lm_head.weight"] or unexpected:
        raise DataError(f"{folder}: world-vlm weights do not fit the architecture (missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]})")
    model.tie_weights()
    return VLM(model, processor, family="chat", device=device, **kwargs)
