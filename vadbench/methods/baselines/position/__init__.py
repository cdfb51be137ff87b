"""``position``: a content-free score from the frame's position in its video (the shortcut probe)."""

from vadbench.methods.baselines.position.method import PositionScores

__all__ = ["PositionScores"]
