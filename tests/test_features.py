"""CLIP snippet features and the feature store: exact numbers against a direct computation, hashing,
resume, integrity checks, load_features, the ``vadbench extract`` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")
pytest.importorskip("av")

from vadbench.backbones.clip import image_config, load_clip  # noqa: E402
from vadbench.errors import ConfigError, DataError  # noqa: E402
from vadbench.features import (  # noqa: E402
    FeatureSpec,
    FeatureStore,
    SnippetPlan,
    dataset_key,
    extract,
    feature_hash,
    load_features,
)
from vadbench.video.crops import crop_geometry  # noqa: E402
from vadbench.video.writer import barcode_frames, write_frames, write_video  # noqa: E402

H, W = 73, 97  # the tiny CLIP's scaled 340x256: no resize, so the reference below needs none


class FakeDataset:
    """The part of the Dataset API the extractor uses: name, root, videos() with video / path / n_frames."""

    name = "fake"

    def __init__(self, root, rows):
        self.root = root
        self.rows = rows

    def videos(self):
        return pd.DataFrame(
            {
                "video": [r[0] for r in self.rows],
                "path": [str(r[1]) for r in self.rows],
                "n_frames": [r[2] for r in self.rows],
            }
        )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake")
    frames = {
        "v1": barcode_frames(40, H, W, seed=1),
        "v2": barcode_frames(35, H, W, seed=2),
        "v3": barcode_frames(20, H + 1, W + 1, seed=3),
    }  # x264 needs even sizes (resized when read)
    rows = [
        ("v1", write_frames(root / "v1", frames["v1"], ext="png"), 40),
        ("v2", write_frames(root / "v2", frames["v2"], ext="png"), 35),
        ("v3", write_video(root / "v3.mp4", frames["v3"], fps=25), 20),
    ]
    return FakeDataset(root, rows), frames


def reference(frames: np.ndarray, crops: str, seed: int = 0, reduce: str = "mean") -> np.ndarray:
    """Direct computation: numpy crops of every frame, CLIP image tower, mean (or middle) per 16 frames."""
    model, _, _ = load_clip("tiny", seed=seed)
    cfg = image_config(model)
    _, boxes = crop_geometry(crops, cfg["size"][0])
    c = cfg["size"][0]
    per_crop = []
    for b in boxes:
        x = frames[:, b.top : b.top + c, b.left : b.left + c].astype(np.float32) / 255.0
        if b.flip:
            x = x[:, :, ::-1]
        x = (x - np.array(cfg["mean"])) / np.array(cfg["std"])
        with torch.no_grad():
            per_crop.append(
                model.encode_image(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).float()).numpy()
            )
    emb = np.stack(per_crop, 1)  # n, K, D
    T = len(frames) // 16
    if reduce == "middle":
        return np.stack([emb[16 * t + 8] for t in range(T)])
    return np.stack([emb[16 * t : 16 * t + 16].mean(0) for t in range(T)])


def test_spec_hash_rules():
    base = FeatureSpec(crops="center")
    assert base.hash == FeatureSpec(crops="center").hash and len(base.hash) == 12
    assert base.stride == 16 and base.pretrained is None and base.n_crops == 1
    others = [
        base.__class__(crops="10crop"),
        FeatureSpec(crops="center", snippet=8),
        FeatureSpec(crops="center", stride=8),
        FeatureSpec(crops="center", reduce="middle"),
        FeatureSpec(crops="center", seed=1),
        FeatureSpec(crops="center", l2norm=True),
        FeatureSpec(crops="center", tail="pad"),
        FeatureSpec(crops="center", precision="fp16"),
    ]
    assert len({s.hash for s in others} | {base.hash}) == len(others) + 1
    # the seed does not matter for pretrained weights (no re-extraction per run seed)
    vit = FeatureSpec.vadclip()
    assert vit.pretrained == "openai" and vit.weights_id == "ViT-B-16/openai"
    assert FeatureSpec.vadclip(seed=3).hash == vit.hash
    assert feature_hash({"crops": "center"}) == base.hash
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['crop'\]"):
        FeatureSpec.from_dict({"crop": "center"})
    with pytest.raises(ConfigError, match="invalid crops='3crop'"):
        FeatureSpec(crops="3crop")
    with pytest.raises(ConfigError, match="invalid reduce='max'"):
        FeatureSpec(reduce="max")


def test_local_checkpoint_weights_are_hashed_by_content(tmp_path):
    model, _, _ = load_clip("tiny", seed=4)
    ckpt = tmp_path / "w.pt"
    torch.save(model.state_dict(), ckpt)
    spec = FeatureSpec(pretrained=str(ckpt), crops="center")
    assert spec.weights_id.startswith("file:") and spec.hash != FeatureSpec(crops="center").hash


def test_snippet_plan():
    plan = SnippetPlan.build(35, FeatureSpec(crops="center"))
    assert plan.n_snippets == 2 and plan.frames.tolist() == list(range(32))
    pad = SnippetPlan.build(35, FeatureSpec(crops="center", tail="pad"))
    assert pad.n_snippets == 3 and pad.weights.tolist() == [16, 16, 16]
    assert pad.pair_weight[pad.pair_frame == 34].tolist() == [14.0]  # frame 34 repeated 14 times
    over = SnippetPlan.build(40, FeatureSpec(crops="center", stride=8))
    assert over.n_snippets == 4 and np.bincount(over.pair_frame).max() == 2


@pytest.mark.parametrize("crops", ["center", "10crop"])
def test_extract_matches_direct_computation(data, tmp_path, crops):
    ds, frames = data
    store = FeatureStore(tmp_path / "store")
    spec = FeatureSpec(crops=crops)
    report = extract(ds, ["v1", "v2"], spec, store=store, progress=False, batch_frames=7)
    assert sorted(report.extracted) == ["v1", "v2"] and report.n_frames == 32 + 32
    for v in ("v1", "v2"):
        got = store.read(ds, spec, v)
        assert got.dtype == np.float32 and got.shape == (len(frames[v]) // 16, spec.n_crops, 64)
        np.testing.assert_allclose(got, reference(frames[v], crops), rtol=1e-4, atol=1e-5)


def test_middle_frame_reduction(data, tmp_path):
    ds, frames = data
    spec = FeatureSpec(crops="center", reduce="middle")
    got = load_features(ds, ["v1"], spec, store=FeatureStore(tmp_path), progress=False)["v1"]
    np.testing.assert_allclose(got, reference(frames["v1"], "center", reduce="middle"), rtol=1e-4, atol=1e-5)


def test_store_manifest_resume_and_integrity(data, tmp_path):
    ds, _ = data
    store = FeatureStore(tmp_path / "s")
    spec = FeatureSpec(crops="center")
    first = extract(ds, None, spec, store=store, progress=False)
    assert sorted(first.extracted) == ["v1", "v2", "v3"]
    folder = store.path(ds, spec)
    assert folder.parent.name == dataset_key(ds) and folder.name == spec.dirname
    man = json.loads((folder / "manifest.json").read_text())
    assert man["hash"] == spec.hash and man["spec"]["crops"] == "center"
    assert set(man["videos"]) == {"v1", "v2", "v3"} and man["videos"]["v3"]["n_frames"] == 20
    assert man["videos"]["v1"]["shape"] == [2, 1, 64] and len(man["weights_sha256"]) == 16
    assert not list(folder.glob(".*tmp*")), "no temporary file left behind"
    mtime = store.file(ds, spec, "v1").stat().st_mtime_ns
    # resume: nothing to do, files untouched
    again = extract(ds, None, spec, store=store, progress=False)
    assert again.extracted == [] and sorted(again.skipped) == ["v1", "v2", "v3"]
    assert store.file(ds, spec, "v1").stat().st_mtime_ns == mtime
    # an interrupted run (file written, manifest not updated): the entry is rebuilt from the file
    man["videos"].pop("v2")
    (folder / "manifest.json").write_text(json.dumps(man))
    extract(ds, None, spec, store=store, progress=False)
    assert "v2" in json.loads((folder / "manifest.json").read_text())["videos"]
    # a deleted file is extracted again, identical
    before = store.read(ds, spec, "v3")
    store.file(ds, spec, "v3").unlink()
    assert extract(ds, ["v3"], spec, store=store, progress=False).extracted == ["v3"]
    np.testing.assert_array_equal(store.read(ds, spec, "v3"), before)
    # a modified file is caught by its sha256
    arr = store.read(ds, spec, "v1")
    np.save(store.file(ds, spec, "v1"), arr + 1)
    with pytest.raises(DataError, match=r"v1\.npy: sha256 .* differs from the manifest"):
        store.read(ds, spec, "v1")
    with pytest.raises(DataError, match=r"features of video 'zz' not in the store: .*zz\.npy missing"):
        store.read(ds, spec, "zz")


def test_wrong_weights_for_an_existing_folder(data, tmp_path):
    ds, _ = data
    store = FeatureStore(tmp_path)
    spec = FeatureSpec(crops="center")
    extract(ds, ["v1"], spec, store=store, progress=False)
    man_path = store.path(ds, spec) / "manifest.json"
    man = json.loads(man_path.read_text())
    man["weights_sha256"] = "0" * 16
    man_path.write_text(json.dumps(man))
    with pytest.raises(DataError, match="made with weights 0000000000000000"):
        extract(ds, ["v2"], spec, store=store, progress=False)


def test_bad_dataset_inputs(data, tmp_path):
    ds, _ = data
    with pytest.raises(DataError, match=r"1 requested video\(s\) not in its table: 'nope'"):
        load_features(ds, ["v1", "nope"], FeatureSpec(crops="center"), store=FeatureStore(tmp_path))
    broken = FakeDataset(tmp_path, [("gone", tmp_path / "gone.mp4", 10)])
    with pytest.raises(DataError, match=r"gone\.mp4 not found"):
        extract(broken, None, FeatureSpec(crops="center"), store=FeatureStore(tmp_path), progress=False)


def test_short_video_gives_zero_snippets(tmp_path):
    ds = FakeDataset(tmp_path, [("s", write_frames(tmp_path / "s", barcode_frames(10, H, W), ext="png"), 10)])
    got = load_features(
        ds, ["s"], FeatureSpec(crops="5crop"), store=FeatureStore(tmp_path / "st"), progress=False
    )
    assert got["s"].shape == (0, 5, 64)


def test_extract_command(data, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from vadbench.cli import app
    from vadbench.registry import DATASETS

    ds, _ = data
    rows = ds.rows

    class Registered(FakeDataset):
        name = "h5fake"

        def __init__(self, root=None, **kw):
            super().__init__(ds.root, rows)

    DATASETS.add("h5fake", Registered)
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))
    spec = FeatureSpec(crops="center")
    res = CliRunner().invoke(
        app,
        [
            "extract",
            "--dataset",
            "h5fake",
            "--backbone",
            "tiny",
            "--crops",
            "center",
            "--videos",
            "v1,v3",
            "--device",
            "cpu",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert spec.hash in res.output and "extracted 2 video(s)" in res.output
    store = FeatureStore(tmp_path / "cache" / "features")
    assert store.has(Registered(), spec, "v1") and not store.has(Registered(), spec, "v2")
    bad = CliRunner().invoke(
        app, ["extract", "--dataset", "h5fake", "--crops", "7crop", "--backbone", "tiny"]
    )
    assert bad.exit_code == 2 and "invalid crops='7crop'" in bad.output


def test_a_changed_source_video_is_extracted_again(tmp_path):
    """A regenerated source at the same path (same dataset key) must not be served its stale features."""
    frames = barcode_frames(32, H, W, seed=5)
    video = write_frames(tmp_path / "data" / "v", frames, ext="png")
    ds = FakeDataset(tmp_path / "data", [("v", video, 32)])
    store = FeatureStore(tmp_path / "s")
    spec = FeatureSpec(crops="center")
    before = load_features(ds, ["v"], spec, store=store, progress=False)["v"]
    assert extract(ds, ["v"], spec, store=store, progress=False).skipped == ["v"]  # unchanged: reused
    # regenerate the source with other content and one frame more (new folder mtime and entry count)
    import shutil

    shutil.rmtree(video)
    write_frames(video, barcode_frames(33, H, W, seed=6), ext="png")
    after = load_features(ds, ["v"], spec, store=store, progress=False)["v"]
    assert after.shape == before.shape and not np.allclose(after, before)
    assert store.manifest(ds, spec)["videos"]["v"]["source"][0] == 33


def test_stored_numbers_do_not_depend_on_the_callers_thread_count(data, tmp_path):
    """world-clip's kernels split their reductions by thread: extraction runs at one fixed CPU thread count
    (``devices.CACHED_CPU_THREADS``), so a cache filled by a 1-thread process holds what a 2-thread process
    would have stored (without it: max |diff| ~1e-3 and no file equal), and the manifest says so."""
    ds, _ = data
    spec = FeatureSpec(backbone="world-clip", pretrained="world", crops="center")
    before = torch.get_num_threads()
    stored = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            store = FeatureStore(tmp_path / f"threads{n}")
            extract(ds, ["v1", "v2"], spec, store=store, progress=False)
            assert torch.get_num_threads() == n  # restored for the caller
            stored[n] = {v: store.read(ds, spec, v) for v in ("v1", "v2")}
    finally:
        torch.set_num_threads(before)
    for v in ("v1", "v2"):
        assert np.array_equal(stored[1][v], stored[2][v]), v
    header = json.loads((FeatureStore(tmp_path / "threads2").path(ds, spec) / "manifest.json").read_text())
    assert header["extractor"]["cpu_threads"] == 1
