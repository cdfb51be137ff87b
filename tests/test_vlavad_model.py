"""VLAVAD's S3M: the selective scan against references (transformers' Mamba mixer on the same weights), and
that the S3M learns a periodic embedding sequence better than repeating the last value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vadbench.methods.vlavad.scan import selective_scan, selective_scan_reference
from vadbench.methods.vlavad.torch_model import S3M, SelectiveSSM, build_predictor


def test_scan_matches_reference_and_gradcheck():
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(2, 7, 5, generator=g, dtype=torch.float64), torch.rand(2, 7, 5, generator=g,
            dtype=torch.float64), -torch.rand(5, 3, generator=g, dtype=torch.float64),
            torch.randn(2, 7, 3, generator=g, dtype=torch.float64),
            torch.randn(2, 7, 3, generator=g, dtype=torch.float64),
            torch.randn(5, generator=g, dtype=torch.float64), torch.randn(2, 7, 5, generator=g,
            dtype=torch.float64)]
    torch.testing.assert_close(selective_scan(*args), selective_scan_reference(*args))
    leaves = [a.clone().requires_grad_() for a in args]
    assert torch.autograd.gradcheck(selective_scan, leaves)


@pytest.mark.parametrize("train", [False, True])
def test_selective_ssm_equals_transformers_mamba_mixer(train, one_torch_thread):
    from transformers import MambaConfig
    from transformers.models.mamba.modeling_mamba import MambaMixer

    torch.manual_seed(0)
    d = 24
    cfg = MambaConfig(hidden_size=d, state_size=16, expand=2, conv_kernel=4, num_hidden_layers=1)
    ref = MambaMixer(cfg, 0)
    mine = SelectiveSSM(d, d_state=16, expand=2, d_conv=4)
    assert sorted(mine.state_dict()) == sorted(ref.state_dict())
    shapes = {k: v.shape for k, v in ref.state_dict().items()}
    assert {k: v.shape for k, v in mine.state_dict().items()} == shapes
    with torch.no_grad():  # non-trivial weights everywhere (A, D, biases), shared by both
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    mine.load_state_dict(ref.state_dict())
    ref.train(train)
    mine.train(train)
    x = torch.randn(3, 11, d)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref, y = ref(x1), mine(x2)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-4)
    w = torch.randn_like(y)
    (y_ref * w).sum().backward()
    (y * w).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-4)
    grads_ref = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        torch.testing.assert_close(p.grad, grads_ref[name].grad, atol=1e-5, rtol=1e-4, msg=name)


def _periodic(basis: np.ndarray, n_windows: int, l_in: int, p: int, noise: float, rng):
    period, d = basis.shape
    phase = rng.integers(0, period, n_windows)
    idx = (phase[:, None] + np.arange(l_in + p)[None]) % period
    x = basis[idx] + noise * rng.normal(size=(n_windows, l_in + p, d))
    return torch.tensor(x, dtype=torch.float32)


@pytest.mark.parametrize("kind", ["s3m", "gru", "transformer"])
def test_predictors_learn_a_periodic_sequence(kind, one_torch_thread):
    """A period-4 sequence of unit vectors: after training, the predicted next steps are much closer than
    repeating the last value (whose error is ~2 per step)."""
    rng = np.random.default_rng(0)
    l_in, p, d = 8, 2, 16
    basis = rng.normal(size=(4, d))
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)
    train, test = (_periodic(basis, n, l_in, p, 0.05, rng) for n in (256, 128))
    torch.manual_seed(0)
    model = build_predictor(kind, d, n_layers=2, horizon=p)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(60):
        idx = torch.randint(0, len(train), (64,))
        x, y = train[idx, :l_in], train[idx, l_in:]
        loss = ((model(x) - y) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        err = ((model(test[:, :l_in]) - test[:, l_in:]) ** 2).sum(-1).mean().item()
    last = ((test[:, l_in - 1 : l_in] - test[:, l_in:]) ** 2).sum(-1).mean().item()
    assert last > 1.0
    print(kind, "error", err, "repeat-last", last)
    assert err < 0.25 * last, (kind, err, last)


def test_s3m_shapes_and_layers():
    m = S3M(8, n_layers=3, horizon=4)
    assert len(m.layers) == 3 and m(torch.randn(2, 20, 8)).shape == (2, 4, 8)
    with pytest.raises(ValueError, match="unknown temporal model 'lstm'"):
        build_predictor("lstm", 8)
