"""Run one method on one dataset: resolve the config, prepare inputs, fit, score, apply the protocol, record.

``run`` is the library form of ``vadbench run``; ``grid`` runs every (method, dataset) pair, in this
process or as submitit jobs. Every run writes ``runs/<id>/`` (resolved ``config.yaml``, ``scores.npz``,
``metrics.json``, plots, ``report.html``, ``checkpoint.safetensors`` + ``state.json``) and, when a leaderboard
CSV is given, one result row (:func:`vadbench.leaderboard.append_row`). The run id is derived from a hash of
the resolved config, so running the same command again resumes: the fitted model and the scores are reused
unless ``fresh=True``.

Methods never see test labels: the runner builds the training samples with video labels and the test samples
without. Test-set checkpoint selection is possible only with ``select_on_test=True``; the method then gets a
callback (:data:`vadbench.methods.base.TestEvaluator`) and the row records ``selection=test``.

Example:
    $ vadbench run --method vadclip --dataset synthetic --preset tiny

    >>> from vadbench.runner import resolve_split_variant
    >>> resolve_split_variant(("semi", "weak"), "weak", "weak")
    'weak'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError, VadbenchError

#: The protocol preset (protocols.md section 13) a dataset uses when the method's preset names none, per
#: method supervision ("*" = any). The synthetic dataset follows ShanghaiTech (it is built like it).
DEFAULT_PROTOCOLS: dict[str, dict[str, str]] = {
    "ucf-crime": {"*": "ucf/deepmil"},
    "xd-violence": {"*": "xd/xdviodet"},
    "shanghaitech": {"weak": "sht-weak/rtfm", "*": "sht-semi/official"},
    "synthetic": {"weak": "sht-weak/rtfm", "*": "sht-semi/official"},
    "avenue": {"*": "avenue/liu"},
    "ped2": {"*": "ped2/official"},
    "nwpu-campus": {"*": "nwpu/official"},
}

#: Number of crops of each feature-extraction crop mode (used to check the protocol's crop rule).
_N_CROPS = {"center": 1, "5crop": 5, "10crop": 10}

CONFIG_FILE, SCORES_FILE, OUTPUTS_FILE, ROW_FILE = "config.yaml", "scores.npz", "outputs.npz", "row.json"
METRICS_FILE, STATE_FILE, CHECKPOINT_FILE = "metrics.json", "state.json", "checkpoint.safetensors"


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


# -- small helpers --------------------------------------------------------------------------------------


def _atomic_write_text(path: Path, text: str) -> Path:
    from vadbench.leaderboard import atomic_write_text

    atomic_write_text(path, text)
    return path


def _atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)
    return path


def _jsonable(obj: Any) -> Any:
    """Plain JSON / YAML values (numpy scalars -> Python, tuples -> lists, paths -> str; NaN kept)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_hash(config: Mapping[str, Any]) -> str:
    """A stable 12-hex-digit hash of a resolved config (key order does not matter).

    >>> config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    True
    """
    text = json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cpu`` / ``cuda[:i]`` are checked and kept.

    >>> resolve_device("cpu")
    'cpu'
    """
    if device == "cpu":
        return "cpu"
    if device != "auto" and not device.startswith("cuda"):
        raise ConfigError(f"unknown device {device!r}; expected auto, cpu or cuda[:index]")
    import torch

    if torch.cuda.is_available():
        return "cuda" if device == "auto" else device
    if device == "auto":
        return "cpu"
    raise ConfigError(f"device {device!r} requested but torch sees no CUDA device; use --device cpu or auto")


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


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def _log(enabled: bool, message: str) -> None:
    if enabled:
        from rich.console import Console

        Console(stderr=True).print(message, highlight=False)


# -- resolution: method, dataset, preset, protocol, split -----------------------------------------------


def resolve_method(method: str | type) -> type:
    """The Method class for a registered name (or the class itself)."""
    if isinstance(method, str):
        from vadbench.registry import METHODS

        cls = METHODS.get(method)
    else:
        cls = method
    for attr in ("name", "supervision", "input_kind"):
        if not hasattr(cls, attr):
            raise ConfigError(f"method {cls!r} does not declare {attr!r} (see vadbench.methods.base.Method)")
    return cls


def _dataset_name(dataset: Any) -> str:
    if isinstance(dataset, str):
        return dataset
    name = getattr(dataset, "name", None)
    if not isinstance(name, str):
        raise ConfigError(f"dataset {dataset!r} has no name; give a registered name or a Dataset class")
    return name


def load_method_preset(method_name: str, dataset: str, preset: str | None) -> dict[str, Any]:
    """The preset of ``methods/<method>/metafile.yaml`` for ``dataset`` (:func:`vadbench.methods.presets.
    load_preset`; ``preset=None`` takes the dataset's default preset). Empty when the method has no metafile
    or no preset for that dataset and none was asked for.

    Keys used by the runner: ``config`` (method options), ``protocol`` (a section-13 preset name or a protocol
    string), ``protocol_overrides``, ``features`` (``FeatureSpec`` fields), ``dataset`` (dataset keyword
    arguments, e.g. the synthetic size), ``seed``, ``preset`` (the resolved name).
    """
    from vadbench.methods import presets as presets_mod

    if not presets_mod.metafile_path(method_name).is_file():
        if preset is not None:
            raise ConfigError(
                f"preset {preset!r} requested but method {method_name!r} has no metafile "
                f"(expected {presets_mod.metafile_path(method_name)})"
            )
        return {}
    try:
        data = presets_mod.load_preset(method_name, dataset, preset)
    except ConfigError:
        if preset is None:
            return {}
        raise
    return dict(data or {})


def method_presets(method_name: str) -> dict[str, list[str]]:
    """Per dataset, the preset names of ``methods/<method>/metafile.yaml`` (empty when there is none).

    >>> "tiny" in method_presets("vadclip").get("synthetic", [])
    True
    """
    from vadbench.methods import presets as presets_mod

    if not presets_mod.metafile_path(method_name).is_file():
        return {}
    datasets = presets_mod.load_metafile(method_name)["Datasets"]
    out = {str(ds): presets_mod.preset_names(method_name, ds) for ds in datasets}
    return {ds: names for ds, names in out.items() if names}


def default_protocol_name(dataset: str, supervision: str) -> str:
    """The section-13 preset a dataset uses by default for a method of this supervision.

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
                f"protocol {spec!r} is neither a named preset (protocols.md section 13) nor a "
                f"protocol string: {err}"
            ) from None
    if overrides:
        protocol = protocol.replace(**dict(overrides))
    return protocol


