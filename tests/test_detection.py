"""mAP@IoU from typed event segments (vadbench.detection), as the runner computes it for VadCLIP."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vadbench.detection import detection_metrics, typed_segments


class _Synth:
    def anomaly_types(self):
        return pd.DataFrame({"video": ["a", "a", "b"], "type": ["runner", "wrong_way", "vehicle"],
                             "start": [0, 32, 16], "end": [16, 48, 48]})


CLASSES = ("normal", "vehicle", "runner", "wrong way")


def _probs(hit: bool) -> dict[str, np.ndarray]:
    def one_hot(cols):
        p = np.full((len(cols), 4), 0.02)
        p[np.arange(len(cols)), cols] = 0.94
        return p

    good = {"a": one_hot([2, 0, 3]), "b": one_hot([0, 1, 1]), "n": one_hot([0, 0])}
    if hit:
        return good
    return {"a": one_hot([1, 1, 1]), "b": one_hot([3, 2, 0]), "n": one_hot([2, 3])}


def test_typed_segments_and_map():
    segs = typed_segments(_Synth())
    assert segs == {"a": [(0, 16, "runner"), (32, 48, "wrong_way")], "b": [(16, 48, "vehicle")]}
    labels = {"a": 1, "b": 1, "n": 0}
    good = detection_metrics(_Synth(), {"probs": _probs(True)}, ["a", "b", "n"], labels, CLASSES,
                             variant="vadclip_paper")
    bad = detection_metrics(_Synth(), {"probs": _probs(False)}, ["a", "b", "n"], labels, CLASSES,
                            variant="vadclip_paper")
    assert good["map_iou@0.5"] == 1.0 and bad["map_iou_avg"] < good["map_iou_avg"]


def test_no_metric_without_classes_segments_or_probabilities():
    labels = {"a": 1, "b": 1, "n": 0}
    probs = {"probs": _probs(True)}
    assert detection_metrics(_Synth(), probs, ["a", "b", "n"], labels, None) == {}
    assert detection_metrics(object(), probs, ["a", "b", "n"], labels, CLASSES) == {}
    assert detection_metrics(_Synth(), probs, ["a", "b", "n"], labels, CLASSES[:3] + ("fighting",)) == {}
    scores_only = {"c": {v: p[:, 0] for v, p in _probs(True).items()}}
    assert detection_metrics(_Synth(), scores_only, ["a", "b", "n"], labels, CLASSES) == {}
