"""vadbench.protocol: each step against hand-computed arrays, Liu 2018 against a literal transcription of
Liu's procedure, validation messages and the string round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import auc, roc_curve

from vadbench.errors import ConfigError, ScoreError
from vadbench.metrics import evaluate
from vadbench.protocol import (
    FIELDS,
    STEPS,
    Anticipation,
    Protocol,
    aggregate_crops,
    align_length,
    apply,
    apply_border,
    evaluate_protocol,
    minmax_video,
    smooth_scores,
)

# ----------------------------------------------------------------------------------------------------------
# steps


def test_crop_aggregation():
    s = np.arange(30.0).reshape(3, 10)
    assert aggregate_crops(s, "mean10").tolist() == [4.5, 14.5, 24.5]
    assert aggregate_crops(s[:, :5], "mean5").tolist() == [2.0, 12.0, 22.0]
    assert aggregate_crops(s, "crop:5").tolist() == [5.0, 15.0, 25.0]
    assert aggregate_crops(np.array([1.0, 2.0]), "crop:0").tolist() == [1.0, 2.0]  # already that crop
    assert aggregate_crops(np.array([[1.0], [2.0]]), "none").tolist() == [1.0, 2.0]
    with pytest.raises(
        ScoreError, match=r"video 'v': crops=mean10 needs scores of shape \(T, 10\); got \(3, 5\)"
    ):
        aggregate_crops(s[:, :5], "mean10", "v")
    with pytest.raises(ScoreError, match=r"crops=mean5 needs scores of shape \(T, 5\); got \(3,\)"):
        aggregate_crops(s[:, 0], "mean5", "v")
    with pytest.raises(ScoreError, match=r"crops=crop:7 but the scores have 5 crops"):
        aggregate_crops(s[:, :5], "crop:7", "v")
    with pytest.raises(ScoreError, match=r"crops=none but the scores have shape \(3, 10\)"):
        aggregate_crops(s, "none", "v")


def test_align_rules_by_hand():
    s = np.array([1.0, 2.0, 3.0])
    assert align_length(s, 3, "strict").tolist() == [1, 2, 3]
    assert align_length(s, 2, "truncate").tolist() == [1, 2]
    assert align_length(s, 5, "pad_last").tolist() == [1, 2, 3, 3, 3]
    assert align_length(s, 7, "center").tolist() == [0, 0, 0, 1, 2, 3, 0]  # offset (7-3)//2 + 1 = 3
    assert align_length(s, 4, "center").tolist() == [0, 1, 2, 3]  # offset 0 + 1
    with pytest.raises(ScoreError, match=r"video 'Abuse028': 1408 scores but 1412 labels \(align=strict\)"):
        align_length(np.zeros(1408), 1412, "strict", "Abuse028")
    with pytest.raises(
        ScoreError, match=r"100 scores but 10 labels \(align=strict\) \(exactly 10x: were the crops"
    ):
        align_length(np.zeros(100), 10, "strict", "v")
    with pytest.raises(ScoreError, match="snippet scores need expand=repeat16"):
        align_length(np.zeros(2), 32, "strict", "v")
    with pytest.raises(ScoreError, match="align=truncate only shortens"):
        align_length(s, 4, "truncate", "v")
    with pytest.raises(ScoreError, match="align=pad_last only extends"):
        align_length(s, 2, "pad_last", "v")
    with pytest.raises(ScoreError, match="align=center only places shorter"):
        align_length(s, 2, "center", "v")


def gauss_by_hand(s, sigma, mode):
    """Correlation with the normalised Gaussian of radius int(4σ + 0.5), padded per scipy's mode."""
    r = int(4.0 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    if mode == "reflect":  # d c b a | a b c d | d c b a
        padded = np.concatenate([s[:r][::-1], s, s[-r:][::-1]]) if r <= len(s) else None
    else:
        padded = np.concatenate([np.zeros(r), s, np.zeros(r)])
    return np.array([np.dot(padded[i : i + 2 * r + 1], k) for i in range(len(s))])


@pytest.mark.parametrize("mode", ["reflect", "constant"])
@pytest.mark.parametrize("sigma", [1.0, 1.5, 3.0])
def test_gauss_smoothing_by_hand(mode, sigma):
    s = np.random.default_rng(0).random(40)
    assert np.allclose(smooth_scores(s, f"gauss({sigma},{mode})"), gauss_by_hand(s, sigma, mode), atol=1e-12)


def test_smoothing_never_crosses_videos():
    rng = np.random.default_rng(1)
    sc = {"a": rng.random(30), "b": rng.random(20) + 5}
    y = {"a": np.r_[np.zeros(15), np.ones(15)], "b": np.zeros(20)}
    a = apply(Protocol(smooth="gauss(3,reflect)"), sc, y)
    assert np.allclose(a.scores[:30], gauss_by_hand(sc["a"], 3.0, "reflect"))
    assert np.allclose(a.scores[30:], gauss_by_hand(sc["b"], 3.0, "reflect"))


def test_minmax_video():
    assert minmax_video([2.0, 4.0, 3.0]).tolist() == [0.0, 1.0, 0.5]
    assert minmax_video([7.0, 7.0, 7.0]).tolist() == [0.0, 0.0, 0.0]


def test_border_ops_by_hand():
    s, y = np.array([5.0, 1.0, 2.0, 3.0, 4.0]), np.array([0, 0, 1, 1, 0])
    r = apply_border(s, y, "drop_first:2")
    assert r[0].tolist() == [2, 3, 4] and r[1].tolist() == [1, 1, 0]
    r = apply_border(s, y, "drop_last:2")
    assert r[0].tolist() == [5, 1, 2] and r[1].tolist() == [0, 0, 1]
    r = apply_border(s, y, "fill_first:2")
    assert r[0].tolist() == [2, 2, 2, 3, 4] and r[1].tolist() == [0, 0, 1, 1, 0]
    r = apply_border(s, y, "drop_last:1+drop_first:1")
    assert r[0].tolist() == [1, 2, 3] and r[1].tolist() == [0, 1, 1]
    r = apply_border(np.array([9.0, 9, 9, 9, 1, 3, 2]), np.array([0, 0, 0, 0, 0, 1, 1]), "liu2018")
    assert r[0].tolist() == [0.0, 1.0, 0.5] and r[1].tolist() == [0, 1, 1]
    with pytest.raises(ScoreError, match=r"video 'v': 3 frames, too few for border drop_first:4"):
        apply_border(s[:3], y[:3], "drop_first:4", "v")


def liu_literal(psnr_records, gt, decidable_idx=4):
    """Liu et al. 2018 (ano_pred_cvpr2018): psnrs[0:4] = psnrs[4] at inference; evaluate.py compute_auc with
    NORMALIZE: per video (d - min) / (max - min), drop the first DECIDABLE_IDX frames, concatenate,
    roc_curve(labels, scores, pos_label=0), auc(fpr, tpr)."""
    scores = np.array([], dtype=np.float32)
    labels = np.array([], dtype=np.int8)
    for i in range(len(psnr_records)):
        psnrs = psnr_records[i].copy()
        psnrs[0:4] = psnrs[4]
        distance = psnrs
        distance -= distance.min()
        distance /= distance.max()
        scores = np.concatenate((scores, distance[decidable_idx:]), axis=0)
        labels = np.concatenate((labels, gt[i][decidable_idx:]), axis=0)
    fpr, tpr, _ = roc_curve(labels, scores, pos_label=0)
    return auc(fpr, tpr), scores


def test_liu2018_matches_literal_procedure():
    rng = np.random.default_rng(4)
    names = [f"{i:02d}" for i in range(1, 6)]
    psnr, gt = {}, {}
    for v in names:
        n = int(rng.integers(30, 80))
        y = np.zeros(n, dtype=np.int8)
        a = int(rng.integers(5, n - 10))
        y[a : a + int(rng.integers(3, 10))] = 1
        gt[v] = y
        psnr[v] = 30 + 5 * rng.random(n) - 4 * y  # anomalies predict worse: lower PSNR
    ref_auc, ref_scores = liu_literal([psnr[v] for v in names], [gt[v] for v in names])
    p = Protocol.preset("liu2018")
    aligned = apply(p, {v: -psnr[v] for v in names}, gt)  # vadbench scores are -PSNR (higher = anomalous)
    assert np.allclose(aligned.scores, 1 - ref_scores)  # minmax(-p) = 1 - minmax(p)
    m = evaluate_protocol(p, {v: -psnr[v] for v in names}, gt)
    assert m["auc_micro"] == pytest.approx(ref_auc, abs=1e-12)


def test_order_is_honoured():
    s = np.array([0.0, 10.0, 0.0, 0.0, 5.0, 0.0])
    y = {"v": np.array([0, 1, 0, 0, 1, 0])}
    first_smooth = apply(Protocol(smooth="gauss(1,constant)", normalise="minmax_video"), {"v": s}, y).scores
    assert np.allclose(first_smooth, minmax_video(smooth_scores(s, "gauss(1,constant)")))
    order = ("expand", "align", "normalise", "smooth", "border")
    first_norm = apply(
        Protocol(smooth="gauss(1,constant)", normalise="minmax_video", order=order), {"v": s}, y
    )
    assert np.allclose(first_norm.scores, smooth_scores(minmax_video(s), "gauss(1,constant)"))
    assert not np.allclose(first_norm.scores, first_smooth)
    # NWPU-style micro AUC: smooth -> min-max -> center alignment
    nwpu = Protocol(
        smooth="gauss(1,reflect)",
        normalise="minmax_video",
        align="center",
        order=("expand", "smooth", "normalise", "align", "border"),
    )
    out = apply(nwpu, {"v": s[:4]}, y).scores
    assert np.allclose(out, np.r_[0.0, 0.0, minmax_video(smooth_scores(s[:4], "gauss(1,reflect)"))])


def test_repeat16_and_crops_through_apply():
    p = Protocol.preset("ucf/rtfm")
    crops = np.arange(20.0).reshape(2, 10)
    a = apply(p, {"x": crops}, {"x": np.r_[np.zeros(20), np.ones(12)]})
    assert a.scores.tolist() == [4.5] * 16 + [14.5] * 16 and a.lengths.tolist() == [32]
    with pytest.raises(ScoreError, match=r"video 'x': 32 scores but 48 labels \(align=strict\)"):
        apply(p, {"x": crops}, {"x": np.zeros(48)})


def test_apply_orders_videos_by_labels_and_checks_names():
    y = {"b": np.array([0, 1]), "a": np.array([1, 0, 0])}
    s = {"a": np.array([0.1, 0.2, 0.3]), "b": np.array([0.4, 0.5])}
    a = apply(Protocol(), s, y)
    assert a.videos == ["b", "a"] and a.scores.tolist() == [0.4, 0.5, 0.1, 0.2, 0.3]
    assert a.labels.tolist() == [0, 1, 1, 0, 0] and a.lengths.tolist() == [2, 3]
    with pytest.raises(
        ScoreError, match=r"1 videos without scores \(b\), 1 scored videos without labels \(c\)"
    ):
        apply(Protocol(), {"a": s["a"], "c": s["b"]}, y)


def test_anticipation_through_protocol():
    p = Protocol.preset("nwpu/anticipation@2")
    assert p.anticipation == Anticipation(2.0, 25.0) and p.auc_macro_rule == "flip_first"
    p = p.replace(anticipation=Anticipation(2.0, 1.0))  # h = 2 frames
    g = np.array([0, 0, 0, 1, 1, 0, 0])
    a = apply(p, {"v": np.arange(7.0)}, {"v": g})
    assert a.labels.tolist() == [0, 1, 1, 1, 0] and a.scores.tolist() == [0, 1, 2, 3, 4]


def test_evaluate_protocol_equals_manual_pipeline():
    rng = np.random.default_rng(9)
    names = ["v1", "v2", "v3", "v4"]
    y = {v: (rng.random(50) < 0.3).astype(int) for v in names}
    y["v4"][:] = 0
    s = {v: rng.random(50) for v in names}
    p = Protocol.preset("ped2/official").replace(smooth="gauss(2,reflect)", normalise="minmax_video")
    m = evaluate_protocol(p, s, y, video_labels={"v1": 1, "v2": 1, "v3": 1, "v4": 0})
    ss = np.concatenate([minmax_video(smooth_scores(s[v], "gauss(2,reflect)")) for v in names])
    ref = evaluate(
        np.concatenate([y[v] for v in names]), ss, [50] * 4, one_class="pad01", video_labels=[1, 1, 1, 0]
    )
    assert m == pytest.approx(ref, nan_ok=True)
    assert m["n_one_class"] == 1 and not math.isnan(m["far"])


def test_evaluate_protocol_adds_map_keys():
    probs = {"a": np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), "n": np.array([[0.8, 0.2], [0.6, 0.4]])}
    scores = {k: v[:, 1] for k, v in probs.items()}
    labels = {"a": np.r_[np.zeros(16), np.ones(32)], "n": np.zeros(32)}
    p = Protocol.preset("ucf/vadclip")
    m = evaluate_protocol(
        p,
        scores,
        labels,
        {"a": 1, "n": 0},
        probs=probs,
        gt_segments={"a": [[16, 48]], "n": [[0, 32]]},
        gt_labels={"a": ["X"], "n": ["A"]},
        classes=["Normal", "X"],
    )
    assert m["map_iou_avg"] == 50.0 and m["auc_micro"] == 1.0


