"""COPRA (Jacob et al., arXiv 2605.15325): per-window conditional LoRA for a frozen VLM, trained with GRPO.

Card: ``methods/copra/README.md``. Modules: :mod:`.torch_model` (the LoRA generator and the static LoRA),
:mod:`.grpo` (rewards, advantages, loss), :mod:`.training` (the GRPO loop), :mod:`.method` (the Method).
"""

from vadbench.methods.copra.method import Copra

__all__ = ["Copra"]
