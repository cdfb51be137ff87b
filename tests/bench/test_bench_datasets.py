"""Speed: indexing a root of 1,000 video files (PyAV metadata read, no decode) takes under 5 s.

Run with ``make bench`` (``pytest -m bench --benchmark-enable``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.data import write_video
from vadbench.datasets.shanghaitech import make_shanghaitech_dataset

#: The budget of the issue: 1,000 videos indexed in under 5 s.
REFERENCE_S = 5.0
N_VIDEOS = 1000


@pytest.fixture(scope="module")
def big_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ShanghaiTech-layout root with 1,000 tiny real ``.avi`` training videos (a few encodings, copied)."""
    root = tmp_path_factory.mktemp("sht-1000")
    vdir = root / "training" / "videos"
    seeds = [write_video(root / f"seed{i}.avi", 8 + i, seed=i) for i in range(4)]
    vdir.mkdir(parents=True)
    for k in range(N_VIDEOS):
        shutil.copyfile(seeds[k % 4], vdir / f"{k // 100 + 1:02d}_{k % 100 + 1:03d}.avi")
    for p in seeds:
        p.unlink()
    (root / "testing" / "test_frame_mask").mkdir(parents=True)
    np.save(root / "testing" / "test_frame_mask" / "01_0014.npy", np.zeros(9, np.uint8))
    return root


@pytest.mark.bench
def test_bench_index_1000_videos(benchmark, big_root: Path) -> None:
    table = benchmark.pedantic(make_shanghaitech_dataset, args=(big_root,), rounds=3, iterations=1)
    assert len(table) == N_VIDEOS + 1
    assert table.loc[table["subset"] == "train", "n_frames_source"].eq("container").all()
    assert set(table.loc[table["subset"] == "train", "n_frames"]) == {8, 9, 10, 11}
    stats = benchmark.stats.stats if benchmark.stats is not None else None
    if stats is not None:
        mean = stats.mean
        print(
            f"\nindex {N_VIDEOS} videos: {mean:.2f} s "
            f"(reference {REFERENCE_S:.1f} s, ratio {mean / REFERENCE_S:.2f})"
        )
        assert mean < REFERENCE_S
