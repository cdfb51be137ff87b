"""vadbench.metrics against scikit-learn (the reference), literal transcriptions of the spec and hand-computed
cases. sklearn is used here only, as the reference."""

from __future__ import annotations

import math
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from vadbench.errors import ConfigError, ScoreError
from vadbench.metrics import (
    METRIC_KEYS,
    anticipation_labels,
    evaluate,
    horizon_frames,
    map_iou,
    parse_far_rule,
)

RULES = ("skip", "pad01", "pad_if_one_class", "flip_first")


# ----------------------------------------------------------------------------------------------------------
# references written from the spec, calling sklearn per piece


def ref_macro(y, s, lengths, rule, subset=None):
    """protocols.md 4.2, literally: pad / flip per video, then sklearn, unweighted mean."""
    aucs, off = [], 0
    for v, n in enumerate(lengths):
        yy, ss = y[off:off + n].astype(int).copy(), s[off:off + n].astype(float).copy()
        off += n
        if subset is not None and not subset[v]:
            continue
        one = yy.min() == yy.max()
        if rule == "pad01":
            yy, ss = np.r_[0, yy, 1], np.r_[0.0, ss, 1.0]
        elif rule == "pad_if_one_class" and one:
            if yy.max() == 0:
                yy, ss = np.r_[yy, 1], np.r_[ss, 1.0]
            else:
                yy, ss = np.r_[0, yy], np.r_[0.0, ss]
        elif rule == "flip_first" and one:
            yy[0] = 1 - yy[0]
        if yy.min() == yy.max():
            continue
        aucs.append(roc_auc_score(yy, ss))
    return float(np.mean(aucs)) if aucs else math.nan


def ref_far(y, s, lengths, scope, theta, op):
    flag = s >= theta if op == ">=" else s > theta
    if scope == "all":
        return flag[y == 0].mean()
    off, num, den = 0, 0, 0
    for n in lengths:
        if y[off:off + n].sum() == 0:
            num += flag[off:off + n].sum()
            den += n
        off += n
    return num / den if den else math.nan


def ref_all(y, s, lengths, rule="skip", video_labels=None, abnormal_def="video_label"):
    p, r, _ = precision_recall_curve(y, s)
    out = {"auc_micro": roc_auc_score(y, s), "ap": average_precision_score(y, s), "pr_auc": auc(r, p),
           "auc_macro": ref_macro(y, s, lengths, rule)}
    ends = np.cumsum(lengths)
    pos_v = np.array([y[e - n:e].sum() for e, n in zip(ends, lengths, strict=True)])
    out["n_one_class"] = int(sum((pv == 0) or (pv == n) for pv, n in zip(pos_v, lengths, strict=True)))
    abn = pos_v > 0 if abnormal_def == "gt_positive" else None if video_labels is None else np.asarray(
        video_labels) == 1
    if abn is not None and abn.any():
        mask = np.repeat(abn, lengths)
        ya, sa = y[mask], s[mask]
        out["auc_abnormal"] = roc_auc_score(ya, sa) if 0 < ya.sum() < ya.size else math.nan
        out["auc_abnormal_macro"] = ref_macro(y, s, lengths, rule, subset=abn)
    else:
        out["auc_abnormal"] = out["auc_abnormal_macro"] = math.nan
    bounded = s.min() >= 0 and s.max() <= 1
    out["far"] = ref_far(y, s, lengths, "normal", 0.5, ">=") if bounded else math.nan
    return out


def assert_close(got, ref, keys=None, tol=1e-9):
    for k in keys or ref:
        a, b = got[k], ref[k]
        if isinstance(b, float) and math.isnan(b):
            assert math.isnan(a), (k, a, b)
        else:
            assert abs(a - b) <= tol, (k, a, b)


