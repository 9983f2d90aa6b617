"""One way to read runs, whether an engine is running or not (mlflow's one store, two transports).

    reader = open_reader()                # the running engine when it holds the database, else the file itself
    reader.runs(status="done")            # DataFrame of runs with their headline metrics
    reader.run("r1a2b3")                  # dict: the run's row, its stages and live progress (None if absent)
    reader.metrics("r1a2b3")              # {name: value}
    reader.predictions("r1a2b3", split="test", limit=100, offset=0)   # (DataFrame page, total rows)
    reader.seed_stats("pgr"); reader.compare("naive", "aux_conf")     # statistics across seeds (engine.comparison)

DuckDB admits one process per file, so while an engine runs it is the only way in (`EngineReader`, over HTTP);
without one the CLI opens the file directly (`StoreReader`). Both answer with the same shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from engine import paths


class Reader(Protocol):
    where: str

    def runs(self, status: str | None = None, task: str | None = None, method: str | None = None,
             limit: int = 500) -> Any: ...

    def run(self, run_id: str) -> dict[str, Any] | None: ...

    def metrics(self, run_id: str) -> dict[str, Any]: ...

    def predictions(self, run_id: str, split: str = "test", limit: int = 100, offset: int = 0,
                    **filters: Any) -> tuple[Any, int]: ...

    def seed_stats(self, metric: str = "pgr", task: str | None = None) -> Any: ...

    def compare(self, a: str, b: str | None = None, metric: str = "pgr", task: str | None = None) -> Any: ...

    def sql(self, query: str, limit: int = 10_000, timeout: float = 30.0) -> tuple[Any, bool]: ...

    def export(self, predictions: bool = True, **filters: Any) -> tuple[Any, Any]: ...

    def weights(self, run_id: str) -> Any: ...

    def download_weights(self, run_id: str, role: str, dest: Path) -> Path: ...

    def snapshot(self, dest: Path) -> Path: ...

    def gc(self, **criteria: Any) -> dict[str, Any]: ...

    def close(self) -> None: ...


class ReadError(RuntimeError):
    """The database or the engine cannot answer; the message says why and what to do."""


class EngineReader:
    """Reads through the running engine's API."""

    def __init__(self, client: Any):
        self.client, self.where = client, f"engine at {client.url}"

    def runs(self, status=None, task=None, method=None, limit=500):
        import pandas as pd

        table = self._call(self.client.runs, status=status, task=task, method=method, limit=limit)
        return pd.DataFrame(table.data, columns=table.columns)

    def run(self, run_id):
        from engine.client import EngineError

        try:
            return self.client.run(run_id).model_dump()
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise ReadError(str(exc)) from None

    def metrics(self, run_id):
        return self._call(self.client.metrics, run_id)

    def predictions(self, run_id, split="test", limit=100, offset=0, **filters):
        import pandas as pd

        page = self._call(self.client.predictions, run_id, split=split, limit=limit, offset=offset, **filters)
        return pd.DataFrame(page.data, columns=page.columns), page.total

    def seed_stats(self, metric="pgr", task=None):
        import pandas as pd

        table = self._call(self.client.seed_stats, metric, task)
        return pd.DataFrame(table.data, columns=table.columns)

    def compare(self, a, b=None, metric="pgr", task=None):
        import pandas as pd

        table = self._call(self.client.compare, a, b, metric, task)
        return pd.DataFrame(table.data, columns=table.columns)

    def sql(self, query, limit=10_000, timeout=30.0):
        import io

        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(self._call(self.client.sql, query, limit, timeout, "parquet")))
        return table.to_pandas(), (table.schema.metadata or {}).get(b"w2s.truncated") == b"true"

    def export(self, predictions=True, **filters):
        import io

        import pandas as pd

        runs = pd.read_parquet(io.BytesIO(self._call(self.client.export, "runs", "parquet", **filters)))
        if not predictions:
            return runs, None
        data = self._call(self.client.export, "predictions", "parquet", run=list(runs["id"]) or ["-"])
        return runs, pd.read_parquet(io.BytesIO(data))

    def weights(self, run_id):
        import pandas as pd

        table = self._call(self.client.weights, run_id)
        return pd.DataFrame(table.data, columns=table.columns)

    def download_weights(self, run_id, role, dest):
        return self._call(self.client.download_weights, run_id, role, dest)

    def snapshot(self, dest):
        return self._call(self.client.snapshot, dest)

    def gc(self, **criteria):
        return self._call(self.client.gc, **criteria).model_dump()

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _call(fn, *args, **kwargs):
        from engine.client import EngineError

        try:
            return fn(*args, **kwargs)
        except EngineError as exc:
            raise ReadError(str(exc)) from None


