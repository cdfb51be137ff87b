"""Method presets: ``methods/<method>/metafile.yaml`` (OpenMMLab-style metafile), read by ``yaml.safe_load``.

Format (one file per method)::

    Collections: [{Name, Paper: {Title, URL, Venue}, Code: {URL, Commit}}]
    Defaults: {option: value, ...}          # the method's code defaults (every option, once)
    Datasets:
      <dataset>:
        default_preset: <name>
        presets:
          <name>:
            config: {...}                   # full method config (every key of Defaults)
            protocol: <section-13 preset name>
            protocol_overrides: {...}       # optional
            features: {...}                 # FeatureSpec fields (input_kind == features)
            dataset: {...}                  # dataset keyword arguments (e.g. the synthetic size)
            seed: <int>
            notes: <text>
        results: [{metric, value, branch, source, notes}]   # published numbers (percent, as papers)

Example:
    >>> p = load_preset("vadclip", "synthetic", "tiny")
    >>> p["config"]["clip_model"], p["preset"]
    ('tiny', 'tiny')
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from vadbench.errors import ConfigError, DataError


def metafile_path(method: str) -> Path:
    """``methods/<method>/metafile.yaml`` of the checkout (via :func:`vadbench.paths.card_dir`)."""
    from vadbench.paths import card_dir

    return card_dir("methods", method) / "metafile.yaml"


def load_metafile(method: str) -> dict[str, Any]:
    """The parsed metafile of ``method``; errors name the file and what is wrong."""
    import yaml

    path = metafile_path(method)
    if not path.is_file():
        raise DataError(f"no metafile for method {method!r}: expected {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise DataError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("Datasets"), dict):
        raise DataError(f"{path}: expected a mapping with a 'Datasets' section")
    return data


def method_defaults(method: str) -> dict[str, Any]:
    """The ``Defaults`` section (every option of the method with its code default)."""
    data = load_metafile(method)
    defaults = data.get("Defaults")
    if not isinstance(defaults, dict):
        raise DataError(f"{metafile_path(method)}: missing 'Defaults' mapping")
    return copy.deepcopy(defaults)


def preset_names(method: str, dataset: str) -> list[str]:
    """Names of the presets of ``method`` on ``dataset`` (empty when the dataset has none)."""
    entry = load_metafile(method)["Datasets"].get(dataset) or {}
    return sorted((entry.get("presets") or {}).keys())


def load_preset(method: str, dataset: str, preset: str | None = None) -> dict[str, Any]:
    """The preset of ``method`` on ``dataset`` (``preset=None``: the dataset's ``default_preset``).

    Returns ``{"config", "protocol", "protocol_overrides", "features", "dataset", "seed", "notes",
    "preset", "results"}``; ``config`` is the full method config (Defaults overlaid by the preset).
    """
    data = load_metafile(method)
    datasets = data["Datasets"]
    if dataset not in datasets:
        raise ConfigError(
            f"method {method!r} has no preset for dataset {dataset!r} in {metafile_path(method)}; "
            f"datasets with presets: {', '.join(sorted(datasets))}"
        )
    entry = datasets[dataset] or {}
    presets = entry.get("presets") or {}
    name = preset if preset is not None else entry.get("default_preset")
    if name not in presets:
        raise ConfigError(
            f"unknown preset {name!r} of method {method!r} on {dataset!r}; "
            f"known: {', '.join(sorted(presets)) or '(none)'}"
        )
    body = copy.deepcopy(presets[name] or {})
    config = dict(data.get("Defaults") or {})
    config.update(body.get("config") or {})
    return {
        "config": config,
        "protocol": body.get("protocol"),
        "protocol_overrides": body.get("protocol_overrides") or {},
        "features": body.get("features") or {},
        "tracks": body.get("tracks") or {},
        "dataset": body.get("dataset") or {},
        "seed": int(body.get("seed", 0)),
        "notes": body.get("notes", ""),
        "preset": name,
        "results": copy.deepcopy(entry.get("results") or []),
    }
