"""The run context: how a running method reports progress, metrics and predictions, and asks the cache.

Methods and stages only ever call a `RunContext`. Every write becomes an event dict
({"type": ..., **payload}) handed to `emit`; the in-process context (the CLI) applies events to a
Store directly, the engine's worker context sends them to the engine server over its API. Both share
the progress/ETA bookkeeping here.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def coalesce(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`events` with each run of adjacent metrics events merged into one (same order of rows): the store writes
    one transaction per event, and a trainer logs a few curve points at a time."""
    out: list[dict[str, Any]] = []
    for event in events:
        if event["type"] == "metrics" and out and out[-1]["type"] == "metrics" and out[-1]["run_id"] == event["run_id"]:
            out[-1] = {**out[-1], "rows": out[-1]["rows"] + list(event["rows"])}
        else:
            out.append(event)
    return out


class Cancelled(Exception):
    """Raised inside a run when the user stopped it."""


class RunContext:
    run_id: str

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.spec: Any = None          # the RunSpec being executed (execute sets it): trackers name runs after it
        self.tags: str | None = None   # the run's tags (the worker reads them from the engine)
        self._bars: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self.tally: dict[str, float] = {}  # counts the stage in progress adds up (engine.run.stages: its facts)

    # ---------------------------------------------------------------- transport (subclasses)
    def emit(self, event: dict[str, Any]) -> Any:
        raise NotImplementedError

    def stage_lookup(self, key: str) -> dict[str, dict[str, list]] | None:
        raise NotImplementedError

    def dynamics_lookup(self, key: str) -> dict[str, list] | None:
        """A finished stage's evaluation points (engine.server.analyses.AnalysisQueries.dynamics_lookup)."""
        raise NotImplementedError

    def cancelled(self) -> bool:
        return False

    def claim_stage(self, key: str, role: str) -> bool:
        """Called on a cache miss, before training stage `key`: True = train it; False = another run trained it
        meanwhile, read it from the cache. Alone in its process (the CLI) a run always trains it."""
        return True

    def models_dir(self) -> Any:
        """Where stages that produce weights for later stages keep them (a folder per stage key)."""
        from engine import paths

        return paths.stage_models_dir()

    # ---------------------------------------------------------------- what methods call
    def check_cancelled(self) -> None:
        if self.cancelled():
            raise Cancelled(f"run {self.run_id} was cancelled")

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def count(self, name: str, n: float) -> None:
        """Add `n` to a count of the stage in progress (prompts cut to fit, tokens generated): it becomes one of the
        stage's facts when the stage is done."""
        self.tally[name] = self.tally.get(name, 0.0) + float(n)

    def progress(self, stage: str, step: int, total: int, unit: str = "step") -> None:
        """Report `step` of `total` in `stage`; the ETA is derived from the rate since the stage started."""
        now = time.monotonic()
        start = self._started.setdefault(stage, now)
        rate = step / (now - start) if step and now > start else None
        eta = (total - step) / rate if rate else None
        self.on_progress(stage, step, total, unit, eta)

    def on_progress(self, stage: str, step: int, total: int, unit: str, eta: float | None) -> None:
        pass

    def run_info(self, task_version: str, split_key: str, versions: dict[str, str]) -> None:
        self.emit({"type": "run_info", "run_id": self.run_id, "task_version": task_version,
                   "split_key": split_key, "versions": versions})

    def examples(self, task_version: str, split_key: str, examples: dict[str, list]) -> None:
        self.emit({"type": "examples", "run_id": self.run_id, "task_version": task_version,
                   "split_key": split_key, "examples": examples})

    def stage_start(self, key: str, role: str, kind: str, model: str, config: dict[str, Any]) -> None:
        self.emit({"type": "stage_start", "run_id": self.run_id, "key": key, "role": role, "kind": kind,
                   "model": model, "config": json.loads(json.dumps(config, default=str))})

    def stage_cached(self, key: str, role: str) -> None:
        self.emit({"type": "stage_cached", "run_id": self.run_id, "key": key, "role": role})
        train = getattr(self.spec, "train", None)
        train = train.for_role(role) if train is not None else None  # a role may set its own (train.roles)
        if train is not None and train.report_to:
            from engine.ml.trackers import reused

            reused(self, role, key, train.report_to)  # a marker in each tracker, not a second copy of the curves
        if train is not None and train.keep_weights:
            self.log(f"{role}: stage {key} came from the cache, so it was not trained now: its weights are there "
                     "only if the run that trained it kept them (`w2s weights RUN` says which)")

    def weights_saved(self, key: str, role: str, path: str, size: int, kind: str, files: int) -> None:
        """A stage's trained model (kind model) or LoRA adapter (kind adapter) kept as a Hugging Face folder."""
        self.emit({"type": "weights_saved", "run_id": self.run_id, "key": key, "role": role, "path": path,
                   "bytes": size, "kind": kind, "files": files})

    def stage_done(self, key: str, predictions: dict[str, dict[str, list]], seconds: float) -> None:
        self.emit({"type": "stage_done", "run_id": self.run_id, "key": key, "predictions": predictions,
                   "seconds": seconds})

    def stage_dynamics(self, key: str, checkpoint: int, step: int, epoch: float,
                       predictions: dict[str, dict[str, list]]) -> None:
        """One evaluation point of a running stage: {split: {id, prob}} after optimizer step `step`."""
        self.emit({"type": "stage_dynamics", "run_id": self.run_id, "key": key, "checkpoint": checkpoint,
                   "step": step, "epoch": epoch, "predictions": predictions})

    def stage_failed(self, key: str, error: str) -> None:
        self.emit({"type": "stage_failed", "run_id": self.run_id, "key": key, "error": error})

    def metrics(self, rows: list[dict[str, Any]]) -> None:
        """rows of {name, value, step?, stage_key?}: run-level numbers, or a stage's curve points."""
        self.emit({"type": "metrics", "run_id": self.run_id, "rows": rows})

    def status(self, status: str, error: str | None = None) -> None:
        self.emit({"type": "run_status", "run_id": self.run_id, "status": status, "error": error})

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