def random_case(rng, n_videos, kind):
    lengths = rng.integers(1, 60, n_videos)
    lengths[0] = max(lengths[0], 2)  # room for both classes
    n = int(lengths.sum())
    y = np.zeros(n, dtype=int)
    off = 0
    for ln in lengths:
        r = rng.random()
        if r < 0.2:
            y[off:off + ln] = 1  # fully abnormal video
        elif r < 0.6:
            a = rng.integers(0, ln)
            y[off + a: off + a + rng.integers(1, ln + 1)] = 1
        off += ln
    if y.min() == y.max():
        y[0] = 1 - y[0]
    if kind == "ties":
        s = rng.integers(0, 4, n).astype(float) / 3  # heavy ties, in [0, 1]
    elif kind == "float32":
        s = np.round(rng.random(n), 2).astype(np.float32)
    elif kind == "repeat16":
        s = np.repeat(rng.random(n // 16 + 1), 16)[:n]
    elif kind == "unbounded":
        s = rng.normal(size=n) * 3
    else:  # float64 values closer than float32 resolution, with exact ties
        s = 0.5 + rng.integers(0, 30, n) * 1e-12
    return y, s, lengths


# ----------------------------------------------------------------------------------------------------------
# evaluate vs sklearn


@pytest.mark.parametrize("kind", ["ties", "float32", "repeat16", "unbounded", "tiny_gaps"])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.filterwarnings("ignore:auc_macro_rule=pad01")
def test_evaluate_matches_sklearn_seeded(kind, rule):
    rng = np.random.default_rng(zlib.crc32(f"{kind}/{rule}".encode()))
    for _ in range(8):
        y, s, lengths = random_case(rng, int(rng.integers(1, 12)), kind)
        vl = (rng.random(lengths.size) < 0.5).astype(int)
        got = evaluate(y, s, lengths, one_class=rule, video_labels=vl)
        assert set(got) == set(METRIC_KEYS)
        assert_close(got, ref_all(y, s.astype(float), lengths, rule, video_labels=vl))
        got = evaluate(y, s, lengths, one_class=rule, abnormal_def="gt_positive")
        assert_close(got, ref_all(y, s.astype(float), lengths, rule, abnormal_def="gt_positive"))


@pytest.mark.filterwarnings("ignore:auc_macro_rule=pad01")
@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-3, 3)), min_size=2, max_size=40),
       st.integers(1, 5), st.sampled_from(RULES), st.booleans())
def test_evaluate_matches_sklearn_hypothesis(pairs, n_cuts, rule, scaled):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs], dtype=float)
    if scaled:
        s = (s + 3) / 6  # in [0, 1]: pad01 and FAR are meaningful
    if y.min() == y.max():
        with pytest.raises(ScoreError, match="single class"):
            evaluate(y, s)
        return
    cuts = np.unique(np.linspace(0, y.size, n_cuts + 1).astype(int))
    lengths = np.diff(cuts)
    lengths = lengths[lengths > 0]
    got = evaluate(y, s, lengths, one_class=rule, abnormal_def="gt_positive")
    assert_close(got, ref_all(y, s, lengths, rule, abnormal_def="gt_positive"))


def test_tiny_example_by_hand():
    # 2 videos: v0 = (0, .1) (0, .4) (1, .35) (1, .8); v1 = (0, .2) (1, .9)
    m = evaluate([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], lengths=[4, 2], video_labels=[1, 0])
    assert m["auc_micro"] == pytest.approx(8 / 9)  # pairs (pos > neg): .35>.1,.2; .8>all 3; .9>all 3
    assert m["auc_macro"] == pytest.approx((3 / 4 + 1) / 2)
    assert m["auc_abnormal"] == pytest.approx(3 / 4) and m["auc_abnormal_macro"] == pytest.approx(3 / 4)
    assert m["n_one_class"] == 0 and math.isnan(m["far"])  # no all-normal video


def test_negative_zero_ties_with_zero():
    y = np.array([0, 1, 0, 1])
    s = np.array([0.0, -0.0, 1.0, 0.0])
    assert evaluate(y, s)["auc_micro"] == pytest.approx(roc_auc_score(y, s))


