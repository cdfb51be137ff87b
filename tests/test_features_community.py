"""Community feature formats read from the real list files (fake .npy files named after their entries)."""

from __future__ import annotations

import numpy as np
import pytest

from vadbench.errors import ConfigError, DataError
from vadbench.features_community import FORMATS, guess_format, read_community, read_feature_list


def _write(folder, name, shape, rng, dtype=np.float32):
    folder.mkdir(parents=True, exist_ok=True)
    arr = rng.standard_normal(shape).astype(dtype)
    np.save(folder / name, arr)
    return arr


@pytest.mark.realdata
@pytest.mark.parametrize(
    "rel, fmt, n_videos, crops_per_video",
    [
        ("ucf_crime/lists/ucf-i3d-test.list", "rtfm-i3d", 290, 10),
        ("ucf_crime/lists/ucf-i3d.list", "rtfm-i3d", 1610, 10),
        ("shanghaitech/lists/shanghai-i3d-test-10crop.list", "rtfm-i3d", 199, 10),
        ("ucf_crime/lists/UCF_Test_urdmu.list", "deepmil-i3d", 290, 10),
        ("ucf_crime/lists/ucf_CLIP_rgbtest.csv", "vadclip-clip", 290, 1),
        ("xd_violence/lists/XD_Test_urdmu.list", "xd-i3d", 800, 5),
        ("xd_violence/lists/test_pel4vad.list", "xd-i3d", 800, 5),
        ("xd_violence/lists/xd_CLIP_rgbtest.csv", "vadclip-clip", 800, 1),
    ],
)
def test_real_lists(realdata, tmp_path, rng, rel, fmt, n_videos, crops_per_video):
    path = realdata / rel
    assert guess_format(path) == fmt
    entries = read_feature_list(path)
    order = list(dict.fromkeys(e.video for e in entries))
    assert len(order) == n_videos and len(entries) == n_videos * (
        crops_per_video if FORMATS[fmt].layout == "per_crop" else 1
    )
    # fake files for the first two and the last video, in nested folders (paths in the list are foreign)
    chosen = [order[0], order[1], order[-1]]
    spec = FORMATS[fmt]
    expected = {}
    for k, video in enumerate(chosen):
        T = 3 + k
        mine = [e for e in entries if e.video == video]
        if spec.layout == "per_video":
            expected[video] = _write(
                tmp_path / "feats" / f"sub{k}", mine[0].basename, (T, spec.crops, spec.dim), rng
            )
        else:
            arrays = [_write(tmp_path / "feats" / f"sub{k}", e.basename, (T, spec.dim), rng) for e in mine]
            expected[video] = np.stack(arrays, 1)
    got = read_community(path, tmp_path / "feats", fmt, videos=chosen)
    for video in chosen:
        assert got.features[video].dtype == np.float32
        np.testing.assert_array_equal(got.features[video], expected[video])
        assert got.features[video].shape[1] == crops_per_video
    assert got.order == order
    if rel.endswith("ucf_CLIP_rgbtest.csv"):
        assert (
            got.crops[order[0]] == [5]
            and got.labels[order[0]] == "Abuse"
            and got.labels[order[-1]] == "Normal"
        )
    if rel.endswith("xd_CLIP_rgbtest.csv"):
        assert got.crops[order[0]] == [0] and got.labels[order[0]] == "G-B2-B6"
    if fmt == "xd-i3d":
        assert got.crops[order[0]] == [0, 1, 2, 3, 4]
    # a video of the list whose file is absent: the error names the entry, the expected file and the folder
    with pytest.raises(DataError, match=r"line \d+: feature file .* not found under .*feats"):
        read_community(path, tmp_path / "feats", fmt, videos=[order[2]])


def test_shape_and_file_errors(tmp_path, rng):
    folder = tmp_path / "f"
    _write(folder, "a_i3d.npy", (4, 10, 1024), rng)
    lst = tmp_path / "rtfm.list"
    lst.write_text("G:\\x\\a_i3d.npy\n")
    with pytest.raises(
        DataError, match=r"a_i3d\.npy: expected \[T, 10, 2048\] .* found shape \(4, 10, 1024\)"
    ):
        read_community(lst, folder, "rtfm-i3d")
    _write(folder, "b__0.npy", (5, 512), rng)
    _write(folder, "b__1.npy", (6, 512), rng)
    csv = tmp_path / "c.csv"
    csv.write_text("path,label\n/x/b__0.npy,Abuse\n/x/b__1.npy,Abuse\n")
    with pytest.raises(DataError, match=r"video 'b': the crops have different lengths T \{0: 5, 1: 6\}"):
        read_community(csv, folder, "vadclip-clip")
    _write(folder, "c__vggish.npy", (7, 128), rng)
    vg = tmp_path / "v.list"
    vg.write_text("c__vggish.npy")
    got = read_community(vg, folder, "xd-vggish")
    assert got.features["c"].shape == (7, 1, 128)
    (folder / "bad__0.npy").write_bytes(b"not npy")
    bad = tmp_path / "bad.list"
    bad.write_text("bad__0.npy\n")
    with pytest.raises(DataError, match=r"bad__0\.npy cannot be read as \.npy"):
        read_community(bad, folder, "deepmil-i3d")
    with pytest.raises(ConfigError, match="unknown community feature format 'c3d'"):
        read_community(bad, folder, "c3d")
    with pytest.raises(DataError, match="feature list .*nope.list not found"):
        read_community(tmp_path / "nope.list", folder, "deepmil-i3d")
    with pytest.raises(DataError, match="feature folder .* not found"):
        read_community(bad, tmp_path / "nofolder", "deepmil-i3d")


def test_pel4vad_entry_without_crop_suffix_is_crop_0(tmp_path, rng):
    arr = _write(tmp_path / "test", "Abuse028_x264.npy", (3, 1024), rng)
    lst = tmp_path / "test.list"
    lst.write_text("test/Abuse028_x264.npy\n")
    got = read_community(lst, tmp_path, "deepmil-i3d")
    assert got.crops["Abuse028_x264"] == [0]
    np.testing.assert_array_equal(got.features["Abuse028_x264"][:, 0], arr)
