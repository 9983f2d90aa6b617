"""The engine's HTTP API: one router per resource over the service in engine.server.engine.

    app = build_app(engine)          # engine.server.serve runs it with uvicorn on 127.0.0.1

Every request must carry `Authorization: Bearer <token>` (token in $W2S_HOME/engine.json; only the API docs at
/docs and /openapi.json and /api/ping are open); engine.server.auth decides who the caller is (owner, one visitor
of a public studio, one run's worker) and every run-scoped route checks that the caller may see or control it.
Routers: engine (ping, health, policy, visitors, owner login, shutdown), registry (and presets), data (uploads),
jobs (validate, submit, cancel, requeue), runs (list, one run, tags, public, log, long-poll), results (metrics,
curves, per-example predictions), analyses (training dynamics, statistics across seeds: engine.server.analyses_api),
workers (events, stage claims, the stage cache) and the toolbox (SQL, snapshot, exports, kept weights:
engine.server.toolbox). Request and reply types are in engine.api, so /docs documents them.
"""

from __future__ import annotations

import hmac
import json
import os
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from engine import api
from engine.server.analyses_api import analyses_router
from engine.server.auth import Caller, Guard, caller_of, need_owner
from engine.server.engine import Engine, as_table, clean, json_response
from engine.server.scheduler import log_tail
from engine.server.toolbox import toolbox_router

WHO = Depends(caller_of)
MAX_OFFSET = 10**12  # a page offset beyond any table (DuckDB's OFFSET is a 64-bit integer)


class CountRequests:
    """ASGI middleware: counts the HTTP requests the engine answers (health reports it: what a view costs)."""

    def __init__(self, app: Any, engine: Engine):
        self.app, self.engine = app, engine

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.engine.requests += 1
        await self.app(scope, receive, send)


def engine_router(engine: Engine, app: FastAPI) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["engine"])
    store = engine.store

    @router.get("/ping", response_model=api.Ping)
    async def ping() -> dict[str, Any]:
        """Which engine answers here (no token needed): clients compare it with engine.json's instance."""
        return {"instance": engine.instance, "pid": os.getpid()}

    @router.get("/health", response_model=api.Health)
    def health(caller: Caller = WHO) -> dict[str, Any]:
        running = [r for r in engine.scheduler.running() if _sees(engine, r, caller)]
        return {"ok": True, "pid": os.getpid(), "db": str(store.path), "url": engine.url,
                "backend": engine.backend.name, "workers": engine.scheduler.slots, "gpus": engine.gpus,
                "running": running,
                "queued": len(store.runs_with_status("queued")), "version": engine.changes.version,
                "instance": engine.instance, "public": engine.policy.public, "requests": engine.requests,
                "statements": store.statements}

    @router.get("/policy", response_model=api.PolicyView)
    def policy(caller: Caller = WHO) -> dict[str, Any]:
        """The mode and the limits this engine enforces (the studio shows them); every setting for the owner."""
        p = engine.policy
        limits = {s["name"]: s["value"] for s in p.settings() if s["name"].startswith("max_")}
        return {"public": p.public, "owner_login": p.owner_password is not None, "limits": limits,
                "upload_hours": p.upload_hours, "export_hours": p.export_hours, "is_owner": caller.is_owner,
                "settings": p.settings() if caller.is_owner else [],
                "hf_home": os.environ.get("HF_HOME") if caller.is_owner else None}

    @router.post("/visitors", response_model=api.Visitor, status_code=201)
    def new_visitor(caller: Caller = WHO) -> dict[str, Any]:
        """A new visitor identity (the studio keeps the token in the visitor's browser and sends it back in the
        X-W2S-Visitor header)."""
        need_owner(caller, "create visitor identities")
        visitor, token = engine.identities.mint()
        return {"visitor": visitor, "token": token, "owner": False}

    @router.post("/owner-login", response_model=api.Visitor)
    def owner_login(req: api.OwnerLogin, caller: Caller = WHO) -> dict[str, Any]:
        """Check the owner password (W2S_OWNER_PASSWORD); the token it returns makes a studio session the owner."""
        need_owner(caller, "check the owner password")
        password = engine.policy.owner_password
        if password is None:
            raise HTTPException(404, "no owner login on this server: set the W2S_OWNER_PASSWORD secret")
        if not hmac.compare_digest(req.password.encode(), password.encode()):
            time.sleep(1.0)  # slows a guessing script down; a person does not notice
            raise HTTPException(403, "wrong owner password")
        return {"visitor": "owner", "token": engine.identities.owner_token(password), "owner": True}

    @router.post("/shutdown")
    def shutdown(caller: Caller = WHO) -> dict[str, bool]:
        """Stop the engine (`w2s stop`); running runs are marked interrupted (requeue them later)."""
        need_owner(caller, "stop the engine")
        app.state.server.should_exit = True
        return {"ok": True}

    return router