def test_input_layouts_agree():
    rng = np.random.default_rng(3)
    y, s, lengths = random_case(rng, 5, "ties")
    names = [f"vid{i}" for i in range(5)]
    ends = np.cumsum(lengths)
    ys = {n: y[e - k:e] for n, e, k in zip(names, ends, lengths, strict=True)}
    ss = {n: s[e - k:e] for n, e, k in zip(reversed(names), reversed(ends), reversed(lengths), strict=True)}
    flat = evaluate(y, s, lengths, one_class="pad01")
    as_map = evaluate(ys, ss, one_class="pad01")
    as_list = evaluate(list(ys.values()), [ss[n] for n in names], one_class="pad01")
    as_row = evaluate(y[None, :], s[None, :], lengths, one_class="pad01")  # community (1, N) arrays
    for other in (as_map, as_list, as_row):
        assert_close(other, flat)


def test_float_dtypes_and_integer_scores():
    rng = np.random.default_rng(5)
    y = (rng.random(500) < 0.3).astype(np.uint8)
    for s in (rng.integers(0, 7, 500), rng.integers(0, 7, 500).astype(np.int16),
              rng.random(500).astype(np.float16), rng.random(500) * 1e6):
        assert evaluate(y, s)["auc_micro"] == pytest.approx(roc_auc_score(y, s.astype(float)), abs=1e-12)
    yb = y.astype(bool)
    assert evaluate(yb, s)["ap"] == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_macro_needs_lengths():
    m = evaluate([0, 1, 0, 1], [0.1, 0.9, 0.3, 0.2])
    assert math.isnan(m["auc_macro"]) and math.isnan(m["auc_abnormal"]) and math.isnan(m["far"])
    assert m["n_one_class"] == 0
    assert evaluate([0, 1, 0, 1], [0.1, 0.9, 0.6, 0.2], far_rule="far_all@0.5[>=]")["far"] == 0.5


def test_one_class_rules_by_hand():
    # v0 all abnormal (scores .2 .6), v1 mixed: (0, .1) (1, .7)
    y, s, ln = [1, 1, 0, 1], [0.2, 0.6, 0.1, 0.7], [2, 2]
    assert evaluate(y, s, ln, one_class="skip")["auc_macro"] == 1.0
    # flip_first: v0 -> labels (0, 1): .6 > .2 -> 1
    assert evaluate(y, s, ln, one_class="flip_first")["auc_macro"] == 1.0
    # pad_if_one_class: v0 gets (0, 0) first: both positives beat it -> 1
    assert evaluate(y, s, ln, one_class="pad_if_one_class")["auc_macro"] == 1.0
    m = evaluate([1, 1, 0, 1], [0.0, 0.6, 0.1, 0.7], ln, one_class="pad_if_one_class")
    assert m["auc_macro"] == 0.875  # v0: the (0, 0) pad ties with the 0.0 frame -> .75; v1: 1
    # pad01 on v1: labels 0 0 1 1 / scores 0 .1 .7 1 -> 1; on v0: 0 1 1 1 / 0 .2 .6 1 -> 1
    assert evaluate(y, s, ln, one_class="pad")["auc_macro"] == 1.0
    assert evaluate(y, s, ln)["n_one_class"] == 1


@pytest.mark.parametrize("rule,theta,op", [("far_normal@0.5[>=]", 0.5, ">="), ("far_normal@0.5[>]", 0.5, ">"),
                                           ("far_all@0.5[>=]", 0.5, ">="), ("far_all@0.3[>]", 0.3, ">")])
def test_far_rules(rule, theta, op):
    rng = np.random.default_rng(11)
    y, s, lengths = random_case(rng, 9, "ties")
    scope = "all" if rule.startswith("far_all") else "normal"
    assert parse_far_rule(rule) == (scope, theta, op)
    got = evaluate(y, s, lengths, far_rule=rule)["far"]
    ref = ref_far(y, s, lengths, scope, theta, op)
    assert (math.isnan(got) and math.isnan(ref)) or got == pytest.approx(ref)
    assert evaluate(y, s, lengths, far_rule=rule, threshold=0.9)["far"] == pytest.approx(
        ref_far(y, s, lengths, scope, 0.9, op), nan_ok=True)


