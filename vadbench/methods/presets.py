"""Method presets: the ``metafile.yaml`` shipped beside each method's code (OpenMMLab-style metafile),
read by ``yaml.safe_load``.

Where: ``<package of the method class>/metafile.yaml`` (``vadbench/methods/vadclip/metafile.yaml``; a plugin
ships its own beside its Method class), so an installed wheel and entry-point plugins find it. A source
checkout's ``methods/<name>/metafile.yaml`` is read only as a fallback (older layout).

Format (one file per method; defaults live in the method's ``Config``, presets hold only differences)::

    Collections: [{Name, Paper: {Title, URL, Venue}, Code: {URL, Commit}}]
    Datasets:
      <dataset>:
        default_preset: <name> | null
        presets:
          <name>:
            config: {...}                   # only the options that differ from the Config defaults
            protocol: <section-13 preset name or protocol string>
            protocol_overrides: {...}       # optional
            inputs: {features: {...}, clips: {...}, tracks: {...}}   # input options of the method's kind
            dataset: {...}                  # dataset keyword arguments (e.g. the synthetic size)
            seed: <int>
            notes: <text>
        results: [{metric, value, branch, source, notes}]   # published numbers (percent, as papers)

Example:
    >>> p = load_preset("vadclip", "synthetic", "tiny")
    >>> p["config"]["clip_model"], p["preset"], p["inputs"]["features"]["backbone"]
    ('tiny', 'tiny', 'tiny')
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

from vadbench.errors import ConfigError, DataError

METAFILE = "metafile.yaml"


def _method_class(method: str | type) -> type | None:
    if not isinstance(method, str):
        return method
    from vadbench.registry import METHODS

    try:
        return METHODS.get(method)
    except ConfigError:
        return None


def method_package_dir(method: str | type) -> Path | None:
    """The folder of the package that holds a method's class (where its metafile and card live)."""
    cls = _method_class(method)
    if cls is None:
        return None
    module = importlib.import_module(cls.__module__)
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None


def metafile_path(method: str | type) -> Path:
    """The metafile of a method: beside its class (package data), else the checkout's ``methods/<name>/``."""
    from vadbench.paths import card_dir

    folder = method_package_dir(method)
    if folder is not None and (folder / METAFILE).is_file():
        return folder / METAFILE
    name = method if isinstance(method, str) else getattr(method, "name", str(method))
    legacy = card_dir("methods", name) / METAFILE
    if legacy.is_file() or folder is None:
        return legacy
    return folder / METAFILE


def card_path(method: str | type) -> Path:
    """The method card ``README.md`` (beside the metafile)."""
    return metafile_path(method).with_name("README.md")


def load_metafile(method: str | type) -> dict[str, Any]:
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
    if "Defaults" in data:
        raise DataError(
            f"{path}: a 'Defaults' section is no longer read; defaults live in the method's Config"
        )
    return data


def method_defaults(method: str | type) -> dict[str, Any]:
    """Every option of the method with its code default (from the method's ``Config``).

    >>> method_defaults("vadclip")["epochs"]
    10
    """
    from vadbench.methods.base import config_dict

    cls = _method_class(method)
    if cls is None:
        raise ConfigError(f"unknown method {method!r}")
    return config_dict(cls.Config())


def preset_names(method: str | type, dataset: str) -> list[str]:
    """Names of the presets of ``method`` on ``dataset`` (empty when the dataset has none)."""
    entry = load_metafile(method)["Datasets"].get(dataset) or {}
    return sorted((entry.get("presets") or {}).keys())


#: Input sections a preset may hold (under ``inputs:``, or at its top level).
INPUT_SECTIONS = ("features", "clips", "tracks", "frames")


def load_preset(method: str | type, dataset: str, preset: str | None = None) -> dict[str, Any]:
    """The preset of ``method`` on ``dataset`` (``preset=None``: the dataset's ``default_preset``).

    Returns ``{"config" (differences from the Config defaults), "protocol", "protocol_overrides", "inputs"
    ({kind: options}), "dataset", "seed", "notes", "train_dataset" (cross-domain training, else None),
    "preset", "results"}``.
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
    inputs = dict(body.get("inputs") or {})
    for kind in INPUT_SECTIONS:
        if body.get(kind):
            inputs[kind] = {**dict(body[kind]), **dict(inputs.get(kind) or {})}
    unknown = sorted(set(inputs) - set(INPUT_SECTIONS))
    if unknown:
        raise DataError(
            f"{metafile_path(method)}: preset {name!r} has unknown input section(s) {unknown}; "
            f"known: {', '.join(INPUT_SECTIONS)}"
        )
    return {
        "config": dict(body.get("config") or {}),
        "protocol": body.get("protocol"),
        "protocol_overrides": body.get("protocol_overrides") or {},
        "inputs": inputs,
        "dataset": body.get("dataset") or {},
        "seed": int(body.get("seed", 0)),
        "notes": body.get("notes", ""),
        "train_dataset": body.get("train_dataset"),
        "preset": name,
        "results": copy.deepcopy(entry.get("results") or []),
    }
