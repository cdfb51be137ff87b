"""Object detectors for tracks: a transformers detector by Hugging Face id, and a weight-free
background-subtraction detector for static cameras.

Both take a list of RGB frames ``(H, W, 3) uint8`` and return one :class:`Detections` per frame
(boxes ``x1, y1, x2, y2`` in pixels, scores in [0, 1], integer labels). Build one from a spec with
:func:`make_detector`.

Example:
    >>> import numpy as np
    >>> frames = [np.zeros((48, 64, 3), np.uint8) for _ in range(5)]
    >>> frames[4][10:30, 20:30] = 200
    >>> det = BackgroundSubtractionDetector()
    >>> det.fit_background(frames[:4])
    >>> d = det.detect(frames[4:])[0]
    >>> d.boxes.tolist(), d.scores.round(2).tolist()
    ([[20.0, 10.0, 30.0, 30.0]], [1.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vadbench.errors import ConfigError, DataError


@dataclass
class Detections:
    """The detections of one frame: ``boxes`` (N, 4) float32 xyxy pixels, ``scores`` (N,), ``labels`` (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.labels = labels if len(labels) else np.zeros(len(self.boxes), np.int64)
        if not len(self.boxes) == len(self.scores) == len(self.labels):
            raise DataError(
                f"Detections: {len(self.boxes)} boxes, {len(self.scores)} scores, {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.boxes)

    def filter(self, keep: np.ndarray) -> Detections:
        """The subset selected by a boolean mask or index array."""
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep])


class Detector(Protocol):
    """What the tracks pipeline needs from a detector."""

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]: ...


def _as_frames(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    out = []
    for i, f in enumerate(frames):
        a = np.asarray(f)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] != 3:
            raise DataError(f"detector: frame {i} has shape {a.shape}; expected (H, W, 3) RGB or (H, W) grey")
        out.append(a)
    return out


def nms(det: Detections, iou: float, *, class_aware: bool = True) -> Detections:
    """Greedy non-maximum suppression (torchvision), per class unless ``class_aware`` is False.

    >>> d = Detections([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], [0.9, 0.8, 0.7])
    >>> nms(d, 0.3).boxes[:, 0].tolist()
    [0.0, 50.0]
    """
    if len(det) == 0:
        return det
    import torch
    from torchvision.ops import batched_nms

    labels = det.labels if class_aware else np.zeros_like(det.labels)
    boxes, scores = torch.from_numpy(det.boxes).float(), torch.from_numpy(det.scores).float()
    keep = batched_nms(boxes, scores, torch.from_numpy(labels), iou).numpy()
    return det.filter(keep)  # ordered by decreasing score