# ----------------------------------------------------------------------------------------------------------
# the Protocol value


@pytest.mark.parametrize(
    "field,value,allowed",
    [
        ("split", "train", "test, semi, weak"),
        ("gt", "ucf", "deepmil, rtfm"),
        ("unit", "snippet", "snippet16, frame, clip"),
        ("crops", "mean3", "none, mean10, mean5, crop:<k>"),
        ("expand", "repeat8", "repeat16, none"),
        ("align", "pad", "strict, truncate, pad_last, center"),
        ("smooth", "gauss(0,reflect)", "none or gauss"),
        ("smooth", "gauss(3,foo)", "none or gauss"),
        ("normalise", "zscore", "none, minmax_video"),
        ("border", "drop_first:0", "none, liu2018"),
        ("border", "drop_first:2+drop_first:3", "each at most once"),
        ("order", "expand,align", "a permutation of expand,align,smooth,normalise,border"),
        ("auc_macro_rule", "mean", "pad01, pad_if_one_class, flip_first, skip"),
        ("abnormal_def", "any", "video_label, gt_positive"),
        ("far", "far_normal@0.5", "far_normal@<θ>"),
        ("map", "paper", "vadclip_code, vadclip_code_excl, vadclip_paper"),
        ("selection", "val", "none, test"),
        ("anticipation", "anticipation(α=-1)", "a positive number"),
    ],
)
def test_validation_names_field_value_and_allowed(field, value, allowed):
    with pytest.raises(ConfigError) as err:
        Protocol().replace(**{field: value})
    msg = str(err.value)
    assert (
        f"protocol field {field}" in msg
        and repr(value) in msg.replace("anticipation.horizon_s", "")
        or field == "anticipation"
    ), msg
    assert allowed in msg, msg


