"""The engine's HTTP client, for the CLI, the studio and workers (httpx + pydantic; no torch, duckdb or pandas).

    from engine.client import connect, ensure_engine
    client = ensure_engine()                       # the running engine, or start one and wait for it
    sweep = client.submit({"task": "toy_sentiment", "weak": ..., "strong": ..., "methods": ["naive"]})
    version = client.wait(since=0)                 # long-poll: returns when something changed
    client.run(sweep.run_ids[0]).status            # queued / running / done / failed / cancelled / interrupted
    page = client.predictions(run_id, quadrant="student_imitated", limit=50)
    pandas.DataFrame(page.data)                    # tables travel as columns

A running engine is found through $W2S_HOME/engine.json (its URL, token, pid and instance id; the instance is
checked against the engine's open /api/ping, so a stale file whose pid was reused is ignored). Every error the
server answers becomes an EngineError carrying the server's message and HTTP status. In public mode the studio
acts for one visitor at a time: `client.as_visitor(token)` sends that visitor's signed identity with each call.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from engine import api, paths
from engine.analyses_client import AnalysesClient
from engine.discovery import EngineInfo, _same_instance, find_engine, pid_alive, read_engine_file  # noqa: F401
from engine.paths import data_home

RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class EngineError(RuntimeError):
    """The engine refused a request (status = its HTTP status) or could not be reached (status None)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def connect(home: str | Path | None = None, timeout: float = 30.0, frames: bool = True) -> EngineClient:
    """A client for the running engine (EngineError when none runs) whose tables are pandas DataFrames unless
    `frames` is off: `connect().runs()`, `.sql("SELECT ...")`, `.export(tag="baseline")` (README: Notebooks)."""
    info = find_engine(home)
    if info is None:
        path = paths.engine_file(Path(home) if home else None)
        why = ("it describes an engine that is no longer running, or it is damaged" if path.exists()
               else "there is none")
        raise EngineError(f"no engine running ({path}: {why}); start one with `w2s serve`")
    return EngineClient(info.url, info.token, timeout=timeout, info=info, frames=frames)


