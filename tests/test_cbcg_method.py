"""CBCG pieces: clustering loss on hand-made embeddings, batch clustering, the cross-batch memory (a batch of
normal videos only still gets an abnormal centre; the memory changes the centres used), guided scores,
options, bad input, save / load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import FeatureSample, unlabelled
from vadbench.methods.cbcg import CBCG
from vadbench.methods.cbcg.losses import clustering_loss, guidance_loss, mil_loss
from vadbench.methods.cbcg.torch_model import (
    BatchClusters,
    CentreMemory,
    batch_clustering,
    cluster_score,
    guided_score,
)

E_N = torch.tensor([1.0, 0.0, 0.0])
E_A = torch.tensor([0.0, 1.0, 0.0])


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """One torch thread (conftest ``one_torch_thread``)."""


def _unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_clustering_loss_on_hand_made_embeddings():
    # video 0 normal (both snippets on e_n); video 1 abnormal: snippet 0 on e_a (top score), snippet 1 normal
    z = torch.stack([_unit([1, 0, 0], [1, 0, 0]), _unit([0, 1, 0], [1, 0, 0])])
    s = torch.tensor([[0.1, 0.2], [0.9, 0.1]])
    labels = torch.tensor([0, 1])
    clusters = batch_clustering(z, s, labels, k=1, iterations=3)
    assert clusters.abnormal.tolist() == [[False, False], [True, False]]
    assert torch.allclose(clusters.centre_normal, E_N) and torch.allclose(clusters.centre_abnormal, E_A)
    perfect = clustering_loss(z, s, labels, clusters, E_N, E_A, k=1, margin=0.5)
    assert float(perfect["clu"]) == pytest.approx(0.0, abs=1e-6)
    # normal snippets at 60 degrees from the normal centre: pull term = 1 - cos 60 = 0.5
    tilted = _unit([0.5, 3**0.5 / 2, 0], [0.5, 0, 3**0.5 / 2])
    z2 = torch.stack([tilted, _unit([0, 1, 0], [1, 0, 0])])
    parts = clustering_loss(z2, s, labels, clusters, E_N, E_A, k=1, margin=0.5)
    assert float(parts["pull_normal"]) == pytest.approx(0.5, abs=1e-5)
    assert float(parts["pull_abnormal"]) == pytest.approx(0.0, abs=1e-6)
    # centres 30 degrees apart: separation = cos 30 - (1 - 0.5)
    close = BatchClusters(E_N, _unit([3**0.5 / 2, 0.5, 0])[0], clusters.abnormal)
    sep = clustering_loss(z, s, labels, close, E_N, E_A, k=1, margin=0.5)["separate"]
    assert float(sep) == pytest.approx(3**0.5 / 2 - 0.5, abs=1e-5)
    # the abnormal pull only counts top-k snippets assigned to the abnormal cluster
    none_assigned = BatchClusters(E_N, E_A, torch.zeros(2, 2, dtype=torch.bool))
    assert float(clustering_loss(z2, s, labels, none_assigned, E_N, E_N, 1)["pull_abnormal"]) == 0.0


def test_kmeans_refines_the_seeds():
    # abnormal video: its top-scored snippet is normal-looking; two abnormal-looking snippets score lower
    z = torch.stack([_unit([1, 0, 0], [1, 0.1, 0]), _unit([0.9, 0.1, 0], [0, 1, 0.1])])
    s = torch.tensor([[0.1, 0.1], [0.9, 0.5]])
    labels = torch.tensor([0, 1])
    seeds_only = batch_clustering(z, s, labels, k=1, iterations=0)
    refined = batch_clustering(z, s, labels, k=1, iterations=3)
    assert seeds_only.abnormal[1].tolist() == [True, True]  # the seed sits on the normal-looking snippet
    assert refined.abnormal.tolist() == [[False, False], [False, True]]
    assert float(refined.centre_abnormal @ E_A) > 0.9


def test_normal_only_batch_gets_the_abnormal_centre_from_memory():
    z = torch.stack([_unit([1, 0, 0], [0.2, 1, 0])])  # one normal video, one snippet abnormal-looking
    s = torch.tensor([[0.1, 0.9]])
    labels = torch.tensor([0])
    alone = batch_clustering(z, s, labels, k=1)
    assert alone.centre_abnormal is None and not alone.abnormal.any()
    memory = CentreMemory(3, mode="fifo", size=10)
    memory.push(E_N, E_A)
    _, mem_a = memory.stored()
    with_memory = batch_clustering(z, s, labels, k=1, fallback_abnormal=mem_a)
    assert with_memory.centre_abnormal is not None
    assert with_memory.abnormal.tolist() == [[False, True]]
    c_n, c_a = memory.centres(with_memory.centre_normal, with_memory.centre_abnormal)
    assert c_a is not None and float(c_a @ E_A) > 0.9


@pytest.mark.parametrize("mode", ["fifo", "ema"])
def test_memory_changes_the_centres_used(mode):
    batch_n, batch_a = _unit([1, 1, 0])[0], _unit([0, 1, 1])[0]
    off = CentreMemory(3, mode="off")
    off.push(E_N, E_A)
    assert torch.allclose(off.centres(batch_n, batch_a)[0], batch_n)  # off: the batch's own centres
    memory = CentreMemory(3, mode=mode, size=2, momentum=0.1)
    for _ in range(3):
        memory.push(E_N, E_A)
    c_n, c_a = memory.centres(batch_n, batch_a)
    assert not torch.allclose(c_n, batch_n) and not torch.allclose(c_a, batch_a)
    assert float(c_n @ E_N) > float(batch_n @ E_N) and float(c_a @ E_A) > float(batch_a @ E_A)
    assert float(c_n.norm()) == pytest.approx(1.0) and float(c_a.norm()) == pytest.approx(1.0)
    if mode == "fifo":  # mean of the 2 stored batches and the current one
        assert torch.allclose(c_n, F.normalize(2 * E_N + batch_n, dim=0), atol=1e-6)
        memory.push(batch_n, batch_a)
        memory.push(batch_n, batch_a)  # the queue holds M = 2 batches: E_N is gone
        assert torch.allclose(memory.stored()[0], batch_n, atol=1e-6)
    else:
        assert torch.allclose(c_n, F.normalize(0.9 * E_N + 0.1 * batch_n, dim=0), atol=1e-6)


def test_guided_scores_and_guidance_loss():
    s, g = torch.tensor([0.2, 0.8]), torch.tensor([0.6, 0.4])
    assert guided_score(s, g, "mean").tolist() == pytest.approx([0.4, 0.6])
    assert guided_score(s, g, "product").tolist() == pytest.approx([0.12, 0.32])
    assert guided_score(s, g, "off") is s
    z = _unit([0, 1, 0], [1, 0, 0])
    assert cluster_score(z, E_N, E_A, 0.1).tolist() == pytest.approx([1.0, 0.0], abs=1e-4)
    # abnormal video: pseudo-labels [1, 0] from g; a score that agrees has a lower loss than one that does not
    agree = guidance_loss(torch.tensor([[0.9, 0.1]]), z[None], torch.tensor([1]), E_N, E_A, 0.1)
    disagree = guidance_loss(torch.tensor([[0.1, 0.9]]), z[None], torch.tensor([1]), E_N, E_A, 0.1)
    assert float(agree) < 0.2 < float(disagree)
    # normal video: target 0 everywhere, whatever g says
    assert (
        float(guidance_loss(torch.tensor([[0.01, 0.01]]), z[None], torch.tensor([0]), E_N, E_A, 0.1)) < 0.02
    )
    assert float(mil_loss(torch.tensor([[0.9, 0.1], [0.1, 0.1]]), torch.tensor([1, 0]), 1)) < 0.11


def test_config_defaults_are_table_5_8_and_switches_read_yaml():
    cfg = CBCG().cfg
    assert (cfg.segments, cfg.batch_size, cfg.embed_dim, cfg.topk_k, cfg.kmeans_iters) == (32, 32, 128, 3, 3)
    assert (cfg.memory, cfg.memory_size, cfg.memory_momentum, cfg.margin, cfg.tau_g) == (
        "fifo",
        10,
        0.1,
        0.5,
        0.1,
    )
    assert (cfg.lambda_clu, cfg.lambda_guide, cfg.lambda_smooth, cfg.lambda_sparse) == (1.0, 0.5, 8e-4, 8e-4)
    assert (cfg.guidance, cfg.lr, cfg.weight_decay, cfg.epochs, cfg.warmup_epochs) == (
        "mean",
        1e-3,
        5e-4,
        50,
        5,
    )
    off = CBCG({"clustering_branch": False, "memory": False, "guidance": False}).cfg
    assert (off.clustering_branch, off.memory, off.guidance) == ("off", "off", "off")
    with pytest.raises(ConfigError, match="memory"):
        CBCG({"memory": "lifo"})
    with pytest.raises(ConfigError, match="unknown option"):
        CBCG({"bag": 3})
    with pytest.raises(ConfigError, match="segments"):
        CBCG({"segments": 0})


def _train(n_normal=4, n_abnormal=4, d=8, t=6, crops=1, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_normal + n_abnormal):
        for c in range(crops):
            x = rng.normal(size=(t, d)).astype(np.float32)
            out.append(FeatureSample(f"v{i}", x, label=int(i >= n_normal), crop=c))
    return out


SMALL = {"segments": 4, "batch_size": 2, "epochs": 2, "hidden_dim": 16, "head_dim": 8, "embed_dim": 8}


def test_bad_input_errors_name_what_is_wrong():
    with pytest.raises(DataError, match=r"expects 64-d features .*found 8-d"):
        CBCG({**SMALL, "feature_dim": 64}).fit(_train())
    with pytest.raises(DataError, match=r"expects 10 crop\(s\) per training video.*'v0' has crops \[0\]"):
        CBCG({**SMALL, "crops": 10}).fit(_train())
    with pytest.raises(DataError, match="0 abnormal samples"):
        CBCG(SMALL).fit(_train(4, 0))
    with pytest.raises(
        DataError, match=r"batch_size=8 .*larger than the training set.*4 normal and 3 abnormal"
    ):
        CBCG({**SMALL, "batch_size": 8}).fit(_train(4, 3))
    m = CBCG(SMALL)
    m.progress = False
    m.fit(_train(crops=2))
    with pytest.raises(DataError, match=r"video 't' \(crop 0\): CBCG expects 8-d"):
        m.score(FeatureSample("t", np.zeros((5, 4), np.float32)))


@pytest.mark.parametrize("variant", [{}, {"memory": "ema"}, {"memory": "off"}, {"clustering_branch": "off"}])
def test_fit_score_save_load_round_trip(tmp_path, variant):
    m = CBCG({**SMALL, **variant}, seed=3)
    m.progress = False
    m.fit(_train())
    assert [h["steps"] for h in m.history] == [2, 2]  # min(4, 4) // 2
    test = unlabelled(FeatureSample("t", np.random.default_rng(1).normal(size=(11, 8)).astype(np.float32)))
    out = m.score_outputs(test)
    assert out["score"].shape == (11,) and np.all(np.isfinite(out["score"]))
    if variant.get("clustering_branch") == "off":
        assert "cluster" not in out and np.array_equal(out["score"], out["regression"])
    else:
        assert np.allclose(out["score"], (out["regression"] + out["cluster"]) / 2, atol=1e-6)
    path = m.save(tmp_path / "cbcg.safetensors")
    again = CBCG({**SMALL, **variant}).load(path)
    for key, value in out.items():
        assert np.array_equal(again.score_outputs(test)[key], value), key


def test_registered_with_alias():
    from vadbench.registry import METHODS

    assert METHODS.get("cbcg") is CBCG and METHODS.get("clustering-guided") is CBCG
    assert CBCG.fidelity == "reconstruction" and CBCG.supervision == "weak"


def test_presets_resolve():
    from vadbench.methods.presets import load_preset

    p = load_preset("cbcg", "synthetic", "small-no-memory")
    assert CBCG(p["config"]).cfg.memory == "off"
    for ds in ("ucf-crime", "xd-violence", "shanghaitech"):
        cfg = CBCG(load_preset("cbcg", ds)["config"]).cfg
        assert cfg.feature_dim in (1024, 2048) and cfg.crops in (5, 10)


def test_synthetic_ablation_presets_differ_from_small_only_in_their_switch():
    """The ablation grid of spec 5.9 changes one part each; the recipe (epochs, padding, sizes) is small's."""
    from dataclasses import asdict

    from vadbench.methods.presets import load_preset

    small = asdict(CBCG(load_preset("cbcg", "synthetic", "small")["config"]).cfg)
    assert (small["epochs"], small["conv_padding"], small["guidance"]) == (100, "replicate", "product")
    allowed = {
        "small-no-clustering": {"clustering_branch", "guidance"},  # no g to fuse without the branch
        "small-no-memory": {"memory"},
        "small-no-guidance": {"guidance"},
    }
    for name, switch in allowed.items():
        cfg = asdict(CBCG(load_preset("cbcg", "synthetic", name)["config"]).cfg)
        assert {k for k in cfg if cfg[k] != small[k]} <= switch, name


