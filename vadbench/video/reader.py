"""Frame-accurate readers for video files (PyAV, threaded decode) and frame folders (jpg / png / tif ...).

Both readers give RGB ``uint8`` arrays ``(H, W, 3)``, optionally resized (``size=(width, height)``) and
cropped (``crop=(top, left, height, width)``, applied after the resize) on the fly.

- :class:`VideoFileReader`: frame ``i`` is the ``i``-th frame in presentation order. ``len()`` counts the
  stream's packets (one demux pass, no decode). Sequential reading decodes once with frame + slice threads;
  random access seeks to the key frame before the target (found through the packets' timestamps) and
  decodes forward. A file that stops decoding early (truncated, corrupt) raises :class:`DataError` naming
  the file and the last frame decoded.
- :class:`FrameFolderReader`: image files sorted numerically (``9.jpg`` before ``10.jpg``), hidden files
  (``.DS_Store``, ``._0001.jpg``) ignored; images are decoded by Pillow in a small thread pool.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from vadbench.video.writer import write_video
    >>> path = write_video(pathlib.Path(tempfile.mkdtemp()) / "v.mp4", np.zeros((20, 48, 64, 3), np.uint8))
    >>> with open_video(path) as reader:
    ...     len(reader), reader.get(7).shape
    (20, (48, 64, 3))
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.errors import DataError

#: Image suffixes a frame folder may hold (lower case).
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
#: Video suffixes recognised by :func:`open_video` when the path does not exist yet (for messages).
VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv", ".ts")

Size = tuple[int, int]  # (width, height)
Crop = tuple[int, int, int, int]  # (top, left, height, width)

# How far ahead (in frames) a forward ``get`` keeps decoding instead of seeking.
_SEEK_GAP = 48


def _natural_key(name: str) -> list[Any]:
    return [
        (1, int(tok), "") if tok.isdigit() else (0, 0, tok.lower()) for tok in re.split(r"(\d+)", name) if tok
    ]


def list_frame_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files of ``folder`` sorted numerically, hidden files filtered.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for n in ("10.jpg", "9.jpg", ".DS_Store", "._1.jpg", "notes.txt"): _ = (d / n).write_bytes(b"")
        >>> [p.name for p in list_frame_files(d)]
        ['9.jpg', '10.jpg']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"frame folder {folder} not found")
    files = [
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS and p.is_file()
    ]
    return sorted(files, key=lambda p: _natural_key(p.name))


def _crop_array(frame: np.ndarray, crop: Crop | None, source: str) -> np.ndarray:
    if crop is None:
        return frame
    top, left, height, width = crop
    if top < 0 or left < 0 or top + height > frame.shape[0] or left + width > frame.shape[1]:
        raise DataError(
            f"{source}: crop (top={top}, left={left}, height={height}, width={width}) does not fit a "
            f"frame of "
            f"{frame.shape[1]}x{frame.shape[0]}"
        )
    return np.ascontiguousarray(frame[top : top + height, left : left + width])


class _ReaderBase:
    """Shared API: ``len``, ``get``, ``get_batch``, ``iter_frames``, ``iter_indexed``, context manager."""

    path: Path
    fps: float | None
    size: Size | None
    crop: Crop | None

    def __len__(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def iter_indexed(
        self, start: int = 0, stop: int | None = None, step: int = 1, indices: Iterable[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_index(self, index: int) -> int:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"{self.path}: frame {index} out of range (the video has {n} frames)")
        return int(index)

    def get(self, index: int) -> np.ndarray:
        """Frame ``index`` (negative counts from the end) as ``(H, W, 3)`` uint8 RGB."""
        index = self._check_index(index)
        for _, frame in self.iter_indexed(indices=[index]):
            return frame
        raise DataError(f"{self.path}: frame {index} could not be decoded")  # pragma: no cover

    def __getitem__(self, index: int) -> np.ndarray:
        return self.get(index)

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) stacked as ``(N, H, W, 3)``."""
        wanted = [self._check_index(i) for i in indices]
        got = dict(self.iter_indexed(indices=sorted(set(wanted))))
        if not wanted:
            h, w = self.frame_shape()
            return np.zeros((0, h, w, 3), np.uint8)
        return np.stack([got[i] for i in wanted])

    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of the frames this reader returns (after resize and crop)."""
        if self.crop is not None:
            return self.crop[2], self.crop[3]
        if self.size is not None:
            return self.size[1], self.size[0]
        return self._native_shape()

    def _native_shape(self) -> tuple[int, int]:  # pragma: no cover - overridden
        raise NotImplementedError

    def iter_frames(self, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[np.ndarray]:
        """Frames ``start, start + step, ... < stop`` in order, decoded once, sequentially."""
        for _, frame in self.iter_indexed(start, stop, step):
            yield frame

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_frames()

    def close(self) -> None:
        """Release open files (the reader reopens them on the next access)."""

    def __enter__(self) -> _ReaderBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


def _wanted(start: int, stop: int, step: int, indices: Iterable[int] | None) -> list[int]:
    if indices is not None:
        return sorted(set(int(i) for i in indices))
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    return list(range(start, stop, step))


class VideoFileReader(_ReaderBase):
    """A video file decoded by PyAV (FFmpeg) with frame and slice threads.

    ``threads``: decoder threads (0 lets FFmpeg choose); ``interpolation``: the swscale filter of the resize
    (``BILINEAR`` by default, close to OpenCV's ``INTER_LINEAR``); ``strict``: make FFmpeg stop at the first
    bitstream error instead of concealing it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        size: Size | None = None,
        crop: Crop | None = None,
        threads: int = 0,
        interpolation: str = "BILINEAR",
        strict: bool = False,
        fps: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.size = size
        self.crop = crop
        self.threads = threads
        self.interpolation = interpolation
        self.strict = strict
        self._pts: np.ndarray | None = None
        self._pts_index: dict[int, int] | None = None
        self._lock = threading.Lock()
        self._cursor: Iterator[tuple[int, Any]] | None = None
        self._cursor_next = -1
        self._containers: list[Any] = []
        self.declared_frames = 0
        container, stream = self._open()
        try:
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.fps = float(fps) if fps is not None else (float(rate) if rate else None)
            self.native_size: Size = (stream.codec_context.width, stream.codec_context.height)
            self.declared_frames = int(stream.frames or 0)
        finally:
            container.close()
        self._containers.remove(container)

    # -- opening and indexing -------------------------------------------------------------------------------

    def _open(self) -> tuple[Any, Any]:
        import av

        if not self.path.is_file():
            raise DataError(f"video {self.path} not found")
        try:
            container = av.open(str(self.path), metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError) as err:
            raise DataError(f"video {self.path}: cannot be opened ({err}); no frame decoded") from None
        if not container.streams.video:
            container.close()
            raise DataError(
                f"video {self.path}: no video stream (found {len(container.streams)} other streams)"
            )
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        if self.strict:
            stream.codec_context.options = {"err_detect": "explode"}
        self._containers.append(container)
        return container, stream

    def _index(self) -> np.ndarray:
        """Presentation timestamps of every frame, sorted (one demux pass, cached)."""
        if self._pts is not None:
            return self._pts
        import av

        container, stream = self._open()
        pts: list[int] = []
        missing = False
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    missing = True
                    pts.append(-1)
                else:
                    pts.append(int(packet.pts))
        except av.FFmpegError as err:
            raise DataError(
                f"video {self.path}: reading the container failed after {len(pts)} packets ({err})"
            ) from None
        finally:
            container.close()
            self._containers.remove(container)
        if missing:
            # No timestamps (e.g. some AVI files): index by decoding once.
            pts = [int(f.pts) if f.pts is not None else i for i, f in self._decode_from_start()]
            # frame counter stands in for a missing pts; seek is then disabled (see _decode_at)
        if 0 < len(pts) < self.declared_frames:
            raise DataError(
                f"video {self.path}: truncated: the header declares {self.declared_frames} frames but the "
                f"file "
                f"holds {len(pts)} (last frame present: {len(pts) - 1})"
            )
        self._pts = np.array(sorted(pts), dtype=np.int64)
        self._pts_index = {int(p): i for i, p in enumerate(self._pts)}
        self._seekable = not missing and len(self._pts_index) == len(self._pts)
        return self._pts

    def __len__(self) -> int:
        return len(self._index())

    def _native_shape(self) -> tuple[int, int]:
        return self.native_size[1], self.native_size[0]

    # -- decoding -------------------------------------------------------------------------------------------

    def _to_array(self, frame: Any, reformatter: Any) -> np.ndarray:
        if self.size is None:
            rgb = reformatter.reformat(frame, format="rgb24")
        else:
            rgb = reformatter.reformat(
                frame,
                width=self.size[0],
                height=self.size[1],
                format="rgb24",
                interpolation=self.interpolation,
            )
        return _crop_array(rgb.to_ndarray(), self.crop, f"video {self.path}")

    def _decode_from_start(self) -> Iterator[tuple[int, Any]]:
        """(index, av.VideoFrame) for every frame from the first, checking that each packet gave a frame."""
        import av

        container, stream = self._open()
        n_packets = 0
        index = -1
        try:
            for packet in container.demux(stream):
                if packet.size:
                    n_packets += 1
                for frame in packet.decode():
                    index += 1
                    yield index, frame
        except av.FFmpegError as err:
            raise DataError(
                f"video {self.path}: decoding failed after frame {index} ({index + 1} frames decoded): {err}"
            ) from None
        finally:
            container.close()
            if container in self._containers:
                self._containers.remove(container)
        expected = max(n_packets, self.declared_frames)
        if index + 1 < expected:
            raise DataError(
                f"video {self.path}: truncated or corrupt: {expected} frames in the container but decoding "
                f"stopped after frame {index} ({index + 1} frames decoded)"
            )

    def _decode_at(self, target: int) -> Iterator[tuple[int, Any]]:
        """(index, av.VideoFrame) from the key frame before ``target`` onwards."""
        import av

        pts = self._index()
        if target == 0 or not self._seekable:
            yield from self._decode_from_start()
            return
        container, stream = self._open()
        index = -1
        try:
            container.seek(int(pts[target]), stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is None or int(frame.pts) not in self._pts_index:  # type: ignore[operator]
                    raise DataError(
                        f"video {self.path}: frame with unknown timestamp {frame.pts} after a seek"
                    )
                index = self._pts_index[int(frame.pts)]  # type: ignore[index]
                yield index, frame
        except av.FFmpegError as err:
            raise DataError(f"video {self.path}: decoding failed after frame {index}: {err}") from None
        finally:
            container.close()
            if container in self._containers:
                self._containers.remove(container)
        if index + 1 < len(pts):
            raise DataError(
                f"video {self.path}: truncated or corrupt: {len(pts)} frames in the container but decoding "
                f"stopped after frame {index} ({index + 1} frames decoded)"
            )

    def iter_indexed(
        self, start: int = 0, stop: int | None = None, step: int = 1, indices: Iterable[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, frame)`` for ``range(start, stop, step)`` or the given ``indices`` (sorted, unique).

        Reading from the first frame needs no index; otherwise the packet index is built first (one demux).
        """
        import av

        if indices is None and start == 0 and stop is None:
            wanted: list[int] | None = None  # everything: stream without building the index
            step_all = step
        else:
            n = len(self)
            wanted = _wanted(start, n if stop is None else min(stop, n), step, indices)
            if not wanted:
                return
            step_all = 1
        reformatter = av.video.reformatter.VideoReformatter()
        if wanted is None:
            for index, frame in self._decode_from_start():
                if index % step_all == 0:
                    yield index, self._to_array(frame, reformatter)
            return
        pos = 0
        with self._lock:
            cursor, cursor_next = self._cursor, self._cursor_next
            self._cursor, self._cursor_next = None, -1
        if cursor is None or not (cursor_next <= wanted[0] <= cursor_next + _SEEK_GAP):
            cursor = self._decode_at(wanted[0])
        last = -1
        try:
            while pos < len(wanted):
                target = wanted[pos]
                if last >= 0 and target - last > _SEEK_GAP + 1:
                    cursor = self._decode_at(target)  # far ahead: seek rather than decode everything between
                for index, frame in cursor:  # noqa: B007 - frame is used after the break
                    last = index
                    if index == target:
                        break
                    if index > target:
                        raise DataError(
                            f"video {self.path}: frame {target} skipped by the decoder (got {index})"
                        )
                else:
                    raise DataError(
                        f"video {self.path}: truncated or corrupt: frame {target} requested, decoding "
                        f"stopped "
                        f"after frame {last}"
                    )
                yield target, self._to_array(frame, reformatter)
                pos += 1
        finally:
            # Keep the decoder where it stopped: the next forward ``get`` continues without seeking.
            with self._lock:
                self._cursor, self._cursor_next = cursor, last + 1

    def close(self) -> None:
        with self._lock:
            cursor, self._cursor = self._cursor, None
        if cursor is not None:
            cursor.close()  # type: ignore[attr-defined]
        for container in list(self._containers):
            container.close()
        self._containers.clear()


class FrameFolderReader(_ReaderBase):
    """A folder of image files (one per frame), decoded by Pillow in ``threads`` threads."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        size: Size | None = None,
        crop: Crop | None = None,
        threads: int = 2,
        interpolation: str = "BILINEAR",
        fps: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.files = list_frame_files(self.path)
        if not self.files:
            raise DataError(
                f"frame folder {self.path} has no image files (expected {', '.join(IMAGE_EXTS)}; "
                f"hidden files "
                f"are ignored)"
            )
        self.size = size
        self.crop = crop
        self.threads = max(1, threads)
        self.interpolation = interpolation
        self.fps = fps

    def __len__(self) -> int:
        return len(self.files)

    def _native_shape(self) -> tuple[int, int]:
        from PIL import Image

        with Image.open(self.files[0]) as img:
            return img.height, img.width

    def _load(self, index: int) -> np.ndarray:
        from PIL import Image

        file = self.files[index]
        try:
            with Image.open(file) as img:
                img = img.convert("RGB")
                if self.size is not None and img.size != tuple(self.size):
                    img = img.resize(tuple(self.size), getattr(Image.Resampling, self.interpolation))
                frame = np.asarray(img)
        except (OSError, ValueError) as err:
            raise DataError(
                f"frame folder {self.path}: image {file.name} (frame {index}) cannot be decoded ({err}); "
                f"last frame "
                f"decoded: {index - 1}"
            ) from None
        return _crop_array(frame, self.crop, f"frame folder {self.path}")

    def iter_indexed(
        self, start: int = 0, stop: int | None = None, step: int = 1, indices: Iterable[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, frame)`` for ``range(start, stop, step)`` or ``indices``; decoded ahead in threads."""
        n = len(self)
        wanted = _wanted(start, n if stop is None else min(stop, n), step, indices)
        for i in wanted:
            if not 0 <= i < n:
                raise IndexError(f"{self.path}: frame {i} out of range (the folder has {n} frames)")
        if self.threads == 1 or len(wanted) <= 1:
            for i in wanted:
                yield i, self._load(i)
            return
        window = 4 * self.threads  # bounded read-ahead
        with ThreadPoolExecutor(self.threads, thread_name_prefix="vadbench-frames") as pool:
            pending = [pool.submit(self._load, i) for i in wanted[:window]]
            for k, i in enumerate(wanted):
                frame = pending[k].result()
                if k + window < len(wanted):
                    pending.append(pool.submit(self._load, wanted[k + window]))
                pending[k] = None  # type: ignore[call-overload]
                yield i, frame


VideoReader = _ReaderBase


def open_video(
    path: str | os.PathLike[str],
    *,
    size: Size | None = None,
    crop: Crop | None = None,
    threads: int | None = None,
    fps: float | None = None,
    **kwargs: Any,
) -> _ReaderBase:
    """A reader for a video file or a frame folder (chosen by what ``path`` is).

    ``size=(width, height)`` resizes every frame, ``crop=(top, left, height, width)`` crops it after the
    resize. ``fps`` overrides (video) or supplies (frame folder) the frame rate.
    """
    p = Path(path)
    if p.is_dir():
        return FrameFolderReader(
            p, size=size, crop=crop, threads=2 if threads is None else threads, fps=fps, **kwargs
        )
    if not p.exists():
        raise DataError(f"video {p} not found (expected a video file or a folder of frames)")
    return VideoFileReader(
        p, size=size, crop=crop, threads=0 if threads is None else threads, fps=fps, **kwargs
    )
