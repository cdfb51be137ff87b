"""``random``: a uniform random score per frame (the chance floor of every protocol)."""

from vadbench.methods.baselines.random.method import RandomScores

__all__ = ["RandomScores"]
