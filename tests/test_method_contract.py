"""The Method contract, for every registered method (built-ins and entry-point plugins) and the reference
methods of the input kinds no built-in uses yet (``tests/helpers/reference_methods.py``).

Adding a method to ``vadbench/registry.py`` (or through a plugin) adds it here with no edit: it is fitted on
the tiny synthetic set with its :meth:`~vadbench.methods.base.Method.contract_config`, must return finite
scores of the right length for its unit, must give the same scores after a save / load round trip, and must
never read a test label (test samples raise on access). The method x dataset matrix runs every method with
no preset and no flag on small fake roots in each dataset's real layout (``tests/helpers/data.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers.reference_methods import REFERENCE_METHODS
from vadbench.methods.base import FIDELITIES, INPUT_KINDS, SUPERVISIONS, UNITS, check_method_class
from vadbench.registry import METHODS


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test of this module runs on one torch thread (conftest ``one_torch_thread``)."""


def _registered() -> list[Any]:
    return [pytest.param(name, id=name) for name in METHODS.names()]


def _all_methods() -> list[Any]:
    return _registered() + [pytest.param(cls, id=cls.name) for cls in REFERENCE_METHODS]


def _cls(method: Any) -> type:
    return METHODS.get(method) if isinstance(method, str) else method


#: What each input kind's run needs on the tiny synthetic set (kept small: seconds per method).
TINY_INPUTS: dict[str, dict[str, Any]] = {
    "features": {"crops": "center"},
    "clips": {"window": 16, "stride": 16, "frames": 4},
    "tracks": {"preset": "bgsub"},
    "frames": {},
}


@pytest.fixture(scope="module")
def tiny_synthetic() -> Any:
    """The tiny synthetic set (generated once into the cache), as an instance: runs use it as it is."""
    from vadbench.datasets import get_dataset

    return get_dataset("synthetic", preset="tiny")


def _run(method: Any, tmp_path: Path, dataset: Any, **kwargs: Any) -> Any:
    from vadbench.runner import run

    cls = _cls(method)
    kind = cls.input_kind
    options = dict(TINY_INPUTS[kind])
    extra: dict[str, Any] = {"features": options} if kind == "features" else {"inputs": {kind: options}}
    return run(
        method,
        dataset,
        device="cpu",
        runs_dir=tmp_path / "runs",
        overrides=cls.contract_config(),
        progress=False,
        report=False,
        **{**extra, **kwargs},
    )


# -- declarations --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", _all_methods())
def test_declares_the_contract(method):
    cls = check_method_class(_cls(method))
    assert cls.supervision in SUPERVISIONS and cls.input_kind in INPUT_KINDS
    assert cls.unit in UNITS and cls.fidelity in FIDELITIES
    cls(cls.contract_config())  # the contract config is valid
    for alias in getattr(cls, "aliases", ()):
        assert METHODS.get(alias) is cls


# -- fit, score, save / load, no label access ----------------------------------------------------------------


@pytest.mark.parametrize("method", _all_methods())
def test_fits_scores_and_round_trips_on_tiny_synthetic(method, tmp_path, monkeypatch, tiny_synthetic):
    """Fit on tiny synthetic through the runner (real decoded media for frames / clips / tracks), then: one
    finite score per unit, metrics computed, and the saved state scores the same after loading."""
    from vadbench import runner as runner_mod
    from vadbench.methods.base import LabelAccessError, is_test_sample

    cls = _cls(method)
    seen: dict[str, Any] = {}
    original = runner_mod.score_videos

    def spy(m, samples, **kw):
        seen["method"], seen["samples"] = m, samples
        return original(m, samples, **kw)

    monkeypatch.setattr(runner_mod, "score_videos", spy)
    res = _run(method, tmp_path, tiny_synthetic)
    assert res.status == "ok" and np.isfinite(res.metrics["auc_micro"])
    assert res.row["fidelity"] == cls.fidelity
    samples = seen["samples"]
    assert samples and all(is_test_sample(s) for crops in samples.values() for s in crops)
    for crops in samples.values():
        with pytest.raises(LabelAccessError):
            _ = crops[0].label
    fitted = seen["method"]
    videos = list(samples)[:3]
    before = {v: fitted.score_outputs(samples[v][0]) for v in videos}
    for v in videos:
        s = samples[v][0]
        score = np.asarray(before[v][fitted.headline])
        assert score.ndim == 1 and np.all(np.isfinite(score))
        want = {"clip": len(getattr(s, "windows", [])), "frame": s.n_frames}.get(cls.unit)
        if cls.unit == "snippet16":
            want = (
                np.asarray(s.features).shape[0] if hasattr(s, "features") else int(np.ceil(s.n_frames / 16))
            )
        assert score.shape[0] == want, (v, score.shape, want)
    # save / load round trip: a fresh instance restored from the run folder's files scores the same
    path = fitted.save(tmp_path / "again" / "m.safetensors")
    other = cls(dict(fitted.config), device="cpu", seed=fitted.seed + 1)
    from vadbench.methods.training import TorchMethod

    if isinstance(other, TorchMethod):  # torch methods size their modules from the training data
        other.build(_train(res))
    other.load(path)
    for v in videos:
        after = other.score_outputs(samples[v][0])
        for key, value in before[v].items():
            np.testing.assert_allclose(np.asarray(after[key]), np.asarray(value), rtol=1e-5, atol=1e-6)
    # and the runner resumes from the same files without refitting
    again = _run(method, tmp_path, tiny_synthetic)
    assert again.resumed == ["fit", "score"] and again.metrics["auc_micro"] == res.metrics["auc_micro"]


