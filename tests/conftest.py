"""Shared fixtures: the real annotation folder (../shared/realdata), an isolated cache, seeded RNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Path of ../shared/realdata; tests using it skip with a reason when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real annotation files not found at {REALDATA} (../shared/realdata beside the checkout)")
    return REALDATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes its caches under a per-session temporary folder, never the user's cache."""
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "vadbench-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread: on 2 shared cores, OpenMP spin-waits make small models 10x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
