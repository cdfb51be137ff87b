"""``knn``: semi-supervised distance to the k nearest normal training snippet features."""

from vadbench.methods.baselines.knn.method import KNN

__all__ = ["KNN"]
