"""The synthetic world without pixels: content-free probes at chance, onsets, durations, types per scene,
structured per-object states, and agreement of the pixel-free labels with the written dataset.

Label-only: the plans of ``tiny`` and ``small`` for three seeds need no rendering (seconds in all).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from vadbench.datasets import _synth_render as R
from vadbench.datasets import _synth_world as SW
from vadbench.datasets import synthetic as syn

SEEDS = (0, 1, 2)


@pytest.mark.parametrize("preset", ["tiny", "small"])
@pytest.mark.parametrize("seed", SEEDS)
def test_content_free_probes_stay_at_chance(preset, seed):
    """Frame index, t / T, closeness to the centre and video length: micro AUC within 50 ± 3 on both
    splits (either sign), computed exactly (ranks) from the labels under each split's convention."""
    for split, labels in syn.split_labels(seed, preset).items():
        aucs = SW.probe_aucs(labels)
        assert set(aucs) == {"index", "t/T", "centre", "length"}
        for probe, auc in aucs.items():
            assert abs(auc - 0.5) <= 0.03, f"{preset} seed {seed} {split} {probe}: AUC {auc:.3f}"
        share = np.mean(np.concatenate(list(labels.values())))
        assert 0.15 < share < 0.6, f"{preset} seed {seed} {split}: abnormal share {share:.2f}"


def test_probe_aucs_detect_a_shortcut():
    """The audit can fail: labels at the end of every video give t / T far from chance."""
    labels = {f"v{i}": np.r_[np.zeros(60 + i), np.ones(40)] for i in range(5)}
    aucs = SW.probe_aucs(labels)
    assert aucs["t/T"] > 0.9 and aucs["index"] > 0.8
    assert SW._fast_worst({"x": labels}) > 0.3


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_onsets_durations_and_events_are_spread(preset):
    starts, lengths, n_events, at_edges = [], [], [], 0
    scenes_of: dict[str, set[str]] = {}
    for seed in SEEDS:
        ev = syn.event_segments(seed, preset)
        n = {v.video: v.n_frames for v in syn.world(seed, preset).videos}
        for r in ev.itertuples():
            starts.append(r.start / n[r.video])
            lengths.append(r.end - r.start)
            at_edges += int(r.start == 0) + int(r.end == n[r.video])
            scenes_of.setdefault(r.type, set()).add(f"{seed}-{r.scene}")
        n_events += list(ev.groupby("video").size())
    hist = np.histogram(starts, bins=5, range=(0, 1))[0]
    assert (hist > 0).all(), hist  # onsets in every fifth of the video, first and last included
    assert at_edges > 0 and max(n_events) >= 2 and min(n_events) == 1
    assert np.std(lengths) > 0.3 * np.mean(lengths)  # varied durations
    assert set(scenes_of) == set(syn.ANOMALY_TYPES)
    for seed in SEEDS:  # every type in at least two scenes of every seed's plan
        ev = syn.event_segments(seed, preset)
        for t, g in ev.groupby("type"):
            assert g["scene"].nunique() >= 2, (preset, seed, t, list(g["scene"]))


def test_normal_and_abnormal_videos_share_length_and_object_counts():
    w = syn.world(0, "small")
    lo, hi = syn.PRESETS["small"]["frames"]
    for subset in ("train", "test"):
        lens = [v.n_frames for v in w.videos if v.subset == subset]
        assert lo <= min(lens) and max(lens) <= hi
        assert np.mean([v.featured for v in w.videos if v.subset == subset]) > 1.2
    objects = {"train": [], "test": []}
    for v in w.videos[::3]:
        tracks, _ = SW.build_video(w, v)
        objects[v.subset].append(len(tracks) / v.n_frames)
    a, b = np.mean(objects["train"]), np.mean(objects["test"])
    assert abs(a - b) < 0.35 * max(a, b), (a, b)


def test_bicycles_only_where_bikes_are_not_allowed():
    for seed in SEEDS:
        w = syn.world(seed, "small")
        bikes = {f"{m['scene']:02d}": m["bikes_allowed"] for m in w.scene_meta}
        ev = syn.event_segments(seed, "small")
        assert not any(bikes[s] for s in ev.loc[ev["type"] == "bicycle", "scene"])
        assert any(bikes.values()) and not all(bikes.values())


def test_object_states_are_structured_and_match_the_events():
    w = syn.world(0, "tiny")
    ev = syn.event_segments(0, "tiny")
    seen_actions, seen_poses = set(), set()
    for vp in w.videos:
        st = syn.object_states(0, "tiny", vp.video)
        assert tuple(st.columns) == SW.STATE_COLUMNS
        assert st["frame"].between(0, vp.n_frames - 1).all()
        assert set(st["kind"]) <= set(R.KINDS) and set(st["action"]) <= set(R.ACTIONS)
        assert set(st["place"]) <= {"walkway", "grass"}
        assert set(st["flow"]) <= {"with", "against", "two-way", "none"}
        assert not st.duplicated(["frame", "object_id"]).any()
        seen_actions |= set(st["action"])
        seen_poses |= set(st["pose"])
        assert (st.loc[st["kind"] == "cyclist", "pose"] == "riding").all()
        abn = st[st["is_anomalous"] == 1]
        if vp.subset == "train":
            assert abn.empty
            continue
        np.testing.assert_array_equal(np.isin(np.arange(vp.n_frames), abn["frame"]).astype(np.uint8),
                                      vp.labels())
        for r in ev[ev["video"] == vp.video].itertuples():
            mine = abn[abn["event"] == r.event]
            assert mine["frame"].min() == r.start and mine["frame"].max() == r.end - 1
            assert set(mine["type"]) == {r.type}
            if r.type == "wrong_way":
                assert set(mine["flow"]) == {"against"}
            if r.type == "runner":
                assert set(mine["action"]) <= {"running"} | {"walking"}  # ramps
            if r.type == "falling":
                assert {"falling", "lying", "getting up"} & set(mine["action"])
            if r.type == "bicycle":
                assert set(mine["kind"]) == {"cyclist"}
            if r.type == "vehicle":
                assert set(mine["kind"]) == {"vehicle"}
    assert {"walking", "standing", "riding"} <= seen_actions
    assert {"upright", "riding"} <= seen_poses


def test_colour_names():
    assert SW.colour_name(np.array([30, 200, 40])) == "green"
    assert SW.colour_name(np.array([240, 240, 240])) == "white"
    assert SW.colour_name(np.array([40, 60, 220])) == "blue"


def test_labels_of_a_seed_are_byte_identical():
    """The pixel-free labels are a function of the seed (the cache is cleared between the two calls)."""

    def digest() -> str:
        h = hashlib.sha256()
        for split, labels in syn.split_labels(1, "tiny").items():
            for v, y in labels.items():
                h.update(f"{split}/{v}".encode() + np.ascontiguousarray(y).tobytes())
        h.update(syn.event_segments(1, "tiny").to_csv(index=False).encode())
        return h.hexdigest()

    first = digest()
    SW._world.cache_clear()
    assert digest() == first
