"""The engine service: what every endpoint shares (store, scheduler, live progress, the change counter) and the
operations behind them (expand and validate a config, apply a worker's events, the views of a run and the
registry), plus the conversion of query results to JSON.

    engine = Engine(store, home, url, slots=1, gpus=[])
    specs = engine.expand(config)                  # HTTPException 422 with the one-line message
    engine.apply(run_id, batch)                    # a worker's events, each in a transaction

engine.server.app maps HTTP routes onto this; engine.server.serve builds it and runs uvicorn.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from fastapi.responses import Response

from engine import api
from engine.server.scheduler import Changes, Scheduler


def clean(value: Any) -> Any:
    """A JSON-ready value from what pandas/duckdb return (NaN and NaT -> None, timestamps -> ISO text)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return None if str(value) == "NaT" else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        return clean(value.item())
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def as_table(df: Any, **extra: Any) -> dict[str, Any]:
    data = {}
    for col in df.columns:
        series = df[col]
        if str(series.dtype).startswith("datetime"):
            data[str(col)] = [None if v is None or str(v) == "NaT" else v.isoformat() for v in series.tolist()]
        else:
            data[str(col)] = [clean(v) for v in series.astype(object).where(series.notna(), None).tolist()]
    return {"columns": [str(c) for c in df.columns], "data": data, **extra}


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, default=str), status_code=status, media_type="application/json")


