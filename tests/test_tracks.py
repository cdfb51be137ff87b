"""Tracks pipeline: detector + ByteTrack per video, the cache (manifest, checksums, resume), crops."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import vadbench.tracks as tracks_mod
from vadbench.backbones.tracker import identity_metrics
from vadbench.errors import ConfigError, DataError
from vadbench.tracks import TRACK_PRESETS, Track, TrackStore, crop_box, load_tracks, resolve_preset

H, W = 90, 160
COLORS = {1: (230, 40, 40), 2: (40, 40, 230)}


def render(n_frames: int, seed: int = 0, cross: bool = True):
    """Two rectangles on a textured static background, crossing (one hides the other) or in separate lanes;
    returns frames and gt {id: {frame: box}}."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(60, 140, (H, W, 3)).astype(np.float32)
    objs = {1: dict(x=4.0, y=20.0, vx=5.0, vy=0.5, w=16, h=32),
            2: dict(x=136.0, y=40.0, vx=-5.0, vy=-0.3, w=14, h=30)}
    if not cross:
        objs[1].update(y=2.0, vy=0.0)
        objs[2].update(y=55.0, vy=0.0)
    frames, gt = [], {}
    for f in range(n_frames):
        img = bg + rng.normal(0, 3, bg.shape)
        for oid in (2, 1):  # object 1 drawn in front
            o = objs[oid]
            x, y = int(round(o["x"] + o["vx"] * f)), int(round(o["y"] + o["vy"] * f))
            img[y : y + o["h"], x : x + o["w"]] = COLORS[oid]
            gt.setdefault(oid, {})[f] = np.array([x, y, x + o["w"], y + o["h"]], float)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames, gt


def write_folder(path: Path, frames) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(path / f"{i:03d}.png")
    return path


class FakeDataset:
    """The part of the Dataset API tracks use: name, root, videos()."""

    def __init__(self, root: Path, videos: dict[str, Path], name: str = "fake") -> None:
        self.name, self.root, self._videos = name, root, videos

    def videos(self) -> pd.DataFrame:
        rows = [{"video": v, "subset": "test", "path": str(p), "n_frames": None, "fps": 25.0} for v, p in
                self._videos.items()]
        return pd.DataFrame(rows)


@pytest.fixture
def fake(tmp_path):
    f1, gt1 = render(30, seed=1)
    f2, gt2 = render(24, seed=2)
    ds = FakeDataset(tmp_path, {"a": write_folder(tmp_path / "a", f1), "b": write_folder(tmp_path / "b", f2)})
    return ds, {"a": gt1, "b": gt2}


def as_pred(tracks):
    return {t.id: {int(f): b.astype(float) for f, b in zip(t.frames, t.boxes, strict=True)} for t in tracks}


def test_bgsub_tracks_follow_crossing_objects_with_correct_crops(fake, tmp_path):
    ds, gt = fake
    out = load_tracks(ds, ["a"], preset="bgsub", cache_root=tmp_path / "cache", progress=False)
    tracks = out["a"]
    m = identity_metrics(gt["a"], as_pred(tracks))
    # the blue object is hidden behind the red one for a few frames: one fragment at most, no switch
    assert m["id_switches"] == 0
    assert m["matches"] >= 0.85 * m["gt_boxes"]
    assert len(tracks) == 2
    for t in tracks:
        assert t.boxes.shape == t.det_boxes.shape == (len(t), 4) and t.scores.shape == (len(t),)
        assert np.all(np.diff(t.frames) > 0) and t.video == "a"
        crops = t.crops(which="det_boxes")
        assert len(crops) == len(t)
        # the crop of the frame where the object is fully visible holds its colour
        colour = np.median(np.concatenate([c.reshape(-1, 3) for c in crops[:3]]), axis=0)
        assert min(np.abs(colour - np.array(c)).max() for c in COLORS.values()) < 20
    resized = tracks[0].crops(size=(24, 48))
    assert all(c.shape == (48, 24, 3) for c in resized)


def test_cache_is_reused_and_manifest_has_checksums(fake, tmp_path, monkeypatch):
    ds, _ = fake
    root = tmp_path / "cache"
    first = load_tracks(ds, preset="bgsub", cache_root=root, progress=False)
    store = TrackStore("fake", resolve_preset("bgsub"), label="bgsub", root=root)
    man = json.loads(store.manifest_path.read_text())
    assert man["hash"] == store.hash and set(man["videos"]) == {"a", "b"}
    assert man["spec"]["tracker"]["track_thresh"] == 0.5 and man["spec"]["min_box_area"] == 300
    for v, entry in man["videos"].items():
        assert len(entry["sha256"]) == 64 and (store.dir / entry["file"]).exists()
        assert entry["frame_rate"] == 25.0 and entry["n_frames"] == {"a": 30, "b": 24}[v]
    assert not list(store.dir.glob("*.tmp"))

    def boom(*a, **k):
        raise AssertionError("track_video must not run on a cached video")

    monkeypatch.setattr(tracks_mod, "track_video", boom)
    again = load_tracks(ds, preset="bgsub", cache_root=root, progress=False)
    for v in ("a", "b"):
        assert [t.id for t in again[v]] == [t.id for t in first[v]]
        for x, y in zip(again[v], first[v], strict=True):
            np.testing.assert_array_equal(x.frames, y.frames)
            np.testing.assert_array_equal(x.boxes, y.boxes)


