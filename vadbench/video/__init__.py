"""Video access: frame-accurate readers (PyAV files, frame folders), snippets and clips, crop geometry.

Example:
    >>> from vadbench.video import open_video, iter_snippets  # doctest: +SKIP
"""

from vadbench.video.reader import (
    IMAGE_EXTS,
    FrameFolderReader,
    VideoFileReader,
    VideoReader,
    list_frame_files,
    open_video,
)

__all__ = [
    "IMAGE_EXTS",
    "FrameFolderReader",
    "VideoFileReader",
    "VideoReader",
    "list_frame_files",
    "open_video",
]