def resolve_split_variant(variants: Sequence[str], supervision: str, protocol_split: str | None) -> str:
    """The split variant of a dataset that fits the method's supervision.

    Datasets with both ``semi`` and ``weak`` splits (ShanghaiTech, NWPU, synthetic) give ``weak`` to weakly
    supervised methods and ``semi`` to the others; other datasets use the protocol's split (``test``).

    >>> resolve_split_variant(("semi", "weak"), "semi", "semi")
    'semi'
    >>> resolve_split_variant(("test",), "weak", "test")
    'test'
    """
    variants = tuple(variants)
    if {"semi", "weak"} <= set(variants):
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
    """Fit the protocol's crop rule to the feature crops: ``meanN`` needs N crops; one crop -> ``crop:0``."""
    crops = str(getattr(protocol, "crops", "") or "")
    if n_crops is None or not crops.startswith("mean"):
        if crops.startswith("crop:") and n_crops is not None and int(crops.split(":")[1]) >= n_crops:
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


def open_dataset(dataset: Any, root: str | os.PathLike[str] | None, kwargs: Mapping[str, Any]) -> Any:
    """Instantiate the dataset and read its video table; a missing layout raises a :class:`DataError` that
    names the dataset card and suggests ``--dataset synthetic``."""
    from vadbench.paths import card_dir

    name = _dataset_name(dataset)
    ds = None
    try:
        if isinstance(dataset, str):
            from vadbench.datasets import get_dataset

            ds = get_dataset(dataset, root, **dict(kwargs))
        elif isinstance(dataset, type) or callable(dataset) and not hasattr(dataset, "videos"):
            ds = dataset(root=root, **dict(kwargs))
        else:
            ds = dataset
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