def test_resume_computes_only_missing_and_broken_videos(fake, tmp_path, monkeypatch):
    ds, _ = fake
    root = tmp_path / "cache"
    calls = []
    real = tracks_mod.track_video

    def counting(path, *a, **k):
        calls.append(Path(path).name)
        return real(path, *a, **k)

    monkeypatch.setattr(tracks_mod, "track_video", counting)
    load_tracks(ds, ["a"], preset="bgsub", cache_root=root, progress=False)
    load_tracks(ds, ["a", "b"], preset="bgsub", cache_root=root, progress=False)
    assert calls == ["a", "b"]
    # a damaged cache file fails its checksum and is recomputed
    store = TrackStore("fake", resolve_preset("bgsub"), label="bgsub", root=root)
    (store.dir / "a.npz").write_bytes(b"garbage")
    load_tracks(ds, ["a", "b"], preset="bgsub", cache_root=root, progress=False)
    assert calls == ["a", "b", "a"]
    # a changed source (more frames) is recomputed too
    f, _ = render(35, seed=1)
    write_folder(Path(ds._videos["b"]), f)
    out = load_tracks(ds, ["b"], preset="bgsub", cache_root=root, progress=False)
    assert calls == ["a", "b", "a", "b"]
    assert max(int(t.frames.max()) for t in out["b"]) > 24
    # other settings go to another folder
    load_tracks(ds, ["a"], preset="bgsub", overrides={"min_box_area": 50}, cache_root=root, progress=False)
    assert calls[-1] == "a" and len(list((root / "fake").iterdir())) == 2


def test_box_filters_follow_the_preset(fake, tmp_path):
    ds, _ = fake
    root = tmp_path / "cache"
    small = load_tracks(ds, ["a"], preset="bgsub", overrides={"min_box_area": 1500}, cache_root=root,
                        progress=False)["a"]
    assert small == []  # both objects, and their merged blob while they cross, are under 1500 px^2
    wide = load_tracks(ds, ["a"], preset="bgsub", overrides={"aspect_ratio_thresh": 0.3}, cache_root=root,
                       progress=False)["a"]
    assert wide == []  # both objects are w/h = 0.5 > 0.3
    loose = load_tracks(ds, ["a"], preset="bgsub", overrides={"tracker": {"track_thresh": 0.95}},
                        cache_root=root, progress=False)["a"]
    assert len(loose) <= 2


def test_video_file_input(tmp_path):
    from vadbench.video.writer import write_video

    frames, gt = render(30, seed=3, cross=False)
    path = write_video(tmp_path / "v.mp4", np.stack(frames), fps=10.0)
    ds = FakeDataset(tmp_path, {"v": path}, name="fakevid")
    ds.videos = lambda: pd.DataFrame([{"video": "v", "path": str(path), "n_frames": 30, "fps": math.nan}])
    out = load_tracks(ds, preset="bgsub", cache_root=tmp_path / "c", progress=False)["v"]
    m = identity_metrics(gt, as_pred(out))
    assert m["id_switches"] == 0 and m["matches"] >= 0.8 * m["gt_boxes"]
    man = json.loads(next((tmp_path / "c" / "fakevid").glob("*/manifest.json")).read_text())
    # the frame rate is read from the file when the table has none
    assert man["videos"]["v"]["frame_rate"] == pytest.approx(10.0)


def test_crop_box_clips_and_pads():
    frame = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    assert crop_box(frame, np.array([2.0, 3, 6, 9])).shape == (6, 4, 3)
    assert crop_box(frame, np.array([-5.0, -5, 4, 4])).shape == (4, 4, 3)
    assert crop_box(frame, np.array([2.0, 2, 6, 6]), margin=0.5).shape == (8, 8, 3)
    assert crop_box(frame, np.array([50.0, 50, 60, 60])).shape == (1, 1, 3)
    assert crop_box(frame, np.array([2.0, 2, 6, 6]), size=16).shape == (16, 16, 3)
    t = Track(3, np.array([1, 2]), np.zeros((2, 4), np.float32), np.ones(2, np.float32))
    with pytest.raises(KeyError, match="no box in frame 5"):
        t.box_at(5)
    with pytest.raises(DataError, match="source path"):
        t.crops()