class StoreReader:
    """Reads the database file directly (no engine holds it)."""

    def __init__(self, store: Any):
        self.store, self.where = store, str(store.path)

    def runs(self, status=None, task=None, method=None, limit=500):
        return self.store.runs(status=status, task=task, method=method, limit=limit)

    def run(self, run_id):
        return self.store.run(run_id)

    def metrics(self, run_id):
        return self.store.run_metrics(run_id)

    def predictions(self, run_id, split="test", limit=100, offset=0, **filters):
        return self.store.predictions_page(run_id, split, limit=limit, offset=offset, **filters)

    def seed_stats(self, metric="pgr", task=None):
        from engine.comparison import seed_table

        return seed_table(self.store.seed_values(metric, task))

    def compare(self, a, b=None, metric="pgr", task=None):
        from engine.comparison import compare_table

        return compare_table(self.store.seed_values(metric, task), a, b)

    def sql(self, query, limit=10_000, timeout=30.0):
        from engine.server.sql import SqlError, run_sql

        try:
            table, truncated = run_sql(self.store, query, limit, timeout)
        except SqlError as exc:
            raise ReadError(str(exc)) from None
        return table.to_pandas(), truncated

    def export(self, predictions=True, **filters):
        from engine.server.exports import predictions_table, runs_table

        runs = runs_table(self.store, _run_filter(filters))
        return runs, predictions_table(self.store, list(runs["id"])) if predictions else None

    def weights(self, run_id):
        from engine.server.weights import run_weights

        return run_weights(self.store, paths.data_home(), run_id)

    def download_weights(self, run_id, role, dest):
        import shutil

        from engine.server.weights import folder_of

        try:
            folder = folder_of(self.store, paths.data_home(), run_id, role)
        except LookupError as exc:
            raise ReadError(str(exc)) from None
        return Path(shutil.copytree(folder, Path(dest) / f"{run_id}-{role}"))

    def snapshot(self, dest):
        from engine.server.sql import snapshot

        return snapshot(self.store, dest)

    def gc(self, older_than_days=None, runs=None, everything=False, dry_run=False):
        from engine.server.weights import collect

        return collect(self.store, paths.data_home(), older_than_days, runs, everything, dry_run)

    def close(self) -> None:
        self.store.close()


def _run_filter(filters: dict[str, Any]) -> Any:
    from engine.server.exports import RunFilter

    known = {k: filters.get(k) or None for k in ("status", "task", "method", "sweep", "tag")}
    return RunFilter(**known, runs=tuple(filters.get("run") or ()))


def db_path(db: str | Path | None = None) -> Path:
    return (Path(db) if db else paths.default_db()).expanduser().resolve()


def engine_client(db: str | Path | None = None) -> Any:
    """A client for the running engine when it holds `db` (default: the default database), else None."""
    from engine.discovery import find_engine  # the client (httpx, ~100 modules) only when an engine answers

    info = find_engine()
    if info is None or Path(info.db).resolve() != db_path(db):
        return None
    from engine.client import EngineClient

    return EngineClient(info.url, info.token, info=info)


def open_store(db: str | Path | None = None) -> Any:
    """The database file itself, for a process that may own it (no engine holds it)."""
    from engine.server.store import Store

    path = db_path(db)
    try:
        return Store(path)
    except Exception as exc:  # duckdb.IOException when another process holds the file
        if "lock" in str(exc).lower():
            stale = paths.engine_file().exists()  # an engine holds it, but its engine.json cannot reach it
            raise ReadError(f"{path} is in use by another process (a running engine, or a `w2s run`)"
                            + (f", and {paths.engine_file()} does not describe a reachable engine (stale or "
                               "damaged): stop that engine and start it again" if stale else
                               ". Stop it, or use another --db file")) from None
        raise


def open_reader(db: str | Path | None = None) -> Reader:
    client = engine_client(db)
    return EngineReader(client) if client is not None else StoreReader(open_store(db))