# -- inputs ---------------------------------------------------------------------------------------------


def _feature_spec(features: Mapping[str, Any] | None) -> Any:
    from vadbench.features import FeatureSpec

    return FeatureSpec.from_dict(dict(features or {}))


def _spec_n_crops(spec: Any) -> int | None:
    n = getattr(spec, "n_crops", None)
    if isinstance(n, int):
        return n
    return _N_CROPS.get(str(getattr(spec, "crops", "")))


def load_feature_inputs(
    ds: Any, videos: Sequence[str], spec: Any, device: str, progress: bool = True
) -> dict[str, np.ndarray]:
    """Features ``(T, K, D)`` per video (:func:`vadbench.features.load_features` extracts what is missing)."""
    from vadbench.features import load_features

    feats = load_features(ds, list(videos), spec, device=device, progress=progress)
    out: dict[str, np.ndarray] = {}
    for video in videos:
        if video not in feats:
            raise DataError(f"features of video {video!r} missing from the feature store ({spec!r})")
        arr = np.asarray(feats[video], dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[:, None, :]
        if arr.ndim != 3:
            raise DataError(f"features of video {video!r}: expected (T, K, D), found shape {arr.shape}")
        out[video] = arr
    return out


def build_samples(
    kind: str,
    table: Any,
    videos: Sequence[str],
    inputs: Mapping[str, Any] | None,
    *,
    train: bool,
    crops: str | None = None,
) -> dict[str, list[Any]]:
    """Per video, the samples a method receives (one per crop for features). Labels only when ``train``;
    test samples raise on label access (:func:`vadbench.methods.base.unlabelled`).

    ``crops``: ``crop:<k>`` keeps crop k only (test); anything else keeps every crop.
    """
    from vadbench.inputs import make_samples

    return make_samples(kind, table, videos, inputs, train=train, crops=crops)


# -- scoring --------------------------------------------------------------------------------------------


def _stack_crops(arrays: list[np.ndarray]) -> np.ndarray:
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    return arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=1)