def test_consistency_checks_and_unknown_names():
    with pytest.raises(ConfigError, match="expand=repeat16 needs unit=snippet16"):
        Protocol(expand="repeat16")
    with pytest.raises(ConfigError, match="border=liu2018 already min-max normalises"):
        Protocol(border="liu2018", normalise="minmax_video")
    with pytest.raises(ConfigError, match=r"unknown protocol preset 'ucf'; presets: ucf/deepmil, ucf/rtfm"):
        Protocol.preset("ucf")
    with pytest.raises(ConfigError, match=r"unknown field\(s\) sigma"):
        Protocol().replace(sigma=3)
    with pytest.raises(ConfigError, match=r"cannot read 'sigma=3'; expected field=value"):
        Protocol.from_string("ped2/official;sigma=3")
    with pytest.raises(ConfigError, match="field smooth given twice"):
        Protocol.from_string("smooth=none;smooth=gauss(3,reflect)")


def test_presets_of_section_13():
    assert set(Protocol.presets()) >= {
        "ucf/deepmil",
        "ucf/rtfm",
        "ucf/vadclip",
        "xd/xdviodet",
        "xd/vadclip",
        "sht-weak/rtfm",
        "sht-semi/official",
        "avenue/liu",
        "avenue/pixel",
        "ped2/official",
        "nwpu/official",
        "liu2018",
    }
    p = Protocol.preset("ucf/vadclip")
    assert (p.gt, p.crops, p.expand, p.map, p.selection) == (
        "vadclip",
        "crop:5",
        "repeat16",
        "vadclip_code",
        "test",
    )
    assert Protocol.preset("xd/vadclip").crops == "crop:0" and Protocol.preset("xd/xdviodet").crops == "mean5"
    assert (
        Protocol.preset("sht-weak/rtfm").split == "weak"
        and Protocol.preset("sht-semi/official").split == "semi"
    )
    assert Protocol.preset("avenue/pixel").auc_macro_rule == "pad01"
    assert Protocol.preset("liu2018").border == "liu2018"
    assert Protocol.preset("nwpu/anticipation@0.5").anticipation.horizon_s == 0.5