class LocalContext(RunContext):
    """In-process context for the CLI: events go straight to a Store; progress is a tqdm bar per stage.

    Metrics (a trainer's curve points, a few rows at a time) and training-dynamics points are held back and
    written together, in one transaction, at most every `flush_every` seconds, and always before any other event
    and at close: one DuckDB transaction costs ~15 ms, so one per logging step was ~10% of a small run's CPU
    time. Nothing else is delayed."""

    def __init__(self, store: Any, run_id: str, show_progress: bool = True, flush_every: float = 2.0):
        super().__init__(run_id)
        self.store = store
        self.show_progress = show_progress
        self.flush_every = flush_every
        self._pending: list[dict[str, Any]] = []
        self._flushed = time.monotonic()

    def emit(self, event: dict[str, Any]) -> Any:
        if event["type"] in ("metrics", "stage_dynamics"):
            self._pending.append(event)
            if time.monotonic() - self._flushed >= self.flush_every:
                self.flush()
            return None
        self.flush()
        return self.store.handle(event)

    def flush(self) -> None:
        """Write the events held back, in one transaction."""
        pending, self._pending = self._pending, []
        self._flushed = time.monotonic()
        if not pending:
            return
        with self.store.transaction():
            for event in coalesce(pending):
                self.store.handle(event)

    def stage_lookup(self, key: str) -> dict[str, dict[str, list]] | None:
        self.flush()
        return self.store.stage_lookup(key)

    def dynamics_lookup(self, key: str) -> dict[str, list] | None:
        self.flush()
        return self.store.dynamics_lookup(key)

    def models_dir(self) -> Any:
        return self.store.path.parent / "models"  # beside the database this context writes to

    def close(self) -> None:
        self.flush()
        super().close()

    def on_progress(self, stage: str, step: int, total: int, unit: str, eta: float | None) -> None:
        if not self.show_progress:
            return
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=f"{stage:<22}", unit=unit, leave=True,
                                           dynamic_ncols=True, file=sys.stderr)
        bar.total = total
        bar.update(step - bar.n)
        if step >= total:
            bar.close()
            self._bars.pop(stage, None)