def score_videos(
    method: Any, samples: Mapping[str, list[Any]], *, progress: bool = True, outputs: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """Score every test video: ``(T,)`` per video, or ``(T, K)`` when several crops are scored (the protocol
    aggregates crops). ``outputs`` also collects ``score_outputs`` when the method defines it (per key)."""
    from vadbench.methods.base import Method

    has_outputs = outputs and type(method).score_outputs is not Method.score_outputs
    scores: dict[str, np.ndarray] = {}
    extra: dict[str, dict[str, np.ndarray]] = {}
    with _progress(progress) as bar:
        task = bar.add_task("score", total=len(samples))
        for video, crops in samples.items():
            outs = [method.score_outputs(s) for s in crops]
            per_crop = [np.asarray(o[method.headline]) for o in outs]
            for s, sc in zip(crops, per_crop, strict=True):
                if sc.ndim != 1 or not np.all(np.isfinite(sc)):
                    raise VadbenchError(
                        f"method {method.name!r} returned scores of shape {sc.shape} for video "
                        f"{video!r} (crop {getattr(s, 'crop', 0)}); expected a finite (T,) vector"
                    )
            scores[video] = _stack_crops(per_crop)
            if has_outputs:
                for key in outs[0]:
                    arrs = [np.asarray(o[key], dtype=np.float64) for o in outs]
                    merged = _stack_crops(arrs) if arrs[0].ndim == 1 else np.mean(arrs, axis=0)
                    extra.setdefault(key, {})[video] = merged
            bar.advance(task)
    return scores, extra


def make_test_evaluator(
    method: Any,
    samples: Mapping[str, list[Any]],
    protocol: Any,
    labels: Mapping[str, np.ndarray],
    video_labels: Mapping[str, int],
) -> Callable[[], dict]:
    """The callback given to a method for explicit test-set selection: scores the test set with the
    method's current state and returns the protocol metrics per output (``score`` and each 1-D
    ``score_outputs`` key)."""
    from vadbench.protocol import evaluate_protocol

    def evaluate() -> dict[str, dict[str, float]]:
        scores, extra = score_videos(method, samples, progress=False)
        result = {"score": dict(evaluate_protocol(protocol, scores, labels, video_labels=video_labels))}
        for key, per_video in extra.items():
            if all(
                v.shape[0] == scores[k].shape[0] and v.ndim == scores[k].ndim for k, v in per_video.items()
            ):
                result[key] = dict(evaluate_protocol(protocol, per_video, labels, video_labels=video_labels))
        return result

    return evaluate


def check_alignment(
    protocol: Any, samples: Mapping[str, list[Any]], labels: Mapping[str, np.ndarray], spec: Any = None
) -> None:
    """Dry-run the protocol on zero scores of the shape the method will return, before any training, so that
    inputs that cannot fit the ground-truth convention fail in seconds (e.g. features with T = floor(n/16)
    against a 16*ceil(n/16) convention)."""
    from vadbench.errors import ScoreError
    from vadbench.protocol import apply

    dummy: dict[str, np.ndarray] = {}
    for video, crops in samples.items():
        first = crops[0]
        if hasattr(first, "features"):
            n = int(np.asarray(first.features).shape[0])
        else:
            n = int(first.n_frames)
        dummy[video] = np.zeros(n) if len(crops) == 1 else np.zeros((n, len(crops)))
    try:
        apply(protocol, dummy, labels)
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


# -- the run --------------------------------------------------------------------------------------------


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
) -> tuple[dict[str, Any], type, Any]:
    """The resolved config of a run (everything that changes a number), the method class and the Protocol."""
    cls = resolve_method(method)
    ds_name = _dataset_name(dataset)
    data = load_method_preset(cls.name, ds_name, preset)
    method_config = dict(data.get("config") or {})
    method_config.update(dict(overrides or {}))
    if epochs is not None:
        method_config["epochs"] = int(epochs)
    from vadbench.methods.base import config_dict, validate_config

    method_config = config_dict(validate_config(cls.Config, method_config, cls.name))
    seed = int(seed if seed is not None else data.get("seed", 0))
    proto_spec = protocol or data.get("protocol") or default_protocol_name(ds_name, cls.supervision)
    proto = resolve_protocol(str(proto_spec), data.get("protocol_overrides"))
    feature_changes = dict(features or {})
    inputs = dict(data.get("inputs") or {})
    features = dict(inputs.get("features") or {}) if cls.input_kind == "features" else None
    if feature_changes and features is None:
        raise ConfigError(
            f"feature options {sorted(feature_changes)} given but method {cls.name!r} takes "
            f"{cls.input_kind}, not features"
        )
    if features is not None:
        features.update(feature_changes)
        spec = _feature_spec(features)
        features = dataclasses.asdict(spec)  # every field, resolved (recorded and hashed)
        proto = _check_crops(proto, _spec_n_crops(spec))
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
        "input_kind": cls.input_kind,
        "unit": getattr(cls, "unit", "snippet16"),
        "dataset": ds_name,
        "dataset_kwargs": dict(data.get("dataset") or {}),
        "root": str(root) if root is not None else None,
        "preset": data.get("preset", preset),
        "protocol": str(proto),
        "features": features,
        "tracks": dict(inputs.get("tracks") or {}) if cls.input_kind == "tracks" else None,
        "method_config": method_config,
        "seed": seed,
        "device": resolve_device(device),
        "selection": str(proto.selection),
    }
    return _jsonable(config), cls, proto


