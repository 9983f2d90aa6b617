"""One way to read runs, whether an engine is running or not (mlflow's one store, two transports).

    reader = open_reader()                # the running engine when it holds the database, else the file itself
    reader.runs(status="done")            # DataFrame of runs with their headline metrics
    reader.run("r1a2b3")                  # dict: the run's row, its stages and live progress (None if absent)
    reader.metrics("r1a2b3")              # {name: value}
    reader.predictions("r1a2b3", split="test", limit=100, offset=0)   # (DataFrame page, total rows)

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

    def close(self) -> None:
        self.store.close()


def db_path(db: str | Path | None = None) -> Path:
    return (Path(db) if db else paths.default_db()).expanduser().resolve()


def engine_client(db: str | Path | None = None) -> Any:
    """A client for the running engine when it holds `db` (default: the default database), else None."""
    from engine.client import EngineClient, find_engine

    info = find_engine()
    if info is None or Path(info.db).resolve() != db_path(db):
        return None
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
