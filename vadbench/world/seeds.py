"""World seeds: the generator seeds the world's models train and are evaluated on.

World videos are planned and rendered by the generator itself (:mod:`vadbench.world.scenes`), under their own
frame size and counts, from seed numbers far above any benchmark seed: training seeds start at
:data:`TRAIN_BASE` (one block of
:data:`BLOCK` per training seed), evaluation seeds at :data:`EVAL_BASE`. ``tests/test_world.py`` checks that
no preset of any method (metafiles) nor the generator's defaults use them.

Example:
    >>> train_seeds(0, 3), eval_seeds(2)
    ([1000000, 1000001, 1000002], [9000000, 9000001])
"""

from __future__ import annotations

TRAIN_BASE = 1_000_000
BLOCK = 100_000
EVAL_BASE = 9_000_000
#: Every benchmark (preset) seed is below this.
BENCHMARK_SEEDS_BELOW = TRAIN_BASE


def train_seeds(seed: int, n: int) -> list[int]:
    """``n`` world seeds for training run ``seed`` (blocks never overlap the evaluation seeds)."""
    if not 0 <= n <= BLOCK or not 0 <= seed < (EVAL_BASE - TRAIN_BASE) // BLOCK:
        raise ValueError(f"world train seeds: seed {seed} / n {n} out of range")
    return [TRAIN_BASE + seed * BLOCK + i for i in range(n)]


def eval_seeds(n: int) -> list[int]:
    """``n`` world seeds for evaluation (never used in training)."""
    return [EVAL_BASE + i for i in range(n)]