def data_fingerprint(ds: Any) -> str:
    """A cheap fingerprint of a dataset's content: its video table (id, subset, frames, label) and, when it
    has one, its manifest (the synthetic generator's version, seed and label hashes). 16 hex digits."""
    table = ds.videos()
    cols = [c for c in ("video", "subset", "n_frames", "label") if c in table.columns]
    text = table[cols].astype(str).to_csv(index=False)
    manifest = getattr(ds, "manifest", None)
    if isinstance(manifest, Mapping):
        text += json.dumps(_jsonable(manifest), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def _write_state(run_dir: Path, state: Mapping[str, Any]) -> None:
    _atomic_write_text(run_dir / STATE_FILE, json.dumps(_jsonable(state), indent=2, sort_keys=True))


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


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
    progress: bool = True,
    report: bool = True,
) -> RunResult:
    """Train and evaluate ``method`` on ``dataset`` under its preset's protocol; write ``runs/<id>/`` + a row.

    ``overrides`` are method options on top of the preset; ``features`` are ``FeatureSpec`` fields on top of
    the preset's; ``protocol`` replaces the preset's protocol (a section-13 name or a protocol string).
    Returns a :class:`RunResult`.
    """
    config, cls, proto = resolve_config(
        method,
        dataset,
        root,
        preset,
        device,
        seed,
        epochs,
        overrides,
        select_on_test=select_on_test,
        protocol=protocol,
        features=features,
    )
    chash = config_hash(config)
    seed_ = int(config["seed"])
    dev = str(config["device"])
    _log(progress, f"[bold]run[/bold] {config['method']} on {config['dataset']} ({config['protocol']})")
    ds = open_dataset(dataset, root, config["dataset_kwargs"])
    # the run id also covers the data and the code: a re-run resumes only when all three are the same
    from vadbench import __version__
    from vadbench.leaderboard import git_commit

    data_fp, code = data_fingerprint(ds), {"vadbench": __version__, "commit": git_commit()}
    run_key = config_hash({"config": chash, "data": data_fp, "code": code})
    run_id = f"{config['method']}-{config['dataset']}-{config['preset'] or 'default'}-{run_key[:8]}"
    run_dir = Path(runs_dir) / run_id
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    import yaml

    header = {"run_id": run_id, "config_hash": chash, "data_fingerprint": data_fp, "code": code}
    _atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump({**header, **config}, sort_keys=False))
    state = _read_state(run_dir)
    if state.get("run_key") != run_key:
        state = {}
    state["run_key"] = run_key
    _log(progress, f"run folder {run_dir}")

    # split, inputs
    variant = resolve_split_variant(
        getattr(ds, "splits", ("test",)), cls.supervision, getattr(proto, "split", None)
    )
    split = ds.split(variant)
    train_videos, test_videos = list(split.train), list(split.test)
    if not test_videos:
        raise DataError(f"dataset {config['dataset']!r} split {variant!r} has no test video")
    table = ds.videos()
    kind = cls.input_kind
    spec = _feature_spec(config["features"]) if kind == "features" else None
    train_inputs = test_inputs = None
    if kind == "features":
        train_inputs = load_feature_inputs(ds, train_videos, spec, dev, progress) if train_videos else {}
        test_inputs = load_feature_inputs(ds, test_videos, spec, dev, progress)
    elif kind == "tracks":
        from vadbench.tracks import load_tracks

        tr = dict(config["tracks"] or {})
        train_inputs = load_tracks(ds, train_videos, device=dev, **tr) if train_videos else {}
        test_inputs = load_tracks(ds, test_videos, device=dev, **tr)
    train_samples = build_samples(kind, table, train_videos, train_inputs, train=True)
    test_samples = build_samples(kind, table, test_videos, test_inputs, train=False, crops=str(proto.crops))
    lengths = (
        {v: int(test_inputs[v].shape[0]) for v in test_videos}  # type: ignore[index]
        if kind == "features" and getattr(cls, "unit", "snippet16") == "snippet16"
        else None
    )
    video_labels = {
        str(v): int(lab)
        for v, lab in zip(table["video"], table["label"], strict=True)
        if v in set(test_videos)
    }

    def test_labels() -> dict[str, np.ndarray]:
        return dict(ds.frame_labels(proto.gt, split=variant, videos=test_videos, lengths=lengths))

    check_alignment(proto, test_samples, test_labels(), spec)

    # fit (or resume)
    m = cls(dict(config["method_config"]), device=dev, seed=seed_)
    m.work_dir = run_dir / "work"
    resumed: list[str] = []
    ckpt = run_dir / CHECKPOINT_FILE
    if state.get("fitted") and ckpt.is_file():
        m.load(ckpt)
        resumed.append("fit")
        fit_s = float(state.get("fit_s", 0.0))
        _log(progress, f"resumed the fitted model from {ckpt}")
    elif state.get("fitted") and state.get("scored") and (run_dir / SCORES_FILE).is_file():
        fit_s = float(state.get("fit_s", 0.0))  # a method without save(): reuse its scores, no refit needed
        resumed.append("fit")
    else:
        if select_on_test:
            m.test_evaluator = make_test_evaluator(m, test_samples, proto, test_labels(), video_labels)
        seed_everything(seed_)
        flat = [s for v in train_videos for s in train_samples[v]]
        _log(progress, f"fit on {len(train_videos)} training videos ({len(flat)} samples)")
        t0 = time.perf_counter()
        m.fit(flat)
        fit_s = time.perf_counter() - t0
        m.test_evaluator = None
        try:
            m.save(ckpt)
        except NotImplementedError:
            _log(progress, f"{cls.name} does not support saving; a re-run will refit")
        state.update(fitted=True, fit_s=fit_s, scored=False)
        _write_state(run_dir, state)

    # score (or resume)
    scores_path, outputs_path = run_dir / SCORES_FILE, run_dir / OUTPUTS_FILE
    if state.get("scored") and scores_path.is_file() and resumed:
        scores = _load_npz(scores_path)
        flat_out = _load_npz(outputs_path) if outputs_path.is_file() else {}
        extra: dict[str, dict[str, np.ndarray]] = {}
        for key, arr in flat_out.items():
            name, _, video = key.partition("/")
            extra.setdefault(name, {})[video] = arr
        scores = {v: scores[v] for v in test_videos}
        score_s = float(state.get("score_s", 0.0))
        resumed.append("score")
    else:
        t0 = time.perf_counter()
        scores, extra = score_videos(m, test_samples, progress=progress)
        score_s = time.perf_counter() - t0
        _atomic_savez(scores_path, scores)
        _atomic_savez(outputs_path, {f"{k}/{v}": a for k, per in extra.items() for v, a in per.items()})
        state.update(scored=True, score_s=score_s)
        _write_state(run_dir, state)

    # protocol + metrics
    from vadbench.protocol import apply, evaluate_protocol

    labels = test_labels()
    metrics = dict(evaluate_protocol(proto, scores, labels, video_labels=video_labels))
    aligned = apply(proto, scores, labels)
    branch_metrics: dict[str, dict[str, Any]] = {}
    for key, per_video in extra.items():
        if all(
            per_video[v].ndim == scores[v].ndim and per_video[v].shape[0] == scores[v].shape[0]
            for v in test_videos
            if v in per_video
        ) and set(per_video) == set(test_videos):
            branch_metrics[key] = dict(evaluate_protocol(proto, per_video, labels, video_labels=video_labels))
    type_auc = per_type_auc(ds, aligned, labels, video_labels)
    metrics_doc = {
        "run_id": run_id,
        "protocol": str(proto),
        "split": variant,
        "metrics": metrics,
        "outputs": branch_metrics,
        "missing_test_videos": list(getattr(ds, "missing", []) or []),
        "per_type": type_auc,
        "n_train": len(train_videos),
        "n_test": len(test_videos),
        "n_frames": int(len(aligned.labels)),
        "fit_s": fit_s,
        "score_s": score_s,
        "resumed": resumed,
    }
    _atomic_write_text(run_dir / METRICS_FILE, json.dumps(_jsonable(metrics_doc), indent=2, allow_nan=True))

    from vadbench.leaderboard import make_row

    features = config["features"] or {}
    row = make_row(
        method=config["method"],
        dataset=config["dataset"],
        protocol=str(proto),
        metrics=_row_metrics(metrics),
        run_id=run_id,
        split=variant,
        backbone=str(features.get("backbone", "")),
        feature_hash=str(getattr(spec, "hash", "")) if spec is not None else "",
        seed=seed_,
        config_hash=chash,
        preset=config["preset"] or "",
        selection=config["selection"],
        epochs=config["method_config"].get("epochs"),
        n_train=len(train_videos),
        n_test=len(test_videos),
        n_frames=int(len(aligned.labels)),
        fit_s=round(fit_s, 3),
        score_s=round(score_s, 3),
        device=dev,
    )
    _atomic_write_text(run_dir / ROW_FILE, json.dumps(_jsonable(row), indent=2))
    if report:
        from vadbench.report import write_run_report

        write_run_report(
            run_dir,
            config={"run_id": run_id, **config},
            protocol=str(proto),
            metrics=metrics,
            aligned=aligned,
            video_labels=video_labels,
            branch_metrics=branch_metrics,
            per_type=type_auc,
        )
    if leaderboard is not None:
        from vadbench.leaderboard import append_row

        append_row(leaderboard, row)
    return RunResult(run_id, run_dir, row, metrics, resumed=resumed)


