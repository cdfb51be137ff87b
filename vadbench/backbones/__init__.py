"""Pretrained backbones: CLIP through open_clip (:mod:`vadbench.backbones.clip`), VLMs, detector and tracker.

Each submodule imports its heavy dependencies (torch, open_clip, transformers) inside its functions.
"""