def test_pad01_warns_for_scores_outside_unit_interval():
    with pytest.warns(UserWarning, match="pad01 pads with scores 0 and 1, which are neutral only"):
        evaluate([0, 1, 0, 1], [-2.0, 3.0, 0.5, 0.7], [2, 2], one_class="pad01")


def test_far_unbounded_scores_are_nan_unless_calibrated():
    y, s, ln = [0, 0, 0, 1], [-1.0, 0.7, 0.2, 3.0], [2, 2]
    assert math.isnan(evaluate(y, s, ln)["far"])
    assert evaluate(y, s, ln, scores_calibrated=True)["far"] == 0.5


# ----------------------------------------------------------------------------------------------------------
# errors


def test_error_nan_score_names_video_and_frame():
    with pytest.raises(ScoreError, match=r"video 'b' frame 1: score is nan"):
        evaluate([0, 1, 0, 1], [0.1, 0.2, 0.3, np.nan], [2, 2], videos=["a", "b"])
    with pytest.raises(ScoreError, match=r"video #0 frame 0: score is inf"):
        evaluate([0, 1, 0, 1], [np.inf, 0.2, 0.3, 0.1], [2, 2])
    with pytest.raises(ScoreError, match=r"frame 2: score is -inf"):
        evaluate([0, 1, 0, 1], [0.0, 0.2, -np.inf, 0.1])


def test_error_length_mismatches():
    with pytest.raises(ScoreError, match=r"video 'Abuse028': 1408 scores but 1412 labels"):
        evaluate({"Abuse028": np.zeros(1412)}, {"Abuse028": np.zeros(1408)})
    with pytest.raises(ScoreError, match=r"video #1: 3 scores but 2 labels"):
        evaluate([np.array([0, 1]), np.array([1, 0])], [np.zeros(2), np.zeros(3)])
    with pytest.raises(ScoreError, match=r"5 scores but 4 labels"):
        evaluate([0, 1, 0, 1], np.zeros(5))
    with pytest.raises(ScoreError, match=r"lengths sum to 5 frames over 2 videos but there are 4 labels"):
        evaluate([0, 1, 0, 1], np.zeros(4), [2, 3])
    with pytest.raises(ScoreError, match=r"1 without scores \(b\), 1 without labels \(c\)"):
        evaluate({"a": [0, 1], "b": [1]}, {"a": [0.1, 0.2], "c": [0.3]})
    with pytest.raises(ScoreError, match=r"video 'x': has 0 frames"):
        evaluate([0, 1], [0.1, 0.2], [0, 2], videos=["x", "y"])
    with pytest.raises(ScoreError, match=r"3 video labels but 2 videos"):
        evaluate([0, 1, 0, 1], np.zeros(4), [2, 2], video_labels=[0, 1, 1])