def registry_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["registry"])

    @router.get("/registry", response_model=api.Registry)
    def registry() -> dict[str, Any]:
        """Tasks, models and methods with their config fields (name, type, default, help): forms build on this."""
        return engine.registry_view()

    @router.get("/presets", response_model=list[api.Preset])
    def presets() -> list[dict[str, Any]]:
        """The shipped experiment presets (assets/configs), demo first."""
        return engine.presets()

    return router


def data_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["data"])

    @router.post("/uploads", response_model=api.Upload, status_code=201, responses={422: {"model": api.ErrorBody}})
    async def upload(request: Request, name: str = Query(..., max_length=200, description="the file's name (its "
                                                                     "extension sets the format)"),
                     caller: Caller = WHO) -> dict[str, Any]:
        """Store a data file (the request body) where workers can read it; use the returned path in a task."""
        data = await request.body()
        return await anyio.to_thread.run_sync(engine.upload, name, data, caller)  # reading a file: off the loop

    return router


def jobs_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["jobs"])
    store = engine.store

    @router.post("/validate", response_model=api.ValidateResponse, responses={422: {"model": api.ErrorBody}})
    def validate(req: api.SubmitRequest, caller: Caller = WHO, full: bool = Query(
            True, description="false: keys, types and values only (no model or data checks)")) -> Response:
        """Check a config as a submit would, without queueing anything; name the existing runs it would repeat."""
        specs, notes = engine.expand(req.config, caller, check=full)
        keys, duplicates = engine.duplicates(specs, caller)
        return json_response({"ok": True, "runs": len(specs), "specs": [s.to_dict() for s in specs], "notes": notes,
                              "config_keys": keys, "duplicates": duplicates})

    @router.post("/runs", response_model=api.SubmitResponse, status_code=201,
                 responses={409: {"model": api.ErrorBody}, 422: {"model": api.ErrorBody}})
    def submit(req: api.SubmitRequest, caller: Caller = WHO) -> dict[str, Any]:
        """Validate a config and queue one run per (method, seed), all under one sweep id, in one transaction. A run
        whose setup and seed an existing run already has is created, skipped or refused as `on_duplicate` says."""
        specs, notes = engine.expand(req.config, caller)
        keys, duplicates = engine.duplicates(specs, caller)
        if duplicates and req.on_duplicate == "refuse":
            ids = ", ".join(d["run_id"] for d in duplicates)
            raise HTTPException(409, f"{len(duplicates)} run(s) with this setup and seed already exist ({ids}); "
                                     "open them, or submit with on_duplicate=create to run them again (or skip to "
                                     "queue only the new ones)")
        taken = {(d["config_key"], d["seed"]) for d in duplicates}
        todo = [s for k, s in zip(keys, specs) if req.on_duplicate != "skip" or (k, s.seed) not in taken]
        sweep = uuid.uuid4().hex[:8] if todo else None
        tags = (req.tags or "").strip() or None
        run_ids: list[str] = []
        if todo:
            with engine.scheduler.lock:  # the caps and the insert together: two submits cannot both slip under a cap
                engine.check_capacity(caller, len(todo))
                run_ids = store.create_runs([spec.to_dict() for spec in todo], status="queued", sweep=sweep,
                                            tags=tags, owner=caller.owner_id)
        for run_id in run_ids:
            engine.changes.bump(run_id)
        engine.scheduler.wake()
        return {"sweep": sweep, "run_ids": run_ids, "notes": notes, "duplicates": duplicates,
                "skipped": len(specs) - len(todo)}

    @router.post("/runs/{run_id}/cancel", response_model=api.Run)
    def cancel(run_id: str, caller: Caller = WHO) -> Response:
        """Queued: marked cancelled. Running: SIGTERM to its worker, SIGKILL after a grace period; rows stay."""
        status = engine.need_run(run_id, caller, control=True)
        if status not in api.CANCELLABLE:
            raise HTTPException(409, f"run {run_id} is {status}; only queued or running runs can be cancelled")
        engine.scheduler.cancel(run_id)
        return json_response(engine.run_view(run_id, caller))

    @router.post("/runs/{run_id}/requeue", response_model=api.Run)
    def requeue(run_id: str, caller: Caller = WHO) -> Response:
        """Queue an interrupted, failed or cancelled run again; stages it finished come from the cache."""
        with engine.scheduler.lock:
            status = engine.need_run(run_id, caller, control=True)
            if status not in api.REQUEUEABLE:
                raise HTTPException(409, f"run {run_id} is {status}; only interrupted, failed or cancelled runs "
                                         "can be requeued")
            engine.check_capacity(caller, 1)
            store.requeue(run_id)
        engine.changes.bump(run_id)
        engine.scheduler.wake()
        return json_response(engine.run_view(run_id, caller))

    return router


