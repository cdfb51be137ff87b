"""The CLIP loader: tiny seeded config, tokenizer, local checkpoints, clear errors, never a download."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from vadbench.backbones.clip import (  # noqa: E402
    TINY_CONFIG,
    image_config,
    load_clip,
    weights_hash,
)
from vadbench.errors import ConfigError, DataError  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return load_clip("tiny", seed=0)


def test_tiny_towers_shapes_and_tokenizer(tiny):
    model, preprocess, tokenizer = tiny
    tokens = tokenizer(["a person fighting", "normal"])
    assert tuple(tokens.shape) == (2, 77)
    assert int(tokens.max()) < TINY_CONFIG["text_cfg"]["vocab_size"]
    with torch.no_grad():
        text = model.encode_text(tokens)
        image = model.encode_image(torch.rand(3, 3, 64, 64))
    assert tuple(text.shape) == (2, TINY_CONFIG["embed_dim"])
    assert tuple(image.shape) == (3, TINY_CONFIG["embed_dim"])
    assert torch.isfinite(text).all() and torch.isfinite(image).all()
    # different prompts give different embeddings (the text tower is not constant)
    assert not torch.allclose(text[0], text[1])
    assert not model.training
    cfg = image_config(model)
    assert cfg["size"] == (64, 64) and len(cfg["mean"]) == 3


def test_tiny_is_seeded_and_does_not_touch_global_rng(tiny):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    m_same, _, _ = load_clip("tiny", seed=0)
    after = torch.rand(1)
    assert torch.equal(before, after), "load_clip must not consume the caller's RNG"
    assert weights_hash(m_same) == weights_hash(tiny[0])
    m_other, _, _ = load_clip("tiny", seed=1)
    assert weights_hash(m_other) != weights_hash(tiny[0])


def test_local_checkpoint_roundtrip(tmp_path, tiny):
    model = load_clip("tiny", seed=5)[0]
    pt = tmp_path / "ckpt.pt"
    torch.save(model.state_dict(), pt)
    loaded = load_clip("tiny", pretrained=pt, seed=0, quick_gelu=False)[0]
    assert weights_hash(loaded) == weights_hash(model) != weights_hash(tiny[0])
    from safetensors.torch import save_file

    st = tmp_path / "ckpt.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(st))
    assert weights_hash(load_clip("tiny", pretrained=st, quick_gelu=False)[0]) == weights_hash(model)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_clip("tiny", pretrained=tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"foo": torch.zeros(2)}, bad)
    with pytest.raises(DataError, match=r"bad\.pt: does not fit"):
        load_clip("tiny", pretrained=bad, quick_gelu=False)


def test_unknown_names_and_tags():
    with pytest.raises(ConfigError, match="unknown CLIP backbone 'ViT-Nope'"):
        load_clip("ViT-Nope")
    with pytest.raises(ConfigError, match="unknown pretrained tag 'nope' for ViT-B-16"):
        load_clip("ViT-B-16", pretrained="nope")
    with pytest.raises(ConfigError, match="tiny CLIP has no pretrained tag"):
        load_clip("tiny", pretrained="openai")
    with pytest.raises(ConfigError, match="precision"):
        load_clip("tiny", precision="fp8")


def test_half_precision_cast():
    model = load_clip("tiny", precision="bf16")[0]
    assert next(model.parameters()).dtype == torch.bfloat16


def test_quick_gelu_checkpoint_from_a_file_gives_the_same_features(tmp_path):
    """A QuickGELU model saved to a file is rebuilt with QuickGELU (from the file's record or an explicit
    option) and gives the same features; a bare state dict without either is refused, not guessed."""
    from vadbench.backbones.clip import save_clip_checkpoint, uses_quick_gelu

    model = load_clip("tiny", seed=3, quick_gelu=True)[0]
    assert uses_quick_gelu(model) and not uses_quick_gelu(load_clip("tiny", seed=3)[0])
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model.encode_image(images)
        path = save_clip_checkpoint(model, tmp_path / "openai-like.safetensors")
        loaded = load_clip("tiny", pretrained=path)[0]
        assert uses_quick_gelu(loaded)
        torch.testing.assert_close(loaded.encode_image(images), want, rtol=0, atol=0)
        bare = tmp_path / "bare.pt"
        torch.save(model.state_dict(), bare)
        with pytest.raises(ConfigError, match="does not record whether its towers use QuickGELU"):
            load_clip("tiny", pretrained=bare)
        explicit = load_clip("tiny", pretrained=bare, quick_gelu=True)[0]
        torch.testing.assert_close(explicit.encode_image(images), want, rtol=0, atol=0)
        wrong = load_clip("tiny", pretrained=bare, quick_gelu=False)[0]  # the silent bug this guards
        assert not torch.allclose(wrong.encode_image(images), want)
