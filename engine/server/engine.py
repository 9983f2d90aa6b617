"""The engine service: what every endpoint shares (store, scheduler, live progress, the change counter, the policy
and who may see which run) and the operations behind them (expand and validate a config, apply a worker's
events, coordinate stage claims, the views of a run and the registry), plus the conversion of query results to JSON.

    engine = Engine(store, home, url, slots=1, gpus=[], policy=Policy.load(), secret=b"...")  # backend: subprocess
    specs, notes = engine.expand(config, caller)   # HTTPException 422 with the one-line message
    engine.need_run(run_id, caller, control=True)  # 404 unless the caller may see (and control) the run
    engine.apply(run_id, batch)                    # a worker's events, each in a transaction; `log` events are
                                                   # appended to the run's log file here
    engine.claim_stage(run_id, key)                # "train" / "wait" (another live run trains it) / "done"

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

from engine import api, paths
from engine.server.auth import OWNER, Caller, Identities, WorkerTokens
from engine.server.policy import Policy, PolicyError
from engine.server.scheduler import Changes, Scheduler
from engine.server.uploads import Uploads

_IMPORTS = threading.Lock()  # the config / plan / task modules are imported once, before threads validate


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


def _known_params(name: str, spec: Any) -> int | None:
    """A catalogue model's parameter count when it is known without a download (stated, or in local weights)."""
    from engine.models import ModelError, param_count

    if spec.kind == "hub" and not spec.params:
        return None
    try:
        return param_count(name)
    except ModelError:  # a zoo whose weights are not built
        return None