class Engine:
    """What the endpoints share: the store, the scheduler, live progress and the change counter."""

    def __init__(self, store: Any, home: Path, url: str, slots: int, gpus: list[str], grace: float = 5.0):
        self.store, self.home, self.url, self.gpus = store, home, url, gpus
        self.token = secrets.token_urlsafe(32)
        self.changes = Changes()
        self.progress: dict[str, dict[str, Any]] = {}
        self.batches: dict[tuple[str, str], int] = {}  # (run, worker attempt) -> last applied batch number
        self._lock = threading.Lock()
        self.scheduler = Scheduler(store, home, url, self.token, slots, gpus, self.changes, grace)
        self.registry: dict[str, Any] | None = None
        self.requests = 0  # answered API requests (health reports it with the store's statement count)
        self._keys: dict[str, str] = {}  # run id -> config_key (a run's config never changes)

    def need_run(self, run_id: str) -> str:
        status = self.store.run_status(run_id)
        if status is None:
            raise HTTPException(404, f"no run '{run_id}'; list runs with GET /api/runs or `w2s runs`")
        return status

    def expand(self, config: dict[str, Any], check: bool = True) -> list[Any]:
        """Config -> RunSpecs, checked as the worker would check them (models resolve, local data loads) unless
        `check` is False (keys, types and values only: what loading a YAML file needs); 422 with the message.
        The CLI's `w2s run` goes through the same config_from_dict, so both refuse the same files."""
        from engine.config import config_from_dict
        from engine.plan import USER_ERRORS, validate
        from engine.registry import UnknownName

        try:
            specs = config_from_dict(config).expand()
            seen = set()
            for spec in specs if check else ():
                what = spec.to_json()  # every distinct run: its models, method settings and data split
                if what not in seen:
                    seen.add(what)
                    validate(spec, check_models=True)
        except (*USER_ERRORS, UnknownName) as exc:
            raise HTTPException(422, str(exc)) from None
        except (TypeError, ValueError, KeyError) as exc:
            raise HTTPException(422, f"invalid config: {exc}") from None
        return specs

    def apply(self, run_id: str, batch: api.EventBatch) -> dict[str, Any]:
        """Apply a worker's batch in order; each store event is its own transaction."""
        import duckdb

        key = (run_id, batch.attempt)
        with self._lock:
            if self.batches.get(key, -1) >= batch.seq:  # a retry of a batch already applied
                return {"applied": 0, "cancelled": self.store.run_status(run_id) in ("cancelled", "interrupted")}
        applied = 0
        try:
            for i, event in enumerate(batch.events):
                kind = event.get("type") if isinstance(event, dict) else None
                if event.get("run_id", run_id) != run_id:
                    raise HTTPException(400, f"event {i} ({kind}) is for run {event.get('run_id')!r}, not {run_id!r}")
                try:
                    self._apply_one(run_id, kind, event)
                except duckdb.Error:
                    raise
                except (TypeError, KeyError, ValueError) as exc:
                    raise HTTPException(400, f"event {i} ({kind}) was rejected: {type(exc).__name__}: {exc}") from None
                applied += 1
        except HTTPException:
            raise
        except Exception as exc:  # a full disk or a database error: the run fails, the engine keeps serving
            message = f"the engine could not store this run's events: {type(exc).__name__}: {exc}"
            try:
                with self.scheduler.lock:
                    if self.store.run_status(run_id) == "running":
                        self.store.set_status(run_id, "failed", error=message)
            except Exception:
                pass
            self.changes.bump(run_id)
            raise HTTPException(500, message) from None
        finally:
            if applied:
                self.changes.bump(run_id)
        with self._lock:
            self.batches[key] = batch.seq
        return {"applied": applied, "cancelled": self.store.run_status(run_id) in ("cancelled", "interrupted")}

    def _apply_one(self, run_id: str, kind: str | None, event: dict[str, Any]) -> None:
        if kind == "progress":
            self.progress[run_id] = {"stage": str(event["stage"]), "step": int(event["step"]),
                                     "total": int(event["total"]), "unit": str(event.get("unit", "step")),
                                     "eta": event.get("eta"), "updated": time.time()}
        elif kind == "run_status":  # a worker's own report counts only while the run is running
            if event.get("status") not in ("done", "failed", "cancelled"):
                raise ValueError(f"a worker may report done, failed or cancelled, not {event.get('status')!r}")
            with self.scheduler.lock:
                if self.store.run_status(run_id) == "running":
                    self.store.set_status(run_id, event["status"], event.get("error"), event.get("log_tail"))
            self.progress.pop(run_id, None)
            self.scheduler.wake()
        else:
            self.store.handle({**event, "run_id": run_id})

    # ------------------------------------------------------------------ setups and duplicates
    def config_key(self, run_id: str, config: Any) -> str | None:
        """A stored run's setup identity (engine.config.config_key), computed once per run."""
        from engine.config import config_key

        if run_id not in self._keys:
            if isinstance(config, str):
                config = json.loads(config)
            if not isinstance(config, dict):
                return None
            self._keys[run_id] = config_key(config)
        return self._keys[run_id]

    def duplicates(self, specs: list[Any]) -> tuple[list[str], list[dict[str, Any]]]:
        """Each spec's config_key, and the queued, running or done runs that already have one's setup and seed."""
        from engine.config import config_key

        keys = [config_key(spec.to_dict()) for spec in specs]
        wanted = {(k, spec.seed) for k, spec in zip(keys, specs)}
        found = []
        for run_id, status, seed, config in self.store.run_configs():
            if status in ("queued", "running", "done") and (self.config_key(run_id, config), seed) in wanted:
                found.append({"run_id": run_id, "status": status, "method": json.loads(config).get("method"),
                              "seed": seed, "config_key": self.config_key(run_id, config)})
        return keys, found

    def delete(self, run_id: str, collect: bool) -> dict[str, Any]:
        """Remove a finished run (and with `collect` the stages no other run uses) and its log; 409 while active."""
        with self.scheduler.lock:
            status = self.need_run(run_id)
            if status in api.ACTIVE:
                raise HTTPException(409, f"run {run_id} is {status}; stop it first (POST /api/runs/{run_id}/cancel "
                                         "or `w2s cancel`), then delete it")
            counts = self.store.delete_run(run_id, collect=collect)
        self.scheduler.log_path(run_id).unlink(missing_ok=True)
        self._keys.pop(run_id, None)
        self.changes.bump(run_id)
        return {"run_id": run_id, **counts}

    def run_view(self, run_id: str, curves: bool = False, log: bool = False) -> dict[str, Any]:
        """One run with its live progress; with `curves` / `log` also its training curves and log tail, so a
        client showing a run needs one request."""
        from engine.server.scheduler import log_tail

        row = self.store.run(run_id)
        if row is None:
            raise HTTPException(404, f"no run '{run_id}'; list runs with GET /api/runs or `w2s runs`")
        row = clean(row)
        row["progress"] = self.progress.get(run_id) if row["status"] == "running" else None
        row["config_key"] = self.config_key(run_id, row.get("config"))
        if curves:
            row["curves"] = as_table(self.store.curves(run_id))
        if log:
            row["log"] = log_tail(self.scheduler.log_path(run_id), 8000)
        return row

    def presets(self) -> list[dict[str, Any]]:
        from engine.config import presets

        return clean(presets())

    def upload(self, name: str, data: bytes) -> dict[str, Any]:
        """Keep an uploaded data file where workers can read it (content-addressed, so a re-upload is the same
        file) and describe it: path, size, columns, row count and the first rows. 422 when it cannot be read."""
        import hashlib

        from engine import paths
        from engine.tasks._files import FORMATS, read_table
        from engine.tasks.base import TaskError

        safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in Path(name).name).strip(".-") or "data"
        suffix = Path(safe.lower().removesuffix(".gz")).suffix
        if suffix not in FORMATS:
            raise HTTPException(422, f"{name}: unknown file type; upload a .csv, .tsv, .jsonl, .json or .parquet "
                                     "file (optionally .gz)")
        folder = paths.uploads_dir(self.home)
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / f"{hashlib.sha256(data).hexdigest()[:16]}-{safe}"
        if not dest.exists():
            tmp = dest.with_name(dest.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(dest)
        try:
            df = read_table(str(dest))
        except TaskError as exc:
            raise HTTPException(422, str(exc).replace(str(dest), name)) from None
        distinct = {str(c): int(df[c].nunique(dropna=True)) for c in df.columns}
        values = {str(c): clean(df[c].dropna().unique()[:8].tolist()) for c in df.columns}
        return {"name": name, "path": str(dest), "bytes": len(data), "rows": int(len(df)),
                "columns": [str(c) for c in df.columns], "distinct": distinct, "values": values,
                "preview": as_table(df.head(5))}

    def registry_view(self) -> dict[str, Any]:
        if self.registry is None:
            from engine.config import ExperimentConfig, TrainConfig, field_docs
            from engine.registry import METHODS, MODELS, TASKS

            def doc(obj: Any) -> str:
                return (getattr(obj, "description", "") or obj.__doc__ or "").strip()

            self.registry = clean({
                "tasks": [{"name": n, "description": doc(c), "fields": field_docs(c.Config),
                           "extra": {"kind": c.kind, "version": getattr(c, "version", None)}} for n, c in TASKS.items()],
                "methods": [{"name": n, "description": doc(c), "fields": field_docs(c.Config),
                             "extra": {"task_kinds": list(c.task_kinds)}} for n, c in METHODS.items()],
                "models": [{"name": n, "description": m.description, "fields": [],
                            "extra": {"source": m.source, "kind": m.kind, "default_lr": m.default_lr}}
                           for n, m in MODELS.items()],
                "train": field_docs(TrainConfig), "experiment": field_docs(ExperimentConfig)})
            self.registry = json.loads(json.dumps(self.registry, default=str))
        return self.registry
