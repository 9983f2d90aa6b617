"""The engine server: the one process that owns the DuckDB file, queues jobs and serves the API.

    w2s serve [--db PATH] [--port N] [--workers K]       # or: python -m engine.cli serve

It listens on 127.0.0.1 only and writes its address, a random token and its pid to
$W2S_HOME/engine.json (mode 0600); every request must carry `Authorization: Bearer <token>`
(only the API docs at /docs and /openapi.json are open). engine.client finds it through that file.
Workers (engine.worker) post their events to /api/runs/{id}/events; the studio and the CLI read runs,
logs, metrics, curves and per-example predictions, and long-poll /api/wait for changes.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from engine import api
from engine.scheduler import Changes, Scheduler, detect_gpus, log_tail

OPEN_PATHS = {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}


def _clean(value: Any) -> Any:
    """A JSON-ready value from what pandas/duckdb return (NaN and NaT -> None, timestamps -> ISO text)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return None if str(value) == "NaT" else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        return _clean(value.item())
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _table(df: Any, **extra: Any) -> dict[str, Any]:
    data = {}
    for col in df.columns:
        series = df[col]
        if str(series.dtype).startswith("datetime"):
            data[str(col)] = [None if v is None or str(v) == "NaT" else v.isoformat() for v in series.tolist()]
        else:
            data[str(col)] = [_clean(v) for v in series.astype(object).where(series.notna(), None).tolist()]
    return {"columns": [str(c) for c in df.columns], "data": data, **extra}


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, default=str), status_code=status, media_type="application/json")


