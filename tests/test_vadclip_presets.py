"""vadbench/methods/vadclip/metafile.yaml: every preset holds only differences from the code defaults and
gives a valid config; published numbers match."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vadbench.errors import ConfigError
from vadbench.methods.presets import load_metafile, load_preset, method_defaults, preset_names
from vadbench.methods.vadclip.method import resolve_config

ROOT = Path(__file__).resolve().parent.parent


def _presets():
    data = load_metafile("vadclip")["Datasets"]
    return [(ds, name) for ds, entry in data.items() for name in (entry.get("presets") or {})]


@pytest.mark.parametrize("dataset, preset", _presets())
def test_every_preset_is_a_full_valid_config(dataset, preset):
    raw = load_metafile("vadclip")["Datasets"][dataset]["presets"][preset]
    defaults = method_defaults("vadclip")
    same = sorted(k for k, v in (raw["config"] or {}).items() if defaults[k] == v)
    assert not same, f"presets hold only differences from the code defaults; same as default: {same}"
    p = load_preset("vadclip", dataset, preset)
    cfg = resolve_config(p["config"])
    features = p["inputs"]["features"]
    assert p["protocol"] and features["backbone"] in ("ViT-B-16", "tiny")
    assert cfg["checkpoint_selection"] == "none"  # never select on test by default
    assert (features["backbone"] == "tiny") == (cfg["clip_model"] == "tiny")


def test_dataset_presets_follow_the_code():
    ucf = resolve_config(load_preset("vadclip", "ucf-crime")["config"])
    xd = resolve_config(load_preset("vadclip", "xd-violence")["config"])
    assert (ucf["loop"], ucf["layers"], ucf["window"], ucf["milestones"], ucf["lambda_cts"]) == (
        "ucf",
        2,
        8,
        [4, 8],
        0.1,
    )
    assert (xd["loop"], xd["layers"], xd["window"], xd["milestones"], xd["lambda_cts"]) == (
        "xd",
        1,
        64,
        [3, 6, 10],
        1e-4,
    )
    assert ucf["lr_by_source"] == {"code": 2e-5, "paper": 1e-5} and xd["lr_by_source"] == {
        "code": 1e-5,
        "paper": 2e-5,
    }
    assert (ucf["published_branch"], xd["published_branch"]) == ("c", "a")
    assert load_preset("vadclip", "ucf-crime")["seed"] == 234
    assert load_preset("vadclip", "synthetic")["preset"] == "small"
    assert preset_names("vadclip", "synthetic") == ["small", "tiny"]


def test_published_numbers_match_the_leaderboard():
    rows = list(csv.DictReader((ROOT / "leaderboards" / "published.csv").open()))
    published = {(r["dataset"], r["metric"]): float(r["value"]) for r in rows if r["method"] == "vadclip"}
    ours = {
        (ds, res["metric"]): float(res["value"])
        for ds, entry in load_metafile("vadclip")["Datasets"].items()
        for res in entry.get("results") or []
    }
    assert ours == published


def test_preset_errors():
    with pytest.raises(ConfigError, match="no preset for dataset 'avenue'.*datasets with presets"):
        load_preset("vadclip", "avenue")
    with pytest.raises(ConfigError, match="unknown preset 'huge'.*known: small, tiny"):
        load_preset("vadclip", "synthetic", "huge")
    from vadbench.errors import DataError

    with pytest.raises(DataError, match="no metafile for method 'nope'"):
        load_preset("nope", "synthetic")


def test_metafiles_ship_inside_the_package_and_plugins_bring_their_own(tmp_path, monkeypatch):
    """The metafile is package data beside the method's code (found from an installed wheel); a plugin's
    Method class finds the metafile beside its own module."""
    import sys
    import textwrap

    import vadbench
    from vadbench.methods.presets import metafile_path

    assert Path(vadbench.__file__).parent in metafile_path("vadclip").parents
    assert "methods/*/metafile.yaml" in (ROOT / "pyproject.toml").read_text()
    pkg = tmp_path / "myplugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from vadbench.methods.base import Method

        class Mine(Method):
            name, supervision, input_kind, unit, fidelity = "mine", "semi", "frames", "frame", "paper"
            def fit(self, samples):
                return self
            def score(self, sample):
                return [0.0] * sample.n_frames
    '''))
    (pkg / "metafile.yaml").write_text(
        "Datasets:\n  ped2:\n    default_preset: a\n    presets:\n      a: {seed: 3}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from myplugin import Mine

    assert metafile_path(Mine) == pkg / "metafile.yaml"
    assert load_preset(Mine, "ped2")["seed"] == 3
    sys.modules.pop("myplugin", None)
