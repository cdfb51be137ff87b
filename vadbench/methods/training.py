"""The shared training loop of torch methods: a method writes its step, :func:`fit_loop` does the rest.

:class:`TorchMethod` subclasses implement ``build`` (models from the config and the data shapes),
``modules``, ``configure_optimizers``, ``train_batches`` and ``training_step``. :func:`fit_loop` owns

- epochs (``cfg.epochs``) and seeding (torch's global generator and the numpy ``rng`` given to
  ``train_batches`` both start from the method's seed);
- progress: a rich bar on a terminal, one line per epoch otherwise (a log file stays readable);
- the loss history (``method.history``: per epoch, the mean of every term ``training_step`` returned, the
  learning rate, the steps and the time);
- resumable checkpoints in ``method.work_dir`` (``fit-loop.pt`` after every epoch: weights, optimiser,
  scheduler, generators, history, the method's :meth:`TorchMethod.resume_state`), keyed by a fingerprint of
  the config, the seed and the training samples, so an interrupted run continues where it stopped;
- the test-set selection hook: only when the runner set ``method.test_evaluator`` (``--select-on-test``,
  recorded ``selection=test``) and the method names a :meth:`TorchMethod.selection_metric`.

Example:
    >>> import numpy as np, torch
    >>> from dataclasses import dataclass
    >>> from vadbench.methods.base import FeatureSample
    >>> class Linear(TorchMethod):
    ...     name, supervision, input_kind, fidelity = "linear", "weak", "features", "code"
    ...     @dataclass(frozen=True)
    ...     class Config:
    ...         epochs: int = 3
    ...         lr: float = 0.1
    ...     def build(self, samples):
    ...         self.net = torch.nn.Linear(samples[0].features.shape[1], 1)
    ...     def modules(self):
    ...         return {"net": self.net}
    ...     def configure_optimizers(self):
    ...         return torch.optim.SGD(self.net.parameters(), lr=self.cfg.lr), None
    ...     def train_batches(self, samples, epoch, rng):
    ...         return [samples[i] for i in rng.permutation(len(samples))]
    ...     def training_step(self, s):
    ...         x = torch.from_numpy(s.features)
    ...         return torch.nn.functional.binary_cross_entropy_with_logits(
    ...             self.net(x).max(), torch.tensor(float(s.label)))
    ...     def score(self, s):
    ...         with torch.no_grad():
    ...             return torch.sigmoid(self.net(torch.from_numpy(s.features)))[:, 0].numpy()
    >>> rng = np.random.default_rng(0)
    >>> train = [FeatureSample(f"v{i}", rng.normal(size=(5, 4)).astype(np.float32) + i % 2, label=i % 2)
    ...          for i in range(6)]
    >>> m = Linear(seed=0); m.progress = False
    >>> [h["epoch"] for h in m.fit(train).history]
    [1, 2, 3]
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.errors import ConfigError, DataError, VadbenchError
from vadbench.methods.base import Method

#: The resumable checkpoint file of :func:`fit_loop` in ``method.work_dir``.
RESUME_FILE = "fit-loop.pt"


class TorchMethod(Method):
    """A method trained with torch through :func:`fit_loop`; its Config needs an ``epochs`` option."""

    #: Step the scheduler once per ``epoch`` (default) or once per ``step``.
    scheduler_interval: str = "epoch"

    @abstractmethod
    def build(self, samples: Sequence[Any]) -> None:
        """Create the models (``self.<name>``) from the config and the data shapes; called by :meth:`fit`."""

    @abstractmethod
    def modules(self) -> dict[str, Any]:
        """The ``torch.nn.Module`` s that are trained and saved, by name."""

    @abstractmethod
    def configure_optimizers(self) -> tuple[Any, Any]:
        """``(optimizer, scheduler or None)`` (the scheduler steps per :attr:`scheduler_interval`)."""

    @abstractmethod
    def train_batches(self, samples: Sequence[Any], epoch: int, rng: np.random.Generator) -> Iterable[Any]:
        """The batches of one epoch (any objects ``training_step`` understands), drawn with ``rng``."""

    @abstractmethod
    def training_step(self, batch: Any) -> Any:
        """The loss of one batch: a scalar tensor, or a dict with ``loss`` and other logged terms."""

    def on_epoch_end(self, epoch: int) -> None:
        """Called after every epoch (0-based ``epoch``), after the scheduler step and the selection."""

    def selection_metric(self) -> tuple[str, str] | None:
        """``(output key, metric)`` to select the state on the test set with, or None (default: never).
        Used only when the runner set :attr:`test_evaluator` (``--select-on-test``)."""
        return None

    #: With test-set selection: evaluate every this many steps inside an epoch (0: once after each epoch).
    selection_every_steps: int = 0
    #: With test-set selection: reload the best state at the end of every epoch (VadCLIP's official code).
    selection_reload_each_epoch: bool = False

    def resume_state(self) -> dict[str, Any]:
        """Extra state of the training loop to checkpoint (e.g. a method's own torch generators)."""
        return {}

    def load_resume_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`resume_state`."""

    def train_mode(self, training: bool) -> None:
        """Put every module in train (or eval) mode."""
        for module in self.modules().values():
            module.train(training)

    def fit(self, samples: Sequence[Any]) -> TorchMethod:
        """``build`` then :func:`fit_loop`; leaves the modules in eval mode."""
        samples = list(samples)
        if not samples:
            raise DataError(f"{self.name}.fit got no training samples")
        self.build(samples)
        fit_loop(self, samples)
        return self

    def state_dict(self) -> dict[str, Any]:
        """Every module's ``state_dict`` with ``<module name>.`` prefixes."""
        return {
            f"{name}.{k}": v.detach().cpu()
            for name, module in self.modules().items()
            for k, v in module.state_dict().items()
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (strict: missing or unexpected keys raise)."""
        import torch

        if not self._built():
            raise VadbenchError(f"{self.name}: call build() (or fit) before loading a state")
        for name, module in self.modules().items():
            prefix = f"{name}."
            part = {k[len(prefix) :]: torch.as_tensor(v) for k, v in state.items() if k.startswith(prefix)}
            module.load_state_dict(part, strict=True)
        self.train_mode(False)

    def _built(self) -> bool:
        try:
            return bool(self.modules())
        except AttributeError:
            return False


def samples_fingerprint(samples: Sequence[Any]) -> list[Any]:
    """A cheap description of training samples (id, kind, label, classes, array shapes) for resume keys."""
    out = []
    for s in samples:
        desc: list[Any] = [
            type(s).__name__,
            str(getattr(s, "video", "")),
            getattr(s, "label", None),
            list(getattr(s, "classes", ()) or ()),
            int(getattr(s, "crop", 0) or 0),
            int(getattr(s, "n_frames", 0) or 0),
        ]
        feats = getattr(s, "features", None)
        if feats is not None:
            arr = np.asarray(feats)
            desc.append(list(arr.shape))
            desc.append(float(arr[:: max(1, arr.shape[0] // 7)].sum()) if arr.size else 0.0)
        out.append(desc)
    return out


def fingerprint(method: Method, samples: Sequence[Any]) -> str:
    """The key of a resumable checkpoint: method, config, seed and training samples."""
    text = json.dumps(
        {
            "method": method.name,
            "config": method.config,
            "seed": method.seed,
            "samples": samples_fingerprint(samples),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


class EpochProgress:
    """Progress of a training run: a rich bar on a terminal, one plain line per epoch elsewhere (log files),
    nothing when disabled."""

    def __init__(self, name: str, epochs: int, steps_per_epoch: int | None, enabled: bool) -> None:
        self.name, self.epochs, self.enabled = name, epochs, enabled
        self.interactive = enabled and sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        if self.interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            total = epochs * steps_per_epoch if steps_per_epoch else None
            self._task = self._bar.add_task(name, total=total)

    def __enter__(self) -> EpochProgress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def step(self, epoch: int, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(
                self._task,
                advance=1,
                description=f"{self.name} epoch {epoch + 1}/{self.epochs} loss {loss:.4f}",
            )

    def epoch_done(self, record: dict[str, Any]) -> None:
        if self.enabled and not self.interactive:
            terms = " ".join(
                f"{k} {v:.4f}"
                for k, v in record.items()
                if k not in ("epoch", "steps", "lr", "time_s") and isinstance(v, float)
            )
            print(
                f"{self.name} epoch {record['epoch']}/{self.epochs} {terms} lr {record['lr']:.3g} "
                f"({record['time_s']:.1f} s)",
                file=sys.stderr,
                flush=True,
            )


class _Selection:
    """Best state on the test set through the runner's evaluator (only with ``--select-on-test``)."""

    def __init__(self, method: TorchMethod) -> None:
        self.method = method
        self.key = method.selection_metric()
        self.active = self.key is not None
        if self.active and method.test_evaluator is None:
            raise ConfigError(
                f"method {method.name!r} selects its state on the test set ({self.key[0]}/{self.key[1]}) "
                f"and needs the runner's test evaluator (run with --select-on-test), or turn selection off"
            )
        self.best_metric = float("-inf")
        self.best_state: dict[str, Any] | None = None
        self.n_evaluations = 0

    def evaluate(self) -> None:
        key, metric = self.key  # type: ignore[misc]
        self.method.train_mode(False)
        results = self.method.test_evaluator()  # type: ignore[misc]
        if key not in results or metric not in results[key]:
            raise ConfigError(
                f"{self.method.name}: the test evaluator returned no {key}/{metric} (got {sorted(results)})"
            )
        value = float(results[key][metric])
        self.n_evaluations += 1
        if value > self.best_metric:  # strictly better, as the official codes
            self.best_metric = value
            self.best_state = {k: v.clone() for k, v in self.method.state_dict().items()}
        self.method.train_mode(True)

    def reload(self) -> None:
        if self.best_state is not None:
            self.method.load_state_dict(self.best_state)
            self.method.train_mode(True)

    def state(self) -> dict[str, Any]:
        return {
            "best_metric": self.best_metric,
            "best_state": self.best_state,
            "n_evaluations": self.n_evaluations,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.best_metric = float(state["best_metric"])
        self.best_state = state["best_state"]
        self.n_evaluations = int(state["n_evaluations"])


def _mean_terms(sums: dict[str, float], n: int) -> dict[str, float]:
    return {k: v / max(n, 1) for k, v in sums.items()}


def _scheduler_state(scheduler: Any) -> dict[str, Any] | None:
    """The scheduler's position (its schedule itself comes from the config; the optimiser state holds the
    current learning rates). Only plain values, so the checkpoint loads with ``weights_only=True``."""
    if scheduler is None:
        return None
    state = scheduler.state_dict()
    return {k: state[k] for k in ("last_epoch", "_step_count", "_last_lr") if k in state}


def _load_scheduler(scheduler: Any, state: dict[str, Any]) -> None:
    for k, v in state.items():
        setattr(scheduler, k, v)


def fit_loop(method: TorchMethod, samples: Sequence[Any], *, epochs: int | None = None) -> TorchMethod:
    """Train ``method`` (already built) for ``epochs`` (default ``method.cfg.epochs``) epochs; see the module
    doc. Resumes from ``method.work_dir / fit-loop.pt`` when it holds a checkpoint of the same fingerprint.
    Fills ``method.history`` and ``method.fit_info``; leaves the modules in eval mode."""
    import torch

    from vadbench.atomic import atomic_torch_save

    n_epochs = int(epochs if epochs is not None else method.cfg.epochs)
    optimizer, scheduler = method.configure_optimizers()
    selection = _Selection(method)
    rng = np.random.default_rng(method.seed)
    torch.manual_seed(method.seed)
    key = fingerprint(method, samples)
    path = Path(method.work_dir) / RESUME_FILE if method.work_dir is not None else None
    start, method.history = 0, []
    if path is not None and path.is_file():
        state = torch.load(path, map_location=method.device, weights_only=True)
        if state.get("fingerprint") == key:
            method.load_state_dict(state["weights"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler") is not None:
                _load_scheduler(scheduler, state["scheduler"])
            rng.bit_generator.state = json.loads(state["rng"])
            torch.set_rng_state(state["torch_rng"])
            selection.load(state["selection"])
            method.load_resume_state(state["method"])
            method.history = json.loads(state["history"])
            start = int(state["epoch"])
    t_fit = time.perf_counter()
    steps_per_epoch = getattr(method, "steps_per_epoch", None)
    with EpochProgress(method.name, n_epochs, steps_per_epoch, method.progress) as bar:
        for epoch in range(start, n_epochs):
            method.train_mode(True)
            t0, sums, n = time.perf_counter(), {}, 0
            for batch in method.train_batches(samples, epoch, rng):
                out = method.training_step(batch)
                terms = dict(out) if isinstance(out, dict) else {"loss": out}
                if "loss" not in terms:
                    raise VadbenchError(
                        f"{method.name}.training_step returned no 'loss' (keys {sorted(terms)})"
                    )
                loss = terms["loss"]
                if not torch.isfinite(loss.detach()).all():
                    raise VadbenchError(
                        f"{method.name}: the loss is {float(loss.detach())} at epoch {epoch + 1}, "
                        f"step {n + 1} (diverged; lower the learning rate)"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None and method.scheduler_interval == "step":
                    scheduler.step()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach() if hasattr(v, "detach") else v)
                n += 1
                bar.step(epoch, float(loss.detach()))
                every = method.selection_every_steps
                if selection.active and every and (n - 1) % every == 0 and n - 1 != 0:
                    selection.evaluate()
            lr_used = float(optimizer.param_groups[0]["lr"])
            if scheduler is not None and method.scheduler_interval == "epoch":
                scheduler.step()
            if selection.active and not method.selection_every_steps:
                selection.evaluate()
            if selection.active and method.selection_reload_each_epoch:
                selection.reload()
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "steps": n,
                "lr": lr_used,
                "time_s": time.perf_counter() - t0,
                **_mean_terms(sums, n),
            }
            if selection.active:
                record["best_selection_metric"] = selection.best_metric
            method.history.append(record)
            method.on_epoch_end(epoch)
            bar.epoch_done(record)
            if path is not None:
                atomic_torch_save(
                    path,
                    {
                        "fingerprint": key,
                        "epoch": epoch + 1,
                        "weights": method.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": _scheduler_state(scheduler),
                        "rng": json.dumps(rng.bit_generator.state),
                        "torch_rng": torch.get_rng_state(),
                        "selection": selection.state(),
                        "method": method.resume_state(),
                        "history": json.dumps(method.history),
                    },
                )
    if selection.active and not method.selection_reload_each_epoch:
        selection.reload()
    method.fit_info = {
        "selection": "test" if selection.active else "none",
        "epochs": n_epochs,
        "resumed_from_epoch": start,
        "fit_s": time.perf_counter() - t_fit,
        "n_samples": len(samples),
    }
    if selection.active:
        method.fit_info.update(
            best_selection_metric=selection.best_metric,
            n_evaluations=selection.n_evaluations,
            selection_metric=list(selection.key),
        )
    method.train_mode(False)
    return method
