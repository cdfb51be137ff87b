"""Video decoding: frame-accurate readers (files, frame folders), snippets / clips, crops, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av")

from vadbench.errors import DataError  # noqa: E402
from vadbench.video import FrameFolderReader, VideoFileReader, list_frame_files, open_video  # noqa: E402
from vadbench.video.crops import CROP_COUNTS, apply_crops, crop_geometry  # noqa: E402
from vadbench.video.sampling import clip_indices, iter_clips, iter_snippets, snippet_count  # noqa: E402
from vadbench.video.writer import barcode_frames, read_barcode, write_frames, write_video  # noqa: E402

N = 90


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """The same barcoded frames as mp4 (x264, B-frames), avi (mpeg4), mkv and png / jpg / tif folders."""
    d = tmp_path_factory.mktemp("media")
    frames = barcode_frames(N, 48, 64)
    out = {
        "mp4": write_video(d / "v.mp4", frames, fps=30),
        "avi": write_video(d / "v.avi", frames, fps=25),
        "mkv": write_video(d / "v.mkv", frames, fps=24),
        "png": write_frames(d / "png", frames, ext="png"),
        "jpg": write_frames(d / "jpg", frames, ext="jpg", pattern="{:d}"),  # 0.jpg .. 89.jpg: numeric sort
        "tif": write_frames(d / "tif", frames, ext="tif", pattern="img_{:05d}"),
    }
    return frames, out


KINDS = ["mp4", "avi", "mkv", "png", "jpg", "tif"]


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_and_random_access_are_frame_accurate(media, kind):
    frames, paths = media
    with open_video(paths[kind]) as reader:
        assert isinstance(reader, FrameFolderReader if kind in ("png", "jpg", "tif") else VideoFileReader)
        assert len(reader) == N
        decoded = list(reader.iter_frames())
        assert [read_barcode(f) for f in decoded] == list(range(N))
        assert decoded[0].shape == (48, 64, 3) and decoded[0].dtype == np.uint8
        # random access in a scrambled order (backward seeks, forward gaps, repeats)
        for i in [57, 3, 89, 58, 60, 0, 88, 20, 20, -1]:
            assert read_barcode(reader.get(i)) == (i % N)
        batch = reader.get_batch([70, 5, 70, 33])
        assert [read_barcode(f) for f in batch] == [70, 5, 70, 33]
        assert [read_barcode(f) for f in reader.iter_frames(start=10, stop=40, step=7)] == [
            10,
            17,
            24,
            31,
            38,
        ]
        with pytest.raises(IndexError, match=f"frame {N} out of range"):
            reader.get(N)


def test_lossless_sources_give_identical_pixels(media):
    frames, paths = media
    for kind in ("png", "tif"):
        np.testing.assert_array_equal(open_video(paths[kind]).get_batch(range(N)), frames)


def test_video_metadata(media):
    _, paths = media
    assert open_video(paths["mp4"]).fps == pytest.approx(30)
    assert open_video(paths["avi"]).fps == pytest.approx(25)
    assert open_video(paths["png"]).fps is None
    assert open_video(paths["png"], fps=12.5).fps == 12.5


@pytest.mark.parametrize("kind", ["mp4", "png"])
def test_resize_and_crop_on_the_fly(media, kind):
    _, paths = media
    reader = open_video(paths[kind], size=(128, 96))
    assert reader.get(0).shape == (96, 128, 3)
    assert read_barcode(reader.get(45)) == 45
    cropped = open_video(paths[kind], size=(128, 96), crop=(10, 0, 50, 128))
    assert cropped.get(3).shape == (50, 128, 3) and cropped.frame_shape() == (50, 128)
    np.testing.assert_array_equal(cropped.get(7), reader.get(7)[10:60])
    with pytest.raises(DataError, match="does not fit a frame of 128x96"):
        open_video(paths[kind], size=(128, 96), crop=(80, 0, 50, 128)).get(0)


def test_frame_folder_sorting_and_hidden_files(tmp_path):
    for name in ["10.jpg", "9.jpg", "100.JPG", ".DS_Store", "._9.jpg", "readme.txt", "2.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.jpg").mkdir()
    assert [p.name for p in list_frame_files(tmp_path)] == ["2.png", "9.jpg", "10.jpg", "100.JPG"]


def test_missing_and_unreadable_inputs(tmp_path):
    with pytest.raises(DataError, match="nope.mp4 not found"):
        open_video(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 50)
    with pytest.raises(DataError, match=r"junk\.mp4: cannot be opened .* no frame decoded"):
        open_video(junk)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="has no image files"):
        open_video(empty)


def test_truncated_and_corrupt_files_name_the_last_frame(media, tmp_path):
    _, paths = media
    data = paths["avi"].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        DataError,
        match=r"cut\.avi: truncated: the header declares 90 frames but the file holds \d+ "
        r"\(last frame present: \d+\)",
    ):
        len(open_video(cut))
    with pytest.raises(
        DataError, match=r"cut\.avi: truncated or corrupt: 90 frames .* stopped after frame \d+"
    ):
        list(open_video(cut).iter_frames())
    mp4 = paths["mp4"].read_bytes()
    cut_mp4 = tmp_path / "cut.mp4"
    cut_mp4.write_bytes(mp4[: len(mp4) // 2])  # moov atom at the end: the container cannot be opened
    with pytest.raises(DataError, match=r"cut\.mp4: cannot be opened"):
        open_video(cut_mp4)
    broken = bytearray(mp4)
    mid = len(broken) // 2
    broken[mid : mid + 2000] = bytes(2000)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(broken))
    with pytest.raises(DataError, match=r"bad\.mp4: decoding failed after frame \d+ \(\d+ frames decoded\)"):
        list(open_video(bad, strict=True).iter_frames())


def test_corrupt_image_in_folder(media, tmp_path):
    frames, _ = media
    folder = write_frames(tmp_path / "f", frames[:20], ext="png")
    (folder / "012.png").write_bytes(b"garbage")
    reader = open_video(folder)
    with pytest.raises(
        DataError, match=r"image 012\.png \(frame 12\) cannot be decoded .* last frame decoded: 11"
    ):
        list(reader.iter_frames())


# -------------------------------------------------------------------------------- snippets and clips


def test_clip_indices_rules():
    assert snippet_count(100) == 6 and snippet_count(96) == 6 and snippet_count(15) == 0
    assert snippet_count(100, tail="keep") == 7 and snippet_count(100, tail="pad") == 7
    keep = clip_indices(20, 16, tail="keep")
    assert keep[1].tolist() == [16, 17, 18, 19]
    pad = clip_indices(20, 16, tail="pad")
    assert pad[1].tolist() == [16, 17, 18, 19] + [19] * 12
    over = clip_indices(40, 16, stride=8)
    assert [c[0] for c in over] == [0, 8, 16, 24]
    spaced = clip_indices(20, length=4, stride=5, step=3)
    assert [c.tolist() for c in spaced] == [[0, 3, 6, 9], [5, 8, 11, 14], [10, 13, 16, 19]]
    with pytest.raises(ValueError, match="tail must be one of"):
        clip_indices(10, tail="cut")
    with pytest.raises(ValueError, match="stride must be >= 1"):
        clip_indices(10, stride=0)


@pytest.mark.parametrize("kind", ["mp4", "png"])
def test_iter_snippets_and_clips_content(media, kind):
    _, paths = media
    reader = open_video(paths[kind])
    snippets = list(iter_snippets(reader))
    assert len(snippets) == N // 16
    for s in snippets:
        assert s.frames.shape == (16, 48, 64, 3)
        assert [read_barcode(f) for f in s.frames] == list(range(16 * s.index, 16 * s.index + 16))
    overlapping = list(iter_snippets(reader, length=16, stride=8, tail="pad"))
    assert [s.start for s in overlapping] == list(range(0, N, 8))
    assert [read_barcode(f) for f in overlapping[-1].frames] == [88, 89] + [89] * 14
    clips = list(iter_clips(reader, length=4, step=5, stride=30))
    assert [[read_barcode(f) for f in c.frames] for c in clips] == [
        [0, 5, 10, 15],
        [30, 35, 40, 45],
        [60, 65, 70, 75],
    ]


# ------------------------------------------------------------------------------------------ crops


def test_crop_geometry_matches_vadclip_demo():
    resize, boxes = crop_geometry("10crop")
    assert resize == (340, 256)
    windows = [(b.top, b.left, b.height, b.width) for b in boxes]
    assert windows[0] == (16, 58, 224, 224)  # img[16:240, 58:282]
    assert windows[1:5] == [(0, 0, 224, 224), (0, 116, 224, 224), (32, 0, 224, 224), (32, 116, 224, 224)]
    assert windows[5:] == windows[:5] and [b.flip for b in boxes] == [False] * 5 + [True] * 5
    assert [len(crop_geometry(k)[1]) for k in CROP_COUNTS] == [1, 5, 10, 1]
    assert crop_geometry("5crop", 112)[0] == (170, 128)
    with pytest.raises(ValueError, match="unknown crop protocol 'six'"):
        crop_geometry("six")


def test_apply_crops_against_numpy_slicing(rng):
    torch = pytest.importorskip("torch")
    frames = rng.integers(0, 256, size=(3, 73, 97, 3), dtype=np.uint8)  # already at the scaled 340x256 size
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out = apply_crops(torch.from_numpy(frames), "10crop", 64, mean, std).numpy()
    assert out.shape == (3, 10, 3, 64, 64)
    _, boxes = crop_geometry("10crop", 64)
    for k, b in enumerate(boxes):
        crop = frames[:, b.top : b.top + 64, b.left : b.left + 64].astype(np.float32)
        if b.flip:
            crop = crop[:, :, ::-1]
        expected = ((crop / 255.0 - np.array(mean)) / np.array(std)).transpose(0, 3, 1, 2)
        np.testing.assert_allclose(out[:, k], expected, rtol=1e-5, atol=1e-5)
    # a frame of another size is resized first (bilinear), values stay uint8-rounded
    big = apply_crops(
        torch.from_numpy(np.full((1, 240, 320, 3), 77, np.uint8)), "center", 64, (0,) * 3, (1 / 255,) * 3
    )
    np.testing.assert_allclose(big.numpy(), 77.0, atol=1e-4)


def test_full_crop_keeps_the_whole_frame_that_center_cuts(rng):
    torch = pytest.importorskip("torch")
    frames = np.zeros((1, 96, 128, 3), np.uint8)
    frames[:, :, :12] = 255  # something at the left edge of the picture
    one = (1 / 255,) * 3
    full = apply_crops(torch.from_numpy(frames), "full", 56, (0,) * 3, one).numpy()
    center = apply_crops(torch.from_numpy(frames), "center", 56, (0,) * 3, one).numpy()
    assert full.shape == center.shape == (1, 1, 3, 56, 56)
    assert full[0, 0, :, :, :4].min() > 250 and center.max() == 0  # the centre crop never sees it
