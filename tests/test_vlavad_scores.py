"""VLAVAD's SPA selection, static score, temporal score, frame max and fusion on hand-made tables."""

from __future__ import annotations

import numpy as np
import pytest

from vadbench.errors import ConfigError, DataError
from vadbench.methods.vlavad.scores import (
    AnswerTable,
    f_topk,
    frame_max,
    fuse,
    spa_rank,
    static_scores,
    temporal_errors,
)

# Q_pose: one dominant answer (top-1 = 5/10) and a long tail; Q_act: two equal answers (top-2 = 8/10).
TABLE = AnswerTable.count({
    "Q_pose": ["standing"] * 5 + ["sitting", "bending", "kneeling", "crouching", "lying"],
    "Q_act": ["walking"] * 4 + ["talking"] * 4 + ["waving"] * 2,
    "Q_look": [f"person {i}" for i in range(10)],
})


def test_f_topk_and_spa_selection_depend_on_k():
    assert f_topk(TABLE.counts["Q_pose"], 10, 1) == pytest.approx(0.5)
    assert f_topk(TABLE.counts["Q_act"], 10, 2) == pytest.approx(0.8)
    assert f_topk(TABLE.counts["Q_act"], 10, 10) == pytest.approx(1.0)
    assert [q for q, _ in spa_rank(TABLE, k=1)] == ["Q_pose", "Q_act", "Q_look"]
    assert [q for q, _ in spa_rank(TABLE, k=2)] == ["Q_act", "Q_pose", "Q_look"]
    # ties keep the pool order: with k >= every table's size each F_topk is 1
    assert [q for q, _ in spa_rank(TABLE, k=10)] == ["Q_pose", "Q_act", "Q_look"]


def test_static_score_rules_on_seen_and_unseen_answers():
    c, n = TABLE.counts["Q_act"], TABLE.n["Q_act"]
    answers = ["walking", "waving", "fighting"]  # counts 4, 2, unseen
    np.testing.assert_allclose(static_scores(answers, c, n), [1 / 5, 1 / 3, 1.0])
    np.testing.assert_allclose(static_scores(answers, c, n, floor="zero_is_one"), [1 / 4, 1 / 2, 1.0])
    np.testing.assert_allclose(static_scores(answers, c, n, frequency="relative"),
                               [1 / 1.4, 1 / 1.2, 1.0])
    np.testing.assert_allclose(static_scores(answers, c, n, floor="zero_is_one", frequency="relative"),
                               [10 / 4, 10 / 2, 10.0])
    # every rule ranks rarer answers higher and unseen highest
    for floor in ("plus_one", "zero_is_one"):
        for freq in ("count", "relative"):
            s = static_scores(answers, c, n, floor=floor, frequency=freq)
            assert s[0] < s[1] < s[2]


def test_errors_on_empty_tables_and_bad_options():
    with pytest.raises(DataError, match="answer table is empty"):
        static_scores(["a"], {}, 0)
    with pytest.raises(DataError, match="answer table is empty"):
        spa_rank(AnswerTable.count({"Q": []}))
    with pytest.raises(DataError, match="no question"):
        spa_rank(AnswerTable())
    with pytest.raises(ConfigError, match="static_floor"):
        static_scores(["a"], {"a": 1}, 1, floor="plus_two")
    with pytest.raises(ConfigError, match="spa_k"):
        spa_rank(TABLE, k=0)


def test_table_json_round_trip():
    again = AnswerTable.from_json(TABLE.to_json())
    assert again == TABLE


def test_temporal_errors_first_and_all_horizons():
    e = np.eye(4)[[0, 1, 2, 3, 0]]  # 5 steps, one-hot
    pred = np.zeros((3, 2, 4))  # predictions from t = 2, 3, 4
    pred[0, 0] = e[2]  # perfect first step at t = 2
    first = temporal_errors(e, pred, 2)
    np.testing.assert_allclose(first, [0, 0, 0, 1, 1])
    both = temporal_errors(e, pred, 2, horizon="all")
    # t=2: steps 2,3 -> (0 + 1)/2; t=3: steps 3,4 -> 1; t=4: only step 4 exists -> 1
    np.testing.assert_allclose(both, [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(temporal_errors(e[:2], np.zeros((0, 2, 4)), 2), [0, 0])


def test_frame_max_fusion_and_empty_frames():
    objs = [(np.array([1, 2, 3]), np.array([0.1, 0.5, 0.2])), (np.array([2, 3]), np.array([0.3, 0.9]))]
    np.testing.assert_allclose(frame_max(6, objs), [0, 0.1, 0.5, 0.9, 0, 0])
    np.testing.assert_allclose(frame_max(6, objs, empty=-1.0), [-1, 0.1, 0.5, 0.9, -1, -1])
    np.testing.assert_allclose(fuse(np.array([1.0, 0.5]), np.array([2.0, 10.0]), 0.1), [1.2, 1.5])
    with pytest.raises(DataError, match="reaches frame 9 of a video with 6 frames"):
        frame_max(6, [(np.array([9]), np.array([1.0]))])


def test_spa_degenerate_when_k_covers_every_vocabulary():
    from vadbench.methods.vlavad.scores import spa_degenerate

    assert spa_degenerate(TABLE, 10)  # 6, 3 and 10 distinct answers: every F_top10 is 1
    assert not spa_degenerate(TABLE, 9)  # Q_look has 10 distinct answers
    assert not spa_degenerate(AnswerTable.count({"Q": ["a"]}), 10)  # one question: nothing to choose