class Engine:
    """What the endpoints share: the store, the scheduler, live progress and the change counter."""

    def __init__(self, store: Any, home: Path, url: str, slots: int, gpus: list[str], grace: float = 5.0,
                 policy: Policy | None = None, secret: bytes | None = None, instance: str = "", backend: Any = None):
        from engine.server.backends import make_backend

        self.store, self.home, self.url, self.gpus, self.instance = store, home, url, gpus, instance
        self.policy = policy or Policy()
        self.token = secrets.token_urlsafe(32)
        self.identities = Identities(secret or secrets.token_bytes(32))
        self.workers = WorkerTokens()
        self.uploads = Uploads(store, home, self.policy)
        self.changes = Changes()
        store.on_status = lambda run_id: self.changes.bump(run_id, status=True)  # wakes GET /api/wait?status=true
        self.progress: dict[str, dict[str, Any]] = {}
        self.batches: dict[tuple[str, str], int] = {}  # (run, worker attempt) -> last applied batch number
        self.claims: dict[str, str] = {}  # stage key -> the run that was told to train it
        self._lock = threading.Lock()
        self.backend = backend or make_backend("subprocess", gpus=gpus)
        self.scheduler = Scheduler(store, home, url, slots, self.backend, self.changes, grace,
                                   worker_tokens=self.workers, env_filter=self.policy.worker_env,
                                   max_run_seconds=60 * self.policy.max_run_minutes)
        self.registry: dict[str, Any] | None = None
        self.requests = 0  # answered API requests (health reports it with the store's statement count)
        self._keys: dict[str, str] = {}  # run id -> config_key (a run's config never changes)

    def started(self) -> None:
        """After the scheduler started: requeue what a stopped engine interrupted (if the owner asked), forget
        expired uploads, and import the validation stack in the background so the first submissions are quick."""
        if self.policy.requeue_interrupted:
            for run_id in self.store.runs_with_status("interrupted"):
                with self.scheduler.lock:
                    self.store.requeue(run_id)
                self.changes.bump(run_id)
            self.scheduler.wake()
        self.uploads.sweep()
        threading.Thread(target=self.prepare, name="w2s-prepare", daemon=True).start()

    @staticmethod
    def prepare() -> None:
        """Import what validating a config needs, once and under a lock: two submissions right after a cold start
        raced on lazy imports (an empty task registry, transformers' lazy AutoConfig)."""
        with _IMPORTS:
            from engine.models import preload
            from engine.registry import METHODS, MODELS, TASKS

            for registry in (TASKS, METHODS, MODELS):
                registry.names()
            preload()

    # ------------------------------------------------------------------ who sees what
    def need_run(self, run_id: str, caller: Caller = OWNER, control: bool = False) -> str:
        """The run's status; 404 when the caller may not see it (another visitor's run is not even named) and 403
        when it may see but not control it (a public demo run)."""
        access = self.store.run_access(run_id)
        visible = access is not None and (caller.is_owner or access[1] == caller.owner_id or access[2]
                                          or (caller.role == "worker" and caller.run_id == run_id))
        if not visible:
            raise HTTPException(404, f"no run '{run_id}'; list runs with GET /api/runs or `w2s runs`")
        if control and not (caller.is_owner or access[1] == caller.owner_id):
            raise HTTPException(403, f"run {run_id} is a shared demo run; only its owner can change it")
        return access[0]

    def check_capacity(self, caller: Caller, new: int) -> None:
        """The queue caps: per visitor and in all (429 with the limit, its setting and what to do)."""
        p = self.policy
        if p.max_queue and self.store.active_runs() + new > p.max_queue:
            raise HTTPException(429, f"the server's queue is full ({p.max_queue} queued or running runs, owner "
                                     "setting W2S_MAX_QUEUE); try again when some have finished")
        if not caller.is_owner and p.max_queued:
            mine = self.store.active_runs(caller.owner_id)
            if mine + new > p.max_queued:
                raise HTTPException(429, f"you have {mine} queued or running run(s) and this sweep adds {new}; the "
                                         f"limit is {p.max_queued} per visitor (owner setting W2S_MAX_QUEUED). Wait "
                                         "for them to finish, or stop some")

    def expand(self, config: dict[str, Any], caller: Caller = OWNER, check: bool = True) -> tuple[list[Any], list[str]]:
        """Config -> (RunSpecs, notes), checked as the worker would check them (models resolve, local data loads)
        unless `check` is False (keys, types and values only: what loading a YAML file needs), and against the
        policy; 422 with the one-line message. The CLI's `w2s run` goes through the same config_from_dict, so both
        refuse the same files."""
        from engine.config import MAX_RUNS_PER_SWEEP, config_from_dict
        from engine.plan import USER_ERRORS, validate
        from engine.registry import UnknownName

        self.prepare()  # a no-op once done; waits while the startup thread is still importing
        limit = self.policy.max_queued if self.policy.public and self.policy.max_queued else MAX_RUNS_PER_SWEEP
        notes: list[str] = []
        try:
            self.policy.check_sweep(config)
            specs = config_from_dict(config, max_runs=limit).expand()
            seen = set()
            for spec in specs:
                what = spec.to_json()  # every distinct run: its models, method settings and data split
                if what not in seen:
                    seen.add(what)
                    self.policy.check_spec(spec, lambda ref: self.uploads.owns(ref, caller))
                    if not check:
                        continue
                    splits: list[Any] = []
                    notes += validate(spec, check_models=True, splits=splits)
                    for loaded in splits:
                        self.policy.check_splits(spec, loaded)
        except (*USER_ERRORS, UnknownName, PolicyError) as exc:
            raise HTTPException(422, str(exc)) from None
        except (TypeError, ValueError, KeyError) as exc:
            raise HTTPException(422, f"invalid config: {exc}") from None
        return specs, list(dict.fromkeys(notes))

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
        elif kind == "log":  # a remote worker's output: the engine keeps every run's log, whatever ran it
            path = paths.run_log(run_id, self.home)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as log:
                log.write(str(event["text"]).encode(errors="replace"))
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
            if kind in ("stage_done", "stage_failed"):
                with self._lock:
                    self.claims.pop(str(event["key"]), None)

    # ------------------------------------------------------------------ stage sharing between running runs
    def claim_stage(self, run_id: str, key: str) -> dict[str, Any]:
        """May `run_id` train stage `key` now? "done" (it is in the cache: read it), "train" (go ahead: the claim
        is yours), or "wait" (another live run is training it; ask again when something changed). A claim lives
        as long as its run is running: a dead, cancelled or finished holder frees it. Claims made before an
        engine restart are read back from the stages table (the holder's running stage row)."""
        with self._lock:
            state = self.store.stage_state(key)  # (status, first_run) or None
            if state is not None and state[0] == "done":
                self.claims.pop(key, None)
                return {"state": "done", "holder": state[1]}
            holder = self.claims.get(key)
            if holder is None and state is not None and state[0] == "running":
                holder = state[1]
            if holder and holder != run_id and self.store.run_status(holder) == "running":
                return {"state": "wait", "holder": holder}
            self.claims[key] = run_id
            return {"state": "train", "holder": run_id}

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

    def duplicates(self, specs: list[Any], caller: Caller = OWNER) -> tuple[list[str], list[dict[str, Any]]]:
        """Each spec's config_key, and the queued, running or done runs the caller can see that already have one's
        setup and seed (a visitor is never told of another visitor's runs)."""
        from engine.config import config_key

        keys = [config_key(spec.to_dict()) for spec in specs]
        wanted = {(k, spec.seed) for k, spec in zip(keys, specs)}
        found = []
        for run_id, status, seed, config in self.store.run_configs():
            if status not in ("queued", "running", "done") or (self.config_key(run_id, config), seed) not in wanted:
                continue
            try:
                self.need_run(run_id, caller)
            except HTTPException:
                continue
            found.append({"run_id": run_id, "status": status, "method": json.loads(config).get("method"),
                          "seed": seed, "config_key": self.config_key(run_id, config)})
        return keys, found

    def delete(self, run_id: str, caller: Caller = OWNER, collect: bool = False) -> dict[str, Any]:
        """Remove a finished run (and with `collect` the stages no other run uses) and its log; 409 while active."""
        with self.scheduler.lock:
            status = self.need_run(run_id, caller, control=True)
            if status in api.ACTIVE:
                raise HTTPException(409, f"run {run_id} is {status}; stop it first (POST /api/runs/{run_id}/cancel "
                                         "or `w2s cancel`), then delete it")
            counts = self.store.delete_run(run_id, collect=collect)
        self.scheduler.log_path(run_id).unlink(missing_ok=True)
        self._keys.pop(run_id, None)
        self.changes.bump(run_id)
        return {"run_id": run_id, **counts}

    def run_view(self, run_id: str, caller: Caller = OWNER, curves: bool = False, log: bool = False
                 ) -> dict[str, Any]:
        """One run with its live progress; with `curves` / `log` also its training curves and log tail, so a
        client showing a run needs one request."""
        from engine.server.scheduler import log_tail

        self.need_run(run_id, caller)
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
        return self.shown(row, caller)

    @staticmethod
    def shown(row: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """A run as this caller sees it: visitors learn whether a run is theirs, never who else owns one."""
        owner = row.pop("owner", "") or ""
        row["mine"] = caller.is_owner or owner == caller.owner_id
        if caller.is_owner:
            row["owner"] = owner
        row["public"] = bool(row.get("public"))
        return row

    def presets(self) -> list[dict[str, Any]]:
        from engine.config import presets

        return clean(presets())

    def upload(self, name: str, data: bytes, caller: Caller = OWNER) -> dict[str, Any]:
        """Keep an uploaded data file where workers can read it (content-addressed, so a re-upload is the same
        file), owned by the caller, and describe it: reference, size, columns, row count, empty cells per column
        and the first rows. 422 when it cannot be read, 413 / 429 over a cap."""
        self.uploads.sweep()
        info, df = self.uploads.add(name, data, caller)
        distinct = {str(c): int(df[c].nunique(dropna=True)) for c in df.columns}
        values = {str(c): clean(df[c].dropna().unique()[:8].tolist()) for c in df.columns}
        missing = {str(c): int(df[c].isna().sum()) for c in df.columns}
        return {**info, "rows": int(len(df)), "columns": [str(c) for c in df.columns], "distinct": distinct,
                "values": values, "missing": missing, "preview": as_table(df.head(5))}

    def registry_view(self) -> dict[str, Any]:
        if self.registry is None:
            from engine.config import ExperimentConfig, TrainConfig, field_docs
            from engine.registry import METHODS, MODELS, TASKS
            from engine.roles import ROLES

            def doc(obj: Any) -> str:
                return (getattr(obj, "description", "") or obj.__doc__ or "").strip()

            self.registry = clean({
                "tasks": [{"name": n, "description": doc(c), "fields": field_docs(c.Config),
                           "extra": {"kind": c.kind, "version": getattr(c, "version", None)}} for n, c in TASKS.items()],
                "methods": [{"name": n, "description": doc(c), "fields": field_docs(c.Config),
                             "extra": {"task_kinds": list(c.task_kinds)}} for n, c in METHODS.items()],
                "models": [{"name": n, "description": m.description, "fields": [],
                            "extra": {"source": m.source, "kind": m.kind, "default_lr": m.default_lr,
                                      "params": _known_params(n, m)}}
                           for n, m in MODELS.items()],
                "train": field_docs(TrainConfig), "experiment": field_docs(ExperimentConfig),
                "train_roles": list(ROLES)})  # the roles train.roles may override (a per-role form)
            self.registry = json.loads(json.dumps(self.registry, default=str))
        return self.registry
