"""The VadCLIP Method: config, labels, training loops, scoring, test-set selection hook, resume, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import FeatureSample
from vadbench.methods.vadclip import VadCLIP
from vadbench.methods.vadclip.classes import UCF_CRIME_CLASSES, XD_VIOLENCE_CLASSES, label_matrix
from vadbench.methods.vadclip.method import lr_at_epoch, resolve_config

D = 64
TINY = {
    "clip_model": "tiny",
    "clip_pretrained": None,
    "embed_dim": D,
    "classes": "binary",
    "loop": "xd",
    "batch_size": 4,
    "epochs": 2,
    "lr": 1.0e-3,
    "layers": 1,
    "visual_length": 32,
    "milestones": [1],
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test of this module runs on one torch thread (conftest ``one_torch_thread``)."""


def _samples(rng, n=8, lengths=(10, 50)):
    return [
        FeatureSample(
            f"v{i}",
            rng.normal(size=(int(rng.integers(*lengths)), D)).astype(np.float32),
            label=i % 2,
            classes=("abnormal",) if i % 2 else (),
        )
        for i in range(n)
    ]


def _method(**over):
    m = VadCLIP({**TINY, **over}, seed=0)
    m.progress = False
    return m


# -- config ------------------------------------------------------------------------------------------------


def test_config_defaults_are_the_official_ucf_code():
    cfg = resolve_config({})
    assert (cfg["lr_source"], cfg["epochs"], cfg["window"], cfg["layers"], cfg["lambda_cts"]) == (
        "code",
        10,
        8,
        2,
        0.1,
    )
    assert cfg["checkpoint_selection"] == "none" and cfg["mask_padding"] is False
    assert lr_at_epoch(cfg, 0) == pytest.approx(2e-5) and lr_at_epoch(cfg, 4) == pytest.approx(2e-6)
    assert lr_at_epoch({**cfg, "lr_source": "paper"}, 0) == pytest.approx(1e-5)


@pytest.mark.parametrize(
    "over, match",
    [
        ({"windw": 8}, "unknown option.*windw.*known options: classes"),
        ({"gcn": "deep"}, "option gcn must be one of"),
        ({"checkpoint_selection": "best"}, "checkpoint_selection"),
        ({"epochs": -1}, "epochs must be a positive integer"),
        ({"layers": 1.5}, "layers must be an integer"),
        ({"embed_dim": "big"}, "embed_dim"),
        ({"lr_source": "code", "lr_by_source": {"paper": 1.0}}, "lr_source='code' has no entry"),
    ],
)
def test_config_errors(over, match):
    with pytest.raises(ConfigError, match=match):
        VadCLIP(over)


# -- labels ------------------------------------------------------------------------------------------------


def test_label_matrix_ucf_xd_binary():
    y = label_matrix([(0, ()), (0, ("Normal",)), (1, ("RoadAccidents",)), (1, ("Abuse",))], UCF_CRIME_CLASSES)
    assert y.shape == (4, 14) and y[:2, 0].tolist() == [1, 1] and y[2, 8] == 1 and y[3, 1] == 1
    y = label_matrix(
        [(1, ("B4-0-0",)), (1, ("B2", "G")), (1, ("car accident",)), (0, ("A",))], XD_VIOLENCE_CLASSES
    )
    assert y[0].tolist() == [0, 0, 0, 1, 0, 0, 0] and y[1].tolist() == [0, 0, 1, 0, 0, 0, 1]
    assert y[2, 5] == 1 and y[3, 0] == 1
    assert label_matrix([(1, ()), (1, ("running",)), (0, ())], ("normal", "abnormal")).tolist() == [
        [0, 1],
        [0, 1],
        [1, 0],
    ]


@pytest.mark.parametrize(
    "item, match",
    [
        ((None, ()), "video 'v0' has no video label"),
        ((2, ()), "label must be 0 or 1"),
        ((1, ()), "is abnormal \\(label 1\\) but has no anomaly class"),
        ((1, ("Skateboarding",)), "class 'skateboarding' is not in the VadCLIP class list"),
        ((0, ("Abuse",)), "has label 0 \\(normal\\) but anomaly classes"),
    ],
)
def test_label_errors(item, match):
    with pytest.raises(DataError, match=match):
        label_matrix([item], UCF_CRIME_CLASSES, ["v0"])


# -- fit / score -------------------------------------------------------------------------------------------