def test_error_single_class_empty_and_bad_labels():
    with pytest.raises(ScoreError, match=r"all 3 frame labels are 0: a single class"):
        evaluate([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ScoreError, match=r"all 2 frame labels are 1"):
        evaluate([1, 1], [0.1, 0.2])
    with pytest.raises(ScoreError, match="no frames to evaluate"):
        evaluate([], [])
    with pytest.raises(ScoreError, match=r"video 'v2' frame 0: label is 2; expected 0 \(normal\) or 1"):
        evaluate([0, 1, 2, 0], np.zeros(4), [2, 2], videos=["v1", "v2"])
    with pytest.raises(ScoreError, match="scores must be real numbers"):
        evaluate([0, 1], np.array(["a", "b"]))


def test_error_bad_options():
    with pytest.raises(ConfigError, match=r"auc_macro_rule: unknown rule 'median'; allowed: pad01, pad_if"):
        evaluate([0, 1], [0.1, 0.2], one_class="median")
    with pytest.raises(ConfigError, match=r"far: unknown rule 'far@0.5'"):
        evaluate([0, 1], [0.1, 0.2], far_rule="far@0.5")
    with pytest.raises(ConfigError, match=r"abnormal_def: unknown value 'x'"):
        evaluate([0, 1], [0.1, 0.2], abnormal_def="x")


# ----------------------------------------------------------------------------------------------------------
# VadCLIP mAP@IoU: a literal transcription of protocols.md 7.2 (set-based IoU, explicit loops)


def ref_loc_map(preds, th, gtsegments, gtlabels, classlist, prop_videos, eval_classes, early_return):
    c_score = []
    for p in preds:
        pp = -np.sort(-p, axis=0)
        c_score.append(np.mean(pp[:int(p.shape[0] / 16), :], axis=0))
    ap = []
    for c in eval_classes:
        segment_predict = []
        for i in prop_videos:
            tmp = preds[i][:, c]
            threshold = np.max(tmp) - (np.max(tmp) - np.min(tmp)) * np.arange(0.6, 0.7, 0.1)[0]
            vid_pred = np.concatenate([np.zeros(1), (tmp > threshold).astype("float32"), np.zeros(1)])
            diff = [vid_pred[k] - vid_pred[k - 1] for k in range(1, len(vid_pred))]
            s = [k for k, d in enumerate(diff) if d == 1]
            e = [k for k, d in enumerate(diff) if d == -1]
            props = [[i, s[j], e[j], float(np.max(tmp[s[j]:e[j]]) + 0.7 * c_score[i][c])]
                     for j in range(len(s)) if e[j] - s[j] >= 2]
            props = sorted(props, key=lambda q: -q[3])
            keep = []
            for q in props:  # greedy NMS: suppressed when IoU > 0.6 with a kept proposal
                if all(max(0, min(q[2], k[2]) - max(q[1], k[1])) / ((q[2] - q[1]) + (k[2] - k[1])
                       - max(0, min(q[2], k[2]) - max(q[1], k[1]))) <= 0.6 for k in keep):
                    keep.append(q)
            segment_predict += keep
        if not segment_predict:
            if early_return:
                return 0.0
            ap.append(0.0)
            continue
        segment_predict = sorted(segment_predict, key=lambda q: -q[3])
        segment_gt = [[i, gtsegments[i][j][0], gtsegments[i][j][1]] for i in range(len(gtsegments))
                      for j in range(len(gtsegments[i])) if gtlabels[i][j] == classlist[c]]
        gtpos = len(segment_gt)
        tp = []
        for q in segment_predict:
            flag, best, best_j = 0.0, 0.0, None
            for j, g in enumerate(segment_gt):
                if q[0] == g[0]:
                    gs, ps = set(range(int(g[1]), int(g[2]))), set(range(int(q[1]), int(q[2])))
                    iou = len(gs & ps) / len(gs | ps)
                    if iou >= th:
                        flag = 1.0
                        if iou > best:
                            best, best_j = iou, j
            if flag:
                del segment_gt[best_j]
            tp.append(flag)
        tp = np.array(tp)
        tp_c = np.cumsum(tp)
        fp_c = np.cumsum(1 - tp)
        ap.append(0.0 if tp.sum() == 0 else float(np.sum(tp_c / (tp_c + fp_c) * tp) / gtpos))
    return 100 * float(np.mean(ap))


def ref_map(probs, segs, labs, classes, variant, video_labels=None):
    preds = [np.repeat(p, 16, axis=0) for p in probs]
    n = len(preds)
    if variant == "vadclip_code":
        pv, ec, er, gsegs, glabs = list(range(n)), list(range(len(classes))), True, segs, labs
    elif variant == "vadclip_code_excl":
        pv, ec, er = list(range(int(sum(video_labels)))), list(range(len(classes))), True
        gsegs, glabs = segs, labs
    else:
        pv = [i for i in range(n) if video_labels[i]]
        ec, er = list(range(1, len(classes))), False
        gsegs = [segs[i] if video_labels[i] else [] for i in range(n)]
        glabs = [labs[i] if video_labels[i] else [] for i in range(n)]
    vals = [ref_loc_map(preds, th, gsegs, glabs, classes, pv, ec, er) for th in (0.1, 0.2, 0.3, 0.4, 0.5)]
    return vals + [float(np.mean(vals))]


UCF_LIKE = ["Normal", "X"]


def toy_case():
    probs = [np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), np.array([[0.8, 0.2], [0.6, 0.4]])]
    return probs, [[[16, 48]], [[0, 32]]], [["X"], ["A"]]