class TokenGuard:
    """ASGI middleware: 401 before anything else runs unless the bearer token matches."""

    def __init__(self, app: Any, token: str):
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            got = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(got, self.expected):
                detail = ("missing or wrong token: send 'Authorization: Bearer <token>' with the token from the "
                          "engine's engine.json in the data directory" if got else "missing token: send "
                          "'Authorization: Bearer <token>' with the token from engine.json in the data directory")
                await JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


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

    def need_run(self, run_id: str) -> str:
        status = self.store.run_status(run_id)
        if status is None:
            raise HTTPException(404, f"no run '{run_id}'; list runs with GET /api/runs or `w2s runs`")
        return status

    def expand(self, config: dict[str, Any]) -> list[Any]:
        """Config -> RunSpecs, checked as the worker would check them (models resolve); 422 with the message."""
        from engine.config import config_from_dict
        from engine.registry import UnknownName
        from engine.runner import USER_ERRORS, validate

        try:
            specs = config_from_dict(config).expand()
            seen = set()
            for spec in specs:
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

    def run_view(self, run_id: str) -> dict[str, Any]:
        row = self.store.run(run_id)
        if row is None:
            raise HTTPException(404, f"no run '{run_id}'; list runs with GET /api/runs or `w2s runs`")
        row = _clean(row)
        row["progress"] = self.progress.get(run_id) if row["status"] == "running" else None
        return row

    def registry_view(self) -> dict[str, Any]:
        if self.registry is None:
            from engine.config import ExperimentConfig, TrainConfig, field_docs
            from engine.methods import METHODS
            from engine.models import MODELS
            from engine.tasks import TASKS

            def doc(obj: Any) -> str:
                return (getattr(obj, "description", "") or obj.__doc__ or "").strip()

            self.registry = _clean({
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


def build_app(engine: Engine, on_ready: Any = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import asyncio

        engine.changes.attach(asyncio.get_running_loop())
        engine.scheduler.start()
        if on_ready is not None:
            on_ready()
        yield
        engine.scheduler.stop()

    app = FastAPI(title="Weak-to-Strong Studio engine", version="1", lifespan=lifespan,
                  description="Jobs, events and named queries over the runs database. Send "
                              "`Authorization: Bearer <token>` (token in $W2S_HOME/engine.json) with every request.")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                reason = err.get("ctx", {}).get("error", "")
                return JSONResponse({"detail": f"malformed JSON in the request body: {reason}"}, status_code=400)
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            parts.append(f"unknown field '{where}'" if err.get("type") == "extra_forbidden"
                         else f"{where}: {err.get('msg')}")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"engine error: {type(exc).__name__}: {exc}"}, status_code=500)

    store = engine.store

    @app.get("/api/health", response_model=api.Health, tags=["engine"])
    def health() -> dict[str, Any]:
        return {"ok": True, "pid": os.getpid(), "db": str(store.path), "url": engine.url,
                "workers": engine.scheduler.slots, "gpus": engine.gpus, "running": engine.scheduler.running(),
                "queued": len(store.runs_with_status("queued")), "version": engine.changes.version}

    @app.post("/api/shutdown", tags=["engine"])
    def shutdown() -> dict[str, bool]:
        """Stop the engine; running runs are marked interrupted (requeue them later)."""
        app.state.server.should_exit = True
        return {"ok": True}

    @app.get("/api/registry", response_model=api.Registry, tags=["registry"])
    def registry() -> dict[str, Any]:
        """Tasks, models and methods with their config fields (name, type, default, help): forms build on this."""
        return engine.registry_view()

    @app.post("/api/validate", response_model=api.ValidateResponse, tags=["jobs"],
              responses={422: {"model": api.ErrorBody}})
    def validate(req: api.SubmitRequest) -> Response:
        """Check a config as a submit would, without queueing anything."""
        specs = engine.expand(req.config)
        return _json({"ok": True, "runs": len(specs), "specs": [s.to_dict() for s in specs]})

    @app.post("/api/runs", response_model=api.SubmitResponse, status_code=201, tags=["jobs"],
              responses={422: {"model": api.ErrorBody}})
    def submit(req: api.SubmitRequest) -> dict[str, Any]:
        """Validate a config and queue one run per (method, seed), all under one sweep id."""
        specs = engine.expand(req.config)
        sweep = uuid.uuid4().hex[:8]
        tags = (req.tags or "").strip() or None
        run_ids = [store.create_run(spec.to_dict(), status="queued", sweep=sweep, tags=tags) for spec in specs]
        for run_id in run_ids:
            engine.changes.bump(run_id)
        engine.scheduler.wake()
        return {"sweep": sweep, "run_ids": run_ids}

    @app.get("/api/runs", response_model=api.Table, tags=["runs"])
    def runs(status: api.RunStatus | None = None, task: str | None = None, method: str | None = None,
             limit: int = Query(500, ge=1, le=100_000)) -> Response:
        """Runs, newest first, with headline metrics and the live stage / step / ETA of running ones."""
        df = store.runs(status=status, task=task, method=method, limit=limit)
        live = [engine.progress.get(r) or {} for r in df["id"]]
        for col in ("stage", "step", "total", "eta"):
            df[f"progress_{col}"] = [p.get(col) for p in live]
        return _json(_table(df))

    @app.get("/api/runs/{run_id}", response_model=api.Run, tags=["runs"], responses={404: {"model": api.ErrorBody}})
    def run(run_id: str) -> Response:
        return _json(engine.run_view(run_id))

    @app.post("/api/runs/{run_id}/cancel", response_model=api.Run, tags=["jobs"])
    def cancel(run_id: str) -> Response:
        """Queued: marked cancelled. Running: SIGTERM to its worker, SIGKILL after a grace period; rows stay."""
        status = engine.need_run(run_id)
        if status not in ("queued", "running"):
            raise HTTPException(409, f"run {run_id} is {status}; only queued or running runs can be cancelled")
        engine.scheduler.cancel(run_id)
        return _json(engine.run_view(run_id))

    @app.put("/api/runs/{run_id}/tags", response_model=api.Run, tags=["runs"])
    def set_tags(run_id: str, req: api.TagsRequest) -> Response:
        """Replace a run's tags (any status)."""
        engine.need_run(run_id)
        store.set_tags(run_id, (req.tags or "").strip() or None)
        engine.changes.bump(run_id)
        return _json(engine.run_view(run_id))

    @app.post("/api/runs/{run_id}/requeue", response_model=api.Run, tags=["jobs"])
    def requeue(run_id: str) -> Response:
        """Queue an interrupted, failed or cancelled run again; stages it finished come from the cache."""
        with engine.scheduler.lock:
            status = engine.need_run(run_id)
            if status not in ("interrupted", "failed", "cancelled"):
                raise HTTPException(409, f"run {run_id} is {status}; only interrupted, failed or cancelled runs "
                                         "can be requeued")
            store.requeue(run_id)
        engine.changes.bump(run_id)
        engine.scheduler.wake()
        return _json(engine.run_view(run_id))

    @app.get("/api/runs/{run_id}/log", response_model=api.LogTail, tags=["runs"])
    def log(run_id: str, max_bytes: int = Query(8000, ge=1, le=10_000_000)) -> dict[str, Any]:
        engine.need_run(run_id)
        path = engine.scheduler.log_path(run_id)
        return {"run_id": run_id, "path": str(path), "text": log_tail(path, max_bytes)}

    @app.get("/api/runs/{run_id}/metrics", response_model=api.Metrics, tags=["results"])
    def metrics(run_id: str) -> dict[str, Any]:
        engine.need_run(run_id)
        return {"metrics": _clean(store.run_metrics(run_id))}

    @app.get("/api/runs/{run_id}/curves", response_model=api.Table, tags=["results"])
    def curves(run_id: str) -> Response:
        """Training curves: role, name (train_loss, ...), step, value."""
        engine.need_run(run_id)
        return _json(_table(store.curves(run_id)))

    @app.get("/api/runs/{run_id}/predictions", response_model=api.Page, tags=["results"])
    def predictions(run_id: str, split: str = "test", role: str | None = None, quadrant: api.Quadrant | None = None,
                    limit: int = Query(100, ge=1, le=100_000), offset: int = Query(0, ge=0),
                    region: api.Region | None = None, deception: bool = False) -> Response:
        """A page of per-example outputs: text, gold, each role's prob / pred / correct / output record and the
        knowledge region; filtered by role, weak-vs-student quadrant, region, or deception cases only."""
        engine.need_run(run_id)
        try:
            df, total = store.predictions_page(run_id, split, role, quadrant, limit, offset, region, deception)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return _json(_table(df, total=total, offset=offset, limit=limit))

    @app.get("/api/wait", response_model=api.WaitReply, tags=["runs"])
    async def wait(since: int = 0, timeout: float = Query(25.0, ge=0, le=120), run: str | None = None
                   ) -> dict[str, Any]:
        """Long-poll: answers when anything (or run `run`) changed after version `since`, or at the timeout."""
        changed = await engine.changes.wait(since, timeout, run)
        return {"version": engine.changes.version, "changed": changed}

    # ---------------------------------------------------------------- what workers call
    @app.post("/api/runs/{run_id}/events", response_model=api.EventReply, tags=["workers"])
    def events(run_id: str, batch: api.EventBatch) -> dict[str, Any]:
        """A worker's events in order (engine.context types, plus `progress`), each stored in a transaction."""
        engine.need_run(run_id)
        return engine.apply(run_id, batch)

    @app.get("/api/stages/{key}", response_model=api.StageLookup, tags=["workers"])
    def stage(key: str) -> Response:
        """A finished stage's predictions by split (the stage cache), or found=false."""
        preds = store.stage_lookup(key)
        return _json({"found": preds is not None, "predictions": _clean(preds)})

    app.add_middleware(TokenGuard, token=engine.token)
    return app


# ---------------------------------------------------------------------------- engine.json and startup
def engine_file(home: Path) -> Path:
    return home / "engine.json"


def _write_engine_file(path: Path, info: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)
    os.replace(tmp, path)


def _already_running(home: Path, db: Path, lock_error: str | None) -> str:
    from engine.client import find_engine

    info = find_engine(home)
    if info is not None:
        return f"engine already running at {info.url} (pid {info.pid}) with database {info.db}"
    pid = re.search(r"PID (\d+)", lock_error or "")
    return (f"database {db} is held by another process (pid {pid.group(1) if pid else '?'}): an engine or a "
            "`w2s run` using it; stop it, or use another --db")


def serve(db: str | None = None, port: int = 0, workers: int | None = None, grace: float = 5.0) -> int:
    """Open the database, bind 127.0.0.1:port, write engine.json and serve until SIGINT/SIGTERM."""
    import uvicorn

    from engine.runner import data_home, default_db
    from engine.store import Store

    home = data_home()
    db_path = (Path(db) if db else default_db()).expanduser().resolve()
    if engine_file(home).exists() and (other := _already_running(home, db_path, None)).startswith("engine"):
        print(f"error: {other}", file=sys.stderr)
        return 1
    try:
        store = Store(db_path)  # applies migrations; DuckDB's file lock keeps a second engine out
    except Exception as exc:
        if "lock" in str(exc).lower():
            print(f"error: {_already_running(home, db_path, str(exc))}", file=sys.stderr)
            return 1
        raise
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        store.close()
        print(f"error: cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick another --port (0 = any free)",
              file=sys.stderr)
        return 1
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    gpus = detect_gpus()
    slots = workers if workers is not None else max(1, len(gpus))
    engine = Engine(store, home, url, slots, gpus, grace)
    path = engine_file(home)
    info = {"url": url, "token": engine.token, "pid": os.getpid(), "db": str(db_path), "workers": slots,
            "gpus": gpus, "started": time.time(), "instance": uuid.uuid4().hex[:8]}

    def announce() -> None:  # the socket is already listening, so a reader of the file can connect at once
        _write_engine_file(path, info)
        print(f"engine at {url} (pid {os.getpid()}), database {db_path}, {slots} worker slot(s)"
              f"{', GPUs ' + ','.join(gpus) if gpus else ' on CPU'}; token in {path}", file=sys.stderr, flush=True)

    app = build_app(engine, on_ready=announce)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3, lifespan="on"))
    app.state.server = server
    try:
        server.run(sockets=[sock])
    finally:
        try:
            if json.loads(path.read_text()).get("instance") == info["instance"]:
                path.unlink()
        except (OSError, ValueError):
            pass
        store.close()
    return 0
