"""A tiny name -> object registry, after lm-evaluation-harness, and every registry instance.

    from engine.registry import TASKS, METHODS, MODELS, SCORERS, TRACKERS
    @TASKS.register("sciq")
    class SciQ(Task): ...
    TASKS.get("sciq")          # -> SciQ
    TASKS.get("sciqq")         # KeyError: unknown task 'sciqq'; did you mean 'sciq'? available: ...

Entries are plain objects; importing a catalogue module must never import torch or probe a GPU. The four
instances live here, in the lowest module, so that config, tasks, methods and models all import them from one
place without cycles; each loads its package (one file per entry) on first lookup. TRACKERS (with tracker_names,
which checks a `train.report_to`) names the trackers a run may log to.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
# One lock for every registry: loading one package may look up another (a method module reading TASKS), and
# the engine validates configs in several threads at once right after it starts.
_LOAD_LOCK = threading.RLock()


class UnknownName(KeyError, ValueError):
    """Raised by Registry.get for a name nobody registered; str() is the user-facing message."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str | None = None):
        self.kind = kind
        self._package = package  # modules of this package are imported on first lookup
        self._entries: dict[str, T] = {}
        self._loaded = package is None
        self._loading = False

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = obj
        try:
            obj.registry_name = name  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass

    def _load(self) -> None:
        """Import every module of the package once. Other threads wait until it is complete: marking the
        registry loaded before its modules were imported let a concurrent lookup see it empty ("unknown task
        'world_size'; available: " for submissions right after a cold start)."""
        if self._loaded:
            return
        with _LOAD_LOCK:
            if self._loaded or self._loading:  # _loading: a lookup from inside one of our own imports
                return
            self._loading = True
            try:
                pkg = importlib.import_module(self._package)
                for mod in pkgutil.iter_modules(getattr(pkg, "__path__", [])):  # a module registers on import
                    if not mod.name.startswith("_"):
                        importlib.import_module(f"{self._package}.{mod.name}")
                self._loaded = True
            finally:
                self._loading = False

    def get(self, name: str) -> T:
        self._load()
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, self._entries, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ";"
        raise UnknownName(f"unknown {self.kind} '{name}'{hint} available: {', '.join(sorted(self._entries))}")

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._entries.items()))

    def __contains__(self, name: Any) -> bool:
        self._load()
        return name in self._entries


TASKS: Registry = Registry("task", package="engine.tasks")
METHODS: Registry = Registry("method", package="engine.methods")
MODELS: Registry = Registry("model", package="engine.models")
SCORERS: Registry = Registry("scorer", package="engine.ml.scorers")

# The trackers `train.report_to` may name -> the package each needs (engine.ml.trackers opens their runs).
TRACKERS = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}


def tracker_names(names: Any) -> list[str]:
    """report_to as a list of tracker names, each known and installed ('none' or empty = no tracker)."""
    import importlib.util

    parts = [p.strip() for n in ([names] if isinstance(names, str) else names or []) for p in str(n).split(",")]
    names = [n for n in dict.fromkeys(parts) if n and n != "none"]
    for name in names:
        if name not in TRACKERS:
            raise ValueError(f"report_to: unknown tracker '{name}'{_suggest(name, TRACKERS)}; use "
                             f"{', '.join(TRACKERS)} or none")
        if importlib.util.find_spec(TRACKERS[name]) is None:
            how = "pip install wandb" if name == "wandb" else "pip install -e .[trackers] (the project's extra)"
            raise ValueError(f"report_to: {name} is not installed here. Fix: {how}")
    return names


def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