def test_presets_and_errors(fake, tmp_path):
    ds, _ = fake
    vl = resolve_preset("vlavad")
    assert vl["tracker"]["track_thresh"] == 0.5 and vl["detector"]["nms_iou"] == 0.3
    assert vl["min_box_area"] == 300
    assert vl["detector"]["classes"] == ["person"] and TRACK_PRESETS["vlavad"]["detector"]["kind"] == "hf"
    swapped = resolve_preset("vlavad", {"detector": {"kind": "bgsub", "threshold": 20}})
    assert swapped["detector"] == {"kind": "bgsub", "threshold": 20}
    with pytest.raises(ConfigError, match="unknown track preset 'yolo'"):
        load_tracks(ds, preset="yolo", cache_root=tmp_path)
    with pytest.raises(ConfigError, match="unknown tracker option"):
        resolve_preset("bgsub", {"tracker": {"track_tresh": 0.3}})
    with pytest.raises(ConfigError, match="frame_rate"):
        resolve_preset("bgsub", {"tracker": {"frame_rate": 10}})
    with pytest.raises(ConfigError, match="unknown \\['min_area'\\]"):
        resolve_preset("bgsub", {"min_area": 3})
    with pytest.raises(DataError, match="has no video\\(s\\) \\['zz'\\]"):
        load_tracks(ds, ["zz"], preset="bgsub", cache_root=tmp_path)
    gone = FakeDataset(tmp_path, {"x": tmp_path / "missing"})
    with pytest.raises(DataError, match="video 'x' of 'fake': media not found"):
        load_tracks(gone, preset="bgsub", cache_root=tmp_path)
    with pytest.raises(ConfigError, match="'boxes' or 'det_boxes'"):
        tracks_mod.crop_tracks([], which="kalman")


def test_synthetic_dataset_tracks_against_its_boxes():
    """Detector + tracker on the tiny synthetic set, scored against the generator's per-object boxes."""
    from vadbench.datasets import get_dataset

    ds = get_dataset("synthetic")
    vids = ds.split("semi").test[:3]
    # tiny frames (96x64): people are ~4x10 px, so no opening, small components, no area filter
    ov = {"min_box_area": 0, "detector": {"open_iter": 0, "min_pixels": 6, "close_iter": 1}}
    out = load_tracks(ds, vids, preset="bgsub", overrides=ov, progress=False)
    tot = dict.fromkeys(("id_switches", "matches", "gt_boxes"), 0)
    for v in vids:
        b = ds.boxes(v)
        b = b[b["visible"] >= 0.5]
        gt = {}
        for r in b.itertuples():
            gt.setdefault(r.object_id, {})[r.frame] = np.array([r.x1, r.y1, r.x2, r.y2], float)
        m = identity_metrics(gt, as_pred(out[v]), iou=0.3)
        for k in tot:
            tot[k] += m[k]
    print("synthetic tracks vs boxes:", tot)
    assert tot["matches"] >= 0.3 * tot["gt_boxes"]
    assert tot["id_switches"] <= 0.05 * tot["matches"]


def test_scene_background_tracks_an_object_standing_through_a_test_video(tmp_path):
    """bg_scope=scene: the background of a camera comes from its training videos, so an object that stands
    still through a whole test video is tracked (the video's own median takes it for background)."""
    rng = np.random.default_rng(0)
    bg = rng.integers(60, 140, (H, W, 3)).astype(np.float32)
    train = [np.clip(bg + rng.normal(0, 3, bg.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    test = []
    for _ in range(12):
        img = bg + rng.normal(0, 3, bg.shape)
        img[30:62, 70:86] = COLORS[1]
        test.append(np.clip(img, 0, 255).astype(np.uint8))
    videos = {"01_001": write_folder(tmp_path / "tr", train), "01_0001": write_folder(tmp_path / "te", test)}

    class SceneDataset(FakeDataset):
        def videos(self) -> pd.DataFrame:
            table = super().videos()
            return table.assign(scene="01", subset=["train", "test"])

    ds = SceneDataset(tmp_path, videos)
    kw = {"preset": "bgsub", "cache_root": tmp_path / "cache", "progress": False}
    assert load_tracks(ds, ["01_0001"], **kw)["01_0001"] == []
    found = load_tracks(ds, ["01_0001"], overrides={"detector": {"bg_scope": "scene"}}, **kw)["01_0001"]
    assert len(found) == 1 and len(found[0]) >= 10
    assert np.abs(found[0].boxes[-1] - [70, 30, 86, 62]).max() <= 1
