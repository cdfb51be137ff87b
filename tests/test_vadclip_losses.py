"""VadCLIP losses (spec section 6) against literal transcriptions of the official CLAS2 / CLASM / loss3."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vadbench.methods.vadclip.losses import (
    mil_align,
    mil_bce,
    text_contrast,
    topk_k,
    topk_mean,
    vadclip_loss,
)


def _official_clasm(logits, labels, lengths):
    instance_logits = torch.zeros(0)
    labels = labels / torch.sum(labels, dim=1, keepdim=True)
    for i in range(logits.shape[0]):
        tmp, _ = torch.topk(logits[i, 0 : lengths[i]], k=int(lengths[i] / 16 + 1), largest=True, dim=0)
        instance_logits = torch.cat([instance_logits, torch.mean(tmp, 0, keepdim=True)], dim=0)
    return -torch.mean(torch.sum(labels * F.log_softmax(instance_logits, dim=1), dim=1), dim=0)


def _official_clas2(logits, labels, lengths):
    instance_logits = torch.zeros(0)
    labels = 1 - labels[:, 0].reshape(labels.shape[0])
    logits = torch.sigmoid(logits).reshape(logits.shape[0], logits.shape[1])
    for i in range(logits.shape[0]):
        tmp, _ = torch.topk(logits[i, 0 : lengths[i]], k=int(lengths[i] / 16 + 1), largest=True)
        instance_logits = torch.cat([instance_logits, torch.mean(tmp).view(1)], dim=0)
    return F.binary_cross_entropy(instance_logits, labels)


def _official_loss3(text_features):
    loss3 = torch.zeros(1)
    normal = text_features[0] / text_features[0].norm(dim=-1, keepdim=True)
    for j in range(1, text_features.shape[0]):
        abr = text_features[j] / text_features[j].norm(dim=-1, keepdim=True)
        loss3 += torch.abs(normal @ abr)
    return loss3 / (text_features.shape[0] - 1)


def test_topk_k():
    assert topk_k(torch.tensor([256, 1, 15, 16, 17, 100])).tolist() == [17, 1, 1, 2, 2, 7]


def test_losses_match_official_loops():
    torch.manual_seed(0)
    b, t, c = 6, 256, 7
    lengths = torch.tensor([256, 1, 17, 100, 255, 40])
    logits1, logits2 = torch.randn(b, t, 1), torch.randn(b, t, c) * 5
    labels = torch.zeros(b, c)
    labels[0, 0] = labels[1, 3] = labels[2, 0] = labels[3, 1] = labels[3, 5] = labels[4, 6] = labels[5, 0] = 1
    assert torch.allclose(
        mil_bce(logits1, labels, lengths), _official_clas2(logits1, labels, lengths), atol=1e-6
    )
    assert torch.allclose(
        mil_align(logits2, labels, lengths), _official_clasm(logits2, labels, lengths), atol=1e-5
    )
    text = torch.randn(c, 16)
    assert torch.allclose(text_contrast(text), _official_loss3(text)[0], atol=1e-6)
    parts = vadclip_loss(text, logits1, logits2, labels, lengths, 0.1)
    assert torch.allclose(parts["loss"], parts["bce"] + parts["nce"] + 0.1 * parts["cts"])


def test_topk_ignores_padding():
    x = torch.zeros(1, 64)
    x[0, 40:] = 100.0  # padding holds large values: must not be selected
    x[0, :3] = torch.tensor([3.0, 2.0, 1.0])
    assert float(topk_mean(x, torch.tensor([40]))) == 2.0  # k = 40//16+1 = 3 -> mean(3, 2, 1)
    assert float(topk_mean(x, torch.tensor([16]))) == 2.5  # k = 2 -> mean(3, 2)


def test_text_contrast_zero_for_orthogonal():
    t = torch.eye(5, 8) * torch.tensor([3.0, 1.0, 2.0, 0.5, 7.0])[:, None]
    assert float(text_contrast(t)) == 0.0
    t[2] += t[0]  # one prompt leans towards normal -> positive loss
    assert float(text_contrast(t)) > 0


def test_gradient_flows_to_selected_snippets_only():
    logits1 = torch.zeros(1, 32, 1, requires_grad=True)
    with torch.no_grad():
        logits1[0, 5, 0] = 4.0
        logits1[0, 20, 0] = 9.0  # padded position
    labels = torch.tensor([[0.0, 1.0]])
    mil_bce(logits1, labels, torch.tensor([16])).backward()
    grad = logits1.grad[0, :, 0]
    assert float(grad[20]) == 0 and float(grad[5]) != 0 and int((grad != 0).sum()) == 2  # k = 2
