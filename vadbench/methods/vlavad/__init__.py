"""VLAVAD (Li & Jiang, BMVC 2024): per-object VLM answers, Selective Prompt Adapter, S3M temporal score.

Card: ``methods/vlavad/README.md``. Modules: :mod:`.scan` (selective scan), :mod:`.torch_model` (S3M and the
ablation predictors), :mod:`.scores` (SPA, A_s, A_t, fusion), :mod:`.answers` (prompts, answer cache, text
embeddings), :mod:`.method` (the :class:`VLAVAD` Method).
"""

from vadbench.methods.vlavad.method import VLAVAD

__all__ = ["VLAVAD"]
