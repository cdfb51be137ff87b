"""The standard baselines, registered as methods like any other: ``random``, ``position`` (content-free),
``frame-diff`` (zero-shot motion energy), ``knn`` (semi: distance to normal training snippets) and ``mil``
(weak: the classic MIL ranking head). Every run's report shows them beside the method under the same
protocol; a method's learning test asserts a margin over the best baseline of its supervision.
"""
