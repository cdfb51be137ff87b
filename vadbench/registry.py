"""Registries of methods, datasets and backbones, with entry-point plugins.

Built-ins register themselves lazily by dotted path (nothing heavy is imported until a name is looked up);
third-party packages register through the entry-point groups ``vadbench.methods`` / ``vadbench.datasets``.

Example:
    >>> from vadbench.registry import Registry
    >>> reg = Registry("demo")
    >>> reg.add("thing", "collections:OrderedDict")
    >>> reg.get("thing").__name__
    'OrderedDict'
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from vadbench.errors import ConfigError


class Registry:
    """Name -> object, where the object is given directly or as a lazy ``"module:attr"`` path."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, Any] = {}
        self._aliases: dict[str, str] = {}
        self._plugins_loaded = False

    def add(self, name: str, target: Any, aliases: tuple[str, ...] | list[str] = ()) -> None:
        """Register ``target`` (an object or a ``"module:attr"`` string) under ``name`` (and ``aliases``).
        A class's own ``aliases`` attribute is registered too when it is looked up."""
        self._items[name] = target
        for alias in aliases:
            self._aliases[alias] = name

    def register(self, name: str):
        """Decorator form of :meth:`add`."""

        def deco(obj: Any) -> Any:
            self.add(name, obj)
            return obj

        return deco

    def _load_plugins(self) -> None:
        if self._plugins_loaded or self.group is None:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.group):
            self._items.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        """All registered names (not the aliases), sorted."""
        self._load_plugins()
        return sorted(self._items)

    def aliases(self) -> dict[str, str]:
        """Alias -> registered name."""
        self._load_plugins()
        return dict(self._aliases)

    def get(self, name: str) -> Any:
        """The object registered as ``name`` or one of its aliases (importing it on first use)."""
        self._load_plugins()
        name = self._aliases.get(name, name)
        if name not in self._items:
            for known in list(self._items):  # aliases declared on classes (imported on demand)
                if name in self._declared_aliases(known):
                    return self.get(known)
            import difflib

            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}{hint}; known: {', '.join(self.names()) or '(none)'}"
            )
        target = self._items[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
            self._items[name] = target = obj
        return target

    def _declared_aliases(self, name: str) -> tuple[str, ...]:
        try:
            return tuple(getattr(self.get(name), "aliases", ()) or ())
        except Exception:  # noqa: BLE001 - a broken plugin must not hide the other names
            return ()


METHODS = Registry("method", "vadbench.methods")
DATASETS = Registry("dataset", "vadbench.datasets")
BACKBONES = Registry("backbone")

# Built-ins (lazy). Each module fills in its entry here when it exists.
DATASETS.add("ucf-crime", "vadbench.datasets.ucf_crime:UCFCrime")
DATASETS.add("xd-violence", "vadbench.datasets.xd_violence:XDViolence")
DATASETS.add("shanghaitech", "vadbench.datasets.shanghaitech:ShanghaiTech")
DATASETS.add("avenue", "vadbench.datasets.avenue:Avenue")
DATASETS.add("ped2", "vadbench.datasets.ped2:Ped2")
DATASETS.add("nwpu-campus", "vadbench.datasets.nwpu_campus:NWPUCampus")
DATASETS.add("synthetic", "vadbench.datasets.synthetic:Synthetic")

METHODS.add("vadclip", "vadbench.methods.vadclip:VadCLIP")
METHODS.add("vlavad", "vadbench.methods.vlavad:VLAVAD")
METHODS.add("cbcg", "vadbench.methods.cbcg:CBCG", aliases=("clustering-guided",))
# the standard baselines (vadbench/methods/baselines/)
METHODS.add("random", "vadbench.methods.baselines.random:RandomScores")
METHODS.add("position", "vadbench.methods.baselines.position:PositionScores")
METHODS.add("frame-diff", "vadbench.methods.baselines.frame_diff:FrameDiff")
METHODS.add("knn", "vadbench.methods.baselines.knn:KNN")
METHODS.add("mil", "vadbench.methods.baselines.mil:MIL")
METHODS.add("copra", "vadbench.methods.copra:Copra")
METHODS.add("adsm", "vadbench.methods.adsm:ADSM", aliases=("score-matching",))

BACKBONES.add("clip", "vadbench.backbones.clip:load_clip")
BACKBONES.add("vlm", "vadbench.backbones.vlm:VLM")
BACKBONES.add("detector", "vadbench.backbones.detector:make_detector")