def ensure_engine(db: str | Path | None = None, workers: int | None = None, home: str | Path | None = None,
                  timeout: float = 60.0, public: bool = False) -> EngineClient:
    """The running engine, or a new one started as a detached process (log: <home>/logs/engine.log); `public`
    starts it in public mode (an engine already running keeps its own mode: the caller checks health().public)."""
    home = Path(home or data_home())
    info = find_engine(home)
    if info is not None and _answers(info):
        return EngineClient(info.url, info.token, info=info)
    cmd = [sys.executable, "-m", "engine.cli", "serve"]
    if db is not None:
        cmd += ["--db", str(db)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if public:
        cmd += ["--public"]
    paths.logs_dir(home).mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = paths.logs_dir(home) / "engine.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=paths.SOURCE_ROOT,
                                env={**os.environ, "W2S_HOME": str(home)}, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = find_engine(home)
        if info is not None and _answers(info):
            return EngineClient(info.url, info.token, info=info)
        if proc.poll() is not None and find_engine(home) is None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise EngineError(f"the engine exited with code {proc.returncode} while starting:\n{tail}")
        time.sleep(0.05)  # cheap until the engine writes engine.json (when it already listens): ask often
    raise EngineError(f"the engine did not answer within {timeout:.0f} s; see {log_path}")


def _answers(info: EngineInfo) -> bool:
    try:
        return httpx.get(f"{info.url}/api/health", headers={"Authorization": f"Bearer {info.token}"},
                         timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


_TLS: dict[tuple[str | None, str | None], Any] = {}


def tls_context() -> Any:
    """httpx's default TLS context, made once per process (and CA setting): building one reads the whole CA bundle
    (~50 ms, each client of a worker paid it); the worker zygote makes it before it forks."""
    where = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    if where not in _TLS:
        _TLS[where] = httpx.create_ssl_context()
    return _TLS[where]


class EngineClient(AnalysesClient):
    def __init__(self, url: str, token: str, timeout: float = 30.0, info: EngineInfo | None = None,
                 retry_for: float | None = None, visitor: str | None = None, http: httpx.Client | None = None,
                 frames: bool = False):
        self.url, self.info, self.visitor = url.rstrip("/"), info, visitor
        self.frames = frames  # tables (runs, curves, predictions, sql, exports, weights) as pandas DataFrames
        self._token = token
        # how long worker calls ride out an unreachable engine ($W2S_ENGINE_RETRY; Ray workers outlive a restart)
        self.retry_for = paths.engine_retry() if retry_for is None else retry_for
        self._http = http or httpx.Client(base_url=self.url, timeout=timeout, verify=tls_context(),
                                          headers={api.TOKEN_HEADER: f"Bearer {token}"})

    def as_visitor(self, token: str | None) -> EngineClient:
        """The same engine connection, acting for one visitor of a public studio (None: as the owner)."""
        return EngineClient(self.url, self._token, info=self.info, retry_for=self.retry_for, visitor=token,
                            http=self._http)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: str, path: str, retry_for: float = 0.0, stream: bool = False, **kwargs: Any) -> Any:
        """One request; connection errors are retried for `retry_for` seconds (workers ride out a busy engine).
        The parsed JSON reply, or with `stream` the open response (files: the caller reads and closes it)."""
        deadline, pause = time.monotonic() + retry_for, 0.1
        if self.visitor:
            kwargs["headers"] = {**kwargs.get("headers", {}), api.VISITOR_HEADER: self.visitor}
        while True:
            try:
                resp = self._http.send(self._http.build_request(method, path, **kwargs), stream=stream)
                break
            except RETRYABLE as exc:
                if time.monotonic() + pause > deadline:
                    raise EngineError(f"cannot reach the engine at {self.url}: {type(exc).__name__}: {exc}") from None
                time.sleep(pause)
                pause = min(2.0, pause * 2)
            except httpx.TimeoutException as exc:
                raise EngineError(f"the engine at {self.url} did not answer in time ({type(exc).__name__})") from None
            except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:  # e.g. a token no header can carry
                raise EngineError(f"cannot send a request to the engine at {self.url}: {exc}") from None
        if resp.status_code >= 400:
            if stream:
                resp.read()
                resp.close()
            try:
                body = resp.json()
                detail = body.get("detail", resp.text) if isinstance(body, dict) else resp.text
            except ValueError:
                detail = resp.text
            if resp.status_code == 401 and self.info is not None and not self.visitor:
                detail = (f"the engine at {self.url} refused the token in {paths.engine_file()} ({detail}); the "
                          "file does not match the running engine: stop that engine and start it again "
                          "(`w2s serve`)")
            raise EngineError(str(detail), resp.status_code)
        return resp if stream else resp.json()

    def _file(self, method: str, path: str, dest: str | Path | None = None, **kwargs: Any) -> Any:
        """A file the engine sends: its bytes, or (with `dest`) written to `dest` chunk by chunk; also the reply's
        headers. A file being written is removed when the transfer breaks."""
        resp = self._call(method, path, stream=True, **kwargs)
        try:
            if dest is None:
                return resp.read(), resp.headers
            with Path(dest).open("wb") as f:
                for chunk in resp.iter_bytes(1 << 20):
                    f.write(chunk)
            return Path(dest), resp.headers
        except (httpx.HTTPError, OSError) as exc:
            if dest is not None:
                Path(dest).unlink(missing_ok=True)
            raise EngineError(f"the transfer of {path} from {self.url} broke off: {exc}") from None
        finally:
            resp.close()

    # ---------------------------------------------------------------- engine and registry
    def health(self) -> api.Health:
        return api.Health(**self._call("GET", "/api/health"))

    def registry(self) -> api.Registry:
        """Tasks, models and methods with their config fields (what forms are built from)."""
        return api.Registry(**self._call("GET", "/api/registry"))

    def presets(self) -> list[api.Preset]:
        """The shipped experiment presets, demo first."""
        return [api.Preset(**p) for p in self._call("GET", "/api/presets")]

    def ping(self) -> api.Ping:
        return api.Ping(**self._call("GET", "/api/ping"))

    def policy(self) -> api.PolicyView:
        """The engine's mode and limits (local / public)."""
        return api.PolicyView(**self._call("GET", "/api/policy"))

    def new_visitor(self) -> api.Visitor:
        """A signed visitor identity for a public studio's new browser."""
        return api.Visitor(**self._call("POST", "/api/visitors"))

    def owner_login(self, password: str) -> api.Visitor:
        """The owner's identity when `password` is the owner password (EngineError 403 otherwise)."""
        return api.Visitor(**self._call("POST", "/api/owner-login", json={"password": password}))

    def set_public(self, run_id: str, public: bool) -> api.Run:
        """Share a run with every visitor of a public studio (owner only)."""
        return api.Run(**self._call("PUT", f"/api/runs/{run_id}/public", json={"public": public}))

    def upload(self, name: str, data: bytes) -> api.Upload:
        """Store a data file on the engine (where its workers read it); EngineError (422) if it cannot be read."""
        return api.Upload(**self._call("POST", "/api/uploads", params={"name": name}, content=data,
                                       headers={"Content-Type": "application/octet-stream"}))

    def shutdown(self) -> None:
        self._call("POST", "/api/shutdown")

    # ---------------------------------------------------------------- jobs
    def validate(self, config: dict[str, Any], full: bool = True) -> api.ValidateResponse:
        """Check a config without queueing it (full=False: keys and values only); 422 names the field and the fix."""
        return api.ValidateResponse(**self._call("POST", "/api/validate", json={"config": config},
                                                 params={} if full else {"full": "false"}))

    def submit(self, config: dict[str, Any], tags: str | None = None,
               on_duplicate: str = "create") -> api.SubmitResponse:
        """Queue a config's runs; one that repeats a run (same setup and seed) is created, skipped or refused (409)."""
        body: dict[str, Any] = {"config": config, "tags": tags or None,
                                "on_duplicate": None if on_duplicate == "create" else on_duplicate}
        body = {k: v for k, v in body.items() if v is not None}
        return api.SubmitResponse(**self._call("POST", "/api/runs", json=body))

    def delete_run(self, run_id: str, collect: bool = False) -> api.DeleteReply:
        """Delete a finished run; with `collect` also the stages no other run uses (EngineError 409 while active)."""
        return api.DeleteReply(**self._call("DELETE", f"/api/runs/{run_id}",
                                            params={"stages": "collect" if collect else "keep"}))

    def set_tags(self, run_id: str, tags: str | None) -> api.Run:
        return api.Run(**self._call("PUT", f"/api/runs/{run_id}/tags", json={"tags": tags}))

    def cancel(self, run_id: str) -> api.Run:
        return api.Run(**self._call("POST", f"/api/runs/{run_id}/cancel"))

    def requeue(self, run_id: str) -> api.Run:
        return api.Run(**self._call("POST", f"/api/runs/{run_id}/requeue"))

    # ---------------------------------------------------------------- runs and results
    def runs(self, status: str | None = None, task: str | None = None, method: str | None = None,
             limit: int = 500, configs: bool = False) -> api.Table:
        """Runs, newest first, with headline metrics and config_key (configs=True: each run's config too)."""
        params = {k: v for k, v in {"status": status, "task": task, "method": method,
                                    "configs": "true" if configs else None}.items() if v}
        return self._table(api.Table(**self._call("GET", "/api/runs", params={**params, "limit": limit})))

    def _table(self, table: api.Table) -> Any:
        return _frame(table) if self.frames else table

    def run(self, run_id: str, curves: bool = False, log: bool = False, retry_for: float = 0.0) -> api.Run:
        """One run (with curves=True / log=True also its training curves / log tail, in the same request)."""
        params = {k: "true" for k, v in {"curves": curves, "log": log}.items() if v}
        return api.Run(**self._call("GET", f"/api/runs/{run_id}", params=params, retry_for=retry_for))

    def log(self, run_id: str, max_bytes: int = 8000) -> str:
        return self._call("GET", f"/api/runs/{run_id}/log", params={"max_bytes": max_bytes})["text"]

    def metrics(self, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/runs/{run_id}/metrics")["metrics"]

    def curves(self, run_id: str) -> api.Table:
        return self._table(api.Table(**self._call("GET", f"/api/runs/{run_id}/curves")))

    def predictions(self, run_id: str, split: str = "test", role: str | None = None, quadrant: str | None = None,
                    limit: int = 100, offset: int = 0, region: str | None = None, deception: bool = False,
                    search: str | None = None, order: str | None = None, compare: str | None = None,
                    disagree: bool = False, counts: bool = False) -> api.Page:
        """A page of a run's rows, filtered, searched and ordered by the engine (counts=True: the grids' counts)."""
        flags = {"deception": deception, "disagree": disagree, "counts": counts}
        params = {k: v for k, v in {"role": role, "quadrant": quadrant, "region": region, "search": search,
                                    "order": order, "compare": compare}.items() if v}
        params.update({"split": split, "limit": limit, "offset": offset, **{k: "true" for k, v in flags.items() if v}})
        return self._table(api.Page(**self._call("GET", f"/api/runs/{run_id}/predictions", params=params)))

    def wait(self, since: int = 0, timeout: float = 25.0, run_id: str | None = None, status: bool = False) -> int:
        """Block until something (about `run_id`, if given; with `status`, a run's status) changed after `since`, or
        `timeout` s; the new version."""
        params: dict[str, Any] = {"since": since, "timeout": timeout}
        if run_id:
            params["run"] = run_id
        if status:
            params["status"] = "true"
        return self._call("GET", "/api/wait", params=params, timeout=timeout + 10)["version"]

    def wait_for(self, run_ids: list[str], timeout: float | None = None) -> list[api.Run]:
        """Wait until every run is finished (done, failed, cancelled or interrupted); their final states."""
        deadline = None if timeout is None else time.monotonic() + timeout
        version = 0
        while True:
            runs = [self.run(r) for r in run_ids]
            if all(r.status in api.TERMINAL for r in runs):
                return runs
            left = 25.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise EngineError(f"runs still unfinished after {timeout} s: "
                                  f"{', '.join(r.id for r in runs if r.status not in api.TERMINAL)}")
            # woken by status changes only: a running run's events (each a change) would re-read every run
            version = self.wait(version, timeout=min(25.0, left), status=True)

    # ---------------------------------------------------------------- the researcher's toolbox (engine.server.toolbox)
    def sql(self, query: str, limit: int = 10_000, timeout: float = 30.0, format: str | None = None) -> Any:
        """Run one read-only SELECT / EXPLAIN: an api.SqlResult (format json), Parquet or Arrow-stream bytes, or
        with `frames` a DataFrame; `truncated` (files: schema metadata w2s.truncated) says more rows matched."""
        fmt = format or ("parquet" if self.frames else "json")
        body = {"sql": query, "limit": limit, "timeout": timeout, "format": fmt}
        if fmt == "json":
            return api.SqlResult(**self._call("POST", "/api/sql", json=body, timeout=timeout + 30))
        data = self._file("POST", "/api/sql", json=body, timeout=timeout + 30)[0]
        return _parquet(data) if self.frames and format is None else data

    def export(self, what: str = "runs", format: str | None = None, **filters: Any) -> Any:
        """`what` = runs (one row per run: config.* and metric columns) or predictions (one row per prediction,
        every role and split) of the runs matching `filters` (status, task, method, sweep, tag, run=[ids]):
        Parquet or CSV bytes, an api.Table (format json), or with `frames` a DataFrame."""
        fmt = format or "parquet"
        params = {k: v for k, v in {**filters, "format": fmt}.items() if v not in (None, "", [], ())}
        if fmt == "json":
            return self._table(api.Table(**self._call("GET", f"/api/export/{what}", params=params, timeout=600)))
        data = self._file("GET", f"/api/export/{what}", params=params, timeout=600)[0]
        return _parquet(data) if self.frames and format is None else data

    def weights(self, run_id: str) -> api.Table:
        """Each role of a run: its kept weights (kind, bytes, folder) or why there are none."""
        return self._table(api.Table(**self._call("GET", f"/api/runs/{run_id}/weights")))

    def download_weights(self, run_id: str, role: str, dest: str | Path) -> Path:
        """The role's kept Hugging Face folder, unpacked under `dest` as <run>-<role>/; its path."""
        import tarfile

        tar = Path(dest) / f".{run_id}-{role}.tar"
        tar.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._file("GET", f"/api/runs/{run_id}/weights/{role}/download", tar, timeout=600)
            with tarfile.open(tar) as archive:
                archive.extractall(dest, filter="data")  # "data": no absolute paths, links out of dest or devices
        finally:
            tar.unlink(missing_ok=True)
        return Path(dest) / f"{run_id}-{role}"

    def snapshot(self, dest: str | Path) -> Path:
        """A consistent copy of the engine's database written to `dest` (a DuckDB file any process can open)."""
        return self._file("POST", "/api/snapshot", dest, timeout=600)[0]

    def gc(self, older_than_days: float | None = None, runs: list[str] | None = None, everything: bool = False,
           dry_run: bool = False) -> api.GcReply:
        """Remove kept weights on the engine (see engine.server.weights.collect)."""
        body = {"older_than_days": older_than_days, "runs": list(runs or []), "all": everything, "dry_run": dry_run}
        return api.GcReply(**self._call("POST", "/api/gc", json=body, timeout=600))

    # ---------------------------------------------------------------- what workers call
    def post_events(self, run_id: str, attempt: str, seq: int, events: list[dict[str, Any]]) -> api.EventReply:
        body = {"attempt": attempt, "seq": seq, "events": events}
        return api.EventReply(**self._call("POST", f"/api/runs/{run_id}/events", retry_for=self.retry_for, json=body))

    def stage_lookup(self, key: str) -> dict[str, dict[str, list]] | None:
        reply = api.StageLookup(**self._call("GET", f"/api/stages/{key}", retry_for=self.retry_for))
        return reply.predictions if reply.found else None

    def claim_stage(self, run_id: str, key: str, wait: float = 20.0) -> api.StageClaim:
        """Ask to train stage `key` (after a cache miss); waits up to `wait` s while another run trains it."""
        return api.StageClaim(**self._call("POST", f"/api/runs/{run_id}/stages/{key}/claim", params={"wait": wait},
                                           retry_for=self.retry_for, timeout=wait + 30))

def _frame(table: api.Table) -> Any:
    import pandas as pd  # only here: the client itself imports without pandas

    return pd.DataFrame({c: table.data.get(c, []) for c in table.columns}, columns=list(table.columns))


def _parquet(data: bytes) -> Any:
    import io

    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))
