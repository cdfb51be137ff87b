"""``frame-diff``: zero-shot motion energy (mean absolute difference of consecutive frames)."""

from vadbench.methods.baselines.frame_diff.method import FrameDiff

__all__ = ["FrameDiff"]