# ---------------------------------------------------------------------------------------------------------
# background subtraction (static cameras)
# ---------------------------------------------------------------------------------------------------------
@dataclass
class BackgroundSubtractionDetector:
    """Moving objects on a static camera: median background, threshold, morphology, connected components.

    Written here because no library in the project does it without OpenCV; every step is scipy.ndimage.

    - background: per-pixel median over ``bg_frames`` frames spread evenly over the video
      (``bg_scope="video"``); with ``bg_scope="scene"`` the caller passes a ``reference`` background of the
      camera (the median over its training videos, :func:`vadbench.tracks.scene_backgrounds`) and the
      video's own median only sets a per-channel gain (median ratio over pixels), so that objects that stand
      still for most of a video (a loiterer, a person lying) are not taken for background;
    - foreground: max over channels of ``|frame - background|`` above ``threshold`` (grey levels);
    - morphology: ``open_iter`` openings (removes specks), ``close_iter`` closings (joins fragments),
      hole filling, all with a 3x3 structuring element;
    - components (8-connected) of at least ``min_pixels`` pixels become boxes (x2, y2 exclusive);
    - confidence = min(1, mean difference inside the component / ``score_ref``): faint or partly
      hidden objects score low, which ByteTrack's second association uses.
    """

    threshold: float = 25.0
    open_iter: int = 1
    close_iter: int = 2
    min_pixels: int = 20
    score_ref: float = 64.0
    bg_frames: int = 50
    bg_scope: str = "video"  # video | scene (a reference background of the camera, see fit_background)
    background: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.threshold <= 0 or self.score_ref <= 0 or self.bg_frames < 1:
            raise ConfigError(
                f"BackgroundSubtractionDetector needs threshold > 0, score_ref > 0, bg_frames >= 1; got "
                f"threshold={self.threshold}, score_ref={self.score_ref}, bg_frames={self.bg_frames}"
            )
        if self.bg_scope not in ("video", "scene"):
            raise ConfigError(f"BackgroundSubtractionDetector bg_scope must be 'video' or 'scene', "
                              f"got {self.bg_scope!r}")

    @staticmethod
    def background_indices(n_frames: int, bg_frames: int) -> np.ndarray:
        """Indices of the frames used for the median: ``bg_frames`` evenly spread over ``n_frames``.

        >>> BackgroundSubtractionDetector.background_indices(10, 3).tolist()
        [0, 4, 9]
        """
        if n_frames < 1:
            raise DataError("background subtraction needs at least one frame")
        return np.unique(np.linspace(0, n_frames - 1, min(bg_frames, n_frames)).round().astype(np.int64))

    def fit_background(self, frames: Sequence[np.ndarray], reference: np.ndarray | None = None) -> None:
        """Set the background to the per-pixel median of ``frames`` (all of them; pick them with
        :meth:`background_indices`), or, given a ``reference`` background of the camera (H, W, 3), to the
        reference times the per-channel gain ``median over pixels of (median(frames) + 1) / (reference + 1)``.

        >>> det = BackgroundSubtractionDetector()
        >>> det.fit_background([np.full((2, 2, 3), 110, np.uint8)], reference=np.full((2, 2, 3), 99.0))
        >>> float(det.background[0, 0, 0])
        110.0
        """
        stack = np.stack(_as_frames(frames)) if len(frames) else None
        if stack is None:
            raise DataError("background subtraction needs at least one frame to build the background")
        own = np.median(stack, axis=0).astype(np.float32)
        if reference is None:
            self.background = own
            return
        reference = np.asarray(reference, np.float32)
        if reference.shape != own.shape:
            raise DataError(f"background subtraction: the scene background has shape {reference.shape}, "
                            f"the video's frames {own.shape}")
        gain = np.median((own + 1.0) / (reference + 1.0), axis=(0, 1))
        self.background = ((reference + 1.0) * gain - 1.0).astype(np.float32)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        from scipy import ndimage

        if self.background is None:
            raise ConfigError("BackgroundSubtractionDetector.detect called before fit_background")
        struct = np.ones((3, 3), bool)
        out = []
        for i, frame in enumerate(_as_frames(frames)):
            if frame.shape != self.background.shape:
                raise DataError(
                    f"background subtraction: frame {i} has shape {frame.shape}, "
                    f"background {self.background.shape}"
                )
            diff = np.abs(frame.astype(np.float32) - self.background).max(axis=2)
            mask = diff > self.threshold
            if self.open_iter:
                mask = ndimage.binary_opening(mask, struct, iterations=self.open_iter)
            if self.close_iter:
                # pad so that closing does not erode objects touching the border
                pad = self.close_iter
                mask = ndimage.binary_closing(np.pad(mask, pad), struct, iterations=self.close_iter)[
                    pad:-pad, pad:-pad
                ]
            mask = ndimage.binary_fill_holes(mask)
            labels, n = ndimage.label(mask, structure=struct)
            boxes, scores = [], []
            if n:
                idx = np.arange(1, n + 1)
                sizes = ndimage.sum_labels(mask, labels, idx)
                means = ndimage.mean(diff, labels, idx)
                for k, sl in enumerate(ndimage.find_objects(labels)):
                    if sl is None or sizes[k] < self.min_pixels:
                        continue
                    ys, xs = sl
                    boxes.append([xs.start, ys.start, xs.stop, ys.stop])
                    scores.append(min(1.0, float(means[k]) / self.score_ref))
            out.append(Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)))
        return out