def runs_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["runs"])
    store = engine.store

    @router.get("/runs", response_model=api.Table)
    def runs(status: api.RunStatus | None = None, task: str | None = None, method: str | None = None,
             limit: int = Query(500, ge=1, le=100_000), caller: Caller = WHO,
             configs: bool = Query(False, description="add each run's resolved config (a mapping)")) -> Response:
        """Runs, newest first, with headline metrics, the live stage / step / ETA of running ones and each run's
        config_key (its setup: the resolved config minus seed and name); a visitor sees their own runs and the
        public ones (column `mine` says which are theirs)."""
        df = store.runs(status=status, task=task, method=method, limit=limit,
                        visible_to=None if caller.is_owner else caller.owner_id, with_config=True)
        live = [engine.progress.get(r) or {} for r in df["id"]]
        for col in ("stage", "step", "total", "eta"):
            df[f"progress_{col}"] = [p.get(col) for p in live]
        df["mine"] = [caller.is_owner or o == caller.owner_id for o in df["owner"]]
        if not caller.is_owner:
            df = df.drop(columns=["owner"])
        df["config_key"] = [engine.config_key(r, c) for r, c in zip(df["id"], df["config"])]
        if configs:
            df["config"] = [json.loads(c) if isinstance(c, str) else None for c in df["config"]]
        else:
            df = df.drop(columns=["config"])
        return json_response(as_table(df))

    @router.get("/runs/{run_id}", response_model=api.Run, responses={404: {"model": api.ErrorBody}})
    def run(run_id: str, caller: Caller = WHO, curves: bool = Query(False, description="add its training curves"),
            log: bool = Query(False, description="add the end of its worker log")) -> Response:
        """One run: its row, stages, live progress and config_key (and, when asked, its curves and log tail)."""
        return json_response(engine.run_view(run_id, caller, curves=curves, log=log))

    @router.delete("/runs/{run_id}", response_model=api.DeleteReply, responses={409: {"model": api.ErrorBody}})
    def delete(run_id: str, caller: Caller = WHO, stages: Literal["keep", "collect"] = Query(
            "keep", description="keep: its stages stay in the cache for other runs; collect: remove the stages no "
                                "other run uses, with their predictions")) -> dict[str, Any]:
        """Delete a finished run (not a queued or running one: stop it first); only who may control it."""
        return engine.delete(run_id, caller, collect=stages == "collect")

    @router.put("/runs/{run_id}/tags", response_model=api.Run)
    def set_tags(run_id: str, req: api.TagsRequest, caller: Caller = WHO) -> Response:
        """Replace a run's tags (any status)."""
        engine.need_run(run_id, caller, control=True)
        store.set_tags(run_id, (req.tags or "").strip() or None)
        engine.changes.bump(run_id)
        return json_response(engine.run_view(run_id, caller))

    @router.put("/runs/{run_id}/public", response_model=api.Run)
    def set_public(run_id: str, req: api.PublicRequest, caller: Caller = WHO) -> Response:
        """Share a run with every visitor (a demo run), or stop sharing it; the owner only."""
        need_owner(caller, "share runs with every visitor")
        engine.need_run(run_id, caller)
        store.set_public(run_id, req.public)
        engine.changes.bump(run_id)
        return json_response(engine.run_view(run_id, caller))

    @router.get("/runs/{run_id}/log", response_model=api.LogTail)
    def log(run_id: str, max_bytes: int = Query(8000, ge=1, le=10_000_000), caller: Caller = WHO) -> dict[str, Any]:
        engine.need_run(run_id, caller)
        path = engine.scheduler.log_path(run_id)
        return {"run_id": run_id, "path": path.name if engine.policy.public else str(path),
                "text": log_tail(path, max_bytes)}

    @router.get("/wait", response_model=api.WaitReply)
    async def wait(since: int = 0, timeout: float = Query(25.0, ge=0, le=120), run: str | None = None,
                   status: bool = Query(False, description="only when a run's status changed (not its events)")
                   ) -> dict[str, Any]:
        """Long-poll: answers when anything (or run `run`; with `status`, any run's status) changed after version
        `since`, or at the timeout."""
        changed = await engine.changes.wait(since, timeout, None if status else run, status)
        return {"version": engine.changes.version, "changed": changed}

    return router


