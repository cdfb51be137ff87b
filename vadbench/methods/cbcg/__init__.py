"""CBCG: weakly supervised VAD with cross-batch clustering guidance (Cao et al., ICME 2023), a reconstruction.

Only the abstract is public; spec ``specs/methods/cbcg.md`` section 5 is what is built (``fidelity =
reconstruction``). Card: ``methods/cbcg/README.md``; presets: ``methods/cbcg/metafile.yaml``.
"""

from vadbench.methods.cbcg.method import CBCG

__all__ = ["CBCG"]