def test_map_toy_by_hand():
    probs, segs, labs = toy_case()
    # class X: proposals v0 [16,48) (score .8+.7*.8) -> TP, v1 [16,32) -> FP: AP 1. 'Normal' never matches
    # the 'A' label of the normal video: AP 0. mAP = 100 * mean(0, 1) = 50 at every IoU.
    m = map_iou(probs, segs, labs, UCF_LIKE)
    assert [m[f"map_iou@{t}"] for t in (0.1, 0.2, 0.3, 0.4, 0.5)] == [50.0] * 5 and m["map_iou_avg"] == 50.0
    m = map_iou(probs, segs, labs, UCF_LIKE, variant="vadclip_paper", video_labels=[1, 0])
    assert m["map_iou_avg"] == 100.0
    assert map_iou(probs, segs, labs, UCF_LIKE, variant="vadclip_code_excl", video_labels=[1, 0])[
        "map_iou_avg"] == 50.0
    # XD-like: the normal class is named 'A', so the normal video's whole-video GT is found: its proposal
    # [0, 16) against [0, 32) has IoU .5 (TP at every th <= .5); v0's [0, 16) is an FP ranked first.
    m = map_iou(probs, segs, labs, ["A", "X"])
    assert m["map_iou@0.5"] == pytest.approx(100 * (0.5 + 1) / 2)


def test_map_iou_threshold_dependence_by_hand():
    probs = [np.array([[0.1, 0.9], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]])]
    m = map_iou(probs, [[[0, 64]]], [["X"]], ["A", "X"])  # X proposal [0,16) vs GT [0,64): IoU .25
    assert [m[f"map_iou@{t}"] for t in (0.1, 0.2, 0.3, 0.4, 0.5)] == [50.0, 50.0, 0.0, 0.0, 0.0]
    assert m["map_iou_avg"] == pytest.approx(20.0)


