"""A run folder ``runs/<run id>/``: the one object that knows its files and writes them atomically.

Files: ``config.yaml`` (the resolved config + identity), ``state.json`` (which stages are done), the fitted
method (``checkpoint.safetensors`` + ``checkpoint.state.json``), ``work/`` (the method's resumable training
state), ``scores.npz`` (headline scores per video), ``outputs.npz`` (every output per video),
``metrics.json``, ``row.json``, ``error.txt`` (a failed run), ``report.html`` + ``plots/``.

Example:
    >>> import tempfile
    >>> f = RunFolder.create(tempfile.mkdtemp(), "m-d-default-0123abcd")
    >>> f.update_state(fitted=True); f.state()["fitted"]
    True
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """Plain JSON / YAML values (numpy scalars -> Python, tuples -> lists, paths -> str; NaN kept)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@dataclass
class RunFolder:
    """``runs/<run_id>/`` and its files."""

    path: Path
    run_id: str

    CONFIG = "config.yaml"
    STATE = "state.json"
    CHECKPOINT = "checkpoint.safetensors"
    SCORES = "scores.npz"
    OUTPUTS = "outputs.npz"
    METRICS = "metrics.json"
    ROW = "row.json"
    ERROR = "error.txt"

    @classmethod
    def create(cls, runs_dir: str | Path, run_id: str, *, fresh: bool = False) -> RunFolder:
        """The folder of ``run_id`` under ``runs_dir`` (emptied first when ``fresh``)."""
        path = Path(runs_dir) / run_id
        if fresh and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, run_id)

    @property
    def checkpoint(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def work_dir(self) -> Path:
        return self.path / "work"

    # -- config and state ------------------------------------------------------------------------------
    def write_config(self, header: Mapping[str, Any], config: Mapping[str, Any]) -> Path:
        import yaml

        from vadbench.atomic import atomic_write_text

        text = yaml.safe_dump(jsonable({**header, **config}), sort_keys=False)
        return atomic_write_text(self.path / self.CONFIG, text)

    def state(self) -> dict[str, Any]:
        path = self.path / self.STATE
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return {}

    def update_state(self, **changes: Any) -> dict[str, Any]:
        from vadbench.atomic import atomic_write_text

        state = {**self.state(), **changes}
        atomic_write_text(self.path / self.STATE, json.dumps(jsonable(state), indent=2, sort_keys=True))
        return state

    def reset_state(self, **state: Any) -> dict[str, Any]:
        from vadbench.atomic import atomic_write_text

        atomic_write_text(self.path / self.STATE, json.dumps(jsonable(state), indent=2, sort_keys=True))
        return dict(state)

    # -- scores ------------------------------------------------------------------------------------------
    def save_outputs(
        self, headline: Mapping[str, np.ndarray], outputs: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Headline scores per video and every output per ``<key>/<video>``."""
        from vadbench.atomic import atomic_savez

        atomic_savez(self.path / self.SCORES, headline)
        atomic_savez(
            self.path / self.OUTPUTS, {f"{k}/{v}": a for k, per in outputs.items() for v, a in per.items()}
        )

    def has_outputs(self) -> bool:
        return (self.path / self.SCORES).is_file() and (self.path / self.OUTPUTS).is_file()

    def load_outputs(
        self, videos: list[str]
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
        scores = _load_npz(self.path / self.SCORES)
        outputs: dict[str, dict[str, np.ndarray]] = {}
        for key, arr in _load_npz(self.path / self.OUTPUTS).items():
            name, _, video = key.partition("/")
            outputs.setdefault(name, {})[video] = arr
        return {v: scores[v] for v in videos}, outputs

    # -- results -----------------------------------------------------------------------------------------
    def write_json(self, name: str, doc: Mapping[str, Any]) -> Path:
        from vadbench.atomic import atomic_write_text

        return atomic_write_text(self.path / name, json.dumps(jsonable(doc), indent=2, allow_nan=True))

    def write_error(self, text: str) -> Path:
        from vadbench.atomic import atomic_write_text

        return atomic_write_text(self.path / self.ERROR, text)
