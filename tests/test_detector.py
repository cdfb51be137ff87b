"""Detectors: background subtraction on static-camera scenes, and a tiny random transformers detector."""

from __future__ import annotations

import numpy as np
import pytest

from vadbench.backbones.detector import (
    BackgroundSubtractionDetector,
    Detections,
    HFDetector,
    make_detector,
    nms,
)
from vadbench.backbones.tracker import iou_matrix
from vadbench.errors import ConfigError, DataError


def scene(n_frames=12, h=90, w=120, seed=0, objects=(), noise=4.0):
    """Textured static background + sensor noise + moving rectangles: (frames, gt boxes per frame)."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(40, 120, (h, w, 3)).astype(np.float32)
    frames, gts = [], []
    for f in range(n_frames):
        img = bg + rng.normal(0, noise, bg.shape)
        boxes = []
        for o in objects:
            x, y = int(o["x"] + o["vx"] * f), int(o["y"] + o["vy"] * f)
            bw, bh = o["size"]
            img[y : y + bh, x : x + bw] = bg[y : y + bh, x : x + bw] + o["contrast"]
            boxes.append([x, y, x + bw, y + bh])
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        gts.append(np.array(boxes, float).reshape(-1, 4))
    return frames, gts


def test_background_subtraction_finds_moving_objects():
    objects = [
        {"x": 5, "y": 10, "vx": 6, "vy": 1, "size": (12, 24), "contrast": 100},
        {"x": 100, "y": 55, "vx": -5, "vy": 0, "size": (10, 20), "contrast": -35},
    ]
    frames, gts = scene(objects=objects)
    det = BackgroundSubtractionDetector()
    det.fit_background([frames[i] for i in det.background_indices(len(frames), det.bg_frames)])
    results = det.detect(frames)
    for d, gt in zip(results, gts, strict=True):
        assert len(d) == 2
        m = iou_matrix(gt, d.boxes)
        assert (m.max(axis=1) > 0.8).all()
        # the bright object scores higher than the faint one
        strong, faint = d.scores[m[0].argmax()], d.scores[m[1].argmax()]
        assert strong == pytest.approx(1.0) and 0.3 < faint < 0.8
        assert (d.scores <= 1).all() and (d.scores > 0).all()


def test_background_subtraction_morphology_removes_specks_and_joins_fragments():
    frames, _ = scene(n_frames=6, noise=2.0)
    target = frames[-1].copy()
    target[5, 5] = 255  # a one-pixel speck: removed by the opening
    target[40:70, 50:62] = 250  # an object cut by a 1-pixel background stripe: joined by the closing
    target[55, 50:62] = frames[0][55, 50:62]
    det = BackgroundSubtractionDetector()
    det.fit_background(frames[:-1])
    d = det.detect([target])[0]
    assert d.boxes.tolist() == [[50, 40, 62, 70]]
    # without the closing the stripe splits it in two
    d_raw = BackgroundSubtractionDetector(close_iter=0)
    d_raw.fit_background(frames[:-1])
    assert len(d_raw.detect([target])[0]) == 2


def test_background_is_the_median_and_ignores_a_passing_object():
    passing = {"x": 0, "y": 30, "vx": 12, "vy": 0, "size": (10, 20), "contrast": 90}
    frames, _ = scene(n_frames=9, objects=[passing])
    det = BackgroundSubtractionDetector()
    det.fit_background(frames)
    empty, _ = scene(n_frames=1, noise=0.0)
    assert np.abs(det.background - empty[0].astype(np.float32)).max() < 12


def test_background_subtraction_errors():
    det = BackgroundSubtractionDetector()
    with pytest.raises(ConfigError, match="before fit_background"):
        det.detect([np.zeros((4, 4, 3), np.uint8)])
    det.fit_background([np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(DataError, match=r"frame 0 has shape \(5, 4, 3\)"):
        det.detect([np.zeros((5, 4, 3), np.uint8)])
    with pytest.raises(DataError, match="expected \\(H, W, 3\\)"):
        det.detect([np.zeros((4, 4, 4), np.uint8)])
    with pytest.raises(DataError, match="at least one frame"):
        det.fit_background([])
    with pytest.raises(ConfigError, match="threshold > 0"):
        BackgroundSubtractionDetector(threshold=0)
    with pytest.raises(ConfigError, match="unknown detector kind"):
        make_detector({"kind": "yolox"})
    with pytest.raises(ConfigError, match="needs 'model'"):
        make_detector({"kind": "hf"})
    with pytest.raises(ConfigError, match="bad background-subtraction detector options"):
        make_detector({"kind": "bgsub", "thresh": 3})


def test_nms_and_detections_container():
    d = Detections([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10]], [0.8, 0.9, 0.7], [0, 0, 1])
    kept = nms(d, 0.3)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.7])  # class 1 survives class-wise NMS
    assert len(nms(d, 0.3, class_aware=False)) == 1
    with pytest.raises(DataError, match="2 boxes, 1 scores"):
        Detections(np.zeros((2, 4)), [0.5])


# ---------------------------------------------------------------------------------------------------------
# transformers detector: a tiny random YOLOS saved to a local folder and loaded like a real checkpoint
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_yolos(tmp_path_factory):
    import torch
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    torch.manual_seed(0)
    labels = {0: "person", 1: "car", 2: "dog"}
    cfg = YolosConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=[64, 96],
        patch_size=16, num_detection_tokens=10, id2label=labels, label2id={v: k for k, v in labels.items()},
    )
    model = YolosForObjectDetection(cfg)
    with torch.no_grad():  # spread the detection tokens so the random model predicts distinct boxes
        model.vit.embeddings.detection_tokens.normal_(0, 1.0)
    path = tmp_path_factory.mktemp("tiny-yolos")
    model.save_pretrained(path)
    YolosImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(path)
    return path


def test_hf_detector_loads_local_checkpoint_and_returns_valid_boxes(tiny_yolos):
    frames, _ = scene(n_frames=3, h=60, w=80)
    det = HFDetector.from_pretrained(tiny_yolos, score_threshold=0.0, nms_iou=None, classes=None)
    results = det.detect(frames)
    assert len(results) == 3
    for d in results:
        assert len(d) > 0
        assert (d.boxes[:, [0, 2]] <= 80).all() and (d.boxes[:, [1, 3]] <= 60).all() and (d.boxes >= 0).all()
        assert ((d.scores >= 0) & (d.scores <= 1)).all()
    # batched == one at a time
    single = HFDetector.from_pretrained(tiny_yolos, score_threshold=0.0, nms_iou=None, classes=None,
                                        batch_size=1)
    for a, b in zip(results, single.detect(frames), strict=True):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_hf_detector_class_filter_threshold_and_nms(tiny_yolos):
    frames, _ = scene(n_frames=2, h=60, w=80)
    everything = HFDetector.from_pretrained(tiny_yolos, score_threshold=0.0, nms_iou=None, classes=None)
    people = HFDetector.from_pretrained(tiny_yolos, score_threshold=0.0, nms_iou=None, classes=("person",))
    a, p = everything.detect(frames)[0], people.detect(frames)[0]
    assert len(p) == int((a.labels == 0).sum()) and (p.labels == 0).all()
    thr = float(np.median(a.scores))
    high = HFDetector.from_pretrained(tiny_yolos, score_threshold=thr, nms_iou=None, classes=None)
    assert (high.detect(frames)[0].scores > thr - 1e-6).all()
    suppressed = HFDetector.from_pretrained(tiny_yolos, score_threshold=0.0, nms_iou=0.3, classes=None)
    s = suppressed.detect(frames)[0]
    assert len(s) <= len(a)
    for c in np.unique(s.labels):
        m = iou_matrix(s.boxes[s.labels == c], s.boxes[s.labels == c])
        assert (m[~np.eye(len(m), dtype=bool)] <= 0.3 + 1e-6).all()


def test_hf_detector_errors(tiny_yolos, tmp_path):
    with pytest.raises(ConfigError, match="not labels of the model"):
        HFDetector.from_pretrained(tiny_yolos, classes=("zebra",))
    with pytest.raises(ConfigError, match="are not available locally.*--tracks preset=bgsub"):
        HFDetector.from_pretrained(tmp_path / "nothing-here")


def test_hub_id_not_in_the_cache_fails_at_once(monkeypatch, tmp_path):
    """A hub id that is not available locally fails at once (local files only: no download retries offline)
    and says how to provide the weights."""
    monkeypatch.delenv("VADBENCH_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(ConfigError, match="huggingface-cli download vadbench-test/no-such-detector"):
        HFDetector.from_pretrained("vadbench-test/no-such-detector")


def test_scene_background_finds_an_object_that_never_moves():
    """bg_scope=scene: a person standing through the whole video is part of the video's own median, not of
    the camera's background (from other videos); the video's gain is matched per channel."""
    still = {"x": 50, "y": 30, "vx": 0, "vy": 0, "size": (10, 20), "contrast": 60}
    frames, gts = scene(n_frames=9, objects=[still])
    empty, _ = scene(n_frames=9, seed=0)  # same camera (same background), nobody in view
    reference = np.median(np.stack(empty), axis=0)
    brighter = [np.clip(f.astype(np.float32) * 1.08, 0, 255).astype(np.uint8) for f in frames]
    own = BackgroundSubtractionDetector()
    own.fit_background(brighter)
    assert len(own.detect(brighter[:1])[0]) == 0  # absorbed by the median
    det = BackgroundSubtractionDetector(bg_scope="scene")
    det.fit_background(brighter, reference=reference)
    d = det.detect(brighter[:1])[0]
    assert len(d) == 1 and iou_matrix(gts[0], d.boxes)[0, 0] > 0.8
    with pytest.raises(DataError, match="scene background has shape"):
        det.fit_background(brighter, reference=reference[:10])
    with pytest.raises(ConfigError, match="bg_scope"):
        BackgroundSubtractionDetector(bg_scope="dataset")
