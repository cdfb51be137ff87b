"""NWPU Campus (Cao et al., CVPR 2023): 305 / 242 clips, 43 scenes; semi split and TDSD's weak re-partition.

Layout under the root (``datasets/nwpu-campus/``; a nested ``NWPUCampusDataset/`` folder is accepted)::

    videos/Train/DXXX_YY.avi    videos/Test/DXXX_YY.avi
    groundtruth/NWPU_Campus_gt.npz          (one 0/1 per-frame array per test clip)
    trainingSet_train.txt, trainingSet_test_label.txt, testingSet_train.txt, testingSet_test.txt
                                            (TDSD weak split; also under NWPU_split/ or data/NWPU_split/)

Clip ids repeat across Train and Test, so video keys are ``train/DXXX_YY`` and ``test/DXXX_YY``; a bare id in
an order list or CSV means the test clip. Convention ``official``: the npz arrays (sorted keys), zeros for
Train clips (weak test set).

Example:
    >>> NWPUCampus.splits
    ('semi', 'weak')
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vadbench.datasets import conventions as conv
from vadbench.datasets._io import Report, index_videos
from vadbench.datasets.base import (
    Dataset,
    PathLike,
    Sources,
    fill_counts,
    finish_table,
    isna,
    loader_defaults,
)
from vadbench.datasets.lists import read_id_list, video_id
from vadbench.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

GT_FILE = "groundtruth/NWPU_Campus_gt.npz"
WEAK_DIRS = (".", "NWPU_split", "data/NWPU_split", "tdsd_weak_split")
WEAK_FILES = (
    "trainingSet_train.txt",
    "trainingSet_test_label.txt",
    "testingSet_train.txt",
    "testingSet_test.txt",
)
WEAK_SOURCE = "the public repository shengyangsun/TDSD (data/NWPU_split)"


def _root(root: Path) -> Path:
    if (
        not (root / "videos").is_dir()
        and not (root / "groundtruth").is_dir()
        and (root / "NWPUCampusDataset").is_dir()
    ):
        return root / "NWPUCampusDataset"
    return root


def read_weak_lists(
    root: Path, report: Report, *, required: bool
) -> dict[str, list[tuple[str, int | None, int]]]:
    """The four TDSD lists, ``{file name: [(id, label or None, line), ...]}`` (empty when absent)."""
    found = {}
    for name in WEAK_FILES:
        path = next((root / d / name for d in WEAK_DIRS if (root / d / name).is_file()), None)
        if path is None:
            if required:
                report.add(
                    "missing", root / name, f"TDSD weak-split list not found; fetch it from {WEAK_SOURCE}"
                )
            continue
        found[name] = [
            (vid, lab, ln)
            for vid, lab, ln in read_id_list(path, report, with_label=name == "trainingSet_test_label.txt")
        ]
        found[name + ":path"] = path  # type: ignore[assignment]
    return found


def make_nwpu_campus_dataset(
    root: PathLike, *, sources: Sources | None = None, report: Report | None = None, probe: bool = True
) -> pd.DataFrame:
    """The NWPU Campus table (extra column ``gt_key``: the npz key of a test clip)."""
    import numpy as np

    own, report, sources = loader_defaults(report, sources)
    root = _root(Path(root))
    media = {
        s: {v: ps[0] for v, ps in index_videos(root / "videos" / folder, recursive=False).items()}
        for s, folder in (("train", "Train"), ("test", "Test"))
    }
    gt_path = root / GT_FILE
    keys: dict[str, str] = {}
    if not gt_path.is_file():
        report.add("missing", gt_path, "official ground truth not found (from the official download only)")
    else:
        try:
            with np.load(gt_path, allow_pickle=False) as npz:
                for k in npz.files:
                    vid = video_id(k)
                    if vid in keys:
                        report.add(
                            "duplicate",
                            gt_path,
                            f"clip {vid!r} has two keys ({keys[vid]!r}, {k!r})",
                            video=vid,
                        )
                    keys[vid] = k
        except Exception as err:
            report.add("malformed", gt_path, f"not a readable npz ({type(err).__name__}: {err})")
    for vid, p in media["test"].items():
        if keys and vid not in keys:
            report.add(
                "unknown", p, f"test clip {vid!r} has no ground truth in {GT_FILE}", video=f"test/{vid}"
            )
    train_ids = set(media["train"])
    weak = read_weak_lists(root, report, required=False)
    for name in ("trainingSet_train.txt", "testingSet_train.txt"):
        train_ids |= {v for v, _, _ in weak.get(name, [])}
    test_ids = set(keys) | set(media["test"])
    for name in ("trainingSet_test_label.txt", "testingSet_test.txt"):
        for vid, _, lineno in weak.get(name, []):
            if keys and vid not in keys:
                report.add(
                    "unknown",
                    weak[name + ":path"],
                    f"clip {vid!r} is not an official test clip",  # type: ignore[arg-type]
                    line=lineno,
                    video=f"test/{vid}",
                )
            elif not keys:
                test_ids.add(vid)
    labels = {}
    if keys:
        with np.load(gt_path, allow_pickle=False) as npz:
            for vid, k in keys.items():
                arr = np.asarray(npz[k]).reshape(-1)
                bad = ~np.isin(arr, (0, 1))
                if bad.any():
                    report.add(
                        "malformed",
                        gt_path,
                        f"key {k!r}: values must be 0/1; frame {int(np.argmax(bad))} "
                        f"holds {arr[int(np.argmax(bad))]!r}",
                        video=f"test/{vid}",
                    )
                labels[vid] = (int(arr.any()), int(arr.size))
    for vid, lab, lineno in weak.get("trainingSet_test_label.txt", []):
        if vid in labels and lab is not None and lab != labels[vid][0]:
            report.add(
                "mismatch",
                weak["trainingSet_test_label.txt:path"],
                f"clip {vid!r}: label {lab} but the "  # type: ignore[arg-type]
                f"npz says {labels[vid][0]}",
                line=lineno,
                video=f"test/{vid}",
                severity="warning",
            )
    rows: list[dict[str, Any]] = []
    for subset, ids in (("train", sorted(train_ids)), ("test", sorted(test_ids))):
        for vid in ids:
            lab, n_gt = labels.get(vid, (0, None)) if subset == "test" else (0, None)
            row = {
                "video": f"{subset}/{vid}",
                "subset": subset,
                "path": str(media[subset][vid]) if vid in media[subset] else None,
                "scene": vid.split("_")[0],
                "label": lab,
                "classes": ("Anomaly",) if lab else ("Normal",),
                "gt_key": keys.get(vid) if subset == "test" else None,
                "gt_len": n_gt,
            }
            fill_counts(row, sources, report, probe=probe)
            if n_gt is not None:
                if row["n_frames"] is None:
                    row["n_frames"], row["n_frames_source"] = n_gt, "mask"
                elif row["n_frames"] != n_gt:
                    report.add(
                        "mismatch",
                        gt_path,
                        f"clip {row['video']!r}: {n_gt} labels but {row['n_frames']} "
                        f"frames ({row['n_frames_source']})",
                        video=row["video"],
                    )
            rows.append(row)
    table = finish_table(rows, extra=("gt_key", "gt_len"))
    if own:
        report.raise_errors()
    return table


class NWPUCampus(Dataset):
    """NWPU Campus: ``semi`` (official 305 / 242) and ``weak`` (TDSD re-partition) splits."""

    name = "nwpu-campus"
    conventions = ("official",)
    default_convention = "official"
    splits = ("semi", "weak")
    default_split = "semi"
    annotation_file = GT_FILE

    def make_dataset(self, report: Report) -> pd.DataFrame:
        return make_nwpu_campus_dataset(self.root, sources=self.sources, report=report)

    def resolve_id(self, video: str) -> str:
        return video if "/" in video else f"test/{video}"

    def _split_ids(self, variant: str) -> tuple[list[str], list[str]]:
        if variant == "semi":
            return self._subset_ids()
        report = Report(card=self.card)
        weak = read_weak_lists(_root(self.root), report, required=True)
        report.raise_errors()
        train = [f"train/{v}" for v, _, _ in weak["trainingSet_train.txt"]] + [
            f"test/{v}" for v, _, _ in weak["trainingSet_test_label.txt"]
        ]
        test = [f"train/{v}" for v, _, _ in weak["testingSet_train.txt"]] + [
            f"test/{v}" for v, _, _ in weak["testingSet_test.txt"]
        ]
        return train, sorted(test, key=lambda k: (k.split("/")[1], k))

    def weak_labels(self) -> dict[str, int]:
        """Video-level labels of the weak training set (``trainingSet_test_label.txt`` for Test clips)."""
        report = Report(card=self.card)
        weak = read_weak_lists(_root(self.root), report, required=True)
        report.raise_errors()
        out = {f"train/{v}": 0 for v, _, _ in weak["trainingSet_train.txt"]}
        out.update({f"test/{v}": int(lab or 0) for v, lab, _ in weak["trainingSet_test_label.txt"]})
        return out

    def _video_labels(
        self, convention: str, split: str, row: pd.Series, T: int | None, report: Report
    ) -> np.ndarray:
        import numpy as np

        if row["subset"] == "train":
            return np.zeros(self._need_n(row, convention), dtype=conv.get(self.name, convention).dtype)
        if row["gt_key"] is None or isna(row["gt_key"]):
            raise DataError(
                f"nwpu-campus clip {row['video']!r}: no ground truth in {_root(self.root) / GT_FILE}"
            )
        with np.load(_root(self.root) / GT_FILE, allow_pickle=False) as npz:
            return conv.mask_labels(npz[row["gt_key"]], conv.get(self.name, convention).dtype)


