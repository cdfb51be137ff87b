"""Every bad input gives a clear error naming the file (and line); `vadbench datasets check` reports it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import data as D
from vadbench.cli import app
from vadbench.datasets import get_dataset
from vadbench.datasets.lists import read_order_list
from vadbench.errors import ConfigError, DataError

UCF_ANN = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"


def _append(path: Path, line: str) -> None:
    text = path.read_text()
    path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + line + "\n")


def _check(args: list[str]) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["datasets", "check", *args])
    return res.exit_code, res.output


def test_check_clean_tree_exits_zero(tmp_path: Path) -> None:
    D.make_shanghaitech(tmp_path)
    code, out = _check(["--dataset", "shanghaitech", "--root", str(tmp_path)])
    assert code == 0, out
    assert "present: test: 3 videos, 3 with media" in out and "0 error(s)" in out


def test_malformed_annotation_line(tmp_path: Path) -> None:
    D.make_ucf_crime(tmp_path, media=None)
    _append(tmp_path / UCF_ANN, "Abuse099_x264.mp4  Abuse  165  240  -1")
    with pytest.raises(DataError, match=rf"malformed: .*{UCF_ANN}:5: expected 6 fields"):
        get_dataset("ucf-crime", tmp_path).videos()
    code, out = _check(["-d", "ucf-crime", "--root", str(tmp_path)])
    assert code == 1 and f"{UCF_ANN}:5" in out.replace("\n", "")


def test_malformed_xd_line_odd_numbers(tmp_path: Path) -> None:
    D.make_xd_violence(tmp_path)
    (tmp_path / "annotations.txt").write_text("Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6 3 10 8\n")
    with pytest.raises(DataError, match=r"annotations.txt:1: expected 'name s1 e1 \[s2 e2 ...\]'"):
        get_dataset("xd-violence", tmp_path).videos()


def test_annotation_for_unknown_video(tmp_path: Path) -> None:
    D.make_ucf_crime(tmp_path, media=None)
    _append(tmp_path / UCF_ANN, "Abuse099_x264.mp4  Abuse  1  2  -1  -1  ")
    with pytest.raises(
        DataError,
        match=r"unknown: .*:5: annotation for video 'Abuse099_x264', which is not in "
        r"Anomaly_Test.txt",
    ):
        get_dataset("ucf-crime", tmp_path).videos()


def test_xd_annotation_for_video_outside_test_folder(tmp_path: Path) -> None:
    D.make_xd_violence(tmp_path)
    _append(tmp_path / "annotations.txt", "v=nope__#1_label_B1-0-0 1 5")
    with pytest.raises(DataError, match=r"annotations.txt:3: annotation for video 'v=nope__#1_label_B1-0-0'"):
        get_dataset("xd-violence", tmp_path).videos()


@pytest.mark.parametrize("where", ["split", "annotation", "weak", "csv", "order"])
def test_duplicate_ids(tmp_path: Path, where: str) -> None:
    if where == "split":
        D.make_ucf_crime(tmp_path, media=None)
        _append(tmp_path / "Anomaly_Detection_splits" / "Anomaly_Test.txt", "Abuse/Abuse028_x264.mp4")
        with pytest.raises(
            DataError, match=r"duplicate: .*Anomaly_Test.txt:5: video 'Abuse028_x264' listed twice"
        ):
            get_dataset("ucf-crime", tmp_path).videos()
    elif where == "annotation":
        D.make_ucf_crime(tmp_path, media=None)
        _append(tmp_path / UCF_ANN, "Abuse028_x264.mp4  Abuse  1  2  -1  -1  ")
        with pytest.raises(DataError, match=r":5: video 'Abuse028_x264' annotated twice \(first at line 1\)"):
            get_dataset("ucf-crime", tmp_path).videos()
    elif where == "weak":
        D.make_shanghaitech(tmp_path, train=None, test_frames=False)
        _append(tmp_path / "SH_Test.txt", "01_0014")
        with pytest.raises(
            DataError, match=r"SH_Test.txt:4: id '01_0014' is in both SH_Train.txt and SH_Test.txt"
        ):
            get_dataset("shanghaitech", tmp_path).videos()
    elif where == "csv":
        D.make_ped2(tmp_path, layout="liu")
        D.write_lengths_csv(tmp_path / "n.csv", {"Test001": 20})
        _append(tmp_path / "n.csv", "Test001,21")
        with pytest.raises(DataError, match=r"n.csv:3: video 'Test001' listed twice"):
            get_dataset("ped2", tmp_path, frame_counts=tmp_path / "n.csv")
    else:
        p = tmp_path / "o.list"
        p.write_text("a/x__0.npy\na/x__1.npy\na/y__0.npy\na/x__2.npy\n")
        with pytest.raises(DataError, match=r"o.list:4: video 'x' listed again \(first at line 1\)"):
            read_order_list(p)


def test_interval_past_end_is_clipped_counted_and_reported(tmp_path: Path) -> None:
    D.make_ucf_crime(tmp_path)
    ds = get_dataset("ucf-crime", tmp_path)
    y = ds.frame_labels("frames_incl")
    assert len(y["Arson011_x264"]) == 35 and y["Arson011_x264"][10:].all()
    clipped = [w for w in ds.warnings if w.kind == "clipped"]
    assert [w.video for w in clipped] == ["Arson011_x264"] and clipped[0].line == 2
    code, out = _check(["-d", "ucf-crime", "--root", str(tmp_path)])
    assert code == 0 and "warning clipped" in out and "Arson011_x264" in out
    code, _ = _check(["-d", "ucf-crime", "--root", str(tmp_path), "--strict"])
    assert code == 1
    res = CliRunner().invoke(
        app,
        [
            "gt",
            "export",
            "-d",
            "ucf-crime",
            "--root",
            str(tmp_path),
            "-c",
            "frames_incl",
            "--out",
            str(tmp_path / "gt.npy"),
        ],
    )
    assert res.exit_code == 0 and "1 video(s) with intervals clipped" in res.output


def test_undecodable_video_is_named(tmp_path: Path) -> None:
    D.make_shanghaitech(tmp_path)
    bad = tmp_path / "training" / "videos" / "01_002.avi"
    bad.write_bytes(b"not a video" * 20)
    with pytest.raises(DataError, match=r"undecodable: .*01_002.avi: cannot open video"):
        get_dataset("shanghaitech", tmp_path).videos()
    code, out = _check(["-d", "shanghaitech", "--root", str(tmp_path)])
    assert code == 1 and "01_002.avi" in out.replace("\n", "")


def test_truncated_video_names_the_frame_where_decoding_stopped(tmp_path: Path) -> None:
    D.make_shanghaitech(tmp_path)
    path = D.write_video(tmp_path / "training" / "videos" / "01_001.avi", 40, size=(64, 48))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    ds = get_dataset("shanghaitech", tmp_path)
    assert ds.videos().set_index("video").loc["01_001", "n_frames"] == 40  # metadata only: not decoded
    problems = [p for p in ds.check(decode=True) if p.kind == "undecodable"]
    assert len(problems) == 1 and problems[0].path.endswith("01_001.avi")
    assert (
        "decoding stopped at frame" in problems[0].message
        and "the container says 40 frames" in problems[0].message
    )
    code, out = _check(["-d", "shanghaitech", "--root", str(tmp_path), "--decode"])
    assert code == 1 and "decoding stopped at frame" in out


def test_missing_test_video_is_an_error_unless_allowed(tmp_path: Path) -> None:
    facts = D.make_ucf_crime(tmp_path)
    (tmp_path / "Abuse" / "Abuse028_x264.mp4").unlink()
    ds = get_dataset("ucf-crime", tmp_path)
    with pytest.raises(DataError, match=r"1 of 4 test videos missing .*Abuse028_x264.*--allow-missing"):
        ds.split()
    ds = get_dataset("ucf-crime", tmp_path, allow_missing=True)
    assert ds.split().test == [v for v in facts["test"] if v != "Abuse028_x264"]
    assert ds.missing == ["Abuse028_x264"]
    code, out = _check(["-d", "ucf-crime", "--root", str(tmp_path)])
    assert code == 1 and "test video 'Abuse028_x264' not found" in out
    res = CliRunner().invoke(
        app,
        [
            "gt",
            "export",
            "-d",
            "ucf-crime",
            "--root",
            str(tmp_path),
            "-c",
            "frames_excl",
            "--allow-missing",
            "--out",
            str(tmp_path / "gt.npy"),
        ],
    )
    assert (
        res.exit_code == 0
        and "1 missing test video(s) left out" in res.output
        and "Abuse028_x264" in res.output
    )
    res = CliRunner().invoke(
        app,
        [
            "gt",
            "export",
            "-d",
            "ucf-crime",
            "--root",
            str(tmp_path),
            "-c",
            "frames_excl",
            "--out",
            str(tmp_path / "gt.npy"),
        ],
    )
    assert res.exit_code == 2 and "Abuse028_x264" in res.output


def test_missing_from_feature_length_csv(tmp_path: Path) -> None:
    facts = D.make_ucf_crime(tmp_path, media=None)
    T = {v: n // 16 for v, n in facts["n_frames"].items() if v != "Vandalism007_x264"}
    with pytest.raises(DataError, match=r"1 of 4 test videos missing.*Vandalism007_x264"):
        get_dataset("ucf-crime", tmp_path, feature_lengths=T).frame_labels()


def test_order_list_must_cover_the_test_set(tmp_path: Path) -> None:
    facts = D.make_ucf_crime(tmp_path)
    ds = get_dataset("ucf-crime", tmp_path)
    with pytest.raises(DataError, match=r"1 of 4 test videos missing"):
        ds.frame_labels("frames_excl", videos=facts["test"][1:])
    with pytest.raises(DataError, match=r"not in the test set of split 'test': Abuse001_x264"):
        ds.frame_labels("frames_excl", videos=[*facts["test"], "Abuse001_x264"])
    ds = get_dataset("ucf-crime", tmp_path, allow_missing=True)
    assert list(ds.frame_labels("frames_excl", videos=facts["test"][1:])) == facts["test"][1:]
    assert ds.missing == [facts["test"][0]]


def test_snippet_convention_needs_T(tmp_path: Path) -> None:
    D.make_ucf_crime(tmp_path, media=None)
    with pytest.raises(DataError, match=r"convention 'deepmil' needs the snippet count T.*--feature-lengths"):
        get_dataset("ucf-crime", tmp_path).frame_labels()
    with pytest.raises(DataError, match=r"needs the frame count.*--frame-counts"):
        get_dataset("ucf-crime", tmp_path).frame_labels("rtfm")


def test_unknown_convention_and_split(tmp_path: Path) -> None:
    D.make_ped2(tmp_path, layout="liu")
    with pytest.raises(
        ConfigError, match=r"unknown ground-truth convention 'rtfm' for ped2; known: official"
    ):
        get_dataset("ped2", tmp_path).frame_labels("rtfm")
    with pytest.raises(ConfigError, match=r"unknown split 'weak'"):
        get_dataset("ped2", tmp_path).split("weak")


def test_weak_split_lists_missing_names_the_public_repository(tmp_path: Path) -> None:
    D.make_shanghaitech(tmp_path, weak_lists=False)
    ds = get_dataset("shanghaitech", tmp_path)
    assert len(ds.split("semi").test) == 3
    with pytest.raises(DataError, match=r"SH_Train.txt not found.*GCN-Anomaly-Detection"):
        ds.split("weak")
    D.make_nwpu_campus(tmp_path / "n", weak=False)
    with pytest.raises(DataError, match=r"trainingSet_train.txt.*shengyangsun/TDSD"):
        get_dataset("nwpu-campus", tmp_path / "n").split("weak")


def test_missing_annotation_files(tmp_path: Path) -> None:
    code, out = _check(["-d", "ucf-crime", "--root", str(tmp_path)])
    assert code == 1 and "Anomaly_Test.txt" in out and "Temporal_Anomaly_Annotation" in out
    with pytest.raises(DataError, match=r"(?s)test_frame_mask.*not found.*expected layout: see .*README.md"):
        get_dataset("shanghaitech", tmp_path).videos()
    with pytest.raises(DataError, match=r"UCSDped2.m or ped2.mat"):
        get_dataset("ped2", tmp_path).videos()
    with pytest.raises(DataError, match=r"neither avenue.mat"):
        get_dataset("avenue", tmp_path).videos()
    with pytest.raises(DataError, match=r"NWPU_Campus_gt.npz"):
        get_dataset("nwpu-campus", tmp_path).videos()


def test_bad_mask_values_and_mismatched_lengths(tmp_path: Path) -> None:
    D.make_shanghaitech(tmp_path)
    np.save(tmp_path / "testing" / "test_frame_mask" / "01_0015.npy", np.full(18, 2, np.uint8))
    with pytest.raises(DataError, match=r"01_0015.npy: values must be 0/1; frame 0 holds"):
        get_dataset("shanghaitech", tmp_path).videos()
    np.save(tmp_path / "testing" / "test_frame_mask" / "01_0015.npy", np.zeros(17, np.uint8))
    with pytest.raises(
        DataError,
        match=r"mismatch: .*01_0015.npy: video '01_0015': mask has 17 entries but the "
        r"video has 18 frames \(frames\)",
    ):
        get_dataset("shanghaitech", tmp_path).videos()


def test_test_media_without_ground_truth(tmp_path: Path) -> None:
    D.make_ped2(tmp_path, layout="official")
    D.write_frames(tmp_path / "UCSDped2" / "Test" / "Test003", 5, ext=".tif", start=1)
    with pytest.raises(
        DataError, match=r"unknown: .*Test003: test video 'Test003' has no ground-truth entry"
    ):
        get_dataset("ped2", tmp_path).videos()


def test_malformed_m_file_and_csv(tmp_path: Path) -> None:
    D.make_ped2(tmp_path, layout="official")
    m = tmp_path / "UCSDped2" / "Test" / "UCSDped2.m"
    m.write_text(m.read_text().replace("[1:3, 10:12]", "[1:3, 12:10]"))
    with pytest.raises(DataError, match=r"UCSDped2.m:3: bad range '12:10'"):
        get_dataset("ped2", tmp_path).videos()
    (tmp_path / "n.csv").write_text("video,n_frames\nTest001,twenty\n")
    with pytest.raises(DataError, match=r"n.csv:2: expected an integer in column 2, found 'twenty'"):
        get_dataset("ped2", tmp_path, frame_counts=tmp_path / "n.csv")


def test_nwpu_unknown_clip_in_weak_list(tmp_path: Path) -> None:
    D.make_nwpu_campus(tmp_path)
    _append(tmp_path / "testingSet_test.txt", "D009_09")
    with pytest.raises(
        DataError, match=r"testingSet_test.txt:2: clip 'D009_09' is not an official test clip"
    ):
        get_dataset("nwpu-campus", tmp_path).videos()


def test_csv_naming_unknown_videos_is_reported(tmp_path: Path) -> None:
    D.make_ped2(tmp_path, layout="liu")
    D.write_lengths_csv(tmp_path / "n.csv", {"Test001": 20, "Test077": 5})
    problems = get_dataset("ped2", tmp_path, frame_counts=tmp_path / "n.csv").check()
    assert [(p.kind, p.severity) for p in problems] == [("unknown", "warning")]
    assert "Test077" in problems[0].message


def test_a_video_found_twice_is_a_warning_and_the_first_copy_is_used(tmp_path):
    from vadbench.datasets._io import Report, index_videos, unique_videos

    for sub in ("a", "b", "Normal_Videos_event"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "Abuse001_x264.mp4").write_bytes(b"")
    (tmp_path / "Normal_Videos_event" / "Only_event.mp4").write_bytes(b"")
    report = Report()
    media = unique_videos(tmp_path, report, {"Normal_Videos_event"})
    copies = index_videos(tmp_path)["Abuse001_x264"]
    first, second = [p for p in copies if p.parent.name != "Normal_Videos_event"]
    assert media == {"Abuse001_x264": first}  # the skipped folder's copies are left out
    [warning] = report.warnings
    assert warning.kind == "duplicate" and warning.path == str(second)
    assert "video 'Abuse001_x264' found twice" in warning.message and "using the first" in warning.message
