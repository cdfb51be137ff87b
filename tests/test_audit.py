"""The dataset audit: content-free probes on real annotation files (realdata) and the CLI.

The real-data numbers are the ones printed in the dataset cards (``datasets/<name>/README.md``, section
"Audit"); ``python -m tests.test_audit`` prints them (reads ``../shared/realdata``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.data import write_lengths_csv
from vadbench.audit import PROBES, audit_labels, format_audit, onsets, probe_aucs
from vadbench.registry import DATASETS


def test_probes_on_toy_labels():
    labels = {"a": np.r_[np.zeros(6), np.ones(4)], "b": np.r_[np.ones(3), np.zeros(7)]}
    aucs = probe_aucs(labels)
    assert set(aucs) == set(PROBES)
    assert aucs["length"] != aucs["length"] or abs(aucs["length"] - 0.5) < 1e-9  # equal lengths: a tie
    rel, at_start = onsets(labels)
    np.testing.assert_allclose(rel, [0.6])
    assert at_start == 1
    r = audit_labels(labels)
    assert r["abnormal_share"] == 0.35 and r["videos"] == 2 and sum(r["onset_histogram"]) == 1
    text = format_audit({"toy": r})
    assert all(len(line) <= 80 for line in text.splitlines())


def test_cli_audit_synthetic():
    from typer.testing import CliRunner

    from vadbench.cli import app

    res = CliRunner().invoke(app, ["datasets", "audit", "--dataset", "synthetic", "--preset", "tiny",
                                   "--seeds", "0"])
    assert res.exit_code == 0, res.output
    assert "tiny s0 semi" in res.output and "tiny s0 weak" in res.output
    assert all(len(line) <= 80 for line in res.output.splitlines())


# ------------------------------------------------------------------------------------------- real data


def _table(realdata: Path, name: str) -> list[dict[str, str]]:
    with open(realdata / "tables" / name, newline="") as fh:
        return list(csv.DictReader(fh))


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(src)


def real_label_sets(realdata: Path, tmp: Path) -> dict[str, dict[str, np.ndarray]]:
    """Test labels of every real dataset from its annotation files alone (as tests/test_gt_conformance)."""
    out = {}
    ucf = tmp / "ucf"
    src = realdata / "ucf_crime"
    _link(src / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
          ucf / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt")
    for name in ("Anomaly_Train.txt", "Anomaly_Test.txt"):
        _link(src / name, ucf / "Anomaly_Detection_splits" / name)
    rows = _table(realdata, "ucf_crime_test_videos.csv")
    write_lengths_csv(ucf / "n.csv", {r["video"]: int(r["n_frames"]) for r in rows})
    write_lengths_csv(ucf / "T.csv", {r["video"]: int(r["T_deepmil_i3d"]) for r in rows}, "T")
    ds = DATASETS.get("ucf-crime")(ucf, frame_counts=ucf / "n.csv", feature_lengths=ucf / "T.csv")
    out["ucf-crime test/rtfm"] = ds.frame_labels("rtfm")
    out["ucf-crime test/deepmil"] = ds.frame_labels("deepmil")
    xd = tmp / "xd"
    _link(realdata / "xd_violence" / "annotations.txt", xd / "annotations.txt")
    rows = _table(realdata, "xd_violence_test_videos.csv")
    write_lengths_csv(xd / "T.csv", {r["video"]: int(r["T_i3d"]) for r in rows}, "T")
    out["xd-violence test/xdviodet"] = DATASETS.get("xd-violence")(
        xd, feature_lengths=xd / "T.csv").frame_labels("xdviodet")
    sht = tmp / "sht"
    src = realdata / "shanghaitech"
    _link(src / "test_frame_mask", sht / "testing" / "test_frame_mask")
    for name in ("SH_Train.txt", "SH_Test.txt"):
        _link(src / "weakly_split_zhong2019" / name, sht / name)
    rows = _table(realdata, "shanghaitech_weak_test_videos.csv")
    write_lengths_csv(sht / "T.csv", {r["video"]: int(r["gt_len(16*T)"]) // 16 for r in rows
                                      if r["label"] == "0"}, "T")
    ds = DATASETS.get("shanghaitech")(sht, feature_lengths=sht / "T.csv")
    out["shanghaitech semi/official"] = ds.frame_labels(split="semi")
    out["shanghaitech weak/rtfm"] = ds.frame_labels(split="weak")
    av = tmp / "avenue"
    _link(realdata / "avenue" / "avenue.mat", av / "avenue.mat")
    _link(realdata / "avenue" / "testing_label_mask", av / "ground_truth_demo" / "testing_label_mask")
    out["avenue test/liu"] = DATASETS.get("avenue")(av).frame_labels("liu")
    ped = tmp / "ped2"
    _link(realdata / "ped2" / "ped2.mat", ped / "ped2.mat")
    rows = _table(realdata, "ped2_test_videos.csv")
    write_lengths_csv(ped / "n.csv", {r["video"]: int(r["n_frames"]) for r in rows})
    out["ped2 test/official"] = DATASETS.get("ped2")(ped, frame_counts=ped / "n.csv").frame_labels()
    return out


#: Measured (micro AUC in %, rounded to 0.1); t/T and -length equal the issue's table, centre differs by up to
#: 0.5 (centre here = -|(i + 0.5) / T - 0.5|). The cards print every probe.
EXPECTED = {
    "ucf-crime test/rtfm": {"t/T": 51.1, "length": 100 - 65.1, "centre": 62.0},
    "xd-violence test/xdviodet": {"t/T": 50.1, "length": 100 - 58.9, "centre": 54.5},
    "shanghaitech semi/official": {"t/T": 56.0, "length": 100 - 58.0, "centre": 76.6},
    "shanghaitech weak/rtfm": {"t/T": 51.3, "length": 100 - 91.8, "centre": 66.8},
    "avenue test/liu": {"t/T": 61.1, "length": 100 - 55.4, "centre": 61.4},
    "ped2 test/official": {"t/T": 74.9, "length": 100 - 63.3, "centre": 66.3},
}


@pytest.mark.realdata
def test_real_datasets_audit_matches_the_cards(realdata: Path, tmp_path: Path) -> None:
    sets = real_label_sets(realdata, tmp_path)
    for name, want in EXPECTED.items():
        aucs = probe_aucs(sets[name])
        for probe, value in want.items():
            assert abs(100 * aucs[probe] - value) < 0.15, (name, probe, 100 * aucs[probe], value)


if __name__ == "__main__":  # python -m tests.test_audit  (prints the card tables)
    import tempfile

    from tests.conftest import REALDATA

    with tempfile.TemporaryDirectory() as d:
        sets = real_label_sets(REALDATA, Path(d))
        print(format_audit({k: audit_labels(v) for k, v in sets.items()}))
