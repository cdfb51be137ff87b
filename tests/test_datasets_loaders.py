"""Loaders on tiny fake trees in every supported layout (tests/helpers/data.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import data as D
from vadbench.datasets import get_dataset
from vadbench.datasets.base import BASE_COLUMNS
from vadbench.datasets.lists import read_order_list, video_id
from vadbench.errors import DataError


def test_registry_names_resolve_to_loaders() -> None:
    from vadbench.registry import DATASETS

    for name in ("ucf-crime", "xd-violence", "shanghaitech", "avenue", "ped2", "nwpu-campus"):
        cls = DATASETS.get(name)
        assert cls.name == name and cls.default_convention in cls.conventions


def test_default_root_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    D.make_ped2(tmp_path / "ped2", layout="liu")
    monkeypatch.setenv("VADBENCH_DATA", str(tmp_path))
    ds = get_dataset("ped2")
    assert ds.root == tmp_path / "ped2" and ds.split().test == ["Test001", "Test002"]


def test_ucf_crime_videos_and_labels(tmp_path: Path) -> None:
    facts = D.make_ucf_crime(tmp_path)
    ds = get_dataset("ucf-crime", tmp_path)
    t = ds.videos()
    assert tuple(t.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    assert t["video"].is_unique
    row = t.set_index("video").loc["Abuse028_x264"]
    assert (
        row["subset"],
        row["n_frames"],
        row["n_frames_source"],
        row["fps"],
        row["label"],
        row["classes"],
    ) == ("test", 40, "container", 25.0, 1, ("Abuse",))
    assert t.set_index("video").loc["Normal_Videos001_x264", "classes"] == ("Normal",)
    split = ds.split()
    assert split.test == facts["test"] and split.train == facts["train"]
    # the list has the normal video between the classes; the community order puts normal videos last
    assert split.test[-1] == "Normal_Videos_003_x264"
    y = ds.frame_labels("frames_excl")
    assert [len(a) for a in y.values()] == [facts["n_frames"][v] for v in facts["test"]]
    assert y["Abuse028_x264"][5:20].all() and y["Abuse028_x264"].sum() == 15
    assert y["Arson011_x264"].sum() == 25  # [10, 36) clipped to 35
    yi = ds.frame_labels("frames_incl")
    assert yi["Vandalism007_x264"].sum() == 9 + 11
    rt = ds.frame_labels("rtfm")
    assert len(rt["Abuse028_x264"]) == 48 and rt["Abuse028_x264"].dtype == np.float64
    assert rt["Vandalism007_x264"][41:48].all()  # tail rule: 48 - 40 < 16
    assert not ds.frame_labels("rtfm_v1")["Vandalism007_x264"][41:48].any()


def test_ucf_crime_frame_folders_and_deepmil_lengths(tmp_path: Path) -> None:
    facts = D.make_ucf_crime(tmp_path, media="frames", split_dir=False)
    T = {v: n // 16 for v, n in facts["n_frames"].items()}
    ds = get_dataset("ucf-crime", tmp_path, feature_lengths=T)
    t = ds.videos().set_index("video")
    assert t.loc["Arson011_x264", "n_frames"] == 35 and t.loc["Arson011_x264", "n_frames_source"] == "frames"
    y = ds.frame_labels()  # deepmil
    assert {v: len(a) for v, a in y.items()} == {v: 16 * T[v] for v in facts["test"]}
    assert y["Abuse028_x264"].dtype == np.float32
    # lengths= overrides the CSV
    y2 = ds.frame_labels("vadclip", lengths={"Abuse028_x264": 3})
    assert len(y2["Abuse028_x264"]) == 48


def test_ucf_crime_features_only(tmp_path: Path) -> None:
    facts = D.make_ucf_crime(tmp_path, media=None)
    D.write_lengths_csv(tmp_path / "n.csv", facts["n_frames"])
    ds = get_dataset("ucf-crime", tmp_path, frame_counts=tmp_path / "n.csv")
    assert ds.videos()["n_frames_source"].eq("csv").all()
    assert sum(len(a) for a in ds.frame_labels("frames_excl").values()) == sum(
        facts["n_frames"][v] for v in facts["test"]
    )


def test_xd_violence(tmp_path: Path) -> None:
    facts = D.make_xd_violence(tmp_path, mp4_suffix_on=["v=S-7rRLrxnVQ__#1_label_B4-0-0"])
    ds = get_dataset(
        "xd-violence", tmp_path, feature_lengths={v: (n - 1) // 16 for v, n in facts["n_frames"].items()}
    )
    split = ds.split()
    assert split.test == facts["test"] and split.train == facts["train"]
    t = ds.videos().set_index("video")
    assert t.loc["Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6", "classes"] == (
        "Explosion",
        "Shooting",
        "Car accident",
    )
    y = ds.frame_labels()
    bb = y["Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6"]
    assert len(bb) == 48 and bb.dtype == np.float32 and bb.sum() == 17  # union of [3,10) and [8,20)
    assert y["v=S-7rRLrxnVQ__#1_label_B4-0-0"].sum() == 2  # [30, 60) clipped to 16*2 = 32
    assert ds.warnings and ds.warnings[0].kind == "clipped"


@pytest.mark.parametrize("train", ["video", "frames"])
def test_shanghaitech_semi_and_weak(tmp_path: Path, train: str) -> None:
    facts = D.make_shanghaitech(tmp_path, train=train)
    ds = get_dataset("shanghaitech", tmp_path)
    semi = ds.split("semi")
    assert semi.train == facts["train"] and semi.test == facts["test"]
    t = ds.videos().set_index("video")
    assert t.loc["01_0014", "scene"] == "01" and t.loc["01_0014", "n_frames"] == 20
    assert t.loc["01_002", "n_frames"] == 19
    y = ds.frame_labels(split="semi")
    assert all(np.array_equal(y[v], np.asarray(m, np.uint8)) for v, m in facts["masks"].items())
    weak = ds.split("weak")
    assert weak.train == facts["weak_train"] and weak.test == facts["weak_test"]
    yw = ds.frame_labels(split="weak")  # rtfm: padded masks; normal videos 16*ceil(n/16) without features
    assert list(yw) == facts["weak_test"]
    assert len(yw["02_0161"]) == 32 and yw["02_0161"][16:].all()  # padded with its last label (1)
    assert len(yw["01_002"]) == 32 and not yw["01_002"].any()
    yo = ds.frame_labels("official", split="weak")
    assert len(yo["01_002"]) == 19
    assert ds.weak_labels()["01_0014"] == 1 and ds.weak_labels()["01_001"] == 0


def test_shanghaitech_pel4vad_needs_T(tmp_path: Path) -> None:
    D.make_shanghaitech(tmp_path, train=None, test_frames=False)
    ds = get_dataset("shanghaitech", tmp_path, feature_lengths={"01_0015": 1, "02_0161": 1, "01_002": 1})
    y = ds.frame_labels("pel4vad", split="weak")
    assert [len(a) for a in y.values()] == [16, 16, 16]


@pytest.mark.parametrize("layout", ["official", "liu"])
def test_avenue(tmp_path: Path, layout: str) -> None:
    facts = D.make_avenue(tmp_path, layout=layout)
    ds = get_dataset("avenue", tmp_path)
    split = ds.split()
    assert split.test == facts["test"] and split.train == facts["train"]
    liu = ds.frame_labels("liu")
    assert liu["test/01"].dtype == np.int8 and liu["test/01"].sum() == 5 + 11 and liu["test/01"][2:7].all()
    pix = ds.frame_labels("pixel")
    assert all(np.array_equal(pix[v], facts["pixel"][v]) for v in facts["test"])
    assert list(ds.frame_labels("liu", videos=["02", "01"])) == ["test/02", "test/01"]


@pytest.mark.parametrize("layout", ["official", "liu"])
def test_ped2(tmp_path: Path, layout: str) -> None:
    facts = D.make_ped2(tmp_path, layout=layout)
    ds = get_dataset("ped2", tmp_path)
    assert ds.split().test == facts["test"] and ds.split().train == facts["train"]
    y = ds.frame_labels()
    assert y["Test001"].dtype == np.int64 and y["Test001"][4:].all() and not y["Test001"][:4].any()
    assert y["Test002"].sum() == 3 + 3 and len(y["Test002"]) == 16


def test_nwpu_campus(tmp_path: Path) -> None:
    facts = D.make_nwpu_campus(tmp_path)
    ds = get_dataset("nwpu-campus", tmp_path)
    semi = ds.split("semi")
    assert semi.train == facts["train"] and semi.test == facts["test"]
    assert ds.videos()["video"].is_unique  # D001_01 is both a Train and a Test clip
    y = ds.frame_labels(split="semi")
    assert all(np.array_equal(y[f"test/{k}"], np.asarray(m, np.uint8)) for k, m in facts["masks"].items())
    weak = ds.split("weak")
    assert weak.train == facts["weak_train"] and weak.test == facts["weak_test"]
    yw = ds.frame_labels(split="weak")
    assert len(yw["train/D002_03"]) == 13 and not yw["train/D002_03"].any()
    assert ds.videos().set_index("video").loc["test/D001_01", "scene"] == "D001"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (r"G:\UCF_Test_ten_crop_i3d\Abuse028_x264_i3d.npy", "Abuse028_x264"),
        ("/home/yu/SH_Test_ten_crop_i3d/01_0015_i3d.npy", "01_0015"),
        ("dataset/Testing_Normal_Videos_Anomaly/Normal_Videos_944_x264__9.npy", "Normal_Videos_944_x264"),
        ("test/Abuse028_x264.npy", "Abuse028_x264"),
        ("E:/x/RGBTest/v=38GQ9L2meyE__#1_label_B6-0-0__4.npy", "v=38GQ9L2meyE__#1_label_B6-0-0"),
        ("Abuse028_x264__9_gt.npy", "Abuse028_x264"),
        ("v=abc__#1_label_A__vggish.npy", "v=abc__#1_label_A"),
        ("01_0015", "01_0015"),
    ],
)
def test_video_id(entry: str, expected: str) -> None:
    assert video_id(entry) == expected


def test_read_order_list_formats(tmp_path: Path) -> None:
    crops = tmp_path / "a.list"
    crops.write_text(
        "\n".join(f"dataset/A/x__{k}.npy" for k in range(3))
        + "\n"
        + "\n".join(f"dataset/A/y__{k}.npy" for k in range(3))
    )
    assert read_order_list(crops) == ["x", "y"]
    csvf = tmp_path / "b.csv"
    csvf.write_text("path,label\r\n/h/y__5.npy,Abuse\r\n/h/x__5.npy,Normal\r\n")
    assert read_order_list(csvf) == ["y", "x"]
    plain = tmp_path / "c.txt"
    plain.write_text("D001_01 1\nD002_01 0")
    assert read_order_list(plain) == ["D001_01", "D002_01"]


def test_feature_lengths_from_a_feature_folder(tmp_path: Path) -> None:
    facts = D.make_ucf_crime(tmp_path / "root", media=None)
    feats = tmp_path / "feats"
    for v, n in facts["n_frames"].items():
        for crop in range(2):  # DeepMIL / UR-DMU per-crop layout, [T, D]
            (feats / "Abuse").mkdir(parents=True, exist_ok=True)
            np.save(feats / "Abuse" / f"{v}__{crop}.npy", np.zeros((n // 16, 4), np.float32))
    ds = get_dataset("ucf-crime", tmp_path / "root", feature_lengths=feats)
    assert {v: len(a) for v, a in ds.frame_labels().items()} == {
        v: 16 * (facts["n_frames"][v] // 16) for v in facts["test"]
    }
    np.save(feats / "Abuse" / "Abuse028_x264__1.npy", np.zeros((1, 4), np.float32))
    with pytest.raises(DataError, match=r"Abuse028_x264__1.npy: video 'Abuse028_x264': T = 1 here but 2"):
        get_dataset("ucf-crime", tmp_path / "root", feature_lengths=feats)
