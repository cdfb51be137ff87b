"""VLM wrapper on tiny random BLIP-2 and Qwen2.5-VL models (no download): VQA, captions, yes / no read-out."""

from __future__ import annotations

import numpy as np
import pytest

from vadbench.backbones.vlm import VLM, tiny_tokenizer, tiny_vlm
from vadbench.errors import ConfigError, DataError

QUESTION = "What is the pose of the person in the picture?"
ANOMALY_Q = "Does this clip show an anomalous event? Answer with <answer>yes</answer> or <answer>no</answer>."


@pytest.fixture(scope="module")
def blip2():
    return tiny_vlm("blip2", seed=0)


@pytest.fixture(scope="module")
def chat():
    return tiny_vlm("chat", seed=0, system="You are a video surveillance analyst.")


def images(n, seed=0, shape=(40, 30, 3)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def clips(n, seed=0, t=4, shape=(56, 56, 3)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (t, *shape), dtype=np.uint8) for _ in range(n)]


def test_tiny_tokenizer_round_trip():
    tok = tiny_tokenizer()
    ids = tok("Question: what is the pose? Answer:", add_special_tokens=False).input_ids
    assert tok.unk_token_id not in ids
    assert tok.convert_ids_to_tokens(ids) == ["question", ":", "what", "is", "the", "pose", "?", "answer",
                                              ":"]
    assert tok.convert_tokens_to_ids("<|image_pad|>") != tok.unk_token_id


@pytest.mark.parametrize("family", ["blip2", "chat"])
def test_yes_no_is_a_probability_and_deterministic(family, blip2, chat):
    vlm = blip2 if family == "blip2" else chat
    media = images(3, seed=1) if family == "blip2" else clips(3, seed=1)
    r = vlm.yes_no(media, ANOMALY_Q, answer_prefix="" if family == "blip2" else "<answer>")
    assert r.score.shape == r.p_yes.shape == r.p_no.shape == (3,)
    for a in (r.score, r.p_yes, r.p_no):
        assert np.all((a >= 0) & (a <= 1)) and np.all(np.isfinite(a))
    assert np.all(r.p_yes + r.p_no <= 1 + 1e-6)
    np.testing.assert_allclose(r.score, r.p_yes / (r.p_yes + r.p_no), rtol=1e-4)
    # restricted to {yes, no}: P(yes) + P(no) = 1
    flipped = vlm.yes_no(media, ANOMALY_Q, yes="no", no="yes",
                         answer_prefix="" if family == "blip2" else "<answer>")
    np.testing.assert_allclose(r.score + flipped.score, 1.0, atol=1e-6)
    # same seed -> same weights -> same numbers; another seed -> other numbers
    again = tiny_vlm(family, seed=0, system=vlm.system).yes_no(
        media, ANOMALY_Q, answer_prefix="" if family == "blip2" else "<answer>")
    np.testing.assert_array_equal(again.score, r.score)
    other = tiny_vlm(family, seed=1, system=vlm.system).yes_no(
        media, ANOMALY_Q, answer_prefix="" if family == "blip2" else "<answer>")
    assert np.abs(other.score - r.score).max() > 1e-4


@pytest.mark.parametrize("family", ["blip2", "chat"])
def test_batch_equals_single(family, blip2, chat):
    vlm = blip2 if family == "blip2" else chat
    media = images(3, seed=2, shape=(40, 30, 3)) if family == "blip2" else clips(3, seed=2)
    batched = vlm.yes_no(media, ANOMALY_Q, batch_size=3)
    singles = [vlm.yes_no([m], ANOMALY_Q, batch_size=1) for m in media]
    np.testing.assert_allclose(batched.score, [s.score[0] for s in singles], atol=1e-5)
    np.testing.assert_allclose(batched.p_yes, [s.p_yes[0] for s in singles], rtol=1e-4, atol=1e-7)
    # images of different sizes: Qwen2.5-VL gives them different token counts (left padding in the batch)
    mixed = [images(1, seed=10, shape=(56, 56, 3))[0], images(1, seed=11, shape=(112, 84, 3))[0]]
    batched = vlm.yes_no(mixed, QUESTION, batch_size=2)
    np.testing.assert_allclose(batched.score, [vlm.yes_no([m], QUESTION).score[0] for m in mixed], atol=1e-5)
    # VQA with questions of different lengths (left padding) answers as one by one
    qs = [QUESTION, "What does the person look like?", "Is the person running?"]
    imgs = images(3, seed=3) if family == "blip2" else images(3, seed=3, shape=(60, 80, 3))
    batch_answers = vlm.answer(imgs, qs, max_new_tokens=5, batch_size=3)
    single_answers = [vlm.answer([im], q, max_new_tokens=5, batch_size=1)[0]
                      for im, q in zip(imgs, qs, strict=True)]
    assert batch_answers == single_answers


