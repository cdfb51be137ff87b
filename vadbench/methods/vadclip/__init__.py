"""VadCLIP (Wu et al., AAAI 2024): weakly supervised VAD on frozen CLIP features.

Card: ``vadbench/methods/vadclip/README.md`` (beside ``metafile.yaml``).

Modules: :mod:`.torch_model` (nn.Modules), :mod:`.losses`, :mod:`.lengths` (training / test length handling),
:mod:`.classes` (class lists), :mod:`.method` (the :class:`VadCLIP` Method).
"""

from vadbench.methods.vadclip.method import VadCLIP

__all__ = ["VadCLIP"]
