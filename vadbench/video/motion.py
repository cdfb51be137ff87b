"""A motion stream for snippet features: dense optical flow pooled into a speed x direction histogram.

Community I3D features are two-stream: an RGB tower and a tower on TV-L1 optical flow, concatenated. Image
features (CLIP, ``world-clip``) see one frame at a time, so what exists only in motion (a runner among
walkers, a walker going the wrong way, a fall) is not in them. ``FeatureSpec(motion="flow")`` appends this
stream to every snippet feature.

Per snippet: OpenCV's Farnebäck flow between each pair of consecutive frames of the snippet (grey, full
frame); each pixel moving at least ``SPEED_EDGES[0]`` px / frame falls into one of ``len(SPEED_EDGES) - 1``
speed bins x ``N_DIRECTIONS`` direction bins; a pair's histogram is the share of the frame's pixels in each
bin (x 100); the stream is the mean over the snippet's pairs, then the maximum (``FLOW_DIM`` = 64 values).
Pooling over the whole frame keeps it independent of where an object is; a per-cell grid of the same
histogram over-fitted the scenes in the probe that chose this one (the CBCG card, *With a motion stream*).
That per-cell histogram (:func:`cell_histograms`) is what world-vlm's vision tower learns to predict for each
of its tokens (``vadbench.world.train.motion_targets``).
Why not a learned flow network: none can be downloaded here (RAFT and I3D need weights); Farnebäck is
OpenCV's own, deterministic and fast on CPU.

Example:
    >>> import numpy as np
    >>> frames = np.zeros((3, 48, 64, 3), np.uint8)
    >>> for t in range(3):
    ...     frames[t, 16:32, 10 + 3 * t : 26 + 3 * t] = 255  # a square moving right at 3 px / frame
    >>> stream = snippet_flow(frames)
    >>> stream.shape
    (64,)
    >>> int(stream[:32].argmax() % N_DIRECTIONS), direction_bin(3.0, 0.0), direction_bin(0.0, -2.0)
    (0, 0, 6)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: Speed bin edges in pixels per frame (the last bin is open): slow, walking, fast, very fast.
SPEED_EDGES = (0.5, 1.5, 3.0, 6.0, np.inf)
#: Direction bins over the full circle, centred on the axes: 0 right, 2 down, 4 left, 6 up (image axes).
N_DIRECTIONS = 8
#: (speed, direction) bins of one histogram.
N_BINS = (len(SPEED_EDGES) - 1) * N_DIRECTIONS
#: Values per snippet: (mean, max) x speed bins x direction bins.
FLOW_DIM = 2 * N_BINS
#: Farnebäck parameters (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags).
FARNEBACK = (0.5, 3, 9, 3, 5, 1.1, 0)
MOTIONS = ("none", "flow")


def direction_bin(dx: float, dy: float) -> int:
    """The direction bin of a displacement (``dx`` right, ``dy`` down)."""
    return int(_direction_bins(np.asarray([dx]), np.asarray([dy]))[0])


def _direction_bins(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    width = 2 * np.pi / N_DIRECTIONS
    return np.floor((np.arctan2(dy, dx) + width / 2) / width).astype(np.int64) % N_DIRECTIONS


def _cv2():
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise ImportError(
            "motion='flow' needs OpenCV (pip install opencv-python-headless), a dependency of vadbench"
        ) from err
    cv2.setNumThreads(1)
    return cv2


def _pixel_bins(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The (speed, direction) bin of every pixel's Farnebäck flow from grey frame ``a`` to grey frame ``b``,
    (H, W) int; pixels slower than ``SPEED_EDGES[0]`` get the extra bin ``N_BINS``."""
    flow = _cv2().calcOpticalFlowFarneback(a, b, None, *FARNEBACK)
    dx, dy = flow[..., 0], flow[..., 1]
    speed = np.hypot(dx, dy)
    edges = np.asarray(SPEED_EDGES)
    bins = (np.searchsorted(edges, speed, side="right") - 1) * N_DIRECTIONS + _direction_bins(dx, dy)
    return np.where(speed >= edges[0], bins, N_BINS)


def _grey(frame: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def pair_histograms(frames: np.ndarray) -> np.ndarray:
    """Per consecutive pair of ``frames`` (N, H, W, 3) uint8 RGB: the (speed, direction) histogram as shares
    of the frame's pixels x 100, shape (N - 1, speed bins, N_DIRECTIONS)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (N, H, W, 3) RGB, got shape {frames.shape}")
    grey = [_grey(f) for f in frames]
    out = np.zeros((max(len(grey) - 1, 0), len(SPEED_EDGES) - 1, N_DIRECTIONS), np.float32)
    for p, (a, b) in enumerate(zip(grey[:-1], grey[1:], strict=False)):
        bins = _pixel_bins(a, b)
        counts = np.bincount(bins.ravel(), minlength=N_BINS + 1)[:N_BINS]
        out[p] = counts.reshape(out.shape[1:]) * (100.0 / bins.size)
    return out


def cell_histograms(a: np.ndarray, b: np.ndarray, cell: int) -> np.ndarray:
    """The (speed, direction) histogram of the flow from frame ``a`` to frame ``b`` (H, W, 3) uint8 RGB in
    each ``cell`` x ``cell`` square of a grid over the frame (H and W multiples of ``cell``), as shares of the
    cell's pixels x 100: shape (H // cell, W // cell, speed bins x ``N_DIRECTIONS``), row-major cells.

    Example:
        >>> a = np.zeros((56, 56, 3), np.uint8); a[30:46, 30:46] = 255
        >>> b = np.roll(a, 3, axis=1)  # the square moves right by 3 px
        >>> h = cell_histograms(a, b, 28)
        >>> h.shape, bool(h[1, 1].sum() > h[0, 0].sum())
        ((2, 2, 32), True)
    """
    height, width = a.shape[:2]
    if a.shape != b.shape or height % cell or width % cell:
        raise ValueError(f"frames must have one shape with sides multiples of {cell}, got {a.shape} / "
                         f"{b.shape}")
    bins = _pixel_bins(_grey(a), _grey(b))
    rows, cols = height // cell, width // cell
    cell_id = (np.arange(height)[:, None] // cell) * cols + np.arange(width)[None, :] // cell
    counts = np.bincount((cell_id * (N_BINS + 1) + bins).ravel(), minlength=rows * cols * (N_BINS + 1))
    counts = counts.reshape(rows, cols, N_BINS + 1)[..., :N_BINS]
    return (counts * (100.0 / (cell * cell))).astype(np.float32)


def snippet_flow(frames: np.ndarray) -> np.ndarray:
    """The motion stream of one snippet's consecutive ``frames`` (N, H, W, 3): ``FLOW_DIM`` float32 values
    (mean over the frame pairs, then max); zeros for a snippet of one frame."""
    hist = pair_histograms(frames)
    if len(hist) == 0:
        return np.zeros(FLOW_DIM, np.float32)
    return np.concatenate([hist.mean(0).ravel(), hist.max(0).ravel()]).astype(np.float32)


def video_flow(frames_of: Iterable[np.ndarray]) -> np.ndarray:
    """The motion stream of every snippet, (T, FLOW_DIM), from each snippet's frames (repeated padding frames
    add zero-motion pairs, as a padded snippet's RGB frames repeat the last frame)."""
    rows = [snippet_flow(f) for f in frames_of]
    return np.stack(rows) if rows else np.zeros((0, FLOW_DIM), np.float32)
