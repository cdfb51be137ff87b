"""The architectures of world-clip (open_clip ``CLIP``) and world-vlm (Qwen2.5-VL).

- :data:`CLIP_CONFIG`: an open_clip model config registered as ``world-clip`` (ViT patch 14 at 56 px, width
  64, 3 layers; text width 64, 3 layers, context 32 over the world's word vocabulary).
- :func:`build_vlm`: Qwen2.5-VL with a 3-layer 64-wide vision tower (patch 14, the same shapes as
  world-clip's) and a 3-layer 128-wide language model over :func:`vadbench.world.vocab.vlm_tokenizer`.
- :func:`init_vision_from_clip`: copies world-clip's patch embedding, attention, norms and MLP (up / down)
  into the VLM's vision tower where the shapes allow; returns the keys it copied.

Example:
    >>> model = build_clip(seed=0)
    >>> model.visual.image_size
    (56, 56)
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path
from typing import Any

from vadbench.world import WORLD_CLIP
from vadbench.world.vocab import WordTokenizer

IMAGE_SIZE = 56
CONTEXT = 32


def clip_config() -> dict[str, Any]:
    vocab = WordTokenizer(context_length=CONTEXT).vocab_size
    return {
        "embed_dim": 64,
        "vision_cfg": {"image_size": IMAGE_SIZE, "layers": 3, "width": 64, "head_width": 32,
                       "patch_size": 14},
        "text_cfg": {"context_length": CONTEXT, "vocab_size": vocab, "width": 64, "heads": 2, "layers": 3},
    }


CLIP_CONFIG = clip_config()
_LOCK = threading.Lock()
_registered = False


def register_clip() -> str:
    """Register :data:`CLIP_CONFIG` with open_clip as ``world-clip`` (once per process)."""
    global _registered
    with _LOCK:
        if not _registered:
            import open_clip

            folder = Path(tempfile.mkdtemp(prefix="vadbench-world-"))
            path = folder / f"{WORLD_CLIP}.json"
            path.write_text(json.dumps(CLIP_CONFIG))
            open_clip.add_model_config(path)
            _registered = True
    return WORLD_CLIP


def clip_tokenizer() -> WordTokenizer:
    return WordTokenizer(context_length=CONTEXT)


def build_clip(seed: int = 0) -> Any:
    """A randomly initialised world-clip (open_clip's own ``CLIP`` class), fixed by ``seed``."""
    import open_clip
    import torch

    from vadbench.backbones.clip import _quiet_random_init

    with torch.random.fork_rng(devices=[]), _quiet_random_init(True):
        torch.manual_seed(seed)
        return open_clip.create_model(register_clip(), pretrained=None, device="cpu", precision="fp32")


#: Least pixel budgets of the VLM's processors: crops 56 x 56 (4 tokens), clip frames up to 112 x 112; a
#: model trained on larger clip frames (``TrainConfig.clip_frame_size``; the shipped one: 224 x 168, 48
#: merged tokens per pair of frames) raises the cap to their area (:func:`vlm_pixels`).
VLM_PIXELS = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}


def vlm_pixels(clip_frame_size: tuple[int, int] | None = None) -> dict[str, int]:
    """The processors' pixel budget for a world-vlm trained on clip frames of ``clip_frame_size`` (W, H).

    >>> vlm_pixels() == VLM_PIXELS, vlm_pixels((224, 168))["max_pixels"]
    (True, 37632)
    """
    if clip_frame_size is None:
        return dict(VLM_PIXELS)
    area = clip_frame_size[0] * clip_frame_size[1]
    return {**VLM_PIXELS, "max_pixels": max(VLM_PIXELS["max_pixels"], area)}


VLM_TEXT = {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 2}
VLM_VISION = {"depth": 3, "hidden_size": 64, "intermediate_size": 256, "num_heads": 2, "patch_size": 14,
              "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
              "fullatt_block_indexes": [0, 1, 2]}


def build_vlm(seed: int = 0, clip_frame_size: tuple[int, int] | None = None) -> tuple[Any, Any]:
    """A randomly initialised world-vlm: ``(Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor)``, its
    processors sized for clip frames of ``clip_frame_size`` (default: ``data.CLIP_FRAME_SIZE``)."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from vadbench.backbones.vlm import _TINY_CHAT_TEMPLATE
    from vadbench.world.vocab import vlm_tokenizer

    tokenizer = vlm_tokenizer()
    tokenizer.eos_token = "<|im_end|>"
    vocab = tokenizer.get_vocab()
    head = VLM_TEXT["hidden_size"] // VLM_TEXT["num_attention_heads"]
    third = head // 2 // 4
    cfg = Qwen2_5_VLConfig(
        text_config={**VLM_TEXT, "vocab_size": len(vocab), "max_position_embeddings": 512,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                         "mrope_section": [head // 2 - 2 * (3 * third // 2), 3 * third // 2,
                                                           3 * third // 2]},
                     "pad_token_id": vocab["[PAD]"], "bos_token_id": vocab["<s>"],
                     "eos_token_id": vocab["<|im_end|>"], "tie_word_embeddings": True},
        vision_config={**VLM_VISION, "out_hidden_size": VLM_TEXT["hidden_size"]},
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(cfg)
    from vadbench.world.data import CLIP_FRAME_SIZE

    pixels = vlm_pixels(clip_frame_size or CLIP_FRAME_SIZE)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels), tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(**pixels), chat_template=_TINY_CHAT_TEMPLATE,
    )
    return model, processor


def init_vision_from_clip(vlm_model: Any, clip_model: Any) -> list[str]:
    """Copy world-clip's vision weights into the VLM's vision tower where shapes allow (see module doc)."""
    import torch

    src = clip_model.visual.state_dict()
    vis = vlm_model.model.visual
    dst = vis.state_dict()
    pairs: dict[str, torch.Tensor] = {}
    conv = src["conv1.weight"]  # (W, 3, p, p) -> (W, 3, t, p, p): the same filter on each of the t frames
    t = dst["patch_embed.proj.weight"].shape[2]
    pairs["patch_embed.proj.weight"] = conv[:, :, None].expand(-1, -1, t, -1, -1) / t
    for i in range(len(vis.blocks)):
        a, b = f"transformer.resblocks.{i}.", f"blocks.{i}."
        pairs.update({
            b + "norm1.weight": src[a + "ln_1.weight"], b + "norm2.weight": src[a + "ln_2.weight"],
            b + "attn.qkv.weight": src[a + "attn.in_proj_weight"],
            b + "attn.qkv.bias": src[a + "attn.in_proj_bias"],
            b + "attn.proj.weight": src[a + "attn.out_proj.weight"],
            b + "attn.proj.bias": src[a + "attn.out_proj.bias"],
            b + "mlp.up_proj.weight": src[a + "mlp.c_fc.weight"],
            b + "mlp.up_proj.bias": src[a + "mlp.c_fc.bias"],
            b + "mlp.down_proj.weight": src[a + "mlp.c_proj.weight"],
            b + "mlp.down_proj.bias": src[a + "mlp.c_proj.bias"],
        })
    copied = [k for k, v in pairs.items() if k in dst and tuple(dst[k].shape) == tuple(v.shape)]
    with torch.no_grad():
        vis.load_state_dict({**dst, **{k: pairs[k].clone() for k in copied}})
    return copied
