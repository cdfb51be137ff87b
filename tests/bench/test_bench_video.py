"""Speed: PyAV decoding to RGB arrays (:class:`vadbench.video.VideoFileReader`) against the ffmpeg command
line ``ffmpeg -threads N -i V -pix_fmt rgb24 -f rawvideo -y /dev/null`` on the same file (x264 320x240, the
UCF-Crime format), side by side. Target: our throughput >= 0.8 x ffmpeg's. A plain per-frame PyAV loop
(``container.decode`` + ``to_ndarray(format="rgb24")``, no threads) is printed for reference.

Skips with a reason where the ``ffmpeg`` executable is absent (it is not a dependency of vadbench).
Run with ``make bench`` (``pytest -m bench --benchmark-enable``); the ratio is printed either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from vadbench.video import open_video  # noqa: E402
from vadbench.video.writer import write_video  # noqa: E402

N_FRAMES = 1500
TARGET = 0.8


@pytest.fixture(scope="module")
def ucf_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded 320x240 x264 clip (moving gradients + a moving block + noise), 1500 frames at 30 fps."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:240, 0:320]

    def frames():
        for i in range(N_FRAMES):
            f = np.stack([(xx + 3 * i) % 256, (yy + 2 * i) % 256, ((xx + yy + i) // 2) % 256], -1).astype(
                np.uint8
            )
            f[100:140, (2 * i) % 280 : (2 * i) % 280 + 40] = 255
            yield (f.astype(np.int16) + rng.integers(-12, 12, f.shape)).clip(0, 255).astype(np.uint8)

    return write_video(tmp_path_factory.mktemp("bench") / "ucf_like.mp4", frames(), fps=30, crf=23)


def _ours(path: Path) -> int:
    n = 0
    with open_video(path) as reader:
        for frame in reader.iter_frames():
            n += frame.shape[0] > 0
    return n


def _plain_pyav(path: Path) -> int:
    import av

    n = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            n += frame.to_ndarray(format="rgb24").shape[0] > 0
    return n


def _ffmpeg(path: Path, threads: int) -> None:
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-threads",
        str(threads),
        "-i",
        str(path),
        "-pix_fmt",
        "rgb24",
        "-f",
        "rawvideo",
        "-y",
        os.devnull,
    ]
    subprocess.run(cmd, check=True)


def _best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


@pytest.mark.bench
def test_bench_decode_vs_ffmpeg(benchmark, ucf_like: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip(
            "the ffmpeg command line is not installed (apt-get install ffmpeg) - nothing to compare with"
        )
    n = benchmark.pedantic(_ours, args=(ucf_like,), rounds=3, iterations=1)
    assert n == N_FRAMES
    threads = os.cpu_count() or 1
    ours, ref, plain = [], [], []
    for _ in range(3):  # interleaved, so that load on the machine hits both alike
        ours.append(_best(lambda: _ours(ucf_like), 1))
        ref.append(_best(lambda: _ffmpeg(ucf_like, threads), 1))
        plain.append(_best(lambda: _plain_pyav(ucf_like), 1))
    t_ours, t_ref, t_plain = min(ours), min(ref), min(plain)
    ratio = t_ref / t_ours  # throughput ours / throughput ffmpeg
    print(
        f"\ndecode {N_FRAMES} frames 320x240 x264 -> rgb24 ({threads} threads): "
        f"vadbench {N_FRAMES / t_ours:.0f} fps, "
        f"ffmpeg CLI {N_FRAMES / t_ref:.0f} fps, plain PyAV loop {N_FRAMES / t_plain:.0f} fps; "
        f"ratio vadbench/ffmpeg {ratio:.2f} (target >= {TARGET}), plain/ffmpeg {t_ref / t_plain:.2f}"
    )
    assert ratio >= TARGET


@pytest.mark.bench
def test_bench_random_access(benchmark, ucf_like: Path) -> None:
    """Frame-accurate random access: 50 seeded random frames (seek to the key frame + decode forward)."""
    idx = np.random.default_rng(0).integers(0, N_FRAMES, 50).tolist()
    reader = open_video(ucf_like)
    len(reader)  # build the packet index outside the timing

    def run() -> None:
        for i in idx:
            reader.get(i)

    benchmark.pedantic(run, rounds=2, iterations=1)
    t = _best(run, 2)
    print(f"\nrandom access: {len(idx) / t:.1f} frames/s ({t / len(idx) * 1e3:.1f} ms per frame)")