def _row_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metric values that have a column in the result table (the others stay in ``metrics.json``)."""
    from vadbench.leaderboard import canonical_metric

    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if canonical_metric(str(key)) is not None:
            out[key] = float(value) if isinstance(value, (int, float, np.number)) else value
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
    try:
        names = ("root", "preset", "device", "seed", "epochs", "overrides")
        config, cls, proto = resolve_config(
            method,
            dataset,
            **{k: kwargs[k] for k in names if k in kwargs},
            select_on_test=bool(kwargs.get("select_on_test", False)),
            protocol=kwargs.get("protocol"),
            features=kwargs.get("features"),
        )
        chash = config_hash(config)
        fields.update(
            protocol=str(proto),
            seed=config["seed"],
            config_hash=chash,
            device=config["device"],
            selection=config["selection"],
            epochs=config["method_config"].get("epochs"),
            run_id=f"{config['method']}-{config['dataset']}-{config['preset'] or 'default'}-{chash[:8]}",
        )
    except Exception:  # noqa: BLE001 - the failure may be in the resolution itself; record what is known
        pass
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
    if executor == "local":
        for m, d in pairs:
            results.append(run_or_fail(m, d, leaderboard=leaderboard, runs_dir=runs_dir, **kwargs))
        return results
    import submitit

    folder = Path(runs_dir) / "submitit"
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = dict(slurm or {})
    ex.update_parameters(name="vadbench", **params)
    jobs = [
        ex.submit(run_or_fail, m, d, leaderboard=leaderboard, runs_dir=runs_dir, **kwargs) for m, d in pairs
    ]
    for (m, d), job in zip(pairs, jobs, strict=True):
        try:
            results.append(job.result())
        except Exception as err:  # noqa: BLE001 - the job itself died (killed, pickling, node failure)
            row = failure_row(m, d, err, **kwargs)
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