@pytest.mark.parametrize("family", ["blip2", "chat"])
def test_generation_returns_text(family, blip2, chat):
    vlm = blip2 if family == "blip2" else chat
    imgs = images(2, seed=4, shape=(60, 80, 3))
    answers = vlm.answer(imgs, QUESTION, max_new_tokens=6)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert any(len(a) > 0 for a in answers)  # the random model emits vocabulary words
    assert all(len(a.split()) <= 6 for a in answers)
    captions = vlm.caption(imgs, max_new_tokens=4)
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)
    # sampling: the seed fixes the samples
    s1 = vlm.answer(imgs, QUESTION, do_sample=True, seed=7, max_new_tokens=6)
    s2 = vlm.answer(imgs, QUESTION, do_sample=True, seed=7, max_new_tokens=6)
    assert s1 == s2


def test_chat_prompt_and_video_answer(chat):
    text = chat.prompt(ANOMALY_Q, media="video", answer_prefix="<answer>")
    assert text.startswith("<|im_start|>system\nYou are a video surveillance analyst.<|im_end|>")
    assert "<|vision_start|><|video_pad|><|vision_end|>" in text and text.endswith("assistant\n<answer>")
    out = chat.answer(clips(2, seed=5), ANOMALY_Q, max_new_tokens=3)
    assert len(out) == 2 and all(isinstance(a, str) for a in out)
    # a clip given as a list of frames equals the stacked array
    c = clips(1, seed=6)[0]
    np.testing.assert_allclose(chat.yes_no([list(c)], ANOMALY_Q).score, chat.yes_no([c], ANOMALY_Q).score)


def test_blip2_prompt_and_clip_reduction(blip2):
    assert blip2.prompt(QUESTION) == f"Question: {QUESTION} Answer:"
    c = clips(1, seed=8, t=3, shape=(40, 30, 3))[0]
    per_frame = blip2.yes_no(list(c), ANOMALY_Q)
    mean = blip2.yes_no([c], ANOMALY_Q, clip_reduce="mean")
    middle = blip2.yes_no([c], ANOMALY_Q, clip_reduce="middle")
    assert mean.score[0] == pytest.approx(per_frame.score.mean(), abs=1e-6)
    assert middle.score[0] == pytest.approx(per_frame.score[1], abs=1e-6)


def test_answer_token_variants(blip2):
    tok = blip2.tokenizer
    assert blip2.answer_token_ids("yes") == [tok.convert_tokens_to_ids("yes")]  # lower-cased word level
    exact = tiny_vlm("blip2", seed=0, variants="exact")
    assert exact.answer_token_ids("no") == [tok.convert_tokens_to_ids("no")]


def test_errors(blip2, chat):
    with pytest.raises(ConfigError, match="no token for the answer 'zebra'"):
        blip2.yes_no(images(1), QUESTION, yes="zebra")
    with pytest.raises(ConfigError, match="share a first token"):
        blip2.yes_no(images(1), QUESTION, yes="yes", no="Yes")
    with pytest.raises(ConfigError, match="clip_reduce"):
        blip2.yes_no(images(1), QUESTION, clip_reduce="max")
    with pytest.raises(ConfigError, match="images only"):
        blip2.answer(clips(1), QUESTION)
    with pytest.raises(DataError, match="2 images but 3 questions"):
        blip2.answer(images(2), [QUESTION] * 3)
    with pytest.raises(DataError, match="mixes images and clips"):
        chat.yes_no([images(1, shape=(56, 56, 3))[0], clips(1)[0]], QUESTION)
    with pytest.raises(DataError, match=r"got shape \(4, 4, 4\)"):
        blip2.answer([np.zeros((4, 4, 4), np.uint8)], QUESTION)
    with pytest.raises(DataError, match="no image or clip"):
        blip2.yes_no([], QUESTION)
    with pytest.raises(ConfigError, match="unknown yes/no variants"):
        VLM(blip2.model, blip2.processor, variants="fuzzy")
    with pytest.raises(ConfigError, match="unknown VLM family"):
        tiny_vlm("llava")
    with pytest.raises(ConfigError, match="could not load the VLM"):
        VLM.from_pretrained("/nonexistent/vlm-folder")


def test_save_and_load_local_folder(blip2, tmp_path):
    blip2.model.save_pretrained(tmp_path)
    blip2.processor.save_pretrained(tmp_path)
    loaded = VLM.from_pretrained(tmp_path)
    assert loaded.family == "blip2"
    media = images(2, seed=9)
    np.testing.assert_allclose(loaded.yes_no(media, QUESTION).score, blip2.yes_no(media, QUESTION).score,
                               atol=1e-6)
