"""The engine's routes for the researcher's own tools: read-only SQL, a database snapshot, many-run exports, kept
weights (list, download) and their garbage collection.

    POST /api/sql                      {"sql": "SELECT ...", "limit": 10000, "format": "json|parquet|arrow"}
    POST /api/snapshot                 a consistent copy of the database (a DuckDB file)
    GET  /api/export/runs              one row per run (config.* and metric columns); ?tag=&task=&method=&sweep=
    GET  /api/export/predictions       one row per prediction of those runs (every role and split)
    GET  /api/runs/{run}/weights       each role's kept weights (kind, bytes, folder) or why there are none
    GET  /api/runs/{run}/weights/{role}/download   the folder as a tar stream
    POST /api/gc                       remove kept weights (leftovers, old ones, a run's, all)

In public mode SQL, snapshots, weight downloads and gc are the owner's alone (they would show the server's files or
other visitors' runs); exports list only what the caller may see. engine.server.sql, .exports and .weights do the
work.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from engine import api
from engine.server.auth import Caller, caller_of, need_owner
from engine.server.engine import Engine, as_table, json_response
from engine.server.exports import FORMATS, RunFilter, predictions_table, runs_table, table_bytes
from engine.server.sql import SqlError, run_sql, snapshot
from engine.server.weights import collect, folder_of, run_weights, tar_chunks

WHO = Depends(caller_of)
ARROW = "application/vnd.apache.arrow.stream"


def _filter(status: str | None, task: str | None, method: str | None, sweep: str | None, tag: str | None,
            run: list[str]) -> RunFilter:
    return RunFilter(status or None, task or None, method or None, sweep or None, tag or None, tuple(run))


def _table(df: Any, fmt: str, name: str) -> Response:
    if fmt == "json":
        return json_response(as_table(df))
    return Response(table_bytes(df, fmt), media_type=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def toolbox_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["toolbox"])
    store = engine.store
    owner_only = engine.policy.public  # local mode: the one user is the owner anyway

    @router.post("/sql", response_model=api.SqlResult, responses={422: {"model": api.ErrorBody}})
    def sql(req: api.SqlRequest, caller: Caller = WHO) -> Response:
        """Run one read-only query (SELECT / EXPLAIN on the database's tables) with a row limit and a timeout."""
        if owner_only:
            need_owner(caller, "run SQL on this server's database")
        try:
            table, truncated = run_sql(store, req.sql, req.limit, req.timeout)
        except SqlError as exc:
            raise HTTPException(422, str(exc)) from None
        headers = {"X-W2S-Truncated": str(truncated).lower(), "X-W2S-Rows": str(table.num_rows)}
        # Files carry the flag too (schema metadata w2s.truncated), so a saved result still says it is partial.
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"w2s.truncated": headers[
            "X-W2S-Truncated"].encode()})
        if req.format == "parquet":
            import pyarrow.parquet as pq

            buffer = io.BytesIO()
            pq.write_table(table, buffer)
            return Response(buffer.getvalue(), media_type=FORMATS["parquet"], headers=headers)
        if req.format == "arrow":
            import pyarrow as pa

            buffer = io.BytesIO()
            with pa.ipc.new_stream(buffer, table.schema) as writer:
                writer.write_table(table)
            return Response(buffer.getvalue(), media_type=ARROW, headers=headers)
        data = {name: table.column(i).to_pylist() for i, name in enumerate(table.column_names)}
        return json_response({**as_table(_frame(data)), "rows": table.num_rows, "truncated": truncated})

    @router.post("/snapshot", response_class=FileResponse)
    def take_snapshot(caller: Caller = WHO) -> FileResponse:
        """A copy of the whole database as of now (DuckDB file), which any process can open while the engine runs."""
        need_owner(caller, "copy this server's database")
        scratch = Path(tempfile.mkdtemp(prefix="w2s-snapshot-", dir=engine.home))
        try:
            path = snapshot(store, scratch / "runs-snapshot.duckdb")
        except Exception:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return FileResponse(path, media_type="application/octet-stream", filename=path.name,
                            background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True))

    @router.get("/export/runs", response_model=api.Table)
    def export_runs(status: str | None = None, task: str | None = None, method: str | None = None,
                    sweep: str | None = None, tag: str | None = None, run: list[str] = Query([]),
                    format: str = Query("json", pattern="^(json|csv|parquet)$"), caller: Caller = WHO) -> Response:
        """One row per matching run: its columns, its config as config.* columns, one column per metric."""
        df = runs_table(store, _filter(status, task, method, sweep, tag, run),
                        visible_to=None if caller.is_owner else caller.owner_id)
        return _table(df, format, "runs")

    @router.get("/export/predictions", response_model=api.Table)
    def export_predictions(status: str | None = None, task: str | None = None, method: str | None = None,
                           sweep: str | None = None, tag: str | None = None, run: list[str] = Query([]),
                           format: str = Query("parquet", pattern="^(json|csv|parquet)$"),
                           caller: Caller = WHO) -> Response:
        """Every prediction of every role of the matching runs, on every split, with text and gold label."""
        runs = runs_table(store, _filter(status, task, method, sweep, tag, run),
                          visible_to=None if caller.is_owner else caller.owner_id)
        return _table(predictions_table(store, list(runs["id"])), format, "predictions")

    @router.get("/runs/{run_id}/weights", response_model=api.Table)
    def weights(run_id: str, caller: Caller = WHO) -> Response:
        """Each role of the run: kept (kind model or adapter, bytes, files, folder) or the reason it has none."""
        engine.need_run(run_id, caller)
        return json_response(as_table(run_weights(store, engine.home, run_id)))

    @router.get("/runs/{run_id}/weights/{role}/download", response_class=StreamingResponse)
    def download(run_id: str, role: str, caller: Caller = WHO) -> StreamingResponse:
        """The role's kept weights as a tar of its Hugging Face folder (`tar -xf` it, then from_pretrained)."""
        engine.need_run(run_id, caller)
        if owner_only:
            need_owner(caller, "download weights from this server")
        try:
            folder = folder_of(store, engine.home, run_id, role)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        name = f"{run_id}-{role}"
        return StreamingResponse(tar_chunks(folder, name), media_type="application/x-tar",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.tar"'})

    @router.post("/gc", response_model=api.GcReply)
    def gc(req: api.GcRequest, caller: Caller = WHO) -> dict[str, Any]:
        """Remove kept weights: leftovers always; with the request's criteria, old ones, a run's, or all."""
        need_owner(caller, "remove kept weights")
        with engine.scheduler.lock:  # no run starts (and begins writing weights) while folders go
            return collect(store, engine.home, req.older_than_days, req.runs, req.all, req.dry_run)

    return router


def _frame(data: dict[str, list]) -> Any:
    import pandas as pd

    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()}, columns=list(data))
