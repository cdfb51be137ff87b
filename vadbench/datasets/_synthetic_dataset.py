"""``Synthetic``: the ShanghaiTech loader on a generated synthetic folder (registered as ``synthetic``).

Import it as ``vadbench.datasets.synthetic.Synthetic``; it lives here so that importing the generator module
(which the CLI does at start-up) does not import the loader and numpy.

Example:
    >>> from vadbench.datasets.synthetic import Synthetic
    >>> Synthetic.splits, Synthetic.name
    (('semi', 'weak'), 'synthetic')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from vadbench.datasets.base import PathLike
from vadbench.datasets.shanghaitech import ShanghaiTech
from vadbench.datasets.synthetic import MANIFEST, ensure_synthetic, read_manifest
from vadbench.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class Synthetic(ShanghaiTech):
    """The synthetic dataset read by the ShanghaiTech loader (splits ``semi`` / ``weak``, same conventions).

    ``root=None``: the cached copy for ``seed`` (default 0) and ``preset`` (default ``tiny``), generated on
    first use. An explicit ``root`` without data is generated there, unless ``generate=False`` (then it is an
    error: ``datasets check`` never creates data). Other keyword arguments are those of
    :class:`~vadbench.datasets.base.Dataset`. Extra: :meth:`anomaly_types`, :meth:`boxes`, :meth:`type_masks`.
    """

    name = "synthetic"
    #: The dataset can generate itself; ``generate=False`` (what ``datasets check`` passes) never does.
    generates = True
    #: The default data: data seed 0 of the ``tiny`` preset (a row records a seed / preset that differs).
    data_defaults: ClassVar[dict[str, Any]] = {"seed": 0, "preset": "tiny"}

    def __init__(self, root: PathLike | None = None, *, seed: int | None = None, preset: str | None = None,
                 generate: bool = True, **kwargs: Any) -> None:
        if not generate and root is not None and read_manifest(root) is None:
            raise DataError(
                f"synthetic: no generated dataset at {root} (no {MANIFEST} there); a check never creates "
                f"data: generate one with `vadbench datasets make synthetic --root {root}`"
            )
        path = ensure_synthetic(root, seed, preset)
        self.manifest: dict[str, Any] = read_manifest(path) or {}
        super().__init__(root=path, **kwargs)
        self.seed: int = int(self.manifest["seed"])
        self.preset: str = str(self.manifest["preset"])

    def data_options(self) -> dict[str, Any]:
        """The generator seed and preset of the folder read (its manifest)."""
        return {"seed": self.seed, "preset": self.preset}

    def make_dataset(self, report: Any) -> pd.DataFrame:
        table = super().make_dataset(report)
        table["fps"] = float(self.manifest["fps"])  # known for every video, frame folders included
        # abnormal videos are classed by their anomaly types (VadCLIP's class list "synthetic")
        types = self.anomaly_types().groupby("video")["type"].agg(lambda t: tuple(sorted(set(t))))
        rows = zip(table["video"], table["label"], table["classes"], strict=True)
        table["classes"] = [types.get(v, c) if int(lab) == 1 else c for v, lab, c in rows]
        return table

    @property
    def known_anomaly_types(self) -> tuple[str, ...]:
        """Every anomaly type the generator knows (a report lists those without a test video)."""
        from vadbench.datasets.synthetic import ANOMALY_TYPES

        return tuple(ANOMALY_TYPES)

    def anomaly_types(self) -> pd.DataFrame:
        """One row per test anomaly: video, event, type, category, start, end (0-based, end exclusive),
        object_id, scene, size_px (mean longer box side), visible (mean visible fraction), small, occluded."""
        import pandas as pd

        path = self.root / "annotations" / "anomaly_types.csv"
        if not path.is_file():
            raise DataError(f"synthetic: anomaly table not found ({path}); regenerate the folder")
        return pd.read_csv(path, dtype={"video": str, "scene": str})

    def boxes(self, video: str) -> pd.DataFrame:
        """Per-frame object boxes of ``video``: frame, object_id, x1, y1, x2, y2 (x2 / y2 exclusive), class
        (person / cyclist / vehicle), is_anomalous, event (-1 for normal objects), visible (not occluded)."""
        import pandas as pd

        path = self.root / "annotations" / "boxes" / f"{video}.csv"
        if not path.is_file():
            raise DataError(f"synthetic: no boxes for video {video!r} ({path})")
        return pd.read_csv(path)

    def type_masks(self, labels: Mapping[str, np.ndarray], by: str = "type"
                   ) -> dict[str, dict[str, np.ndarray]]:
        """Per anomaly type (or ``by="category"``), boolean keep-masks over ``labels`` (any convention).

        For type k a frame is kept when its label is 0 or it belongs to an event of type k; frames past a
        video's real length (16·T padding) belong to the events still running at its last frame. The AUC of
        ``labels[keep]`` against ``scores[keep]`` is then type k's AUC against all normal frames.
        """
        import numpy as np

        if by not in ("type", "category"):
            raise ValueError(f"type_masks: by must be 'type' or 'category', not {by!r}")
        table = self.anomaly_types()
        kinds = sorted(set(table[by]))
        out: dict[str, dict[str, np.ndarray]] = {k: {} for k in kinds}
        videos = self.videos()
        n_frames = dict(zip(videos["video"], videos["n_frames"], strict=True))
        for v, y in labels.items():
            y = np.asarray(y).reshape(-1)
            rows = table[table["video"] == v]
            n = int(n_frames[v]) if v in n_frames else len(y)
            for k in kinds:
                member = np.zeros(len(y), bool)
                for r in rows[rows[by] == k].itertuples():
                    member[r.start : min(r.end, len(y))] = True
                    if r.end >= n:
                        member[n:] = True
                out[k][v] = (y == 0) | member
        return out
