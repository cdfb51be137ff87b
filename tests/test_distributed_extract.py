"""Sharded extraction with torch.distributed (gloo, 2 CPU processes): same files and hashes as one process."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")
pytest.importorskip("av")

from vadbench.features import FeatureSpec, FeatureStore, extract, extract_distributed  # noqa: E402
from vadbench.video.writer import barcode_frames, write_frames, write_video  # noqa: E402

SPEC = FeatureSpec(crops="5crop")


class Folders:
    """A minimal dataset (picklable, importable by the spawned workers)."""

    name = "dist"

    def __init__(self, root, rows):
        self.root, self.rows = root, rows

    def videos(self):
        return pd.DataFrame({"video": [r[0] for r in self.rows], "path": [r[1] for r in self.rows]})


def _worker(rank: int, world: int, port: int, root: str, rows: list, store_root: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    report = extract_distributed(
        Folders(root, rows), None, SPEC, "cpu", FeatureStore(store_root), progress=False
    )
    # each rank did its own share only
    assert report.extracted == [r[0] for r in rows[rank::world]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_match_one_process(tmp_path):
    import torch.multiprocessing as mp

    rows = []
    for i, n in enumerate([40, 33, 20, 48, 17]):
        frames = barcode_frames(n, 74, 98, seed=i)
        if i % 2:
            rows.append((f"vid{i}", str(write_video(tmp_path / f"vid{i}.mp4", frames))))
        else:
            rows.append((f"vid{i}", str(write_frames(tmp_path / f"vid{i}", frames, ext="jpg"))))
    ds = Folders(str(tmp_path), rows)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = FeatureStore(tmp_path / "single")
        extract(ds, None, SPEC, "cpu", single, progress=False)
    finally:
        torch.set_num_threads(threads)

    sharded = FeatureStore(tmp_path / "sharded")
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), rows, str(sharded.root)), nprocs=2, join=True)

    folder = sharded.path(ds, SPEC)
    assert not list(folder.glob("manifest.part*.json")), "rank 0 merged and removed the per-rank manifests"
    one = json.loads((single.path(ds, SPEC) / "manifest.json").read_text())
    two = json.loads((folder / "manifest.json").read_text())
    assert set(two["videos"]) == {r[0] for r in rows}
    assert two["videos"] == one["videos"]  # same files, same sha256, same shapes and frame counts
    assert two["hash"] == one["hash"] and two["weights_sha256"] == one["weights_sha256"]
    for video, _ in rows:
        np.testing.assert_array_equal(sharded.read(ds, SPEC, video), single.read(ds, SPEC, video))