def test_fit_score_shapes_and_chunking(rng):
    m = _method().fit(_samples(rng))
    assert [h["steps"] for h in m.history] == [2, 2] and m.history[1]["lr"] == pytest.approx(1e-4)
    for t in (5, 32, 64, 75):  # visual_length 32: T=64 -> 3 chunks, the last all padding
        out = m.score_outputs(FeatureSample("t", rng.normal(size=(t, D)).astype(np.float32)))
        assert out["c"].shape == (t,) and out["a"].shape == (t,) and out["probs"].shape == (t, 2)
        np.testing.assert_allclose(out["probs"].sum(1), 1, atol=1e-5)
        np.testing.assert_allclose(out["a"], 1 - out["probs"][:, 0], atol=1e-6)
    x = rng.normal(size=(75, D)).astype(np.float32)
    # chunk outputs: scoring the first 32 snippets alone equals the first chunk of the 75-snippet video
    full, head = m.score_outputs(FeatureSample("x", x)), m.score_outputs(FeatureSample("h", x[:32].copy()))
    np.testing.assert_allclose(full["c"][:32], head["c"], atol=1e-6)
    assert m.score(FeatureSample("x", x)).tolist() == full["c"].tolist()  # both -> published_branch c
    m.headline = "a"  # what score_branch=a sets
    np.testing.assert_array_equal(m.score(FeatureSample("x", x)), full["a"])
    assert _method(score_branch="a").headline == "a" and _method(published_branch="a").headline == "a"
    assert m.selection == "none" and m.fit_info["epochs"] == 2


def test_deterministic_under_seed(rng):
    train = _samples(rng)
    x = FeatureSample("t", rng.normal(size=(40, D)).astype(np.float32))
    a, b = _method().fit(train).score(x), _method().fit(train).score(x)
    np.testing.assert_array_equal(a, b)
    c = VadCLIP({**TINY}, seed=1)
    c.progress = False
    assert not np.array_equal(a, c.fit(train).score(x))


def test_ucf_loop_multiclass_and_errors(rng):
    train = [FeatureSample(f"n{i}", rng.normal(size=(20, D)).astype(np.float32), label=0) for i in range(5)]
    train += [
        FeatureSample(f"a{i}", rng.normal(size=(20, D)).astype(np.float32), label=1, classes=(cls,))
        for i, cls in enumerate(["Abuse", "Arson", "RoadAccidents", "Stealing"])
    ]
    m = _method(classes="ucf-crime", loop="ucf", batch_normal=2, batch_abnormal=2, epochs=1)
    m.fit(train)
    assert m.history[0]["steps"] == 2  # min(5 // 2, 4 // 2)
    assert m.score_outputs(FeatureSample("t", train[0].features))["probs"].shape == (20, 14)
    with pytest.raises(
        DataError, match="loop=ucf needs at least batch_normal=8 normal.*found 5 normal and 4"
    ):
        _method(classes="ucf-crime", loop="ucf", batch_normal=8, batch_abnormal=2).fit(train)
    with pytest.raises(DataError, match="video 'bad' \\(crop 3\\).*shape \\(T, 64\\).*found \\(20, 32\\)"):
        m.fit([FeatureSample("bad", np.zeros((20, 32), np.float32), label=0, crop=3)])
    with pytest.raises(DataError, match="video 'nan'.*NaN"):
        m.score(FeatureSample("nan", np.full((20, D), np.nan, np.float32)))
    with pytest.raises(DataError, match="no training samples"):
        m.fit([])


def test_one_optimisation_step_decreases_the_loss(rng):
    from vadbench.methods.vadclip.lengths import process_batch
    from vadbench.methods.vadclip.losses import vadclip_loss

    m = _method(visual_length=64)
    model = m._ensure_model()
    x, lengths = process_batch([s.features for s in _samples(rng, 6, (10, 90))], 64)
    x, lengths = torch.from_numpy(x), torch.from_numpy(lengths)
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]] * 3)
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3)
    before = vadclip_loss(*model(x, lengths), labels, lengths, 0.1)["loss"]
    opt.zero_grad()
    before.backward()
    opt.step()
    after = vadclip_loss(*model(x, lengths), labels, lengths, 0.1)["loss"]
    assert float(after.detach()) < float(before.detach())


# -- test-set selection hook -------------------------------------------------------------------------------


def test_selection_needs_the_runner_hook(rng):
    with pytest.raises(ConfigError, match="needs the runner's test evaluator"):
        _method(checkpoint_selection="test_ap_a").fit(_samples(rng))