# ---------------------------------------------------------------------------------------------------------
# transformers detectors (DETR, RT-DETR, YOLOS, ... by Hugging Face id or local path)
# ---------------------------------------------------------------------------------------------------------
class HFDetector:
    """Any ``AutoModelForObjectDetection`` + ``AutoImageProcessor``; boxes above ``score_threshold`` of the
    kept ``classes`` (names from ``config.id2label``; ``None`` keeps all), then class-wise NMS at ``nms_iou``.

    >>> HFDetector.from_pretrained("PekingU/rtdetr_r50vd_coco_o365")  # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        score_threshold: float = 0.1,
        nms_iou: float | None = 0.3,
        classes: Sequence[str] | None = ("person",),
        batch_size: int = 8,
        device: str = "cpu",
    ) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.batch_size = batch_size
        self.device = device
        id2label = {int(k): str(v) for k, v in getattr(model.config, "id2label", {}).items()}
        if classes is None:
            self.class_ids = None
        else:
            by_name = {v.lower(): k for k, v in id2label.items()}
            missing = [c for c in classes if c.lower() not in by_name]
            if missing:
                raise ConfigError(
                    f"detector classes {missing} are not labels of the model; "
                    f"it has {sorted(by_name)[:20]}..."
                )
            self.class_ids = np.array([by_name[c.lower()] for c in classes], np.int64)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, device: str = "cpu", **kwargs: Any) -> HFDetector:
        """Load from a local folder or a Hugging Face id already in the local cache. Nothing is downloaded
        unless ``VADBENCH_ALLOW_DOWNLOAD=1``: an id that is not available locally fails at once with a
        message saying how to provide the weights (no retries against an unreachable hub)."""
        import os

        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        local_only = os.environ.get("VADBENCH_ALLOW_DOWNLOAD", "") not in ("1", "true", "yes")
        try:
            processor = AutoImageProcessor.from_pretrained(str(name_or_path), local_files_only=local_only)
            model = AutoModelForObjectDetection.from_pretrained(
                str(name_or_path), local_files_only=local_only
            )
        except OSError as err:
            how = (
                f"download it once where there is network (huggingface-cli download {name_or_path}, or run "
                f"with VADBENCH_ALLOW_DOWNLOAD=1), or give a local folder with config.json, the weights and "
                f"preprocessor_config.json (--tracks detector.model=/path/to/folder), or use the weight-free "
                f"background-subtraction detector (--tracks preset=bgsub)"
            )
            raise ConfigError(
                f"detector weights {str(name_or_path)!r} are not available locally: {how}. ({err})"
            ) from None
        return cls(model, processor, device=device, **kwargs)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        import torch

        frames = _as_frames(frames)
        out: list[Detections] = []
        for start in range(0, len(frames), self.batch_size):
            batch = frames[start : start + self.batch_size]
            inputs = self.processor(images=batch, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                outputs = self.model(**inputs)
            sizes = [f.shape[:2] for f in batch]
            results = self.processor.post_process_object_detection(
                outputs, threshold=self.score_threshold, target_sizes=sizes
            )
            for res, (h, w) in zip(results, sizes, strict=True):
                boxes = res["boxes"].float().cpu().numpy().reshape(-1, 4)
                boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
                boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
                det = Detections(boxes, res["scores"].float().cpu().numpy(), res["labels"].cpu().numpy())
                if self.class_ids is not None:
                    det = det.filter(np.isin(det.labels, self.class_ids))
                det = det.filter((det.boxes[:, 2] > det.boxes[:, 0]) & (det.boxes[:, 3] > det.boxes[:, 1]))
                if self.nms_iou is not None:
                    det = nms(det, self.nms_iou)
                out.append(det)
        return out


def make_detector(spec: dict[str, Any], *, device: str = "cpu") -> BackgroundSubtractionDetector | HFDetector:
    """Build a detector from ``{"kind": "bgsub", ...options}`` or ``{"kind": "hf", "model": id, ...}``.

    >>> make_detector({"kind": "bgsub", "threshold": 30}).threshold
    30
    """
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind == "bgsub":
        try:
            return BackgroundSubtractionDetector(**spec)
        except TypeError as err:
            raise ConfigError(f"bad background-subtraction detector options {spec}: {err}") from err
    if kind == "hf":
        model = spec.pop("model", None)
        if not model:
            raise ConfigError("detector kind 'hf' needs 'model' (a Hugging Face id or a local folder)")
        if "classes" in spec and spec["classes"] is not None:
            spec["classes"] = tuple(spec["classes"])
        return HFDetector.from_pretrained(model, device=device, **spec)
    raise ConfigError(f"unknown detector kind {kind!r}; known: 'bgsub', 'hf'")
