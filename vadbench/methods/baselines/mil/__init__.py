"""``mil``: the classic weakly supervised MIL ranking head (Sultani, Chen, Shah, CVPR 2018)."""

from vadbench.methods.baselines.mil.method import MIL

__all__ = ["MIL"]