def _train(res: Any) -> list[Any]:
    """The training samples of a finished run (rebuilt: torch methods size their modules from them)."""
    import yaml

    from vadbench.inputs import make_samples, prepare
    from vadbench.runner import open_dataset, resolve_split_variant

    cfg = yaml.safe_load((res.run_dir / "config.yaml").read_text())
    ds = open_dataset(cfg["dataset"], cfg["root"], {"preset": "tiny"})
    kind = cfg["input_kind"]
    variant = resolve_split_variant(ds.splits, cfg["supervision"], None)
    train = list(ds.split(variant).train)
    prepared = prepare(kind, ds, train, train[:1], cfg["inputs"][kind], device="cpu", progress=False)
    samples = make_samples(kind, ds.videos(), train, prepared.train, train=True)
    return [s for v in train for s in samples[v]]


# -- method x dataset matrix: no preset, no flag, small fake roots in each dataset's real layout -------------


def _matrix() -> list[Any]:
    from tests.helpers.data import SUPERVISION_DATASETS

    out = []
    for name in METHODS.names():
        try:
            cls = METHODS.get(name)
        except Exception:  # noqa: BLE001 - test_declares_the_contract reports a broken method
            continue
        for ds in SUPERVISION_DATASETS.get(cls.supervision, ()):
            out.append(pytest.param(name, ds, id=f"{name}-{ds}"))
    return out


@pytest.fixture(scope="module")
def fake_roots(tmp_path_factory) -> dict[str, Path]:
    from tests.helpers.data import make_fake_root

    base = tmp_path_factory.mktemp("fake-roots")
    return {
        ds: make_fake_root(ds, base / ds)
        for ds in ("ucf-crime", "xd-violence", "shanghaitech", "avenue", "ped2", "nwpu-campus")
    }


@pytest.mark.parametrize(("method", "dataset"), _matrix())
def test_runs_on_every_dataset_of_its_supervision_with_no_preset(method, dataset, fake_roots, tmp_path):
    """The code defaults (+ the method's offline contract config) and the dataset's default protocol for the
    method's unit fit every dataset: no preset, no protocol, no input flag (e.g. ShanghaiTech's 16·ceil(n/16)
    labels get features with tail=pad)."""
    from vadbench.runner import run

    cls = METHODS.get(method)
    res = run(
        method,
        dataset,
        root=fake_roots[dataset],
        device="cpu",
        runs_dir=tmp_path / "runs",
        overrides=cls.contract_config(),
        preset="none",  # the code defaults even where the method has a default preset for this dataset
        progress=False,
        report=False,
    )
    assert res.status == "ok" and f"unit={cls.unit}" in res.row["protocol"] and res.row["preset"] == ""
    assert np.isfinite(res.metrics["auc_micro"])


# -- community features reach vadbench run -------------------------------------------------------------------


def test_vadclip_from_community_features(tmp_path, tiny_synthetic):
    """VadCLIP runs from community-format files (VadCLIP's own CLIP csv layout: ``<video>__<k>.npy`` per crop)
    generated for the synthetic videos; the row's backbone names the source; a missing file names it."""
    from vadbench.errors import DataError
    from vadbench.runner import run

    rng = np.random.default_rng(0)
    folder = tmp_path / "clip-features"
    folder.mkdir()
    table = tiny_synthetic.videos()
    for video, n in zip(table["video"], table["n_frames"], strict=True):
        t = int(np.ceil(int(n) / 16))  # tail=pad, as the rtfm convention of the default protocol wants
        for k in range(10):
            np.save(folder / f"{video}__{k}.npy", rng.normal(size=(t, 512)).astype(np.float32))
    cfg = {**METHODS.get("vadclip").contract_config(), "embed_dim": 512, "epochs": 1, "batch_size": 32}
    tiny512 = {"clip_model": "tiny512", "clip_pretrained": None}
    res = run(
        "vadclip",
        tiny_synthetic,
        device="cpu",
        runs_dir=tmp_path / "runs",
        overrides={**cfg, **tiny512},
        features={"source": "vadclip-clip", "root": str(folder)},
        progress=False,
        report=False,
    )
    assert res.row["backbone"] == "vadclip-clip" and np.isfinite(res.metrics["auc_micro"])
    assert "crops=mean10" in res.row["protocol"]  # the default weak protocol's rule, 10 community crops
    for k in range(10):
        (folder / f"{table['video'].iloc[-1]}__{k}.npy").unlink()
    with pytest.raises(DataError, match=rf"{table['video'].iloc[-1]}__<k>\.npy"):
        run(
            "vadclip",
            tiny_synthetic,
            device="cpu",
            runs_dir=tmp_path / "runs2",
            overrides={**cfg, **tiny512},
            features={"source": "vadclip-clip", "root": str(folder)},
            progress=False,
            report=False,
        )
