"""COPRA's GRPO pieces: parsing, rewards, group advantages, the clipped surrogate with KL, and a toy policy
that learns a rewarded answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vadbench.methods.copra import grpo


def test_parse_and_rewards():
    assert grpo.parse_answer("<answer>yes</answer>") == ("yes", True)
    assert grpo.parse_answer("<answer> No </answer>") == ("no", True)
    assert grpo.parse_answer("yes") == (None, False)
    assert grpo.parse_answer("<answer>yes</answer><answer>no</answer>") == ("yes", False)
    assert grpo.parse_answer("<answer>maybe</answer>") == (None, False)
    assert grpo.parse_answer("<answer>yes</answer>", reasoning=True) == ("yes", False)
    assert grpo.parse_answer("<think>a person runs</think><answer>yes</answer>", reasoning=True) == (
        "yes",
        True,
    )
    assert grpo.parse_answer("<answer>yes</answer><think>x</think>", reasoning=True)[1] is False
    r = grpo.rewards(
        ["<answer>yes</answer>", "<answer>no</answer>", "yes", "<answer>no</answer> no"], [1, 1, 1, 0]
    )
    np.testing.assert_allclose(r, [1.5, 0.5, 0.0, 1.5])
    np.testing.assert_allclose(grpo.rewards(["<answer>yes</answer>"], [1], fmt_weight=0.0), [1.0])


def test_group_advantages():
    r = np.array([[1.5, 0.5, 0.5, 1.5], [0.0, 0.0, 0.0, 0.0]])
    a = grpo.group_advantages(r)
    np.testing.assert_allclose(a[0], [1, -1, -1, 1], atol=1e-5)
    np.testing.assert_array_equal(a[1], 0)  # no signal in a group with equal rewards
    np.testing.assert_allclose(a.mean(1), 0, atol=1e-12)


def test_loss_clipping_and_kl():
    logp = torch.log(torch.tensor([[0.5, 0.5]])).requires_grad_()
    old = torch.log(torch.tensor([[0.25, 0.5]]))
    ref = logp.detach().clone()
    mask = torch.tensor([[1.0, 0.0]])
    # ratio 2 on the unmasked token, positive advantage: clipped at 1.2, no gradient
    loss, stats = grpo.grpo_loss(logp, old, ref, torch.tensor([1.0]), mask, clip=0.2, beta=0.0)
    assert loss.item() == pytest.approx(-1.2) and stats["clipped"] == 1.0
    loss.backward()
    assert logp.grad.abs().sum() == 0
    # negative advantage: min picks the unclipped (more pessimistic) term -> gradient flows
    logp.grad = None
    loss, _ = grpo.grpo_loss(logp, old, ref, torch.tensor([-1.0]), mask, clip=0.2, beta=0.0)
    assert loss.item() == pytest.approx(2.0)
    loss.backward()
    assert logp.grad[0, 0] > 0 and logp.grad[0, 1] == 0  # masked token gets none
    # KL: zero when the policy equals the reference, positive otherwise
    _, stats = grpo.grpo_loss(logp, logp.detach(), logp.detach(), torch.tensor([0.0]), mask, beta=0.04)
    assert stats["kl"] == pytest.approx(0.0, abs=1e-7)
    _, stats = grpo.grpo_loss(logp, logp.detach(), old, torch.tensor([0.0]), mask, beta=0.04)
    assert stats["kl"] > 0


def test_toy_policy_learns_the_rewarded_answer():
    """A categorical policy over 4 'completions' (yes / no, with and without the answer tags), one group of 8
    samples per step, reward = accuracy + 0.5 format for the label "yes": GRPO moves the mass to the
    well-formed "yes" and the KL term keeps it finite."""
    texts = ["<answer>yes</answer>", "<answer>no</answer>", "yes", "no"]
    logits = torch.zeros(4, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    ref = torch.log_softmax(torch.zeros(4), 0)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        logp_all = torch.log_softmax(logits, 0)
        idx = torch.multinomial(logp_all.exp().detach(), 8, replacement=True, generator=g)
        r = grpo.rewards([texts[i] for i in idx.tolist()], [1] * 8)
        adv = torch.as_tensor(grpo.group_advantages(r[None])[0], dtype=torch.float32)
        logp = logp_all[idx][:, None]
        loss, _ = grpo.grpo_loss(logp, logp.detach(), ref[idx][:, None], adv, torch.ones(8, 1), beta=0.04)
        opt.zero_grad()
        loss.backward()
        opt.step()
    p = torch.softmax(logits, 0).detach()
    assert p[0] > 0.8, p
    assert p[0] > p[2] > 0 and p[0] > p[1]
