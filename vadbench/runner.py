"""Run one method on one dataset, in stages: plan -> prepare inputs -> fit / resume -> score -> evaluate ->
record.

``run`` is the library form of ``vadbench run``; ``grid`` runs every (method, dataset) pair, in this
process or as submitit jobs. Every run owns a :class:`~vadbench.run_folder.RunFolder` ``runs/<id>/``
(resolved ``config.yaml``, the fitted method, ``scores.npz`` / ``outputs.npz``, ``metrics.json``, plots,
``report.html``) and, when a leaderboard CSV is given, writes one result row
(:func:`vadbench.leaderboard.append_row`). The run id is derived from the resolved config, the data and the
code, so running the same command again resumes: the fitted model and the scores are reused unless
``fresh=True``; a failed run's row names the same run id as its folder (which holds ``error.txt``).

Inputs come from the provider of the method's input kind (:data:`vadbench.inputs.PROVIDERS`); samples carry
the video id, fps, path, scene and (training only) labels; test samples raise on label access. The method's
unit is checked against the protocol when the config is resolved. ``score_outputs`` is the only scoring
call; the protocol is applied once per output.

Methods never see test labels. Test-set checkpoint selection is possible only with ``select_on_test=True``;
the method then gets a callback (:data:`vadbench.methods.base.TestEvaluator`) and the row records
``selection=test``.

Example:
    $ vadbench run --method vadclip --dataset synthetic --preset tiny

    >>> from vadbench.runner import resolve_split_variant
    >>> resolve_split_variant(("semi", "weak"), "weak", "weak")
    'weak'
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.devices import resolve_device
from vadbench.errors import ConfigError, DataError, VadbenchError
from vadbench.protocol import DEFAULT_PROTOCOLS
from vadbench.run_folder import RunFolder, jsonable

__all__ = ["DEFAULT_PROTOCOLS", "RunResult", "resolve_device", "run", "grid", "resolve_config"]

_jsonable = jsonable

#: ``--preset none``: the code defaults and the default protocol, even where a default preset exists.
NO_PRESET = "none"


@dataclass
class RunResult:
    """What :func:`run` returns and :func:`grid` collects; ``status`` is ``ok`` or ``failed`` (``error``)."""

    run_id: str
    run_dir: Path | None
    row: dict[str, Any]
    metrics: dict[str, Any]
    status: str = "ok"
    error: str = ""
    #: Stages reused from an earlier run of the same config (``fit``, ``score``).
    resumed: list[str] = field(default_factory=list)
    #: Whether the row was appended to the results file (a re-run of an identical config that already has
    #: its ok row there is reported, not appended twice).
    appended: bool = True


# -- small helpers --------------------------------------------------------------------------------------


def config_hash(config: Mapping[str, Any]) -> str:
    """A stable 12-hex-digit hash of a resolved config (key order does not matter).

    >>> config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    True
    """
    text = json.dumps(jsonable(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators (data sampling and initialisation)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)


def _log(enabled: bool, message: str) -> None:
    if enabled:
        from vadbench.console import console

        console(stderr=True).print(message)


# -- resolution: method, dataset, preset, protocol, split, inputs ---------------------------------------


def resolve_method(method: str | type) -> type:
    """The Method class for a registered name or alias (or the class itself), checked against the contract."""
    from vadbench.methods.base import check_method_class

    if isinstance(method, str):
        from vadbench.registry import METHODS

        cls = METHODS.get(method)
    else:
        cls = method
    return check_method_class(cls)


def _dataset_name(dataset: Any) -> str:
    if isinstance(dataset, str):
        return dataset
    name = getattr(dataset, "name", None)
    if not isinstance(name, str):
        raise ConfigError(f"dataset {dataset!r} has no name; give a registered name or a Dataset class")
    return name


def load_method_preset(method: str | type, dataset: str, preset: str | None) -> dict[str, Any]:
    """The preset of the method's ``metafile.yaml`` for ``dataset`` (:func:`vadbench.methods.presets.
    load_preset`; ``preset=None`` takes the dataset's default preset). Empty when the method has no metafile
    or no preset for that dataset and none was asked for, or when ``preset="none"`` (:data:`NO_PRESET`): the
    run then uses the code defaults and the dataset's default protocol for the method's unit.
    """
    from vadbench.methods import presets as presets_mod

    if preset == NO_PRESET:
        return {}
    if not presets_mod.metafile_path(method).is_file():
        if preset is not None:
            raise ConfigError(
                f"preset {preset!r} requested but method {method!r} has no metafile "
                f"(expected {presets_mod.metafile_path(method)})"
            )
        return {}
    try:
        data = presets_mod.load_preset(method, dataset, preset)
    except ConfigError:
        if preset is None:
            return {}
        raise
    return dict(data or {})


def method_presets(method: str | type) -> dict[str, list[str]]:
    """Per dataset, the preset names of the method's metafile (empty when there is none).

    >>> "tiny" in method_presets("vadclip").get("synthetic", [])
    True
    """
    from vadbench.methods import presets as presets_mod

    if not presets_mod.metafile_path(method).is_file():
        return {}
    datasets = presets_mod.load_metafile(method)["Datasets"]
    out = {str(ds): presets_mod.preset_names(method, ds) for ds in datasets}
    return {ds: names for ds, names in out.items() if names}


def default_protocol_name(dataset: str, supervision: str) -> str:
    """The section-13 preset a dataset uses by default for a method of this supervision (before the unit
    adaptation of :func:`vadbench.protocol.default_protocol`).

    >>> default_protocol_name("synthetic", "weak"), default_protocol_name("synthetic", "semi")
    ('sht-weak/rtfm', 'sht-semi/official')
    """
    table = DEFAULT_PROTOCOLS.get(dataset)
    if table is None:
        raise ConfigError(
            f"no default protocol for dataset {dataset!r}; give one in the method's preset "
            f"(known: {', '.join(sorted(DEFAULT_PROTOCOLS))})"
        )
    return table.get(supervision, table["*"])


def resolve_protocol(spec: str, overrides: Mapping[str, Any] | None = None) -> Any:
    """A :class:`vadbench.protocol.Protocol` from a preset name or a protocol string, with field overrides."""
    from vadbench.protocol import Protocol

    try:
        protocol = Protocol.preset(spec)
    except (ConfigError, KeyError, ValueError):
        try:
            protocol = Protocol.from_string(spec)
        except (ConfigError, KeyError, ValueError) as err:
            raise ConfigError(
                f"protocol {spec!r} is neither a named preset ({', '.join(Protocol.presets())}) nor a "
                f"protocol string: {err}"
            ) from None
    if overrides:
        protocol = protocol.replace(**dict(overrides))
    return protocol


def resolve_split_variant(variants: Sequence[str], supervision: str, protocol_split: str | None) -> str:
    """The split variant of a dataset that fits the method's supervision (the one home of this rule).

    Datasets with both ``semi`` and ``weak`` splits (ShanghaiTech, NWPU, synthetic) give ``weak`` to weakly
    supervised methods and ``semi`` to the others (zero-shot methods: the protocol's split); other datasets
    use the protocol's split (``test``).

    >>> resolve_split_variant(("semi", "weak"), "semi", "semi")
    'semi'
    >>> resolve_split_variant(("semi", "weak"), "zero-shot", "weak")
    'weak'
    >>> resolve_split_variant(("test",), "weak", "test")
    'test'
    """
    variants = tuple(variants)
    if {"semi", "weak"} <= set(variants):
        if supervision == "zero-shot" and protocol_split in ("semi", "weak"):
            return str(protocol_split)  # nothing is trained: a zero-shot method runs on either test set
        want = "weak" if supervision == "weak" else "semi"
        if protocol_split in ("semi", "weak") and protocol_split != want:
            raise ConfigError(
                f"a {supervision} method cannot run on the {protocol_split!r} split (the protocol "
                f"asks for split={protocol_split}, the method's supervision needs {want!r})"
            )
        return want
    if protocol_split in variants:
        return str(protocol_split)
    if "test" in variants:
        return "test"
    if not variants:
        raise ConfigError("the dataset declares no split")
    return variants[0]


def _check_crops(protocol: Any, n_crops: int | None) -> Any:
    """Fit the protocol's crop rule to the feature crops: ``meanN`` needs N crops; one crop -> ``crop:0``;
    ``none`` (a frame-level preset) with several crops -> ``meanK`` (recorded in the protocol string)."""
    crops = str(getattr(protocol, "crops", "") or "")
    if n_crops is None:
        return protocol
    if crops == "none":
        return protocol if n_crops == 1 else protocol.replace(crops=f"mean{n_crops}")
    if crops.startswith("crop:"):
        if int(crops.split(":")[1]) >= n_crops:
            raise ConfigError(f"protocol crops={crops} but the features have {n_crops} crop(s)")
        return protocol
    want = int(crops[4:])
    if want == n_crops:
        return protocol
    if n_crops == 1:
        return protocol.replace(crops="crop:0")
    raise ConfigError(
        f"protocol crops={crops} needs {want} crops but the features have {n_crops}; "
        f"extract with the matching crop mode or choose a protocol with crops=crop:<k>"
    )


def check_unit(cls: type, protocol: Any) -> None:
    """The method's unit must be the protocol's (checked at config time; the error names both)."""
    unit = getattr(cls, "unit", "snippet16")
    if protocol.unit != unit:
        raise ConfigError(
            f"method {cls.name!r} returns one score per {unit} (unit={unit}) but the protocol expects "
            f"unit={protocol.unit} ({protocol}); choose a protocol for unit={unit} or leave --protocol out "
            f"to "
            f"use the dataset's default for this unit"
        )


def _feature_tail(dataset: str, gt: str) -> str:
    """The feature tail that fits a ground-truth convention's label length: ``pad`` (T = ceil(n/16)) for
    16·ceil(n/16), mixed and frame-length conventions, ``drop`` (T = floor(n/16)) for 16·T conventions."""
    from vadbench.datasets.conventions import length_rule

    return "drop" if length_rule(dataset, gt) == "16T" else "pad"


def _feature_crops(rule: str) -> str:
    """The crop mode that fits a protocol's crop rule when none is asked for: ``meanN`` -> the mode with N
    crops, ``crop:k`` -> the smallest mode with more than k crops, ``none`` -> ``center``."""
    from vadbench.video.crops import CROP_COUNTS

    by_count = sorted(CROP_COUNTS.items(), key=lambda kv: kv[1])
    if rule.startswith("mean"):
        want = int(rule[4:])
        return next((mode for mode, n in by_count if n == want), "10crop")
    if rule.startswith("crop:"):
        k = int(rule.split(":")[1])
        return next((mode for mode, n in by_count if n > k), "10crop")
    return "center"


def resolve_inputs(
    cls: type,
    ds_name: str,
    proto: Any,
    preset_inputs: Mapping[str, Any],
    changes: Mapping[str, Any],
    method_cfg: Any,
) -> tuple[dict[str, Any], Any]:
    """The resolved options of the method's input kind (what is recorded and hashed) and the protocol fitted
    to them (crop rule; clip window scheme)."""
    from vadbench import inputs as inputs_mod

    kind = cls.input_kind
    defaults = dict(getattr(cls, "default_inputs", lambda cfg: {})(method_cfg).get(kind) or {})
    options = {**defaults, **dict(preset_inputs.get(kind) or {}), **dict(changes)}
    if kind == "features":
        if inputs_mod.is_community(options):
            keep = {k: v for k, v in options.items() if k in inputs_mod.COMMUNITY_KEYS}
            resolved = inputs_mod.community_options(keep)
            return resolved, _check_crops(proto, inputs_mod.community_n_crops(resolved))
        from vadbench.features import FeatureSpec

        options = {k: v for k, v in options.items() if k not in inputs_mod.COMMUNITY_KEYS}
        options.setdefault("tail", _feature_tail(ds_name, proto.gt))
        options.setdefault("crops", _feature_crops(proto.crops))
        import dataclasses

        spec = FeatureSpec.from_dict(options)
        return dataclasses.asdict(spec), _check_crops(proto, spec.n_crops)
    if kind == "clips":
        import dataclasses

        spec = inputs_mod.ClipsSpec.from_dict(options)
        from vadbench.protocol import window_expansion

        win = window_expansion(proto.expand)
        if win is not None and (win[1], win[2]) != (spec.window, spec.stride):
            raise ConfigError(
                f"the protocol expands windows of W={win[1]}, S={win[2]} but the clips are W={spec.window}, "
                f"S={spec.stride}; make them the same"
            )
        return dataclasses.asdict(spec), proto
    if kind == "tracks":
        return inputs_mod.tracks_settings(options), proto
    if options:
        raise ConfigError(f"method {cls.name!r} takes {kind}, which have no options; got {sorted(options)}")
    return {}, proto


def resolve_config(
    method: str | type,
    dataset: Any = "synthetic",
    root: Any = None,
    preset: str | None = None,
    device: str = "auto",
    seed: int | None = None,
    epochs: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    select_on_test: bool = False,
    protocol: str | None = None,
    features: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    train_dataset: str | None = None,
    train_root: Any = None,
    dataset_options: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], type, Any]:
    """The resolved config of a run (everything that changes a number), the method class and the Protocol.

    ``features`` (``--feature``) and ``inputs`` (``{"tracks": {...}, "clips": {...}}`` from ``--tracks`` /
    ``--clips``, per input kind) change the input options; the method's unit is checked against the protocol
    here. ``train_dataset`` / ``train_root`` (or the preset's ``train_dataset``): train on that dataset's
    training videos instead (cross-domain, :mod:`vadbench.cross_domain`); recorded in the config.
    ``dataset_options`` (``--dataset-opt``, e.g. ``{"seed": 1}``: synthetic data seed 1) are dataset keyword
    arguments on top of the preset's ``dataset:`` section; recorded as ``dataset_options`` in the config.
    """
    from vadbench.methods.base import config_dict, validate_config
    from vadbench.protocol import default_protocol, window_expansion

    cls = resolve_method(method)
    ds_name = _dataset_name(dataset)
    data = load_method_preset(cls, ds_name, preset)
    method_config = dict(data.get("config") or {})
    method_config.update(dict(overrides or {}))
    if epochs is not None:
        method_config["epochs"] = int(epochs)
    cfg = validate_config(cls.Config, method_config, cls.name)
    method_config = config_dict(cfg)
    seed = int(seed if seed is not None else data.get("seed", 0))
    kind = cls.input_kind
    sections = {k: dict(v or {}) for k, v in dict(inputs or {}).items()}
    unknown = sorted(set(sections) - {"features", "frames", "clips", "tracks"})
    if unknown:
        raise ConfigError(
            f"unknown input kind(s) {unknown} in the input options; known: features, frames, clips, tracks"
        )
    wrong = sorted(k for k, v in sections.items() if v and k != kind)
    if wrong:
        raise ConfigError(
            f"{', '.join(f'--{k}' for k in wrong)} options given but method {cls.name!r} takes {kind}"
        )
    changes = sections.get(kind, {})
    if features:
        if kind != "features":
            raise ConfigError(
                f"feature options {sorted(features)} given but method {cls.name!r} takes {kind}, not features"
            )
        changes.update(features)
    preset_inputs = dict(data.get("inputs") or {})
    unit = getattr(cls, "unit", "snippet16")
    proto_spec = protocol or data.get("protocol")
    if proto_spec:
        proto = resolve_protocol(str(proto_spec), data.get("protocol_overrides"))
    else:
        clips = None
        if unit == "clip":
            from vadbench.inputs import ClipsSpec

            defaults = dict(getattr(cls, "default_inputs", lambda c: {})(cfg).get("clips") or {})
            c = ClipsSpec.from_dict(
                {**defaults, **dict(preset_inputs.get("clips") or {}), **changes} if kind == "clips" else {}
            )
            clips = (c.window, c.stride)
        proto = default_protocol(ds_name, cls.supervision, unit, clips)
        if data.get("protocol_overrides"):
            proto = proto.replace(**dict(data["protocol_overrides"]))
    if unit == "clip" and kind != "clips" and window_expansion(proto.expand) is None:
        raise ConfigError(f"method {cls.name!r}: unit=clip needs clips inputs or a protocol with window_*")
    check_unit(cls, proto)
    input_options, proto = resolve_inputs(cls, ds_name, proto, preset_inputs, changes, cfg)
    selection = str(method_config.get("checkpoint_selection", "none") or "none")
    if selection != "none" and not select_on_test:
        raise ConfigError(
            f"method option checkpoint_selection={selection!r} chooses a checkpoint on test labels; "
            f"pass --select-on-test to allow it (recorded as selection=test) or set it to 'none'"
        )
    if select_on_test:
        proto = proto.replace(selection="test")
    # a preset may itself carry selection=test (e.g. VadCLIP's test crop chosen on test results)
    config = {
        "method": cls.name,
        "supervision": cls.supervision,
        "input_kind": kind,
        "unit": unit,
        "fidelity": getattr(cls, "fidelity", "code"),
        "dataset": ds_name,
        "dataset_kwargs": {**dict(data.get("dataset") or {}), **dict(dataset_options or {})},
        "root": str(root) if root is not None else None,
        "preset": data.get("preset", None if preset == NO_PRESET else preset),
        "protocol": str(proto),
        "inputs": {kind: input_options},
        "features": input_options if kind == "features" else None,
        "tracks": input_options if kind == "tracks" else None,
        "method_config": method_config,
        "seed": seed,
        "device": resolve_device(device),
        "selection": str(proto.selection),
    }
    if dataset_options:  # only when given: the config hash of every other run stays what it was
        config["dataset_options"] = dict(dataset_options)
    train_name = train_dataset or data.get("train_dataset")
    if train_name:
        if str(train_name) == ds_name:
            raise ConfigError(
                f"train_dataset={train_name!r} is the evaluated dataset itself; cross-domain training needs "
                f"another dataset (leave train_dataset unset to train in-domain)"
            )
        from vadbench.registry import DATASETS

        DATASETS.get(str(train_name))  # an unknown name: one line naming the known ones
        config["train_dataset"] = {
            "dataset": str(train_name),
            "root": str(train_root) if train_root is not None else None,
        }
    elif train_root is not None:
        raise ConfigError("train_root given without train_dataset")
    return jsonable(config), cls, proto


def open_dataset(dataset: Any, root: str | os.PathLike[str] | None, kwargs: Mapping[str, Any]) -> Any:
    """Instantiate the dataset and read its video table; a missing layout raises a :class:`DataError` that
    names the dataset card and suggests ``--dataset synthetic``."""
    from vadbench.paths import card_dir

    name = _dataset_name(dataset)
    ds = None
    try:
        try:
            if isinstance(dataset, str):
                from vadbench.datasets import get_dataset

                ds = get_dataset(dataset, root, **dict(kwargs))
            elif isinstance(dataset, type) or callable(dataset) and not hasattr(dataset, "videos"):
                ds = dataset(root=root, **dict(kwargs))
            else:
                ds = dataset
        except TypeError as err:  # an option the loader does not take (--dataset-opt)
            raise ConfigError(f"dataset {name!r} does not take the options {dict(kwargs)}: {err}") from None
        ds.videos()
    except (DataError, FileNotFoundError) as err:
        problems: list[str] = []
        if ds is not None and hasattr(ds, "check"):
            try:
                problems = [str(p) for p in ds.check()][:10]
            except Exception:  # noqa: BLE001 - check() is advisory here, the original error is what matters
                problems = []
        card = getattr(ds, "card", None) or card_dir("datasets", name) / "README.md"
        detail = "".join(f"\n  - {p}" for p in problems)
        raise DataError(
            f"dataset {name!r} cannot be read: {err}{detail}\nExpected layout: see the dataset card "
            f"{card}. To try vadbench without the data, use --dataset synthetic "
            f"(generated on first use)."
        ) from None
    return ds


def data_fingerprint(ds: Any) -> str:
    """A cheap fingerprint of a dataset's content: its video table (id, subset, frames, label) and, when it
    has one, its manifest (the synthetic generator's version, seed and label hashes). 16 hex digits."""
    table = ds.videos()
    cols = [c for c in ("video", "subset", "n_frames", "label") if c in table.columns]
    text = table[cols].astype(str).to_csv(index=False)
    manifest = getattr(ds, "manifest", None)
    if isinstance(manifest, Mapping):
        text += json.dumps(jsonable(manifest), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_of(ds: Any, config: Mapping[str, Any]) -> str:
    """The row's ``data`` cell: the options of the data actually read (:meth:`Dataset.data_options`, e.g.
    the synthetic seed and preset from the folder's manifest, so ``--root synthetic-tiny-s1`` is recorded
    too) that differ from the default data of the run's preset (the dataset's :attr:`data_defaults` under
    the preset's ``dataset:`` section). Blank = the default data; ``seed=1`` = synthetic data seed 1.

    >>> from types import SimpleNamespace as NS
    >>> ds = NS(data_defaults={"seed": 0, "preset": "tiny"},
    ...         data_options=lambda: {"seed": 1, "preset": "small"})
    >>> data_of(ds, {"dataset_kwargs": {"preset": "small", "seed": 1}, "dataset_options": {"seed": 1}})
    'seed=1'
    """
    from vadbench.leaderboard import data_text

    options = getattr(ds, "data_options", None)
    actual = dict(options()) if callable(options) else {}
    given = dict(config.get("dataset_options") or {})
    preset_kwargs = {k: v for k, v in dict(config.get("dataset_kwargs") or {}).items() if k not in given}
    defaults = {**dict(getattr(ds, "data_defaults", None) or {}), **preset_kwargs}
    return data_text({k: v for k, v in actual.items() if k not in defaults or str(defaults[k]) != str(v)})


def options_of(config: Mapping[str, Any], cls: type | None = None) -> str:
    """The row's ``options`` cell: the method options of a resolved run config that differ from its
    preset's (what ``--set`` changed, e.g. ``scene_condition=false``; ``epochs`` has its own column), as
    :func:`vadbench.leaderboard.options_text`. Blank = the preset as it is. ``cls``: the method class
    (default: resolved from the config's method name).

    >>> cfg = {"method": "knn", "dataset": "synthetic", "preset": "tiny", "method_config": {}}
    >>> cfg["method_config"] = dict(resolve_config("knn", "synthetic", preset="tiny")[0]["method_config"])
    >>> options_of(cfg)
    ''
    >>> options_of({**cfg, "method_config": {**cfg["method_config"], "k": 3}})
    'k=3'
    """
    from vadbench.leaderboard import options_text
    from vadbench.methods.base import config_dict, validate_config

    cls = cls if cls is not None else resolve_method(config["method"])
    preset = config.get("preset")
    data = load_method_preset(cls, str(config["dataset"]), NO_PRESET if preset is None else str(preset))
    base = jsonable(config_dict(validate_config(cls.Config, dict(data.get("config") or {}), cls.name)))
    given = dict(config.get("method_config") or {})
    return options_text({k: v for k, v in given.items() if k != "epochs" and base.get(k) != v})


def run_identity(config: Mapping[str, Any], ds: Any) -> tuple[str, str, dict[str, Any]]:
    """``(run_id, run_key, header)``: the run id covers the config, the data and the code, so a re-run
    resumes only when all three are the same."""
    from vadbench import __version__
    from vadbench.leaderboard import git_commit

    chash = config_hash(config)
    data_fp, code = data_fingerprint(ds), {"vadbench": __version__, "commit": git_commit()}
    run_key = config_hash({"config": chash, "data": data_fp, "code": code})
    run_id = f"{config['method']}-{config['dataset']}-{config['preset'] or 'default'}-{run_key[:8]}"
    header = {"run_id": run_id, "config_hash": chash, "data_fingerprint": data_fp,
              "data": data_of(ds, config), "code": code}
    return run_id, run_key, header


# -- samples, scoring -----------------------------------------------------------------------------------


def build_samples(
    kind: str,
    table: Any,
    videos: Sequence[str],
    inputs: Any,
    *,
    train: bool,
    crops: str | None = None,
) -> dict[str, list[Any]]:
    """Per video, the samples a method receives (one per crop for features). Labels only when ``train``;
    test samples raise on label access (:func:`vadbench.methods.base.unlabelled`)."""
    from vadbench.inputs import make_samples

    return make_samples(kind, table, videos, inputs, train=train, crops=crops)


def load_feature_inputs(
    ds: Any, videos: Sequence[str], spec: Any, device: str, progress: bool = True
) -> dict[str, np.ndarray]:
    """Features ``(T, K, D)`` per video (:func:`vadbench.features.load_features` extracts what is missing)."""
    import dataclasses

    from vadbench.inputs import prepare_features

    return prepare_features(ds, [], videos, dataclasses.asdict(spec), device=device, progress=progress).test


def _stack_crops(arrays: list[np.ndarray]) -> np.ndarray:
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    return arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=1)


def _expected_units(sample: Any, unit: str) -> int | None:
    if unit == "clip" and getattr(sample, "windows", None) is not None:
        return int(len(sample.windows))
    if getattr(sample, "features", None) is not None:
        return int(np.asarray(sample.features).shape[0])
    if unit == "frame" and getattr(sample, "n_frames", 0):
        return int(sample.n_frames)
    return None


def score_videos(
    method: Any, samples: Mapping[str, list[Any]], *, progress: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """Score every test video with ``score_outputs`` (the only scoring call): the headline ``(T,)`` per video
    (``(T, K)`` when several crops are scored; the protocol aggregates crops), and every output per key
    (1-D outputs stacked per crop like the headline, ``(T, C)`` outputs averaged over crops)."""
    headline = getattr(method, "headline", "score")
    unit = getattr(method, "unit", "snippet16")
    scores: dict[str, np.ndarray] = {}
    outputs: dict[str, dict[str, np.ndarray]] = {}
    from vadbench.console import progress as progress_bar

    with progress_bar("score", total=len(samples), enabled=progress) as advance:
        for video, crops in samples.items():
            outs = [dict(method.score_outputs(s)) for s in crops]
            for s, out in zip(crops, outs, strict=True):
                if headline not in out:
                    raise VadbenchError(
                        f"method {method.name!r}: score_outputs of video {video!r} has no headline key "
                        f"{headline!r} (keys: {', '.join(out)})"
                    )
                sc = np.asarray(out[headline])
                want = _expected_units(s, unit)
                if sc.ndim != 1 or not np.all(np.isfinite(sc)) or (want is not None and sc.shape[0] != want):
                    raise VadbenchError(
                        f"method {method.name!r} returned scores of shape {sc.shape} for video {video!r} "
                        f"(crop {getattr(s, 'crop', 0)}); expected a finite ({want or 'T'},) vector, "
                        f"one score per {unit}"
                    )
            for key in outs[0]:
                arrs = [np.asarray(o[key], dtype=np.float64) for o in outs]
                outputs.setdefault(key, {})[video] = (
                    _stack_crops(arrs) if arrs[0].ndim == 1 else np.mean(arrs, axis=0)
                )
            scores[video] = outputs[headline][video]
            advance()
    return scores, outputs


def _evaluate_outputs(
    protocol: Any,
    scores: Mapping[str, np.ndarray],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    labels: Mapping[str, np.ndarray],
    video_labels: Mapping[str, int],
    headline: str,
    n_frames: Mapping[str, int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Protocol metrics of every 1-D output shaped like the headline (the protocol applied once per
    output); ``n_frames``: the frame counts clip scores expand to."""
    from vadbench.protocol import evaluate_protocol

    out: dict[str, dict[str, Any]] = {}
    for key, per_video in outputs.items():
        if set(per_video) != set(scores):
            continue
        if all(
            np.shape(per_video[v]) == np.shape(scores[v])  # (T,) or (T, crops); not (T, C) class outputs
            for v in scores
        ):
            out[key] = dict(
                evaluate_protocol(protocol, per_video, labels, video_labels=video_labels, n_frames=n_frames)
            )
    return out


def frame_counts(samples: Mapping[str, list[Any]]) -> dict[str, int]:
    """Frame count per video of the samples (what ``unit=clip`` window scores expand to)."""
    return {video: int(crops[0].n_frames) for video, crops in samples.items()}


def make_test_evaluator(
    method: Any,
    samples: Mapping[str, list[Any]],
    protocol: Any,
    labels: Mapping[str, np.ndarray],
    video_labels: Mapping[str, int],
) -> Callable[[], dict]:
    """The callback given to a method for explicit test-set selection: scores the test set with the
    method's current state and returns the protocol metrics per output (``score`` = the headline, and each
    1-D ``score_outputs`` key)."""
    headline = getattr(method, "headline", "score")
    n = frame_counts(samples)

    def evaluate() -> dict[str, dict[str, float]]:
        scores, outputs = score_videos(method, samples, progress=False)
        result = _evaluate_outputs(protocol, scores, outputs, labels, video_labels, headline, n)
        plain = {"score": scores}
        result["score"] = (
            result.get(headline)
            or _evaluate_outputs(protocol, scores, plain, labels, video_labels, "score", n)["score"]
        )
        return result

    return evaluate


def check_alignment(
    protocol: Any,
    samples: Mapping[str, list[Any]],
    labels: Mapping[str, np.ndarray],
    spec: Any = None,
    unit: str | None = None,
) -> None:
    """Dry-run the protocol on zero scores of the shape the method will return, before any training, so that
    inputs that cannot fit the ground-truth convention fail in seconds (e.g. features with T = floor(n/16)
    against a 16*ceil(n/16) convention)."""
    from vadbench.errors import ScoreError
    from vadbench.protocol import apply

    dummy: dict[str, np.ndarray] = {}
    for video, crops in samples.items():
        first = crops[0]
        n = _expected_units(first, unit or protocol.unit)
        if n is None:
            n = int(first.n_frames)
        dummy[video] = np.zeros(n) if len(crops) == 1 else np.zeros((n, len(crops)))
    try:
        apply(protocol, dummy, labels, frame_counts(samples))
    except ScoreError as err:
        hint = ""
        if spec is not None:
            hint = (
                f" The features (crops={spec.crops}, snippet={spec.snippet}, tail={spec.tail})"
                f" give T snippets per video; convention gt={protocol.gt} expects another length: choose the"
                " feature tail that matches it (e.g. --feature tail=pad for 16*ceil(n/16) conventions)."
            )
        raise ConfigError(
            f"the inputs do not fit the protocol (checked before training): {err}.{hint}"
        ) from None


# -- per-type AUC ---------------------------------------------------------------------------------------


def anomaly_types(ds: Any) -> dict[str, tuple[str, ...]]:
    """Per abnormal video, its anomaly types, when the dataset records them (``anomaly_types()`` or the
    synthetic dataset's ``annotations/anomaly_types.csv``); empty otherwise."""
    getter = getattr(ds, "anomaly_types", None)
    if callable(getter):
        raw = getter()
    else:
        root = getattr(ds, "root", None)
        path = Path(root) / "annotations" / "anomaly_types.csv" if root is not None else None
        if path is None or not path.is_file():
            return {}
        import pandas as pd

        raw = pd.read_csv(path)
    if hasattr(raw, "columns"):  # a DataFrame: one row per (video, type) or per event
        col = next((c for c in ("type", "anomaly_type", "kind") if c in raw.columns), None)
        if col is None or "video" not in raw.columns:
            return {}
        out: dict[str, set[str]] = {}
        for video, kind in zip(raw["video"].astype(str), raw[col].astype(str), strict=True):
            out.setdefault(video, set()).add(kind)
        return {v: tuple(sorted(k)) for v, k in out.items()}
    return {str(v): tuple([k] if isinstance(k, str) else sorted(k)) for v, k in dict(raw).items()}


def per_type_auc(
    ds: Any, aligned: Any, labels: Mapping[str, np.ndarray], video_labels: Mapping[str, int]
) -> dict[str, dict[str, Any]]:
    """Micro AUC per anomaly type, against all normal frames, when the dataset records types.

    With the dataset's ``type_masks(labels)`` (synthetic: frame-exact, per event) a type's AUC uses the
    normal frames plus the frames of that type's events; otherwise the frames of the videos of that type plus
    the normal test videos. Empty when the dataset records no type.
    """
    from vadbench.metrics import evaluate

    types = anomaly_types(ds)
    if not types:
        return {}
    videos = list(aligned.videos)
    y_all, s_all = np.asarray(aligned.labels), np.asarray(aligned.scores)
    bounds = np.concatenate([[0], np.cumsum(aligned.lengths)])
    same_lengths = all(len(labels[v]) == int(n) for v, n in zip(videos, aligned.lengths, strict=True))
    masks = ds.type_masks(labels) if callable(getattr(ds, "type_masks", None)) and same_lengths else None
    out: dict[str, dict[str, Any]] = {}
    for kind in sorted({t for v in videos for t in types.get(v, ())}):
        if masks is not None and kind in masks:
            keep = np.concatenate([np.asarray(masks[kind][v], bool) for v in videos])
        else:
            keep = np.zeros(y_all.size, bool)
            for i, v in enumerate(videos):
                if kind in types.get(v, ()) or int(video_labels.get(v, 0)) == 0:
                    keep[bounds[i] : bounds[i + 1]] = True
        y, s = y_all[keep], s_all[keep]
        auc = float("nan") if y.size == 0 or y.min() == y.max() else float(evaluate(y, s)["auc_micro"])
        n_videos = sum(1 for v in videos if kind in types.get(v, ()))
        out[kind] = {
            "auc_micro": auc,
            "n_videos": n_videos,
            "n_frames": int(y.size),
            "n_abnormal": int(y.sum()),
        }
    return out


# -- the run, in stages -----------------------------------------------------------------------------------


@dataclass
class Plan:
    """Stage 1: the resolved config, the method class, the protocol, the dataset and the run folder."""

    config: dict[str, Any]
    cls: type
    protocol: Any
    ds: Any
    folder: RunFolder
    run_key: str
    config_hash: str
    progress: bool = True
    train_ds: Any = None  # cross-domain runs: the dataset whose training videos are used
    data: str = ""  # the row's ``data`` cell (:func:`data_of`; blank = the default data)


@dataclass
class Inputs:
    """Stage 2: the split, the prepared inputs, the samples and the label access (test labels stay here)."""

    variant: str
    train_videos: list[str]
    test_videos: list[str]
    train_samples: dict[str, list[Any]]
    test_samples: dict[str, list[Any]]
    record: dict[str, Any]
    video_labels: dict[str, int]
    labels: Callable[[], dict[str, np.ndarray]]
    train_from: str = ""  # cross-domain runs: the training dataset


def plan_run(
    method: Any, dataset: Any, root: Any, *, runs_dir: Any, fresh: bool, progress: bool, **resolve: Any
) -> Plan:
    """Resolve the config, open the dataset, derive the run id and open the run folder."""
    config, cls, proto = resolve_config(method, dataset, root, **resolve)
    ds = open_dataset(dataset, root, config["dataset_kwargs"])
    train_ds = _open_train_dataset(config, ds)
    run_id, run_key, header = run_identity(config, ds)
    folder = RunFolder.create(runs_dir, run_id, fresh=fresh)
    folder.write_config(header, config)
    if folder.state().get("run_key") != run_key:
        folder.reset_state(run_key=run_key)
    _log(progress, f"[bold]run[/bold] {config['method']} on {config['dataset']} ({config['protocol']})")
    _log(progress, f"run folder {folder.path}")
    return Plan(config, cls, proto, ds, folder, run_key, header["config_hash"], progress, train_ds,
                header["data"])


def _open_train_dataset(config: dict[str, Any], ds: Any) -> Any:
    """Cross-domain runs: open the training dataset and complete ``config["train_dataset"]`` with its
    fingerprint and the training side's input options (so both enter the config hash)."""
    cross = config.get("train_dataset")
    if not cross:
        return None
    from vadbench.cross_domain import dataset_fps, train_input_options

    train_ds = open_dataset(cross["dataset"], cross["root"], {})
    kind = config["input_kind"]
    cross["inputs"] = {
        kind: train_input_options(
            kind,
            config["inputs"][kind],
            dataset=config["dataset"],
            train_dataset=cross["dataset"],
            fps=dataset_fps(ds),
            train_fps=dataset_fps(train_ds),
        )
    }
    cross["data_fingerprint"] = data_fingerprint(train_ds)
    config["train_dataset"] = jsonable(cross)
    return train_ds


def _label_lengths(
    plan: Plan, test_videos: Sequence[str], test_inputs: Any, table: Any
) -> dict[str, int] | None:
    """Snippet counts T for conventions whose label length is 16·T: the features' T, or floor(n/16) for
    methods that do not take features (their frame / clip scores are truncated to 16·T)."""
    from vadbench.datasets.conventions import length_rule

    rule = length_rule(plan.config["dataset"], plan.protocol.gt)
    if plan.cls.input_kind == "features":
        return {v: int(test_inputs[v].shape[0]) for v in test_videos} if rule in ("16T", "mixed") else None
    if rule in ("16T", "mixed"):
        n = dict(zip(table["video"], table["n_frames"], strict=True))
        return {v: int(n[v]) // 16 for v in test_videos}
    return None


def prepare_inputs(plan: Plan) -> Inputs:
    """Split by supervision, run the input provider, build the samples and check the alignment."""
    from vadbench.inputs import prepare

    cls, proto, ds, config = plan.cls, plan.protocol, plan.ds, plan.config
    variant = resolve_split_variant(
        getattr(ds, "splits", ("test",)), cls.supervision, getattr(proto, "split", None)
    )
    split = ds.split(variant)
    train_videos, test_videos = list(split.train), list(split.test)
    if not test_videos:
        raise DataError(f"dataset {config['dataset']!r} split {variant!r} has no test video")
    table = ds.videos()
    kind = cls.input_kind
    cross = config.get("train_dataset")
    prepared = prepare(
        kind,
        ds,
        [] if cross else train_videos,
        test_videos,
        config["inputs"][kind],
        device=config["device"],
        progress=plan.progress,
    )
    if cross:
        train_videos, train_samples = _cross_domain_train(plan, prepared)
    else:
        train_samples = build_samples(kind, table, train_videos, prepared.train, train=True)
    test_samples = build_samples(kind, table, test_videos, prepared.test, train=False, crops=str(proto.crops))
    lengths = _label_lengths(plan, test_videos, prepared.test, table)
    wanted = set(test_videos)
    video_labels = {
        str(v): int(lab) for v, lab in zip(table["video"], table["label"], strict=True) if v in wanted
    }

    def labels() -> dict[str, np.ndarray]:
        return dict(ds.frame_labels(proto.gt, split=variant, videos=test_videos, lengths=lengths))

    check_alignment(proto, test_samples, labels(), prepared.spec, cls.unit)
    return Inputs(
        variant,
        train_videos,
        test_videos,
        train_samples,
        test_samples,
        prepared.record,
        video_labels,
        labels,
        cross["dataset"] if cross else "",
    )


def _cross_domain_train(plan: Plan, test_prepared: Any) -> tuple[list[str], dict[str, list[Any]]]:
    """The training videos and samples of a cross-domain run (from ``plan.train_ds``)."""
    from vadbench.cross_domain import check_compatible, check_train_videos
    from vadbench.inputs import prepare

    cls, config, tds = plan.cls, plan.config, plan.train_ds
    cross, kind = config["train_dataset"], cls.input_kind
    variant = resolve_split_variant(getattr(tds, "splits", ("test",)), cls.supervision, None)
    videos = list(tds.split(variant).train)
    check_train_videos(videos, train_dataset=cross["dataset"], variant=variant)
    prepared = prepare(
        kind, tds, videos, [], cross["inputs"][kind], device=config["device"], progress=plan.progress
    )
    check_compatible(
        kind, prepared.train, test_prepared.test, dataset=config["dataset"], train_dataset=cross["dataset"]
    )
    _log(plan.progress, f"cross-domain: {len(videos)} {cross['dataset']} training videos ({variant} split)")
    return videos, build_samples(kind, tds.videos(), videos, prepared.train, train=True)


def fit_or_resume(plan: Plan, inputs: Inputs, *, select_on_test: bool) -> tuple[Any, float, list[str]]:
    """Stage 3: the fitted method: loaded from the run folder when this run was fitted before, else fitted
    (resuming its training state from ``work/``) and saved."""
    config, folder = plan.config, plan.folder
    m = plan.cls(dict(config["method_config"]), device=config["device"], seed=int(config["seed"]))
    m.work_dir = folder.work_dir
    m.progress = plan.progress
    state = folder.state()
    if state.get("fitted") and folder.checkpoint.is_file():
        _build_for_load(m, inputs)
        m.load(folder.checkpoint)
        _log(plan.progress, f"resumed the fitted model from {folder.checkpoint}")
        return m, float(state.get("fit_s", 0.0)), ["fit"]
    if select_on_test:
        m.test_evaluator = make_test_evaluator(
            m, inputs.test_samples, plan.protocol, inputs.labels(), inputs.video_labels
        )
    seed_everything(int(config["seed"]))
    flat = [s for v in inputs.train_videos for s in inputs.train_samples[v]]
    _log(plan.progress, f"fit on {len(inputs.train_videos)} training videos ({len(flat)} samples)")
    t0 = time.perf_counter()
    m.fit(flat)
    fit_s = time.perf_counter() - t0
    m.test_evaluator = None
    m.save(folder.checkpoint)
    folder.update_state(fitted=True, fit_s=fit_s, scored=False)
    return m, fit_s, []


def _build_for_load(m: Any, inputs: Inputs) -> None:
    """Torch methods create their modules from the data shapes: build them before loading weights."""
    from vadbench.methods.training import TorchMethod

    if isinstance(m, TorchMethod) and not m._built():
        flat = [s for v in inputs.train_videos for s in inputs.train_samples[v]]
        m.build(flat)


def score_stage(plan: Plan, m: Any, inputs: Inputs, resumed: list[str]) -> tuple[dict, dict, float]:
    """Stage 4: headline scores and every output per test video (reused when this fit was scored before)."""
    folder, state = plan.folder, plan.folder.state()
    if resumed and state.get("scored") and folder.has_outputs():
        scores, outputs = folder.load_outputs(inputs.test_videos)
        resumed.append("score")
        return scores, outputs, float(state.get("score_s", 0.0))
    t0 = time.perf_counter()
    scores, outputs = score_videos(m, inputs.test_samples, progress=plan.progress)
    score_s = time.perf_counter() - t0
    folder.save_outputs(scores, outputs)
    folder.update_state(scored=True, score_s=score_s)
    return scores, outputs, score_s


@dataclass
class Evaluation:
    """Stage 5: the headline metrics, every output's metrics, the aligned arrays and per-type AUC."""

    metrics: dict[str, Any]
    outputs: dict[str, dict[str, Any]]
    aligned: Any
    per_type: dict[str, dict[str, Any]]
    intervals: dict[str, Any]  # bootstrap interval cells of the row (vadbench.bootstrap.run_intervals)
    headline: str = "score"  # the method's headline output (the metrics above are its)


def evaluate_stage(
    plan: Plan,
    inputs: Inputs,
    scores: Mapping[str, np.ndarray],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    headline: str,
    class_names: Sequence[str] | None = None,
) -> Evaluation:
    """Apply the protocol once per output and compute the metrics (with detection mAP@IoU where the dataset
    has typed event segments and the method gives class probabilities for ``class_names``)."""
    from vadbench.bootstrap import FRAMES_FILE, run_intervals
    from vadbench.protocol import apply, evaluate_protocol

    labels, n = inputs.labels(), frame_counts(inputs.test_samples)
    metrics = dict(
        evaluate_protocol(plan.protocol, scores, labels, video_labels=inputs.video_labels, n_frames=n)
    )
    branch = _evaluate_outputs(plan.protocol, scores, outputs, labels, inputs.video_labels, headline, n)
    from vadbench.detection import detection_metrics

    metrics.update(
        detection_metrics(plan.ds, outputs, inputs.test_videos, inputs.video_labels, class_names)
    )
    aligned = apply(plan.protocol, scores, labels, n)
    intervals = run_intervals(
        plan.protocol, scores, labels, inputs.video_labels, frames_path=plan.folder.path / FRAMES_FILE,
        n_frames=n,
    )
    per_type = per_type_auc(plan.ds, aligned, labels, inputs.video_labels)
    return Evaluation(metrics, branch, aligned, per_type, intervals, headline)


def record_stage(
    plan: Plan,
    inputs: Inputs,
    ev: Evaluation,
    *,
    fit_s: float,
    score_s: float,
    resumed: list[str],
    report: bool,
    leaderboard: Any,
) -> dict[str, Any]:
    """Stage 6: ``metrics.json``, ``row.json``, the report and the leaderboard row."""
    from vadbench.leaderboard import make_row

    config, folder = plan.config, plan.folder
    folder.write_json(
        RunFolder.METRICS,
        {
            "run_id": folder.run_id,
            "protocol": str(plan.protocol),
            "split": _row_split(inputs),
            "metrics": ev.metrics,
            "outputs": ev.outputs,
            "missing_test_videos": list(getattr(plan.ds, "missing", []) or []),
            "per_type": ev.per_type,
            "n_train": len(inputs.train_videos),
            "n_test": len(inputs.test_videos),
            "n_frames": int(len(ev.aligned.labels)),
            "fit_s": fit_s,
            "score_s": score_s,
            "resumed": resumed,
        },
    )
    row = make_row(
        method=config["method"],
        dataset=config["dataset"],
        data=plan.data,
        protocol=str(plan.protocol),
        metrics={**_row_metrics(ev.metrics), **ev.intervals},
        run_id=folder.run_id,
        split=_row_split(inputs),
        backbone=str(inputs.record.get("backbone", "")),
        feature_hash=str(inputs.record.get("feature_hash", "")),
        seed=int(config["seed"]),
        config_hash=plan.config_hash,
        preset=config["preset"] or "",
        options=options_of(config, plan.cls),
        fidelity=config["fidelity"],
        selection=config["selection"],
        epochs=config["method_config"].get("epochs"),
        n_train=len(inputs.train_videos),
        n_test=len(inputs.test_videos),
        n_frames=int(len(ev.aligned.labels)),
        fit_s=round(fit_s, 3),
        score_s=round(score_s, 3),
        device=config["device"],
    )
    folder.write_json(RunFolder.ROW, row)
    if report:
        from vadbench.leaderboard.floors import floor_for
        from vadbench.paths import shipped_file
        from vadbench.report import write_run_report
        from vadbench.report_context import baseline_rows

        preset_name = str(config["dataset_kwargs"].get("preset", "") or "")
        sources = [p for p in (leaderboard, shipped_file("leaderboards/results.csv")) if p]
        protocol = str(plan.protocol)
        write_run_report(
            folder.path,
            config={"run_id": folder.run_id, **config},
            protocol=protocol,
            metrics=ev.metrics,
            aligned=ev.aligned,
            video_labels=inputs.video_labels,
            branch_metrics=ev.outputs,
            per_type=ev.per_type,
            dataset=plan.ds,
            beside=baseline_rows(config["dataset"], protocol, preset_name, None, sources, data=plan.data),
            floor=floor_for(config["dataset"], protocol, preset_name),
            run_facts=_run_facts(plan, inputs, fit_s, score_s),
            headline=ev.headline,
            absent_types=[t for t in getattr(plan.ds, "known_anomaly_types", ()) if t not in ev.per_type],
        )
    if leaderboard is not None and not _already_recorded(leaderboard, folder.run_id, resumed):
        from vadbench.leaderboard import append_row

        append_row(leaderboard, row)
        row["_appended"] = True
    return row


def _row_split(inputs: Inputs) -> str:
    """The row's split: the variant, plus ``;train=<dataset>`` for a cross-domain run."""
    return f"{inputs.variant};train={inputs.train_from}" if inputs.train_from else inputs.variant


def _run_facts(plan: Plan, inputs: Inputs, fit_s: float, score_s: float) -> dict[str, Any]:
    """What the report shows first: dataset, split, method, seed, commit, features, date, timings."""
    import datetime

    from vadbench.leaderboard import git_commit

    config = plan.config
    return {
        "dataset": f"{config['dataset']} ({'data ' + plan.data + '; ' if plan.data else ''}"
                   f"{inputs.variant} split; {len(inputs.train_videos)} training"
                   f"{' videos of ' + inputs.train_from if inputs.train_from else ''} / "
                   f"{len(inputs.test_videos)} test videos)",
        "method": f"{config['method']} (fidelity {config['fidelity']}, preset {config['preset'] or 'none'})",
        "seed": config["seed"],
        "commit": git_commit() or "unknown",
        "backbone / features": f"{inputs.record.get('backbone', '') or '-'} "
                               f"(feature hash {inputs.record.get('feature_hash', '') or '-'})",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "timings": f"fit {fit_s:.1f} s, score {score_s:.1f} s on {config['device']}",
    }


def _already_recorded(results: Any, run_id: str, resumed: Sequence[str]) -> bool:
    """Whether ``results`` already holds the ok row of this identical run (same config, data and code: the
    same ``run_id``) that was fully reused now (``fit`` and ``score``)."""
    if not {"fit", "score"} <= set(resumed) or not Path(results).is_file():
        return False
    from vadbench.leaderboard import read_results

    table = read_results(results)
    return bool(((table["run_id"] == run_id) & (table["status"] == "ok")).any())


def run(
    method: str | type,
    dataset: Any = "synthetic",
    root: Any = None,
    preset: str | None = None,
    device: str = "auto",
    seed: int | None = None,
    epochs: int | None = None,
    leaderboard: str | os.PathLike[str] | None = None,
    runs_dir: str | os.PathLike[str] = "runs",
    overrides: Mapping[str, Any] | None = None,
    *,
    fresh: bool = False,
    select_on_test: bool = False,
    protocol: str | None = None,
    features: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    progress: bool = True,
    report: bool = True,
    train_dataset: str | None = None,
    train_root: str | os.PathLike[str] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
) -> RunResult:
    """Train and evaluate ``method`` on ``dataset``; write ``runs/<id>/`` + a row. Stages: :func:`plan_run`,
    :func:`prepare_inputs`, :func:`fit_or_resume`, :func:`score_stage`, :func:`evaluate_stage`,
    :func:`record_stage`.

    ``overrides`` are method options on top of the preset; ``features`` / ``inputs`` are options of the
    method's input kind on top of the preset's; ``protocol`` replaces the preset's protocol (a section-13
    name or a protocol string); ``train_dataset`` / ``train_root`` train on another dataset's training videos
    (cross-domain, :mod:`vadbench.cross_domain`); ``dataset_options`` are dataset keyword arguments on top of
    the preset's (``{"seed": 1}``: synthetic data seed 1; the row's ``data`` column records the data read,
    :func:`data_of`). A failure after the planning leaves ``error.txt`` in the
    run folder and the exception carries the run id (``err.run_id``). Returns a :class:`RunResult`.
    """
    plan = plan_run(
        method,
        dataset,
        root,
        runs_dir=runs_dir,
        fresh=fresh,
        progress=progress,
        preset=preset,
        device=device,
        seed=seed,
        epochs=epochs,
        overrides=overrides,
        select_on_test=select_on_test,
        protocol=protocol,
        features=features,
        inputs=inputs,
        train_dataset=train_dataset,
        train_root=train_root,
        dataset_options=dataset_options,
    )
    try:
        ins = prepare_inputs(plan)
        m, fit_s, resumed = fit_or_resume(plan, ins, select_on_test=select_on_test)
        scores, outputs, score_s = score_stage(plan, m, ins, resumed)
        ev = evaluate_stage(
            plan, ins, scores, outputs, getattr(m, "headline", "score"), getattr(m, "class_names", None)
        )
        row = record_stage(
            plan,
            ins,
            ev,
            fit_s=fit_s,
            score_s=score_s,
            resumed=resumed,
            report=report,
            leaderboard=leaderboard,
        )
    except Exception as err:
        plan.folder.write_error(f"{type(err).__name__}: {err}\n\n{traceback.format_exc()}")
        err.run_id = plan.folder.run_id  # type: ignore[attr-defined]
        raise
    appended = bool(row.pop("_appended", False))
    folder = plan.folder
    return RunResult(folder.run_id, folder.path, row, ev.metrics, resumed=resumed, appended=appended)


def _row_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metric values that have a column in the result table (the others stay in ``metrics.json``)."""
    from vadbench.leaderboard import canonical_metric

    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if canonical_metric(str(key)) is not None:
            out[key] = float(value) if isinstance(value, (int, float, np.number)) else value
    return out


# -- regression gate ------------------------------------------------------------------------------------


def rerun_baselines(
    baselines: Any,
    leaderboard: str | os.PathLike[str],
    *,
    runs_dir: Any = "runs",
    device: str = "cpu",
    progress: bool = False,
) -> list[RunResult]:
    """Re-execute the run of every distinct (method, dataset, preset, seed, protocol) of a baseline frame
    (:func:`vadbench.leaderboard.read_baselines`), appending the rows to ``leaderboard``: what
    ``vadbench regress --rerun`` (``make regress``) checks, so the Makefile names no method."""
    keys: list[tuple[str, str, str, Any, str]] = []
    for rec in baselines.to_dict("records"):
        seed = rec.get("seed")
        seed = None if seed is None or (isinstance(seed, float) and np.isnan(seed)) else int(seed)
        key = (rec["method"], rec["dataset"], rec.get("preset") or "", seed, rec["protocol"])
        if key not in keys:
            keys.append(key)
    out = []
    for method, dataset, preset, seed, protocol in keys:
        _log(True, f"regress: re-running {method} on {dataset} (preset {preset or '-'}, seed {seed})")
        out.append(
            run_or_fail(
                method,
                dataset,
                preset=preset or None,
                seed=seed,
                protocol=protocol,
                leaderboard=leaderboard,
                runs_dir=runs_dir,
                device=device,
                progress=progress,
            )
        )
    return out


# -- grid -----------------------------------------------------------------------------------------------


def failure_row(method: Any, dataset: Any, error: BaseException | str, **kwargs: Any) -> dict[str, Any]:
    """A result row with ``status=failed`` and the error text (what :func:`grid` records for a failed run).

    ``kwargs`` are the arguments of the failed :func:`run`; the config is resolved again where possible so the
    row carries the protocol, seed and config hash (else ``protocol`` reads ``unresolved``).
    """
    from vadbench.leaderboard import make_row

    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    fields: dict[str, Any] = {"preset": kwargs.get("preset") or "", "protocol": "unresolved"}
    run_id = getattr(error, "run_id", None)  # set by run() once the run folder exists: the same id
    try:
        names = ("root", "preset", "device", "seed", "epochs", "overrides")
        config, cls, proto = resolve_config(
            method,
            dataset,
            **{k: kwargs[k] for k in names if k in kwargs},
            select_on_test=bool(kwargs.get("select_on_test", False)),
            protocol=kwargs.get("protocol"),
            features=kwargs.get("features"),
            inputs=kwargs.get("inputs"),
            dataset_options=kwargs.get("dataset_options"),
        )
        fields.update(
            protocol=str(proto),
            seed=config["seed"],
            config_hash=config_hash(config),
            device=config["device"],
            fidelity=config["fidelity"],
            selection=config["selection"],
            epochs=config["method_config"].get("epochs"),
        )
        fields["options"] = options_of(config, cls)
        from vadbench.leaderboard import data_text

        fields["data"] = data_text(kwargs.get("dataset_options"))  # what was asked, if it cannot be read
        ds = open_dataset(dataset, kwargs.get("root"), config["dataset_kwargs"])
        fields["data"] = data_of(ds, config)
        if run_id is None:  # the failure came before the run folder: derive the id as run() would
            run_id = run_identity(config, ds)[0]
    except Exception:  # noqa: BLE001 - the failure may be in the resolution itself; record what is known
        pass
    if run_id is not None:
        fields["run_id"] = run_id
    method_name = method if isinstance(method, str) else getattr(method, "name", repr(method))
    return make_row(
        method=str(method_name),
        dataset=_dataset_name_or_repr(dataset),
        status="failed",
        error=text.strip()[:2000],
        **fields,
    )


def _dataset_name_or_repr(dataset: Any) -> str:
    try:
        return _dataset_name(dataset)
    except ConfigError:
        return repr(dataset)


def run_or_fail(method: Any, dataset: Any, *, leaderboard: Any = None, **kwargs: Any) -> RunResult:
    """:func:`run`, but an exception becomes a failed :class:`RunResult` whose row (status=failed, error text)
    is appended to ``leaderboard``. What each grid job executes."""
    try:
        return run(method, dataset, leaderboard=leaderboard, **kwargs)
    except Exception as err:  # noqa: BLE001 - a grid records every failure and goes on
        row = failure_row(method, dataset, err, **kwargs)
        detail = traceback.format_exc(limit=8)
        if leaderboard is not None:
            from vadbench.leaderboard import append_row

            append_row(leaderboard, row)
        return RunResult(row["run_id"], None, row, {}, status="failed", error=f"{row['error']}\n{detail}")


def grid(
    methods: Iterable[Any],
    datasets: Iterable[Any],
    executor: str = "local",
    *,
    leaderboard: Any = None,
    runs_dir: Any = "runs",
    slurm: Mapping[str, Any] | None = None,
    cluster: str | None = None,
    **kwargs: Any,
) -> list[RunResult]:
    """Run every (method, dataset) pair; a failing run is recorded (row status=failed) and the grid goes on.

    ``executor="local"`` runs the pairs one after another in this process; ``"slurm"`` submits one submitit
    job per pair (``cluster`` is passed to ``submitit.AutoExecutor``: ``None`` auto-detects Slurm, ``"local"``
    runs the jobs as local processes, ``"debug"`` in this process) with ``slurm`` as executor parameters
    (e.g. ``{"slurm_partition": "gpu", "timeout_min": 600, "gpus_per_node": 1}``). Names are resolved here,
    so methods / datasets registered only in this process can run in a job.
    """
    if executor not in ("local", "slurm"):
        raise ConfigError(f"unknown executor {executor!r}; expected local or slurm")
    method_objs = [resolve_method(m) if isinstance(m, str) else m for m in methods]
    dataset_objs = [_resolve_dataset_obj(d) for d in datasets]
    pairs = [(m, d) for m in method_objs for d in dataset_objs]
    if not pairs:
        raise ConfigError("grid: no (method, dataset) pair to run")
    results: list[RunResult] = []
    inputs = dict(kwargs.pop("inputs", None) or {})

    def job_kwargs(m: Any) -> dict[str, Any]:  # each method gets the input options of its own kind
        kind = getattr(m, "input_kind", None)
        return {**kwargs, "inputs": {kind: inputs[kind]} if kind in inputs else None}

    if executor == "local":
        for m, d in pairs:
            results.append(run_or_fail(m, d, leaderboard=leaderboard, runs_dir=runs_dir, **job_kwargs(m)))
        return results
    import submitit

    folder = Path(runs_dir) / "submitit"
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = dict(slurm or {})
    ex.update_parameters(name="vadbench", **params)
    jobs = [
        ex.submit(run_or_fail, m, d, leaderboard=leaderboard, runs_dir=runs_dir, **job_kwargs(m))
        for m, d in pairs
    ]
    for (m, d), job in zip(pairs, jobs, strict=True):
        try:
            results.append(job.result())
        except Exception as err:  # noqa: BLE001 - the job itself died (killed, pickling, node failure)
            row = failure_row(m, d, err, **job_kwargs(m))
            if leaderboard is not None:
                from vadbench.leaderboard import append_row

                append_row(leaderboard, row)
            results.append(RunResult(row["run_id"], None, row, {}, status="failed", error=row["error"]))
    return results


def _resolve_dataset_obj(dataset: Any) -> Any:
    """A registered dataset name -> its class (so a job gets the object); classes / instances pass through."""
    if not isinstance(dataset, str):
        return dataset
    from vadbench.registry import DATASETS

    try:
        return DATASETS.get(dataset)
    except ConfigError:
        raise
    except ImportError:
        return dataset  # let the run report the missing module as its error
