"""VLAVAD end to end on hand-made tracks: a scripted answerer (answers from the crop's colour) checks the
scoring logic, the tiny random BLIP-2 + tiny CLIP check the real plumbing; answer cache, save / load,
errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vadbench.errors import ConfigError, DataError
from vadbench.methods.base import TracksSample, unlabelled
from vadbench.methods.vlavad.answers import PROMPT_POOL, AnswerCache, normalise_answer
from vadbench.methods.vlavad.method import VLAVAD
from vadbench.tracks import Track

H, W = 48, 64
RED, BLUE = (220, 30, 30), (30, 30, 220)


class ScriptedAnswerer:
    """A test double of the VLM: the pose question is answered from the crop's colour (red -> walking,
    blue -> running); the others always get the same answer. Counts its calls."""

    family = "blip2"

    def __init__(self) -> None:
        self.calls = 0
        self.model = None
        self._vlavad_weights_id = "scripted-v1"

    def answer(self, images, question, **kw):
        self.calls += 1
        out = []
        for im in images:
            m = np.asarray(im).reshape(-1, 3).mean(0)
            if question == PROMPT_POOL[0]:
                out.append("Running." if m[2] > m[0] else "Walking")
            elif question == PROMPT_POOL[1]:
                out.append(["standing", "moving", "waiting"][int(m.sum()) % 3])
            else:
                out.append(f"colour {int(m.sum()) % 7}")
        return out


def make_video(tmp_path, name, colour, n=30, seed=0):
    """A frame folder with one coloured box moving right; returns the sample with its one track."""
    rng = np.random.default_rng(seed)
    folder = tmp_path / name
    folder.mkdir()
    boxes = []
    for f in range(n):
        img = rng.integers(90, 110, (H, W, 3)).astype(np.uint8)
        x = 2 + f
        img[10:30, x : x + 8] = colour
        Image.fromarray(img).save(folder / f"{f:03d}.png")
        boxes.append([x, 10, x + 8, 30])
    frames = np.arange(n - 5)  # the last 5 frames have no object
    track = Track(1, frames, np.array(boxes, np.float32)[: n - 5], np.ones(n - 5, np.float32), video=name,
                  path=folder)
    return TracksSample(video=name, tracks=[track], n_frames=n)


class Recording(ScriptedAnswerer):
    """A chat-family test double that keeps every picture or clip it is shown and answers with its index."""

    family = "chat"

    def __init__(self) -> None:
        super().__init__()
        self.media: list = []

    def answer(self, images, question, **kw):
        self.media.extend(np.asarray(im) for im in images)
        return [f"clip {len(self.media) - len(images) + i}" for i in range(len(images))]


TINY = {"answerer": "tiny-blip2", "text_encoder": "tiny", "text_pretrained": None, "window_in": 4,
        "window_out": 2, "epochs": 2, "batch_size": 16, "optimizer": "adam", "lr": 1e-3, "n_layers": 1}


@pytest.fixture
def videos(tmp_path):
    train = [make_video(tmp_path, f"train{i}", RED, seed=i) for i in range(2)]
    test = make_video(tmp_path, "test_blue", BLUE, seed=5)
    return train, test


def test_scripted_answers_drive_static_score_and_cache(videos, one_torch_thread):
    train, test = videos
    m = VLAVAD({**TINY, "answerer": "scripted"}, seed=0)
    m.answerer = ScriptedAnswerer()
    with pytest.warns(UserWarning, match="SPA cannot choose"):  # one distinct answer per question, spa_k 10
        m.fit(train)
    assert m.selected == [PROMPT_POOL[0]]  # pool order: every F_top10 is 1
    assert [f for _, f in m.spa_scores] == [1.0, 1.0, 1.0]
    assert m.table.counts[PROMPT_POOL[0]] == {"walking": 50}  # normalised, one answer per crop
    calls = m.answerer.calls
    out = m.score_outputs(unlabelled(test))  # a test copy: reading its label raises
    assert set(out) == {"score", "static", "temporal"} and all(len(v) == 30 for v in out.values())
    np.testing.assert_allclose(out["static"][:25], 1.0)  # "running" never seen in training
    np.testing.assert_allclose(out["static"][25:], 0.0)  # frames without objects: declared 0
    normal = m.score_outputs(train[0])
    np.testing.assert_allclose(normal["static"][:25], 1 / 51)
    assert (out["score"][:25] > normal["score"][:25]).all()
    np.testing.assert_allclose(out["score"], out["static"] + 0.1 * out["temporal"], rtol=1e-6)
    # a second method with another lambda re-uses the cached answers: no VLM call at all
    asked = m.answerer.calls
    assert asked > calls
    m2 = VLAVAD({**TINY, "answerer": "scripted", "lam": 0.5, "temporal_model": "none"}, seed=0)
    m2.answerer = ScriptedAnswerer()
    m2.fit(train)
    m2.score_outputs(test)
    assert m2.answerer.calls == 0


def test_ablations_and_spa_all(videos, one_torch_thread):
    train, test = videos
    for cfg, keys in (({"temporal_model": "none"}, "static"), ({"static_source": "none"}, "temporal"),
                      ({"spa": "all", "temporal_model": "gru"}, None)):
        m = VLAVAD({**TINY, "answerer": "scripted", **cfg}, seed=0)
        m.answerer = ScriptedAnswerer()
        out = m.fit(train).score_outputs(test)
        if keys:
            np.testing.assert_allclose(out["score"], out[keys])
        else:
            assert m.selected[0] == PROMPT_POOL[0] and len(m.selected) == 3


def test_tiny_blip2_plumbing_save_load_and_knn(videos, tmp_path, one_torch_thread):
    train, test = videos
    from vadbench.backbones.vlm import tiny_vlm

    m = VLAVAD(TINY, seed=0)
    m.answerer = tiny_vlm("blip2", seed=3)  # seed 3: the random model emits words (seed 0 only ':')
    with pytest.warns(UserWarning, match="only empty answers"):  # one question gets ':' only
        m.fit(train)
    assert m.vlm_id.startswith("sha-")
    assert m.width == 64  # read from the tiny CLIP text tower
    assert len(m.history) == 2 and all(np.isfinite(h["loss"]) for h in m.history)
    out = m.score_outputs(test)
    assert np.isfinite(out["score"]).all() and out["score"].shape == (30,)
    assert (out["temporal"][4:25] > 0).all() and (out["temporal"][:4] == 0).all()
    path = m.save(tmp_path / "model" / "weights.safetensors")
    again = VLAVAD(TINY, seed=0).load(path)
    again.answerer = m.answerer
    np.testing.assert_allclose(again.score_outputs(test)["score"], out["score"], rtol=1e-5)
    assert again.table == m.table and again.selected == m.selected
    knn = VLAVAD({**TINY, "static_source": "knn", "temporal_model": "none"}, seed=0)
    knn.answerer = m.answerer
    with pytest.warns(UserWarning, match="only empty answers"):
        knn.fit(train)
    s = knn.score_outputs(test)["score"]
    assert np.isfinite(s).all() and (s[:25] >= 0).all()


def test_errors(videos, tmp_path):
    train, _ = videos
    with pytest.raises(ConfigError, match="unknown option\\(s\\) lambda"):
        VLAVAD({"lambda": 0.1})
    with pytest.raises(ConfigError, match="temporal_model must be one of"):
        VLAVAD({"temporal_model": "lstm"})
    with pytest.raises(ConfigError, match="window_in must be an integer >= 1"):
        VLAVAD({"window_in": 0})
    with pytest.raises(ConfigError, match="leave no score"):
        VLAVAD({"temporal_model": "none", "static_source": "none"})
    with pytest.raises(DataError, match="no object track in the training set"):
        VLAVAD(TINY).fit([TracksSample(video="empty", tracks=[], n_frames=10)])
    with pytest.raises(DataError, match="empty answer for all 50 training crops to every question"):
        VLAVAD(TINY, seed=0).fit(train)  # the random tiny BLIP-2 of seed 0 only emits ':'

    class Mute(ScriptedAnswerer):
        _vlavad_weights_id = "mute"

        def __init__(self) -> None:
            self.calls = 0

        def answer(self, images, question, **kw):
            return [""] * len(images)

    m = VLAVAD({**TINY, "answerer": "scripted"})
    m.answerer = Mute()
    with pytest.raises(DataError, match="cannot answer the prompt format"):
        m.fit(train)

    class Chat(ScriptedAnswerer):
        family = "chat"

    m = VLAVAD({**TINY, "answerer": "scripted"})
    m.answerer = Chat()
    with pytest.raises(ConfigError, match="needs a blip2-family VLM"):
        m.fit(train)
    with pytest.raises(ConfigError, match="could not load the VLM 'Salesforce/blip2-opt-2.7b'"):
        VLAVAD({**TINY, "answerer": "blip2-opt-2.7b"}).fit(train)
    with pytest.raises(ConfigError, match="score called before fit"):
        VLAVAD(TINY).score(train[0])
    with pytest.raises(DataError, match="answer table is empty"):
        VLAVAD(TINY).load_extra_state({"table": {"counts": {}, "n": {}}})


def test_normalisation_and_cache_key(tmp_path):
    assert normalise_answer(" Walking slowly.. ") == "walking slowly"
    assert normalise_answer("A MAN!") == "a man"
    a = AnswerCache({"question": "q", "vlm": "x"}, root=tmp_path)
    b = AnswerCache({"question": "q", "vlm": "y"}, root=tmp_path)
    assert a.dir != b.dir
    a.put("v/1", "k1", {3: ["x", "y"]})
    assert a.get("v/1", "k1") == {3: ["x", "y"]}
    assert a.get("v/1", "other-tracks") is None and b.get("v/1", "k1") is None


def test_answer_every_asks_fewer_crops_and_fills_the_rest(videos):
    from vadbench.methods.vlavad.answers import answer_tracks

    train, _ = videos
    track = train[0].tracks[0]

    class Counting(ScriptedAnswerer):
        def answer(self, images, question, **kw):
            self.calls += len(images)
            return [f"crop {i}" for i in range(len(images))]

    vlm = Counting()
    got = answer_tracks(vlm, [track], PROMPT_POOL[0], every=4)[track.id]
    assert vlm.calls == 7 and len(got) == 25  # crops 0, 4, ..., 24 asked
    assert got[:9] == ["crop 0"] * 4 + ["crop 1"] * 4 + ["crop 2"]


def test_prompt_formats_match_the_vlm_family():
    from vadbench.methods.vlavad.answers import check_prompt_format

    class Chat(ScriptedAnswerer):
        family = "chat"

    check_prompt_format(Chat(), "chat")
    check_prompt_format(ScriptedAnswerer(), "blip2")
    with pytest.raises(ConfigError, match="'chat' \\(a chat template\\) needs a chat-family VLM"):
        check_prompt_format(ScriptedAnswerer(), "chat")
    with pytest.raises(ConfigError, match="unknown prompt format 'llava'"):
        check_prompt_format(ScriptedAnswerer(), "llava")


def test_track_questions_ask_a_clip_of_the_track_around_each_crop(videos):
    from vadbench.methods.vlavad.answers import answer_tracks

    train, _ = videos
    track = train[0].tracks[0]  # a red box 8 px wide moving 1 px right per frame, 25 crops

    vlm = Recording()
    got = answer_tracks(vlm, [track], PROMPT_POOL[1], every=4, window=(4, 2))[track.id]
    assert len(vlm.media) == 7 and len(got) == 25 and got[4:9] == ["clip 1"] * 4 + ["clip 2"]
    clip = vlm.media[2]  # crop 8: frames 4, 6, 8, 10 cut by one box spanning x 6..20
    assert clip.shape == (4, 20, 14, 3)
    red = [np.flatnonzero(f[:, :, 0].mean(0) > 160) for f in clip]
    assert [int(r[0]) for r in red] == [0, 2, 4, 6]  # the object moves inside the fixed box
    assert vlm.media[0].shape[0] == 4  # the first crop repeats its frame 0 for the window's past


def test_track_questions_need_an_asked_question_and_a_video_vlm(videos):
    train, _ = videos
    with pytest.raises(ConfigError, match="track_questions names questions that are not asked"):
        VLAVAD({**TINY, "questions": [PROMPT_POOL[0]], "track_questions": [PROMPT_POOL[1]]})
    m = VLAVAD({**TINY, "answerer": "scripted", "track_questions": [PROMPT_POOL[1]]})
    m.answerer = ScriptedAnswerer()  # BLIP-2 family
    with pytest.raises(ConfigError, match="BLIP-2 model, which answers about single images only"):
        m.fit(train)
    chat = {**TINY, "answerer": "scripted", "prompt_format": "chat"}
    crop, clip = VLAVAD(chat), VLAVAD({**chat, "track_questions": [PROMPT_POOL[1]]})
    crop.answerer = clip.answerer = Recording()
    assert crop._cache(PROMPT_POOL[0]).dir == clip._cache(PROMPT_POOL[0]).dir  # single crops: key unchanged
    assert crop._cache(PROMPT_POOL[1]).dir != clip._cache(PROMPT_POOL[1]).dir  # clips: answers of their own


def test_world_crop_geometry_shows_the_answerer_the_world_models_own_crops(videos):
    from vadbench.world.data import crop

    train, _ = videos
    track = train[0].tracks[0]

    chat = {**TINY, "answerer": "scripted", "prompt_format": "chat", "questions": [PROMPT_POOL[0]]}
    world, box = VLAVAD({**chat, "crop_geometry": "world"}), VLAVAD(chat)
    world.answerer, box.answerer = Recording(), Recording()
    world.answers(train[0], PROMPT_POOL[0])
    box.answers(train[0], PROMPT_POOL[0])
    frame = np.asarray(Image.open(track.path / "007.png").convert("RGB"))
    assert np.array_equal(world.answerer.media[7], crop(frame, track.boxes[7].astype(int).tolist(), 56))
    assert box.answerer.media[7].shape == (20, 8, 3)  # the tracker's box as it is
    assert world._cache(PROMPT_POOL[0]).dir != box._cache(PROMPT_POOL[0]).dir
    with pytest.raises(ConfigError, match="crop_margin \\(0.1\\) applies to crop_geometry 'box' only"):
        VLAVAD({**chat, "crop_geometry": "world", "crop_margin": 0.1})
