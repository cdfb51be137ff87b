"""The synthetic world's models: seeds kept apart from the benchmark, captions, tokenizers, the VLM's vision
initialisation from world-clip, training + saving + loading, and the shipped weights (offline, by name)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import yaml

from vadbench.world import captions as C
from vadbench.world import seeds as S
from vadbench.world.scenes import ObjectState

ROOT = Path(__file__).resolve().parent.parent


def _preset_seeds(node, out: set[int]) -> set[int]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "seed" and isinstance(v, int):
                out.add(v)
            _preset_seeds(v, out)
    elif isinstance(node, list):
        for v in node:
            _preset_seeds(v, out)
    return out


def test_world_seeds_are_disjoint_from_every_preset_seed():
    files = sorted({*ROOT.glob("methods/*/metafile.yaml"), *(ROOT / "vadbench").rglob("metafile.yaml")})
    assert files, "no metafile found"
    preset = set()
    for f in files:
        _preset_seeds(yaml.safe_load(f.read_text()), preset)
    preset |= {0, 1, 2}  # the generator's default seed and the seeds tests and CI use
    assert preset and max(preset) < S.BENCHMARK_SEEDS_BELOW
    train = set(S.train_seeds(0, 1000)) | set(S.train_seeds(3, 1000))
    evals = set(S.eval_seeds(1000))
    assert not train & evals and not (train | evals) & preset
    assert min(train | evals) >= S.BENCHMARK_SEEDS_BELOW
    with pytest.raises(ValueError):
        S.train_seeds(100, 10)  # would run into the evaluation block


def test_world_videos_states_and_captions():
    from vadbench.world.scenes import world_videos

    v = next(world_videos(S.eval_seeds(1)[0], n_frames=48))
    assert v.frames.shape == (48, 96, 128, 3) and len(v.states) == 48
    states = [s for st in v.states for s in st]
    assert states
    for s in states:
        x1, y1, x2, y2 = s.box
        assert 0 <= x1 < x2 <= 128 and 0 <= y1 < y2 <= 96
        assert (s.pose == "") == (s.kind == "vehicle")
        assert s.pose == "riding" if s.kind == "cyclist" else True
    assert C.frame_caption(v.states[0], v.scene).startswith(("a ", "an "))
    again = next(world_videos(S.eval_seeds(1)[0], n_frames=48))
    assert again.frames.tobytes() == v.frames.tobytes()


def test_clip_answers():
    box = (0, 0, 9, 9)
    walker = ObjectState(1, "person", "red", "small", "upright", "running", "left", "walkway", "x", box, 1)
    car = ObjectState(2, "vehicle", "blue", "large", "", "driving", "right", "walkway", "x", box, 1)
    assert C.clip_answer([[walker], [walker], [], []], "Is anyone running?") == "yes"
    assert C.clip_answer([[walker], [], [], []], "Is anyone running?") is None  # ambiguous: not used
    assert C.clip_answer([[car]] * 4, "Is anyone running?") == "no"
    assert C.clip_answer([[car]] * 4, "Is there a vehicle on the walkway?") == "yes"
    assert C.answer(car, C.POSE_Q) == "none" and C.answer(car, C.LOOK_Q) == "a blue vehicle"
    loiter = ObjectState(3, "person", "grey", "small", "upright", "loitering", "still", "grass", "x", box, 1)
    assert C.answer(loiter, C.ACTION_Q) == "standing"


def test_tokenizers_cover_every_prompt():
    from vadbench.backbones.vlm import VLM_PRESETS  # noqa: F401  (the module the tokenizer comes from)
    from vadbench.world.evaluate import POSE_PROMPTS
    from vadbench.world.vocab import KINDS, WordTokenizer, vlm_tokenizer

    ct = WordTokenizer()
    s = ObjectState(0, "cyclist", "pink", "medium", "riding", "riding", "away", "grass", "crossing",
                    (0, 0, 4, 4), 1)
    texts = [*C.crop_captions(s), *POSE_PROMPTS.values(), *[f"a photo of a {k}" for k in KINDS]]
    # frame captions: every word but the layout name (outside the vocabulary of the shipped run: <unk>)
    assert ct(C.frame_caption([s], "crossing"))[0].tolist().count(ct.unk_id) == 1
    for t in texts:
        assert ct.unk_id not in ct(t)[0].tolist(), t
    tok = vlm_tokenizer()
    copra = ("You are a video surveillance analyst. Does this clip show an anomalous event such as fighting, "
             "shooting, robbery, explosion, a road accident or vandalism? Answer with <answer>yes</answer> "
             "or <answer>no</answer>.")
    for t in [*C.CROP_QUESTIONS, *C.TRACK_QUESTIONS, *C.CLIP_QUESTIONS, copra, C.crop_caption(s)]:
        assert tok.unk_token_id not in tok(t, add_special_tokens=False).input_ids, t


def test_encoding_matches_the_processor_and_vision_init(one_torch_thread):
    import torch

    from vadbench.backbones.vlm import VLM
    from vadbench.world.data import VLMItem
    from vadbench.world.models import build_clip, build_vlm, init_vision_from_clip
    from vadbench.world.train import collate, encode_items, mm_token_types

    model, proc = build_vlm(0)
    vlm = VLM(model, proc, family="chat")
    rng = np.random.default_rng(0)
    items = [VLMItem(rng.integers(0, 255, (56, 56, 3), dtype=np.uint8), C.POSE_Q, "lying", "image"),
             VLMItem(rng.integers(0, 255, (4, 84, 112, 3), dtype=np.uint8), "Is anyone running?", "yes",
                     "clip")]
    vocab = proc.tokenizer.get_vocab()
    for it, e in zip(items, encode_items(vlm, items), strict=True):
        video = it.kind != "image"
        media = {"videos": [it.media], "do_sample_frames": False} if video else {"images": [it.media]}
        text = vlm.prompt(it.question, media="video" if video else "image") + it.answer + "<|im_end|>"
        ref = proc(text=[text], return_tensors="pt", **media)
        assert torch.equal(ref["input_ids"][0], e.input_ids)
        assert torch.equal(ref["mm_token_type_ids"][0], mm_token_types(e.input_ids, vocab))
        for k, v in e.vision.items():
            assert torch.allclose(ref[k], v), k
        assert proc.tokenizer.convert_ids_to_tokens(e.input_ids[e.answer_mask]) == [it.answer, "<|im_end|>"]
        batch = collate([e, e], proc.tokenizer.pad_token_id, vocab)
        assert float(model(**batch).loss) > 0
    clip = build_clip(1)
    copied = init_vision_from_clip(model, clip)
    assert "blocks.0.attn.qkv.weight" in copied and "patch_embed.proj.weight" in copied
    vis = model.model.visual.state_dict()
    src = clip.visual.state_dict()
    assert torch.equal(vis["blocks.2.mlp.up_proj.weight"], src["transformer.resblocks.2.mlp.c_fc.weight"])


def test_smoke_train_save_and_load(tmp_path, one_torch_thread):
    import torch

    from vadbench.world.store import load_world_clip, load_world_vlm, read_manifest
    from vadbench.world.train import TrainConfig, build

    man = build(TrainConfig.smoke(clip_steps=2, vlm_steps=2), tmp_path, log=lambda m: None, eval_seeds=1,
                eval_per_question=4)
    assert set(man["models"]) == {"world-clip", "world-vlm"}
    assert read_manifest(tmp_path) == json.loads((tmp_path / "manifest.json").read_text())
    assert set(man["accuracy"]["clip"]) == {"kind", "pose", "recall@1"}
    model, _, tok = load_world_clip(folder=tmp_path)
    with torch.no_grad():
        assert model.encode_text(tok(["a photo of a person"])).shape == (1, 64)
    vlm = load_world_vlm(folder=tmp_path)
    assert vlm.yes_no([np.zeros((4, 84, 112, 3), np.uint8)], "Is anyone running?").score.shape == (1,)
    (tmp_path / "world-clip.safetensors").write_bytes(b"x" * 10)
    with pytest.raises(Exception, match="sha256"):
        load_world_clip(folder=tmp_path)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_shipped_models_load_by_name_offline(no_network, one_torch_thread):
    import torch

    from vadbench.backbones.clip import load_clip, weights_hash
    from vadbench.backbones.vlm import VLM
    from vadbench.features import FeatureSpec
    from vadbench.world import WEIGHTS_DIR
    from vadbench.world.store import file_sha256, read_manifest

    man = read_manifest()
    total = sum((WEIGHTS_DIR / m["file"]).stat().st_size for m in man["models"].values())
    assert total <= 30 * 2**20
    for m in man["models"].values():
        assert file_sha256(WEIGHTS_DIR / m["file"]) == m["sha256"]
    assert man["training"]["generator_version"] and "seed" in man["training"]
    model, _, tok = load_clip("world-clip", "world")
    random, _, _ = load_clip("world-clip", None, seed=0)
    assert weights_hash(model) != weights_hash(random)
    spec = FeatureSpec(backbone="world-clip", crops="center")
    assert spec.pretrained == "world" and man["models"]["world-clip"]["sha256"][:16] in spec.weights_id
    with torch.no_grad():
        t = model.encode_text(tok(["a photo of a person", "a photo of a vehicle"]))
    assert torch.isfinite(t).all()
    vlm = VLM.from_pretrained("world-vlm")
    assert vlm.family == "chat"
    assert vlm.answer([np.zeros((56, 56, 3), np.uint8)], C.POSE_Q, max_new_tokens=3)[0] != ""


def test_shipped_models_know_the_world(one_torch_thread):
    """A small learning check on unseen seeds (the full report is `vadbench world eval`)."""
    from vadbench.backbones.clip import load_clip
    from vadbench.backbones.vlm import VLM
    from vadbench.world.data import clip_items, vlm_items
    from vadbench.world.evaluate import eval_clip
    from vadbench.world.models import IMAGE_SIZE
    from vadbench.world.vocab import COLOURS

    seeds = S.eval_seeds(2)
    model, _, tok = load_clip("world-clip", "world")
    r = eval_clip(model, tok, clip_items(seeds[:1], n_frames=24, size=IMAGE_SIZE, frames=False))
    # shipped run (2 unseen seeds): balanced kind 0.80, pose 0.60; chance 1/3 each
    assert r["balanced"]["kind"] > 0.6 and r["balanced"]["pose"] > 0.45
    # world-vlm answers in the world's words (a random VLM emits any vocabulary word); its answers do not yet
    # depend on the picture enough (see the manifest's accuracies), so no accuracy is asserted here
    items = [it for it in vlm_items(seeds[:1], n_frames=24) if it.question == C.POSE_Q][:16]
    vlm = VLM.from_pretrained("world-vlm")
    answers = vlm.answer([it.media for it in items], C.POSE_Q, max_new_tokens=6)
    assert set(answers) <= {"upright", "lying", "riding", "none"}, answers
    looks = vlm.answer([it.media for it in items], C.LOOK_Q, max_new_tokens=8)
    assert all(a.startswith("a ") and a.split()[-1] in COLOURS for a in looks), looks
    # direction from a short track (4 crops of one object): motion inside the temporal patch, which the tower
    # sees since its stage 1 has the flow target; measured 0.80 balanced on these 48 tracks (0.55 on 400
    # tracks of four unseen seeds for the appearance-only tower it replaced); chance 1/3
    tracks = [it for it in vlm_items(seeds[:1], n_frames=24)
              if it.question == C.DIRECTION_Q and it.kind == "track"][:48]
    said = vlm.answer([it.media for it in tracks], C.DIRECTION_Q, max_new_tokens=4)
    truth = np.asarray([it.answer for it in tracks])
    recall = [np.mean(np.asarray(said)[truth == d] == d) for d in sorted(set(truth))]
    assert len(recall) == 3 and np.mean(recall) > 0.65, (recall, said)


def test_clip_from_keeps_world_clip_and_a_frozen_tower_stays_as_initialised(tmp_path, one_torch_thread):
    """``clip_from`` reuses a trained world-clip (same file, recorded in the manifest); with no distillation
    and ``vision_lr_scale=0`` the VLM's vision blocks keep the weights copied from world-clip."""
    import torch
    from safetensors.torch import load_file

    from vadbench.world.store import read_manifest
    from vadbench.world.train import TrainConfig, build

    first, second = tmp_path / "a", tmp_path / "b"
    build(TrainConfig.smoke(clip_steps=2, vlm_steps=1), first, log=lambda m: None, eval_seeds=1,
          eval_per_question=2)
    man = build(TrainConfig.smoke(vlm_steps=2, distill_steps=0, vision_lr_scale=0.0), second,
                log=lambda m: None, eval_seeds=1, eval_per_question=2, clip_from=first)
    sha = read_manifest(first)["models"]["world-clip"]["sha256"]
    assert man["models"]["world-clip"]["sha256"] == sha
    assert man["training"]["world_clip_from"]["sha256"] == sha
    clip = load_file(str(second / "world-clip.safetensors"))
    vlm = load_file(str(second / "world-vlm.safetensors"))
    assert torch.equal(vlm["model.visual.blocks.0.attn.qkv.weight"],
                       clip["visual.transformer.resblocks.0.attn.in_proj_weight"])


