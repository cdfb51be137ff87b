"""Write frames as a video file (PyAV) or a frame folder (Pillow): used by the synthetic data and the tests.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_video(d / "a.mp4", np.zeros((5, 32, 48, 3), np.uint8)).name
    'a.mp4'
    >>> len(list(write_frames(d / "frames", np.zeros((3, 32, 48, 3), np.uint8)).iterdir()))
    3
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

#: Default codec per container suffix (all present in PyAV's bundled FFmpeg).
DEFAULT_CODECS = {".mp4": "libx264", ".mkv": "libx264", ".avi": "mpeg4", ".mov": "libx264", ".webm": "libvpx"}


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray] | np.ndarray,
    fps: float = 25.0,
    codec: str | None = None,
    *,
    crf: int | None = 18,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB uint8 frames ``(H, W, 3)`` to ``path`` (written to a temporary name, then renamed).

    ``codec`` defaults from the suffix (:data:`DEFAULT_CODECS`); ``crf`` sets quality for x264.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = codec or DEFAULT_CODECS.get(path.suffix.lower(), "libx264")
    from vadbench.atomic import atomic_path

    with atomic_path(path, suffix=path.suffix) as tmp:
        rate = Fraction(fps).limit_denominator(1001)
        with av.open(str(tmp), mode="w") as container:
            stream = None
            for frame in frames:
                frame = np.ascontiguousarray(frame, dtype=np.uint8)
                if stream is None:
                    if codec in ("libx264", "mpeg4", "libvpx") and (frame.shape[0] % 2 or frame.shape[1] % 2):
                        raise ValueError(
                            f"write_video({path}): {codec} with yuv420p needs an even width and height, got "
                            f"{frame.shape[1]}x{frame.shape[0]}"
                        )
                    stream = container.add_stream(codec, rate=rate)
                    stream.height, stream.width = frame.shape[0], frame.shape[1]
                    stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
                    opts = dict(options or {})
                    if crf is not None and codec == "libx264":
                        opts.setdefault("crf", str(crf))
                    if opts:
                        stream.options = opts
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            if stream is None:
                raise ValueError(f"write_video({path}): no frames given")
            for packet in stream.encode():
                container.mux(packet)
    return path


def write_frames(
    folder: str | os.PathLike[str],
    frames: Iterable[np.ndarray] | np.ndarray,
    ext: str = "jpg",
    pattern: str = "{:03d}",
    start: int = 0,
    quality: int = 95,
) -> Path:
    """Save frames as ``folder/<pattern.format(i)>.<ext>`` (ShanghaiTech style ``000.jpg`` by default)."""
    from PIL import Image

    from vadbench.atomic import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=start):
        target = folder / f"{pattern.format(i)}.{ext}"
        kwargs = {"quality": quality} if ext.lower() in ("jpg", "jpeg") else {}
        with atomic_path(target, suffix=target.suffix) as tmp:
            Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(tmp, format=_pil_format(ext), **kwargs)
    return folder


def _pil_format(ext: str) -> str:
    return {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "tif": "TIFF", "tiff": "TIFF", "bmp": "BMP"}[
        ext.lower()
    ]


def barcode_frames(n: int, height: int = 48, width: int = 64, bits: int = 10, seed: int = 0) -> np.ndarray:
    """``n`` frames whose index is written as ``bits`` black / white vertical bars (survives lossy codecs),
    over a little seeded noise. :func:`read_barcode` gives the index back.

    Example:
        >>> read_barcode(barcode_frames(40)[37])
        37
    """
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 24, size=(n, height, width, 3), dtype=np.uint8)
    edges = np.linspace(0, width, bits + 1).astype(int)
    for i in range(n):
        for b in range(bits):
            if (i >> b) & 1:
                frames[i, :, edges[b] : edges[b + 1]] += 200
    return frames


def read_barcode(frame: np.ndarray, bits: int = 10) -> int:
    """The index :func:`barcode_frames` wrote into ``frame`` (robust to resize and compression)."""
    width = frame.shape[1]
    edges = np.linspace(0, width, bits + 1).astype(int)
    value = 0
    for b in range(bits):
        lo, hi = edges[b], edges[b + 1]
        margin = max(1, (hi - lo) // 4)
        if frame[:, lo + margin : hi - margin].mean() > 110:
            value |= 1 << b
    return value
