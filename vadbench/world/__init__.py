"""The synthetic world's own pretrained models: ``world-clip`` (open_clip) and ``world-vlm`` (Qwen2.5-VL).

Both are trained by the project on renders of the synthetic generator (:mod:`vadbench.datasets.synthetic`)
drawn from generator seeds that no preset uses (:mod:`vadbench.world.seeds`), with captions and questions
built from the generator's per-object state (:mod:`vadbench.world.captions`). Their weights ship inside the
package (``vadbench/world/weights``: safetensors + ``manifest.json``) and load by name with no network:

- ``load_clip("world-clip")`` (:mod:`vadbench.backbones.clip`; ``--backbone world-clip``),
- ``VLM.from_pretrained("world-vlm")`` (:mod:`vadbench.backbones.vlm`).

``vadbench world train`` rebuilds both from a seed on CPU; ``vadbench world eval`` prints their accuracies
on renders of unseen seeds.

Example:
    >>> from vadbench.world import WORLD_CLIP, WORLD_VLM
    >>> WORLD_CLIP, WORLD_VLM
    ('world-clip', 'world-vlm')
"""

from __future__ import annotations

from pathlib import Path

WORLD_CLIP = "world-clip"
WORLD_VLM = "world-vlm"
#: The open_clip tag of the shipped world-clip weights (``load_clip("world-clip", "world")``).
WORLD_TAG = "world"
#: Where the shipped weights and their manifest live (inside the package).
WEIGHTS_DIR = Path(__file__).with_name("weights")