@pytest.fixture(scope="module")
def world_items():
    """VLM items of one training world seed (24 frames), rendered once for the tests that need them."""
    from vadbench.world.data import vlm_items

    return vlm_items(S.train_seeds(0, 1), n_frames=24)


def _distilled(items, cfg, videos_per_kind: int):
    """A fresh world-vlm (seed 0) with world-clip's tower (its two temporal slots equal, as copied), after
    ``distill_vision`` on 8 crops and ``videos_per_kind`` tracks and clips of ``items``: (model, videos)."""
    import torch

    from vadbench.world.models import build_clip, build_vlm, init_vision_from_clip
    from vadbench.world.train import distill_vision

    crops = [it for it in items if it.kind == "image"][:8]
    videos = [it for it in items if it.kind == "track"][:videos_per_kind]
    videos += [it for it in items if it.kind == "clip"][:videos_per_kind]
    model, processor = build_vlm(0)
    init_vision_from_clip(model, build_clip(0))
    w = model.model.visual.patch_embed.proj.weight
    assert torch.equal(w[:, :, 0], w[:, :, 1])
    distill_vision(model, processor, build_clip(0), crops + videos, cfg, np.random.default_rng(0),
                   log=lambda m: None)
    return model, videos


@pytest.mark.parametrize("motion", [0.0, 1.0])
def test_only_the_motion_target_lets_the_temporal_patch_see_change(motion, world_items, one_torch_thread):
    """Distilled from world-clip on images alone (each image doubled into Qwen2.5-VL's temporal patch of 2
    frames) the tower's two temporal filter slots get equal gradients and stay equal: it cannot tell the two
    frames of a pair apart, so nothing that moves within a pair reaches the language model. The flow target
    on tracks and clips (``distill_motion``) makes them differ, and its targets line up with the tokens."""
    import torch

    from vadbench.world.train import TrainConfig, motion_targets

    # the dense target (on by default) sees clips too, so it is off here: only the motion target is weighed
    cfg = TrainConfig.smoke(distill_steps=3, distill_videos=2, distill_motion=motion, distill_dense=0.0)
    model, videos = _distilled(world_items, cfg, videos_per_kind=4)
    assert {v.media.shape[1:3] for v in videos} >= {(56, 56), (168, 224)}
    w = model.model.visual.patch_embed.proj.weight
    assert torch.equal(w[:, :, 0], w[:, :, 1]) == (motion == 0)
    clip = next(v.media for v in videos if v.media.shape[1:3] == (168, 224))
    assert motion_targets(clip, 28).shape == (len(clip) // 2 * 6 * 8, 32)


def test_vision_distillation_is_the_same_from_the_same_seed(world_items, one_torch_thread):
    """Stage 1 from the same seed gives the same tower whatever torch's global random state was before: its
    throw-away heads were drawn from that state, so two runs of `vadbench world train` from one seed could not
    give the same weights (step-1 losses 1.041 and 0.941 in two runs of the same command)."""
    import torch

    from vadbench.world.train import TrainConfig

    cfg = TrainConfig.smoke(distill_steps=2, distill_videos=2)
    towers = []
    for noise in (1, 2):
        torch.manual_seed(noise)  # what ran before in the process
        towers.append(_distilled(world_items, cfg, videos_per_kind=2)[0].model.visual.state_dict())
    assert all(torch.equal(towers[0][k], towers[1][k]) for k in towers[0])


def test_cell_labels_agree_with_the_clip_answers(world_items):
    """Stage 1's dense target says, per merged token of a clip, what its square holds: when a clip question
    is answered "yes" the attribute it asks about is on in some token of the clip, when "no" in none; the
    labels have the tower's grid (pairs, rows, columns of merged tokens)."""
    from vadbench.world.data import CLIP_FRAME_SIZE, token_cell

    ask = {"Is anyone running?": "running", "Is anyone lying on the ground?": "lying",
           "Is anyone riding a bicycle?": "cyclist", "Is anyone standing still?": "standing"}
    names = list(C.CELL_TESTS)
    clips = [it for it in world_items if it.kind == "clip"]
    w, h = CLIP_FRAME_SIZE
    cell = token_cell()
    checked = {"yes": 0, "no": 0}
    for it in clips:
        assert it.cells is not None
        assert it.cells.shape == (len(it.media) // 2, h // cell, w // cell, len(names))
        if it.question in ask:
            present = bool(it.cells[..., names.index(ask[it.question])].any())
            assert present == (it.answer == "yes"), (it.question, it.answer)
            checked[it.answer] += 1
    assert checked["yes"] and checked["no"]


def test_cell_labels_place_an_object_in_the_square_of_its_centre():
    from vadbench.world.data import cell_labels

    lying = ObjectState(1, "person", "red", "small", "lying", "lying", "still", "grass", "x",
                        (100, 80, 120, 90), 1)
    faint = ObjectState(2, "vehicle", "blue", "large", "", "driving", "left", "walkway", "x",
                        (0, 0, 20, 10), 0.2)  # 20 % visible: not in the labels
    lab = cell_labels([[lying, faint], [], [], [lying]], (96, 128), (112, 84), 28)
    names = list(C.CELL_TESTS)
    assert lab.shape == (2, 3, 4, len(names))
    # centre (110, 85) of a 128 x 96 frame -> (96.25, 74.4) in 112 x 84 -> row 2, column 3
    on = {(p, r, c, names[a]) for p, r, c, a in zip(*np.nonzero(lab), strict=True)}
    assert on == {(0, 2, 3, "person"), (0, 2, 3, "lying"), (1, 2, 3, "person"), (1, 2, 3, "lying")}


def test_the_dense_target_trains_the_tower_without_the_motion_target(world_items, one_torch_thread):
    """``distill_dense`` shapes the tower on its own: with the motion target off, the tower after stage 1
    differs from the one trained on crops alone (the clips' forward pass must not hang on the motion head)."""
    import torch

    from vadbench.world.train import TrainConfig

    towers = []
    for dense in (0.0, 1.0):
        cfg = TrainConfig.smoke(distill_steps=2, distill_videos=2, distill_motion=0.0, distill_dense=dense)
        towers.append(_distilled(world_items, cfg, videos_per_kind=4)[0].model.visual.state_dict())
    assert not all(torch.equal(towers[0][k], towers[1][k]) for k in towers[0])


def test_dense_targets_follow_the_towers_token_order_and_the_flip():
    import torch

    from vadbench.world.train import _dense_targets

    track = np.zeros((4, 56, 56, 3), np.uint8)
    clip = np.zeros((4, 84, 112, 3), np.uint8)
    cells = np.zeros((2, 3, 4, 2), np.uint8)
    cells[1, 0, 0, 1] = 1  # pair 1, top-left square
    grid = torch.tensor([[2, 4, 4], [2, 6, 8]])  # the processor's (t, h, w) patches of a track and a clip
    goal, rows = _dense_targets([0, 1], [False, True], [track, clip], {id(clip): cells}, grid, merge=2)
    assert list(rows) == list(range(8, 8 + 24))  # after the track's 2 x 2 x 2 tokens
    assert goal.shape == (24, 2) and goal.sum() == 1
    assert goal[12 + 3, 1] == 1  # flipped: pair 1, row 0, last column


def test_loading_sizes_the_processors_for_the_clip_frames_the_vlm_was_trained_on(tmp_path, one_torch_thread):
    """The shipped world-vlm was trained on clip frames of ``data.CLIP_FRAME_SIZE`` (what its consumers feed
    it) and its processors keep them whole (224 x 168: 8 x 6 merged tokens per pair of frames); a manifest
    with no ``clip_frame_size`` (written before the option) is read as the 112 x 84 frames of those models,
    and their processors' 112 x 112 pixel cap shrinks a 224 x 168 clip."""
    import shutil

    from vadbench.world import WEIGHTS_DIR
    from vadbench.world.data import CLIP_FRAME_SIZE, LEGACY_CLIP_FRAME_SIZE
    from vadbench.world.store import MANIFEST, clip_frame_size, load_world_vlm, read_manifest

    assert clip_frame_size(WEIGHTS_DIR) == CLIP_FRAME_SIZE == (224, 168)
    for f in WEIGHTS_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    man = read_manifest(tmp_path)
    del man["training"]["config"]["clip_frame_size"]
    (tmp_path / MANIFEST).write_text(json.dumps(man))
    assert clip_frame_size(tmp_path) == LEGACY_CLIP_FRAME_SIZE == (112, 84)
    clip = np.zeros((4, 168, 224, 3), np.uint8)
    grids = {}
    for name, folder in (("shipped", WEIGHTS_DIR), ("legacy", tmp_path)):
        proc = load_world_vlm(folder=folder).processor.video_processor
        out = proc(videos=[clip], return_tensors="pt", do_sample_frames=False)
        grids[name] = out["video_grid_thw"][0].tolist()
    assert grids["shipped"] == [2, 12, 16]  # patches of 14 px: 6 x 8 merged tokens per pair
    assert grids["legacy"][1] * grids["legacy"][2] < 12 * 16  # the 112 x 112 pixel cap shrinks it


def test_stage_two_draws_answers_by_the_balance_power():
    """``vlm_balance`` (``--vlm-balance``): 0 draws the answers of a question in their natural mix (the
    shipped world-vlm), 0.5 by the square root of their counts, 1 every answer alike (with the exact weights
    the models before it were drawn with); every question keeps the same share whatever the power."""
    from vadbench.world.captions import balanced
    from vadbench.world.train import TrainConfig

    keys = ["q1|walking"] * 900 + ["q1|running"] * 100 + ["q2|yes"] * 50 + ["q2|no"] * 50
    share = {}
    for power in (1.0, 0.5, 0.0):
        got = balanced(keys, keys, np.random.default_rng(0), 20000, power)
        share[power] = {k: sum(g == k for g in got) / len(got) for k in ("q1|running", "q2|yes", "q2|no")}
        assert abs(share[power]["q2|yes"] + share[power]["q2|no"] - 0.5) < 0.02
    assert abs(share[1.0]["q1|running"] - 0.25) < 0.02  # half of q1's half
    assert abs(share[0.5]["q1|running"] - 0.5 * 10 / 40) < 0.02  # sqrt(100) / (sqrt(900) + sqrt(100))
    assert abs(share[0.0]["q1|running"] - 0.05) < 0.01  # 100 / 1000 of q1's half
    assert TrainConfig().vlm_balance == 0.0  # the shipped world-vlm's draw
    with pytest.raises(ValueError, match=r"power must lie in \[0, 1\].*got 1.5"):
        balanced(keys, keys, np.random.default_rng(0), 10, 1.5)


def test_world_train_passes_the_balance_power(monkeypatch, tmp_path):
    """The CLI option reaches the training configuration (a run records it in its manifest's config)."""
    from typer.testing import CliRunner

    import vadbench.world.train as T
    from vadbench.cli import app

    seen = {}

    def fake_build(cfg, folder, **kwargs):
        seen["cfg"] = cfg
        return {"accuracy": {"clip": {}, "vlm": {}}, "training": {"train_seconds": 0.0}, "models": {}}

    monkeypatch.setattr(T, "build", fake_build)
    args = ["world", "train", "--smoke", "--out", str(tmp_path), "--vlm-balance", "0.5"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert seen["cfg"].vlm_balance == 0.5
    bad = CliRunner().invoke(app, ["world", "train", "--smoke", "--out", str(tmp_path), "--vlm-balance", "2"])
    assert bad.exit_code == 2 and "--vlm-balance" in bad.output and "less than or equal to 1" in bad.output, \
        bad.output