def test_canonical_forms():
    p = Protocol(
        smooth="gauss(3.0, reflect)",
        far="far_all@0.50[>]",
        border="drop_last:7+drop_first:8",
        auc_macro_rule="pad",
        order="expand, align, smooth, normalise, border",
    )
    assert (p.smooth, p.far, p.border, p.auc_macro_rule) == (
        "gauss(3,reflect)",
        "far_all@0.5[>]",
        "drop_first:8+drop_last:7",
        "pad01",
    )
    assert str(p).split(";")[0] == "split=test" and [x.split("=")[0] for x in str(p).split(";")] == list(
        FIELDS[:-1]
    )


def protocols():
    num = st.floats(min_value=0.05, max_value=50, allow_nan=False).map(lambda x: round(x, 3))
    border = st.one_of(
        st.sampled_from(["none", "liu2018"]),
        st.lists(
            st.tuples(st.sampled_from(["fill_first", "drop_first", "drop_last"]), st.integers(1, 20)),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        ).map(lambda ops: "+".join(f"{o}:{k}" for o, k in ops)),
    )
    ant = st.one_of(
        st.none(),
        st.builds(
            Anticipation,
            num.map(lambda x: x + 0.5),
            st.sampled_from([25.0, 30.0, 12.5]),
            st.sampled_from(["half_up", "floor", "ceil"]),
            st.booleans(),
            st.booleans(),
        ),
    )
    snippet = st.sampled_from(
        [
            ("snippet16", "repeat16"),
            ("snippet16", "none"),
            ("frame", "none"),
            ("clip", "window_mean(16,8)"),
            ("clip", "window_max(8,8)"),
        ]
    )

    def make(unit_expand: tuple[str, str], **kw: object) -> Protocol:
        if kw["border"] == "liu2018":  # liu2018 brings its own min-max
            kw["normalise"] = "none"
        return Protocol(unit=unit_expand[0], expand=unit_expand[1], **kw)

    return st.builds(
        make,
        snippet,
        split=st.sampled_from(["test", "semi", "weak"]),
        gt=st.sampled_from(["deepmil", "rtfm", "vadclip", "official", "liu", "pixel", "xdviodet"]),
        crops=st.one_of(
            st.sampled_from(["none", "mean10", "mean5"]), st.integers(0, 9).map(lambda k: f"crop:{k}")
        ),
        align=st.sampled_from(["strict", "truncate", "pad_last", "center"]),
        smooth=st.one_of(
            st.just("none"),
            st.tuples(num, st.sampled_from(["reflect", "constant"])).map(lambda t: f"gauss({t[0]},{t[1]})"),
        ),
        normalise=st.sampled_from(["none", "minmax_video"]),
        border=border,
        order=st.permutations(list(STEPS)).map(tuple),
        auc_macro_rule=st.sampled_from(["pad01", "pad_if_one_class", "flip_first", "skip"]),
        abnormal_def=st.sampled_from(["video_label", "gt_positive"]),
        far=st.tuples(st.sampled_from(["normal", "all"]), num, st.sampled_from([">=", ">"])).map(
            lambda t: f"far_{t[0]}@{t[1]}[{t[2]}]"
        ),
        map=st.sampled_from(["vadclip_code", "vadclip_code_excl", "vadclip_paper"]),
        selection=st.sampled_from(["none", "test"]),
        anticipation=ant,
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(protocols())
def test_string_round_trip(p):
    text = str(p)
    q = Protocol.from_string(text)
    assert q == p and str(q) == text and hash(q) == hash(p)


def test_clip_unit_expands_windows_to_frames():
    """unit=clip: window scores become frame scores, overlapping windows averaged (or maxed), declared in
    the protocol string; a wrong window count names the scheme."""
    p = Protocol.from_string("ped2/official;unit=clip;expand=window_mean(4,2)")
    assert "expand=window_mean(4,2)" in str(p) and Protocol.from_string(str(p)) == p
    # 10 frames, W=4, S=2 -> windows [0,4) [2,6) [4,8) [6,10)
    a = apply(p, {"v": np.array([0.0, 1.0, 0.0, 1.0])}, {"v": np.zeros(10)})
    assert a.scores.tolist() == [0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1]
    m = apply(p.replace(expand="window_max(4,2)"), {"v": np.array([0.0, 1.0, 0.0, 1.0])}, {"v": np.zeros(10)})
    assert m.scores.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    with pytest.raises(ScoreError, match="3 clip scores but 4 windows of 4 frames every 2"):
        apply(p, {"v": np.zeros(3)}, {"v": np.zeros(10)})
    with pytest.raises(ConfigError, match="unit=clip goes with expand=window_mean"):
        p.replace(expand="none")


def test_default_protocol_per_unit():
    from vadbench.protocol import default_protocol

    snippet = default_protocol("ucf-crime", "weak", "snippet16")
    frame = default_protocol("ucf-crime", "weak", "frame")
    assert (snippet.gt, snippet.unit, frame.gt, frame.unit, frame.crops) == (
        "deepmil", "snippet16", "frames_excl", "frame", "none")
    assert default_protocol("shanghaitech", "weak", "clip", (16, 8)).gt == "official"
    semi = default_protocol("ped2", "semi", "snippet16")
    assert (semi.expand, semi.align) == ("repeat16", "truncate")
    with pytest.raises(ConfigError, match="no default protocol for dataset 'nope'"):
        default_protocol("nope", "weak")