def test_conv_padding_option_removes_the_edge_cue():
    """``conv_padding=replicate``: a video whose snippets are all alike gets one score everywhere; the default
    zero padding marks the first and last snippet (the position cue the card's curves show)."""
    from vadbench.methods.cbcg.torch_model import CBCGModel

    x = torch.ones(1, 9, 8)
    torch.manual_seed(0)
    zeros = CBCGModel(8, 16, 8, 4, clustering_branch=False).eval()
    torch.manual_seed(0)
    repl = CBCGModel(8, 16, 8, 4, clustering_branch=False, padding_mode="replicate").eval()
    s_zero, s_repl = zeros(x)[0][0], repl(x)[0][0]
    assert torch.allclose(s_repl, s_repl[4].expand(9))
    assert not torch.allclose(s_zero[[0, -1]], s_zero[4].expand(2))
    assert CBCG({"conv_padding": "replicate"}).cfg.conv_padding == "replicate"
    with pytest.raises(ConfigError, match="conv_padding"):
        CBCG({"conv_padding": "reflect"})


def test_video_centring_takes_each_videos_mean_embedding_off():
    from vadbench.methods.cbcg.torch_model import CBCGModel

    torch.manual_seed(0)
    plain = CBCGModel(6, 16, 8, 4, dropout=0.0, padding_mode="replicate").eval()
    centred = CBCGModel(6, 16, 8, 4, dropout=0.0, padding_mode="replicate", centring="video").eval()
    centred.load_state_dict(plain.state_dict())
    x = torch.randn(2, 7, 6)
    with torch.no_grad():
        s_p, z_p = plain(x)
        s_c, z_c = centred(x)
        e = plain.clusterer(plain.encode(x))
    assert torch.equal(s_p, s_c)  # the score head is untouched
    assert torch.allclose(z_c, F.normalize(e - e.mean(1, keepdim=True), dim=-1), atol=1e-6)
    assert not torch.allclose(z_c, z_p, atol=1e-3)
    assert torch.allclose(z_c.norm(dim=-1), torch.ones(2, 7), atol=1e-5)
    assert CBCG(config={"embed_centring": "video"}).cfg.embed_centring == "video"
    with pytest.raises(ConfigError, match="embed_centring"):
        CBCG(config={"embed_centring": "scene"})
