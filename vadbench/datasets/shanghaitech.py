"""ShanghaiTech Campus: the official semi-supervised split (330 / 107) and Zhong et al.'s weak one (238/199).

Layout under the root (``datasets/shanghaitech/``; a nested ``shanghaitech/`` folder is also accepted)::

    training/videos/NN_XXX.avi          or training/frames/NN_XXX/NNN.jpg   (330 normal videos)
    testing/frames/NN_XXXX/NNN.jpg      or testing/videos/NN_XXXX.avi       (107 test videos)
    testing/test_frame_mask/NN_XXXX.npy (1-D uint8 0/1, one entry per frame; defines the test set)
    testing/test_pixel_mask/NN_XXXX.npy (optional, read lazily)
    SH_Train.txt, SH_Test.txt           (weak split only; also under ShanghaiTech_new_split/)

Conventions: ``official`` (semi default: the masks), ``rtfm`` (weak default: RTFM ``gt-sh.npy``), ``pel4vad``.

Example:
    >>> from vadbench.datasets.shanghaitech import ShanghaiTech
    >>> ShanghaiTech.splits, ShanghaiTech.default_convention
    (('semi', 'weak'), 'official')
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vadbench.datasets import conventions as conv
from vadbench.datasets._io import Report, index_frame_folders, index_videos
from vadbench.datasets.base import (
    Dataset,
    PathLike,
    Sources,
    fill_counts,
    finish_table,
    isna,
    loader_defaults,
)
from vadbench.datasets.lists import read_id_list
from vadbench.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Where Zhong et al.'s weak split lists are looked for (relative to the root), in order.
WEAK_LIST_DIRS = (".", "ShanghaiTech_new_split", "weakly_split_zhong2019")
WEAK_SPLIT_SOURCE = (
    "the public repository of the split, jx-zhong-for-academic-purpose/GCN-Anomaly-Detection "
    "(ShanghaiTech_new_split/SH_Train.txt and SH_Test.txt; RTFM ships byte-identical copies)"
)
_ID = re.compile(r"^\d{2}_\d{3,4}$")


def resolve_root(root: PathLike, marker: str, nested: str) -> Path:
    """``root``, or ``root/<nested>`` when only that holds ``marker`` (an unpacked archive's top folder)."""
    root = Path(root)
    if not (root / marker).exists() and (root / nested / marker).exists():
        return root / nested
    return root


def video_classes(label: int) -> tuple[str, ...]:
    """Class names of a ShanghaiTech video (the dataset has no event classes)."""
    return ("Anomaly",) if label else ("Normal",)


def make_shanghaitech_dataset(
    root: PathLike, *, sources: Sources | None = None, report: Report | None = None, probe: bool = True
) -> pd.DataFrame:
    """The ShanghaiTech table: one row per video (official training videos, then the masked test videos).

    Extra columns: ``mask`` (frame-mask path), ``pixel_mask`` (path or None), ``weak_subset`` (``train`` /
    ``test`` / None: membership in Zhong's split, when the lists are present).
    """
    own, report, sources = loader_defaults(report, sources)
    root = resolve_root(root, "testing", "shanghaitech")
    rows: dict[str, dict[str, Any]] = {}

    # training media
    train_media: dict[str, Path] = {}
    vids = index_videos(root / "training" / "videos", recursive=False)
    for vid, paths in vids.items():
        train_media[vid] = paths[0]
    for vid, folder in index_frame_folders(root / "training" / "frames").items():
        train_media.setdefault(vid, folder)
    for vid in sorted(train_media):
        rows[vid] = {"video": vid, "subset": "train", "path": str(train_media[vid]), "label": 0}

    # test masks (the test set) and test media
    mask_dir = root / "testing" / "test_frame_mask"
    if not mask_dir.is_dir():
        report.add(
            "missing",
            mask_dir,
            "folder of per-frame test masks not found (testing/test_frame_mask/"
            "<id>.npy, one 1-D 0/1 array per test video)",
        )
        masks: dict[str, Path] = {}
    else:
        masks = {p.stem: p for p in sorted(mask_dir.glob("*.npy")) if not p.name.startswith(".")}
        if not masks:
            report.add("missing", mask_dir, "no <id>.npy mask files")
    test_media: dict[str, Path] = dict(index_frame_folders(root / "testing" / "frames"))
    for vid, paths in index_videos(root / "testing" / "videos", recursive=False).items():
        test_media.setdefault(vid, paths[0])
    for vid in sorted(set(test_media) - set(masks)):
        if masks:
            report.add(
                "unknown",
                test_media[vid],
                f"test video {vid!r} has no frame mask ({mask_dir / (vid + '.npy')})",
                video=vid,
            )
    pixel_dir = root / "testing" / "test_pixel_mask"
    import numpy as np

    for vid in sorted(masks):
        try:
            mask = np.load(masks[vid], mmap_mode="r", allow_pickle=False)
        except Exception as err:
            report.add("malformed", masks[vid], f"not a readable .npy array ({err})", video=vid)
            continue
        if mask.ndim != 1 and not (mask.ndim == 2 and 1 in mask.shape):
            report.add(
                "malformed", masks[vid], f"expected a 1-D per-frame mask, found shape {mask.shape}", video=vid
            )
            continue
        mask = np.asarray(mask).reshape(-1)
        bad = ~np.isin(mask, (0, 1))
        if bad.any():
            first = int(np.argmax(bad))
            report.add(
                "malformed", masks[vid], f"values must be 0/1; frame {first} holds {mask[first]!r}", video=vid
            )
            continue
        pix = pixel_dir / f"{vid}.npy"
        rows[vid] = {
            "video": vid,
            "subset": "test",
            "path": str(test_media[vid]) if vid in test_media else None,
            "label": int(mask.any()),
            "mask": str(masks[vid]),
            "pixel_mask": str(pix) if pix.is_file() else None,
            "mask_len": int(mask.size),
        }

    # weak split membership (optional lists)
    weak = _read_weak_lists(root, report, required=False)
    if weak is not None:
        for subset_name, ids in (("train", weak[0]), ("test", weak[1])):
            for vid, lineno, path in ids:
                if vid not in rows:
                    if len(vid.split("_")[-1]) == 4 and masks:  # an official test id without a mask
                        report.add(
                            "unknown",
                            path,
                            f"id {vid!r} is not an official test video (no {mask_dir.name}/{vid}.npy)",
                            line=lineno,
                            video=vid,
                        )
                        continue
                    rows[vid] = {"video": vid, "subset": "train", "path": None, "label": 0}
                rows[vid]["weak_subset"] = subset_name

    # ids only known from the CSVs (feature users without videos)
    for vid in sorted(set(sources.frame_counts) | set(sources.feature_lengths)):
        if vid not in rows and _ID.match(vid) and len(vid.split("_")[1]) == 3:
            rows[vid] = {"video": vid, "subset": "train", "path": None, "label": 0}

    out = []
    for vid, row in rows.items():
        row.update(scene=vid.split("_")[0], classes=video_classes(row["label"]))
        fill_counts(row, sources, report, probe=probe)
        if row["subset"] == "test":
            if row["n_frames"] is None:
                row["n_frames"], row["n_frames_source"] = row["mask_len"], "mask"
            elif row["n_frames"] != row["mask_len"]:
                report.add(
                    "mismatch",
                    row["mask"],
                    f"video {vid!r}: mask has {row['mask_len']} entries but "
                    f"the video has {row['n_frames']} frames ({row['n_frames_source']})",
                    video=vid,
                )
        out.append(row)
    out.sort(key=lambda r: (r["subset"] != "train", r["video"]))
    table = finish_table(out, extra=("mask", "pixel_mask", "mask_len", "weak_subset"))
    if own:
        report.raise_errors()
    return table


def _read_weak_lists(
    root: Path, report: Report, *, required: bool
) -> tuple[list[tuple[str, int, Path]], list[tuple[str, int, Path]]] | None:
    found = {}
    for name in ("SH_Train.txt", "SH_Test.txt"):
        for d in WEAK_LIST_DIRS:
            if (root / d / name).is_file():
                found[name] = root / d / name
                break
    if len(found) < 2:
        if required or found:
            for name in ("SH_Train.txt", "SH_Test.txt"):
                if name not in found:
                    report.add(
                        "missing",
                        root / name,
                        f"weak-split list {name} not found at the root; fetch it from {WEAK_SPLIT_SOURCE}",
                        severity="error" if required else "warning",
                    )
        return None
    out = []
    for name in ("SH_Train.txt", "SH_Test.txt"):
        ids = read_id_list(found[name], report)
        for vid, _, lineno in ids:
            if not _ID.match(vid):
                report.add(
                    "malformed",
                    found[name],
                    f"expected an id like 01_001 or 01_0014, found {vid!r}",
                    line=lineno,
                    video=vid,
                )
        out.append([(vid, lineno, found[name]) for vid, _, lineno in ids if _ID.match(vid)])
    train_ids = {v for v, _, _ in out[0]}
    for vid, lineno, path in out[1]:
        if vid in train_ids:
            report.add(
                "duplicate",
                path,
                f"id {vid!r} is in both SH_Train.txt and SH_Test.txt",
                line=lineno,
                video=vid,
            )
    return out[0], out[1]


class ShanghaiTech(Dataset):
    """ShanghaiTech Campus (Luo et al., ICCV 2017). Splits ``semi`` (official) and ``weak`` (Zhong et al.)."""

    name = "shanghaitech"
    conventions = ("official", "rtfm", "pel4vad")
    default_convention = "official"
    splits = ("semi", "weak")
    default_split = "semi"
    #: default convention per split
    split_conventions = {"semi": "official", "weak": "rtfm"}

    def make_dataset(self, report: Report) -> pd.DataFrame:
        return make_shanghaitech_dataset(self.root, sources=self.sources, report=report)

    @property
    def data_root(self) -> Path:
        """The folder that holds ``training/`` and ``testing/`` (the root or its nested ``shanghaitech/``)."""
        return resolve_root(self.root, "testing", "shanghaitech")

    def convention_for(self, convention: str | None, split: str | None) -> str:
        return super().convention_for(convention or self.split_conventions.get(split or "semi"), split)

    def _split_ids(self, variant: str) -> tuple[list[str], list[str]]:
        table = self.videos()
        if variant == "semi":
            return self._subset_ids()
        report = Report(card=self.card)
        weak = _read_weak_lists(self.data_root, report, required=True)
        report.raise_errors()
        assert weak is not None
        train = [v for v, _, _ in weak[0]]
        test = [v for v, _, _ in weak[1]]
        subset = dict(zip(table["video"], table["subset"], strict=True))
        # RTFM test-list order: the official test videos (abnormal) first, then the normal ones (list order)
        test = [v for v in test if subset.get(v) == "test"] + [v for v in test if subset.get(v) != "test"]
        return train, test

    def weak_labels(self) -> dict[str, int]:
        """Video-level labels of the weak split (1 = an official test video, i.e. one that has anomalies)."""
        table = self.videos()
        return {
            v: int(s == "test" and lab)
            for v, s, lab in zip(table["video"], table["subset"], table["label"], strict=True)
        }

    def _video_labels(
        self, convention: str, split: str, row: pd.Series, T: int | None, report: Report
    ) -> np.ndarray:
        import numpy as np

        mask = np.load(row["mask"], allow_pickle=False).reshape(-1) if row["subset"] == "test" else None
        if convention == "official":
            if mask is not None:
                return conv.mask_labels(mask, "uint8")
            return np.zeros(self._need_n(row, convention), dtype="uint8")
        if convention == "rtfm":
            if mask is not None:
                return conv.sht_rtfm(mask)
            if T is None and not isna(row["n_snippets"]):
                T = int(row["n_snippets"])
            if T is None and isna(row["n_frames"]):
                raise DataError(
                    f"shanghaitech video {row['video']!r}: convention 'rtfm' needs its snippet count "
                    "T (--feature-lengths CSV video,T) or its frame count (the video under "
                    f"{self.data_root / 'training' / 'videos'} or --frame-counts CSV)"
                )
            return conv.sht_rtfm(None, T=T, n=None if isna(row["n_frames"]) else int(row["n_frames"]))
        if convention == "pel4vad":
            T = self._need_T(row, T, convention)
            y = conv.sht_rtfm(mask, T=T, n=None if isna(row["n_frames"]) else int(row["n_frames"]))
            if len(y) < 16 * T:
                raise DataError(
                    f"shanghaitech video {row['video']!r}: pel4vad truncates the rtfm labels "
                    f"({len(y)}) to 16·T = {16 * T}, which is longer"
                )
            return y[: 16 * T]
        raise AssertionError(convention)

    def _check_extra(self, table: pd.DataFrame, report: Report, *, decode: bool) -> None:
        super()._check_extra(table, report, decode=decode)
        test = table[table["subset"] == "test"]
        missing = test[test["path"].isna()]
        if len(missing) and len(missing) < len(test):
            for v in missing["video"]:
                report.add(
                    "missing",
                    self.data_root / "testing" / "frames" / v,
                    "test video frames not found",
                    video=v,
                )
        train = table[table["subset"] == "train"]
        if not (self.data_root / "training").is_dir():
            report.add(
                "missing",
                self.data_root / "training",
                "training videos not found (training/videos/NN_XXX.avi or training/frames/NN_XXX/)",
                severity="warning",
            )
        elif train["path"].isna().any():
            for v in train.loc[train["path"].isna(), "video"]:
                report.add(
                    "missing",
                    self.data_root / "training" / "videos" / f"{v}.avi",
                    "training video named by a list or CSV not found",
                    video=v,
                    severity="warning",
                )
        if not os.path.isdir(self.data_root / "testing" / "frames") and not os.path.isdir(
            self.data_root / "testing" / "videos"
        ):
            report.add(
                "missing",
                self.data_root / "testing" / "frames",
                "test frames not found (testing/frames/NN_XXXX/NNN.jpg); labels still work from the masks",
                severity="warning",
            )
        if _read_weak_lists(self.data_root, Report(), required=False) is None:
            report.add(
                "missing",
                self.data_root / "SH_Train.txt",
                f"weak split lists not found (only needed "
                f"for split 'weak'); fetch them from {WEAK_SPLIT_SOURCE}",
                severity="warning",
            )