def test_selection_keeps_and_reloads_the_best(rng):
    """The hook is called after every epoch (loop xd); the best state (2nd call) is the final model."""
    m = _method(checkpoint_selection="test_ap_a", epochs=3)
    probe = FeatureSample("p", rng.normal(size=(20, D)).astype(np.float32))
    seen = []

    def evaluator():
        seen.append(m.score(probe).copy())
        return {"a": {"ap": [0.5, 0.9, 0.1][len(seen) - 1]}, "c": {"auc_micro": 0.0}}

    m.test_evaluator = evaluator
    m.fit(_samples(rng))
    assert len(seen) == 3 and m.selection == "test" and m.fit_info["n_evaluations"] == 3
    assert m.fit_info["best_selection_metric"] == 0.9
    np.testing.assert_allclose(m.score(probe), seen[1], atol=1e-6)
    assert not np.allclose(seen[2], seen[1])


def test_selection_ucf_loop_every_n_steps(rng):
    train = [
        FeatureSample(
            f"v{i}",
            rng.normal(size=(12, D)).astype(np.float32),
            label=i % 2,
            classes=("abnormal",) if i % 2 else (),
        )
        for i in range(16)
    ]
    m = _method(
        checkpoint_selection="test_auc_c",
        loop="ucf",
        batch_normal=1,
        batch_abnormal=1,
        selection_every=3,
        epochs=1,
    )
    calls = []
    m.test_evaluator = lambda: calls.append(1) or {"c": {"auc_micro": float(len(calls))}}
    m.fit(train)
    assert len(calls) == 2  # steps 0..7: evaluated at i = 3 and 6 (i % 3 == 0, i != 0), as the code
    with pytest.raises(ConfigError, match="returned no c/auc_micro"):
        m.test_evaluator = lambda: {"score": {}}
        m.fit(train)


# -- persistence -------------------------------------------------------------------------------------------


def test_save_load_round_trip(rng, tmp_path):
    m = _method().fit(_samples(rng))
    x = FeatureSample("t", rng.normal(size=(70, D)).astype(np.float32))
    path = m.save(tmp_path / "w.safetensors")
    other = VadCLIP({**TINY}, seed=5)  # another seed: random CLIP weights come from the file
    other.load(path)
    for k in ("c", "a", "probs"):
        np.testing.assert_array_equal(other.score_outputs(x)[k], m.score_outputs(x)[k])
    assert any(k.startswith("clipmodel.") for k in m.state_dict())  # random CLIP is saved with the weights
    bad = VadCLIP({**TINY, "layers": 2})
    with pytest.raises(ConfigError, match="do not fit this config"):
        bad.load(path)


def test_official_checkpoint_names(rng, tmp_path):
    from vadbench.methods.vadclip.torch_model import _OFFICIAL_PREFIX

    m = _method()
    ours = {
        k: v.clone() + 1 for k, v in m._ensure_model().state_dict().items() if not k.startswith("clipmodel.")
    }
    back = {v: k for k, v in _OFFICIAL_PREFIX.items()}
    official = {}
    for key, value in ours.items():
        for new, old in back.items():
            if key.startswith(new):
                key = old + key[len(new) :]
                break
        official[key] = value
    official["clipmodel.token_embedding.weight"] = torch.zeros(1)
    torch.save(official, tmp_path / "model_ucf.pth")
    m.load_official(tmp_path / "model_ucf.pth")
    assert torch.equal(m.model.state_dict()["adapter.gc1.weight"], ours["adapter.gc1.weight"])
    torch.save({"foo": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(DataError, match="not a VadCLIP checkpoint"):
        m.load_official(tmp_path / "bad.pth")


def test_resume_after_interruption_gives_the_same_model(rng, tmp_path):
    train = _samples(rng)
    x = FeatureSample("t", rng.normal(size=(40, D)).astype(np.float32))
    reference = _method(epochs=3).fit(train).score(x)

    broken = _method(epochs=3)
    broken.work_dir = tmp_path
    calls = {"n": 0}
    original = broken._batches

    def failing(normal, gen):
        calls["n"] += 1
        if calls["n"] == 4:  # 1 = step count, 2-3 = epochs 1-2, 4 = epoch 3
            raise KeyboardInterrupt
        return original(normal, gen)

    broken._batches = failing
    with pytest.raises(KeyboardInterrupt):
        broken.fit(train)
    resumed = _method(epochs=3)
    resumed.work_dir = tmp_path
    resumed.fit(train)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    np.testing.assert_allclose(resumed.score(x), reference, atol=1e-6)
    # a different config does not resume from this state
    fresh = _method(epochs=3, lr=2.0e-3)
    fresh.work_dir = tmp_path
    assert fresh.fit(train).history[0]["epoch"] == 1 and not np.allclose(fresh.score(x), reference)