def test_map_class_without_proposals_zeroes_the_code_path_with_warning():
    probs = [np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([[0.9, 0.5], [0.1, 0.5]])]  # column X constant
    segs, labs = [[[0, 16]], [[0, 16]]], [["A"], ["A"]]
    with pytest.warns(UserWarning, match=r"class 'X' has no proposals, so mAP@0\.\d is 0"):
        m = map_iou(probs, segs, labs, ["A", "X"])
    assert m["map_iou_avg"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = map_iou(probs, segs, labs, ["A", "X"], variant="vadclip_paper", video_labels=[1, 1],
                    normal_class="X")
    # 'A': video 1's proposal [0,16) matches its GT exactly, video 0 (flat column) has none: AP = 1/2 GT
    assert m["map_iou@0.1"] == 50.0


@pytest.mark.parametrize("variant", ["vadclip_code", "vadclip_code_excl", "vadclip_paper"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_map_matches_literal_reference_on_random_inputs(variant, dtype):
    rng = np.random.default_rng(7 if dtype is np.float32 else 8)
    classes = ["Normal", "B", "C", "D"]
    for _ in range(4):
        n_abn, n_norm = 4, 3
        probs, segs, labs = [], [], []
        for i in range(n_abn + n_norm):
            t = int(rng.integers(2, 9))
            logits = rng.normal(size=(t, len(classes))) * 2
            p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            probs.append(np.round(p, 1).astype(dtype))  # rounding creates ties and flat columns
            if i < n_abn:
                k = int(rng.integers(1, 3))
                st_ = np.sort(rng.integers(0, 16 * t, 2 * k)).reshape(k, 2)
                segs.append([[int(a), int(b) + 5] for a, b in st_])
                labs.append([classes[int(rng.integers(1, len(classes)))] for _ in range(k)])
            else:
                segs.append([[0, 16 * t]])
                labs.append(["A"])
        vl = [1] * n_abn + [0] * n_norm
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = map_iou(probs, segs, labs, classes, variant=variant, video_labels=vl)
        ref = ref_map(probs, segs, labs, classes, variant, vl)
        values = [got[f"map_iou@{t}"] for t in (0.1, 0.2, 0.3, 0.4, 0.5)] + [got["map_iou_avg"]]
        assert values == pytest.approx(ref)


def test_map_errors():
    probs, segs, labs = toy_case()
    with pytest.raises(ScoreError, match=r"video #0: probabilities of shape \(3, 2\); expected \(T, 3\)"):
        map_iou(probs, segs, labs, ["Normal", "X", "Y"])
    with pytest.raises(ScoreError, match="needs video_labels"):
        map_iou(probs, segs, labs, UCF_LIKE, variant="vadclip_paper")
    with pytest.raises(ConfigError, match=r"map: unknown variant 'paper'; allowed: vadclip_code"):
        map_iou(probs, segs, labs, UCF_LIKE, variant="paper")
    with pytest.raises(ScoreError, match=r"2 probability arrays, 1 segment lists"):
        map_iou(probs, segs[:1], labs, UCF_LIKE)


# ----------------------------------------------------------------------------------------------------------
# anticipation labels (protocols.md 9)


def test_anticipation_by_hand():
    g = [0, 0, 0, 1, 1, 0, 0]
    y, keep = anticipation_labels(g, 2.0, 1)  # h = 2
    assert y.tolist()[:5] == [0, 1, 1, 1, 0] and keep.tolist() == [True] * 5 + [False] * 2
    y, keep = anticipation_labels(g, 2.0, 1, keep_current=False)
    assert keep.tolist() == [True, True, True, False, False, False, False]
    y, _ = anticipation_labels(g, 1.0, 1, include_current=True)
    assert y.tolist()[:6] == [0, 0, 1, 1, 1, 0]


def test_anticipation_literal_definition_and_lengths():
    rng = np.random.default_rng(2)
    g = (rng.random(300) < 0.3).astype(int)
    lengths = [120, 100, 80]
    for alpha in (0.5, 1.0, 1.5):
        h = horizon_frames(alpha, 25)
        y, keep = anticipation_labels(g, alpha, 25, lengths=lengths)
        off = 0
        for n in lengths:
            gv = g[off:off + n]
            for t in range(n):  # 1-based t' = t + 1: y = max(g_{t'+1} .. g_{t'+h}), defined for t' <= n - h
                assert keep[off + t] == (t < n - h)
                if t < n - h:
                    assert y[off + t] == max(gv[t + 1:t + 1 + h])
            off += n


def test_horizon_rounding_and_errors():
    assert [horizon_frames(a, 25) for a in (0.5, 1.0, 1.5, 2.5)] == [13, 25, 38, 63]
    assert horizon_frames(0.5, 25, "floor") == 12 and horizon_frames(0.5, 25, "ceil") == 13
    with pytest.raises(ConfigError, match=r"horizon_rounding: unknown rule 'round'"):
        horizon_frames(1, 25, "round")
    with pytest.raises(ConfigError, match="rounds to 0"):
        horizon_frames(0.01, 25)
    with pytest.raises(ScoreError, match="ground truth must be 0/1"):
        anticipation_labels([0, 2], 1, 1)