def results_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["results"])
    store = engine.store

    @router.get("/runs/{run_id}/metrics", response_model=api.Metrics)
    def metrics(run_id: str, caller: Caller = WHO) -> dict[str, Any]:
        engine.need_run(run_id, caller)
        return {"metrics": clean(store.run_metrics(run_id))}

    @router.get("/runs/{run_id}/curves", response_model=api.Table)
    def curves(run_id: str, caller: Caller = WHO) -> Response:
        """Training curves: role, name (train_loss, ...), step, value."""
        engine.need_run(run_id, caller)
        return json_response(as_table(store.curves(run_id)))

    @router.get("/runs/{run_id}/predictions", response_model=api.Page)
    def predictions(run_id: str, split: str = Query("test", max_length=40), role: str | None = None,
                    quadrant: api.Quadrant | None = None, limit: int = Query(100, ge=1, le=100_000),
                    offset: int = Query(0, ge=0, le=MAX_OFFSET), region: api.Region | None = None,
                    deception: bool = False, caller: Caller = WHO,
                    search: str | None = Query(None, max_length=500, description="text contains it, or id starts "
                                                                                 "with it"),
                    order: str | None = Query(None, description="disagreement, weak_conf or student_conf (high "
                                                                "first; a leading '-' for low first)"),
                    compare: str | None = Query(None, description="another run: its student joins as other_prob"),
                    disagree: bool = False, counts: bool = False) -> Response:
        """A page of per-example outputs: text, gold, each role's prob / pred / correct / output record and the
        knowledge region; filtered by role, weak-vs-student quadrant, region, deception cases, a text search or
        where a compared run's student disagrees; sorted by id or a confidence. With counts=true the reply also
        holds the split's quadrant and region counts, so the Inspector needs one request per view."""
        engine.need_run(run_id, caller)
        if compare:
            engine.need_run(compare, caller)
        try:
            df, total = store.predictions_page(run_id, split, role, quadrant, limit, offset, region, deception,
                                               search=search, order=order, compare=compare, disagree=disagree)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        extra = {"counts": store.prediction_counts(run_id, split, compare)} if counts else {}
        return json_response(as_table(df, total=total, offset=offset, limit=limit, **extra))

    return router


def workers_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["workers"])
    store = engine.store

    @router.post("/runs/{run_id}/events", response_model=api.EventReply)
    def events(run_id: str, batch: api.EventBatch, caller: Caller = WHO) -> dict[str, Any]:
        """A worker's events in order (engine.run.context types, plus `progress`), each stored in a transaction."""
        if caller.role != "worker":
            need_owner(caller, "post a run's events")
        engine.need_run(run_id, caller)
        return engine.apply(run_id, batch)

    @router.post("/runs/{run_id}/stages/{key}/claim", response_model=api.StageClaim)
    async def claim(run_id: str, key: str, wait: float = Query(20.0, ge=0, le=60),
                    caller: Caller = WHO) -> dict[str, Any]:
        """Before training stage `key` (a cache miss): "train" (this run trains it), "done" (read it from the
        cache) or, after waiting up to `wait` seconds while another live run trains it, "wait" (ask again)."""
        if caller.role != "worker":
            need_owner(caller, "claim a run's stages")
        await anyio.to_thread.run_sync(engine.need_run, run_id, caller)
        deadline = time.monotonic() + wait
        while True:
            version = engine.changes.version
            reply = await anyio.to_thread.run_sync(engine.claim_stage, run_id, key)
            left = deadline - time.monotonic()
            if reply["state"] != "wait" or left <= 0:
                break
            await engine.changes.wait(version, min(left, 2.0))  # a holder's end or its stage_done wakes us
        status = await anyio.to_thread.run_sync(store.run_status, run_id)
        return {**reply, "cancelled": status in ("cancelled", "interrupted")}

    @router.get("/stages/{key}", response_model=api.StageLookup)
    def stage(key: str, caller: Caller = WHO) -> Response:
        """A finished stage's predictions by split (the stage cache), or found=false."""
        if caller.role != "worker":
            need_owner(caller, "read the stage cache")
        preds = store.stage_lookup(key)
        return json_response({"found": preds is not None, "predictions": clean(preds)})

    return router


def build_app(engine: Engine, on_ready: Any = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import asyncio

        engine.changes.attach(asyncio.get_running_loop())
        engine.scheduler.start()
        engine.started()
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

    for router in (engine_router(engine, app), registry_router(engine), data_router(engine), jobs_router(engine),
                   runs_router(engine), results_router(engine), analyses_router(engine), workers_router(engine),
                   toolbox_router(engine)):
        app.include_router(router)
    app.add_middleware(Guard, engine=engine)
    app.add_middleware(CountRequests, engine=engine)
    return app


def _sees(engine: Engine, run_id: str, caller: Caller) -> bool:
    try:
        engine.need_run(run_id, caller)
        return True
    except HTTPException:
        return False
