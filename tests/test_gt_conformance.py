"""Conformance: the ground-truth conventions reproduce the community arrays on the real annotation files.

Roots are assembled in tmp_path with symlinks to ../shared/realdata (never copied) plus frame-count /
feature-length CSVs built from realdata/tables. Totals must equal protocols.md 11.7 exactly.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.data import write_lengths_csv
from vadbench.datasets import conventions as conv
from vadbench.datasets.lists import read_order_list
from vadbench.registry import DATASETS

pytestmark = pytest.mark.realdata


def _table(realdata: Path, name: str) -> list[dict[str, str]]:
    with open(realdata / "tables" / name, newline="") as fh:
        return list(csv.DictReader(fh))


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(src)


def _totals(labels: dict[str, np.ndarray]) -> tuple[int, int, int, str]:
    y = np.concatenate(list(labels.values()))
    return len(labels), int(y.size), int(np.count_nonzero(y)), str(y.dtype)


@pytest.fixture(scope="module")
def ucf_root(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ucf-crime")
    src = realdata / "ucf_crime"
    _link(
        src / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
        root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
    )
    for name in ("Anomaly_Train.txt", "Anomaly_Test.txt"):
        _link(src / name, root / "Anomaly_Detection_splits" / name)
    rows = _table(realdata, "ucf_crime_test_videos.csv")
    write_lengths_csv(root / "n.csv", {r["video"]: int(r["n_frames"]) for r in rows})
    write_lengths_csv(root / "T.csv", {r["video"]: int(r["T_deepmil_i3d"]) for r in rows}, "T")
    return root


@pytest.mark.parametrize("name", ["deepmil", "rtfm", "rtfm_v1", "frames_excl", "frames_incl"])
def test_ucf_crime_totals(ucf_root: Path, name: str) -> None:
    ds = DATASETS.get("ucf-crime")(
        ucf_root, frame_counts=ucf_root / "n.csv", feature_lengths=ucf_root / "T.csv"
    )
    assert _totals(ds.frame_labels(name)) == conv.REFERENCE_TOTALS[("ucf-crime", name)]


def test_ucf_crime_deepmil_per_video_files(ucf_root: Path, realdata: Path) -> None:
    """Every PEL4VAD per-video file ``<video>__9_gt.npy`` equals our video labels (values and dtype)."""
    ds = DATASETS.get("ucf-crime")(ucf_root, feature_lengths=ucf_root / "T.csv")
    labels = ds.frame_labels("deepmil")
    files = sorted((realdata / "ucf_crime" / "per_video_gt_deepmil").glob("*__9_gt.npy"))
    assert len(files) == 290
    for f in files:
        ref = np.load(f)
        got = labels[f.name[: -len("__9_gt.npy")]]
        assert got.dtype == ref.dtype and np.array_equal(got, ref), f.name


def test_ucf_crime_order_matches_every_community_list(ucf_root: Path, realdata: Path) -> None:
    ds = DATASETS.get("ucf-crime")(ucf_root, feature_lengths=ucf_root / "T.csv")
    default = list(ds.frame_labels("deepmil"))
    assert default == [r["video"] for r in _table(realdata, "ucf_crime_test_videos.csv")]
    for name in ("ucf-i3d-test.list", "UCF_Test_urdmu.list", "ucf_CLIP_rgbtest.csv"):
        order = read_order_list(realdata / "ucf_crime" / "lists" / name)
        assert list(ds.frame_labels("deepmil", videos=order)) == default, name


def test_ucf_crime_clipped_intervals_are_reported(ucf_root: Path) -> None:
    ds = DATASETS.get("ucf-crime")(ucf_root, frame_counts=ucf_root / "n.csv")
    ds.frame_labels("frames_incl")
    clipped = sorted(w.video for w in ds.warnings if w.kind == "clipped")
    assert clipped == sorted(
        f"{v}_x264"
        for v in (
            "Arson011",
            "Arson016",
            "Assault006",
            "Explosion033",
            "Fighting003",
            "Shooting015",
            "Shooting046",
        )
    )
    assert all(w.line is not None and "Temporal_Anomaly" in w.path for w in ds.warnings)


def test_ucf_crime_gt_export_cli(ucf_root: Path, realdata: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vadbench.cli import app

    out = tmp_path / "gt-ucf.npy"
    res = CliRunner().invoke(
        app,
        [
            "gt",
            "export",
            "--dataset",
            "ucf-crime",
            "--root",
            str(ucf_root),
            "--convention",
            "rtfm",
            "--frame-counts",
            str(ucf_root / "n.csv"),
            "--order",
            str(realdata / "ucf_crime" / "lists" / "ucf-i3d-test.list"),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    y = np.load(out)
    assert (y.size, int(y.sum()), str(y.dtype)) == (1_114_144, 84_389, "float64")
    lengths = (tmp_path / "gt-ucf_lengths.csv").read_text().splitlines()
    assert lengths[0] == "video,n_labels" and lengths[1] == "Abuse028_x264,1424" and len(lengths) == 291


@pytest.fixture(scope="module")
def xd_root(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("xd-violence")
    _link(realdata / "xd_violence" / "annotations.txt", root / "annotations.txt")
    rows = _table(realdata, "xd_violence_test_videos.csv")
    write_lengths_csv(root / "T.csv", {r["video"]: int(r["T_i3d"]) for r in rows}, "T")
    return root


def test_xd_violence_totals_and_orders(xd_root: Path, realdata: Path) -> None:
    ds = DATASETS.get("xd-violence")(xd_root, feature_lengths=xd_root / "T.csv")
    labels = ds.frame_labels("xdviodet")
    assert _totals(labels) == conv.REFERENCE_TOTALS[("xd-violence", "xdviodet")]
    assert list(labels) == [r["video"] for r in _table(realdata, "xd_violence_test_videos.csv")]
    assert len({w.video for w in ds.warnings if w.kind == "clipped"}) == 71
    for name in ("XD_Test_urdmu.list", "test_pel4vad.list", "xd_CLIP_rgbtest.csv"):
        assert read_order_list(realdata / "xd_violence" / "lists" / name) == list(labels), name


def test_xd_violence_per_video_violent_frames(xd_root: Path, realdata: Path) -> None:
    ds = DATASETS.get("xd-violence")(xd_root, feature_lengths=xd_root / "T.csv")
    labels = ds.frame_labels()
    for r in _table(realdata, "xd_violence_test_videos.csv"):
        y = labels[r["video"]]
        assert (len(y), int(y.sum())) == (int(r["gt_len(=16*T_i3d)"]), int(r["violent_frames_in_gt"] or 0))


def test_xd_violence_test_set_from_order_list(xd_root: Path, realdata: Path, tmp_path: Path) -> None:
    """Without videos, --order names the test set (the CLI passes it as test_list)."""
    from typer.testing import CliRunner

    from vadbench.cli import app

    out = tmp_path / "xd.npy"
    res = CliRunner().invoke(
        app,
        [
            "gt",
            "export",
            "-d",
            "xd-violence",
            "--root",
            str(xd_root),
            "--order",
            str(realdata / "xd_violence" / "lists" / "XD_Test_urdmu.list"),
            "--feature-lengths",
            str(xd_root / "T.csv"),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    y = np.load(out)
    assert (y.size, int(y.sum()), str(y.dtype)) == (2_330_384, 537_805, "float32")


@pytest.fixture(scope="module")
def sht_root(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shanghaitech")
    src = realdata / "shanghaitech"
    _link(src / "test_frame_mask", root / "testing" / "test_frame_mask")
    for name in ("SH_Train.txt", "SH_Test.txt"):
        _link(src / "weakly_split_zhong2019" / name, root / name)
    rows = _table(realdata, "shanghaitech_weak_test_videos.csv")
    write_lengths_csv(
        root / "T.csv", {r["video"]: int(r["gt_len(16*T)"]) // 16 for r in rows if r["label"] == "0"}, "T"
    )
    return root


def test_shanghaitech_semi_official(sht_root: Path, realdata: Path) -> None:
    ds = DATASETS.get("shanghaitech")(sht_root)
    labels = ds.frame_labels(split="semi")
    assert _totals(labels) == conv.REFERENCE_TOTALS[("shanghaitech", "official")]
    rows = _table(realdata, "shanghaitech_official_test_videos.csv")
    assert list(labels) == sorted(r["video"] for r in rows)
    for r in rows:
        assert (len(labels[r["video"]]), int(labels[r["video"]].sum())) == (
            int(r["n_frames"]),
            int(r["abnormal_frames"]),
        )
        assert np.array_equal(
            labels[r["video"]], np.load(sht_root / "testing" / "test_frame_mask" / f"{r['video']}.npy")
        )


def test_shanghaitech_weak_rtfm(sht_root: Path, realdata: Path) -> None:
    ds = DATASETS.get("shanghaitech")(sht_root, feature_lengths=sht_root / "T.csv")
    labels = ds.frame_labels(split="weak")
    assert _totals(labels) == conv.REFERENCE_TOTALS[("shanghaitech", "rtfm")]
    rows = _table(realdata, "shanghaitech_weak_test_videos.csv")
    assert list(labels) == [r["video"] for r in rows]
    assert list(labels) == read_order_list(
        realdata / "shanghaitech" / "lists" / "shanghai-i3d-test-10crop.list"
    )
    for r in rows:
        y = labels[r["video"]]
        assert (len(y), int(y.sum())) == (int(r["gt_len(16*T)"]), int(r["abnormal_frames_in_gt"]))
    split = ds.split("weak")
    assert (len(split.train), len(split.test)) == (238, 199)


@pytest.fixture(scope="module")
def avenue_root(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("avenue")
    _link(realdata / "avenue" / "avenue.mat", root / "avenue.mat")
    _link(realdata / "avenue" / "testing_label_mask", root / "ground_truth_demo" / "testing_label_mask")
    return root


def test_avenue_liu(avenue_root: Path, realdata: Path) -> None:
    ds = DATASETS.get("avenue")(avenue_root)
    labels = ds.frame_labels("liu")
    assert _totals(labels) == conv.REFERENCE_TOTALS[("avenue", "liu")]
    for r in _table(realdata, "avenue_test_videos.csv"):
        y = labels[f"test/{r['video']}"]
        assert (len(y), int(y.sum())) == (int(r["n_frames"]), int(r["abn_frames_liu_hasan(MNAD npy)"]))


@pytest.mark.parametrize("video", ["08", "21", "03"])
def test_avenue_pixel_per_video(avenue_root: Path, realdata: Path, video: str) -> None:
    """Three small real mask files (the whole set is in the slow test below)."""
    from vadbench.datasets.avenue import pixel_labels

    ds = DATASETS.get("avenue")(avenue_root)

    y = pixel_labels(avenue_root / "ground_truth_demo" / "testing_label_mask" / f"{int(video)}_label.mat")
    row = next(r for r in _table(realdata, "avenue_test_videos.csv") if r["video"] == video)
    assert (len(y), int(y.sum()), str(y.dtype)) == (
        int(row["n_frames"]),
        int(row["abn_frames_pixelmask(any>0)"]),
        "int32",
    )
    assert ds.videos().set_index("video").loc[f"test/{video}", "n_frames"] == int(row["n_frames"])


@pytest.mark.slow
def test_avenue_pixel_totals(avenue_root: Path) -> None:
    ds = DATASETS.get("avenue")(avenue_root)
    assert _totals(ds.frame_labels("pixel")) == conv.REFERENCE_TOTALS[("avenue", "pixel")]


def test_ped2_official(realdata: Path, tmp_path: Path) -> None:
    _link(realdata / "ped2" / "ped2.mat", tmp_path / "ped2.mat")
    rows = _table(realdata, "ped2_test_videos.csv")
    write_lengths_csv(tmp_path / "n.csv", {r["video"]: int(r["n_frames"]) for r in rows})
    ds = DATASETS.get("ped2")(tmp_path, frame_counts=tmp_path / "n.csv")
    labels = ds.frame_labels()
    assert _totals(labels) == conv.REFERENCE_TOTALS[("ped2", "official")]
    for r in rows:
        assert int(labels[r["video"]].sum()) == int(r["abnormal_frames"])


def test_nwpu_weak_lists(realdata: Path, tmp_path: Path) -> None:
    """The real TDSD lists with a fake npz built here (the real one is not public)."""
    src = realdata / "nwpu_campus" / "tdsd_weak_split"
    for f in src.iterdir():
        _link(f, tmp_path / "NWPU_split" / f.name)
    test_ids = sorted(
        {
            ln.split()[0]
            for name in ("trainingSet_test_label.txt", "testingSet_test.txt")
            for ln in (src / name).read_text().split("\n")
            if ln.strip()
        }
    )
    train_ids = sorted(
        {
            ln.strip()
            for name in ("trainingSet_train.txt", "testingSet_train.txt")
            for ln in (src / name).read_text().split("\n")
            if ln.strip()
        }
    )
    assert (len(train_ids), len(test_ids)) == (305, 242)
    labels = {
        ln.split()[0]: int(ln.split()[1])
        for ln in (src / "trainingSet_test_label.txt").read_text().split("\n")
        if ln.strip()
    }
    rng = np.random.default_rng(0)
    gt = {}
    for i, v in enumerate(test_ids):
        y = np.zeros(20 + i % 7, np.uint8)
        if labels.get(v, 1):
            y[rng.integers(0, 10) :][:5] = 1
        gt[v] = y
    (tmp_path / "groundtruth").mkdir()
    np.savez(tmp_path / "groundtruth" / "NWPU_Campus_gt.npz", **gt)
    write_lengths_csv(tmp_path / "n.csv", {f"train/{v}": 30 for v in train_ids})
    ds = DATASETS.get("nwpu-campus")(tmp_path, frame_counts=tmp_path / "n.csv")
    weak = ds.split("weak")
    assert (len(weak.train), len(weak.test)) == (149 + 167, 156 + 75)
    semi = ds.split("semi")
    assert (len(semi.train), len(semi.test)) == (305, 242)
    assert len({v.split("/")[1].split("_")[0] for v in semi.train + semi.test}) == 43
    y = ds.frame_labels(split="semi")
    assert list(y) == [f"test/{v}" for v in sorted(gt)]
    assert sum(int(a.sum()) for a in y.values()) == sum(int(a.sum()) for a in gt.values())
    yw = ds.frame_labels(split="weak")
    assert sum(len(a) for k, a in yw.items() if k.startswith("train/")) == 30 * 156
    assert ds.weak_labels()["test/D001_03"] == 1
