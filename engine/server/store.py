"""DuckDB storage: the one writer (runs, statuses and the events a running method sends), over the named reads.

    store = Store("runs.duckdb")           # opens (creates) the file and applies the migrations (schema.py)
    store.handle({"type": "run_status", "run_id": r, "status": "running"})
    store.runs()                            # the named reads are in queries.py

engine/server/ is the only folder that opens DuckDB; schema.py holds the migrations, queries.py and analyses.py the
reads.
One process owns the file (DuckDB admits one writer; any other process that opens it fails with a
lock error), so the engine server holds the Store and everything else goes through it. Writes arrive
as events (`handle`) in transactions; a stage's predictions and its "done" mark commit together, so a
half-finished stage is never reused.
"""

from __future__ import annotations

import json
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from engine.api import RUN_STATUSES
from engine.server.analyses import AnalysisQueries
from engine.server.queries import Queries
from engine.server.schema import migrate


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id() -> str:
    return "r" + uuid.uuid4().hex[:11]


class Store(Queries, AnalysisQueries):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(self.path))
        self._lock = threading.RLock()
        self._in_transaction = False
        self.on_status: Any = None  # called with a run id after its status was written (the engine's Changes)
        self._migrate()

    # ------------------------------------------------------------------ plumbing
    def _migrate(self) -> None:
        with self._lock:
            migrate(self.con)

    def close(self) -> None:
        """Checkpoint (fold the WAL into the file) and close: a stopped engine leaves one file behind."""
        with self._lock:
            try:
                self.con.execute("CHECKPOINT")
            except duckdb.Error:
                pass
            self.con.close()

    @contextmanager
    def transaction(self):
        """Every write inside shares one transaction (all of them, or none): a commit costs ~15 ms, so a caller
        with many small events (a run's metrics and evaluation points) applies them together."""
        with self._lock:
            if self._in_transaction:
                yield
                return
            self.con.execute("BEGIN")
            self._in_transaction = True
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            else:
                self.con.execute("COMMIT")
            finally:
                self._in_transaction = False

    def _write(self, fn, *args: Any) -> Any:
        """Run fn(con, *args) in one transaction under the writer lock (the enclosing one inside `transaction`)."""
        with self._lock:
            if self._in_transaction:
                return fn(self.con, *args)
            self.con.execute("BEGIN")
            try:
                out = fn(self.con, *args)
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
            return out

    # ------------------------------------------------------------------ runs
    def create_run(self, spec_dict: dict[str, Any], status: str = "queued", sweep: str | None = None,
                   run_id: str | None = None, tags: str | None = None, owner: str = "") -> str:
        return self.create_runs([spec_dict], status, sweep, tags, owner, [run_id or new_run_id()])[0]

    def create_runs(self, spec_dicts: list[dict[str, Any]], status: str = "queued", sweep: str | None = None,
                    tags: str | None = None, owner: str = "", run_ids: list[str] | None = None) -> list[str]:
        """Every run of a sweep in one transaction: all of them are queued, or none."""
        run_ids = run_ids or [new_run_id() for _ in spec_dicts]

        def write(con):
            for run_id, spec in zip(run_ids, spec_dicts, strict=True):
                con.execute(
                    "INSERT INTO runs (id, created, status, name, task, weak, strong, method, seed, config, sweep, "
                    "tags, owner, public) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, false)",
                    [run_id, now(), status, spec.get("name"), spec.get("task"), spec.get("weak"), spec.get("strong"),
                     spec.get("method"), spec.get("seed"), json.dumps(spec, default=str), sweep, tags or None,
                     owner or ""],
                )

        self._write(write)
        return run_ids

    def set_public(self, run_id: str, public: bool) -> None:
        self._write(lambda con: con.execute("UPDATE runs SET public = ? WHERE id = ?", [bool(public), run_id]))

    # ------------------------------------------------------------------ uploads
    def add_upload(self, name: str, owner: str, size: int, rows: int, expires: datetime | None) -> None:
        def write(con):
            con.execute("DELETE FROM uploads WHERE name = ? AND owner = ?", [name, owner])
            con.execute("INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?)", [name, owner, size, rows, now(), expires])

        self._write(write)

    def expire_uploads(self) -> list[str]:
        """Forget expired uploads; return the names still in use (every other file in the folder can go)."""
        def write(con):
            con.execute("DELETE FROM uploads WHERE expires IS NOT NULL AND expires <= ?", [now()])
            return {r[0] for r in con.execute("SELECT DISTINCT name FROM uploads").fetchall()}

        return sorted(self._write(write))

    def set_status(self, run_id: str, status: str, error: str | None = None, log_tail: str | None = None) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        stamp = {"running": "started", "done": "finished", "failed": "finished", "cancelled": "finished",
                 "interrupted": "finished"}.get(status)

        def write(con):
            sets, params = ["status = ?"], [status]
            if stamp:
                sets.append(f"{stamp} = ?")
                params.append(now())
            if status in ("queued", "running"):
                sets.append("error = NULL")
            if error is not None:
                sets.append("error = ?")
                params.append(error)
            if log_tail is not None:
                sets.append("log_tail = ?")
                params.append(log_tail)
            con.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", [*params, run_id])

        self._write(write)
        if self.on_status is not None:
            self.on_status(run_id)

    def delete_run(self, run_id: str, collect: bool = False) -> dict[str, int]:
        """Remove a run: its row, its stage links and its run-level metrics, in one transaction. Its stages stay in
        the cache for other runs (and later ones) unless `collect`: then every stage no other run links to goes too,
        with its predictions and curves. Returns how many runs, stages and prediction rows were removed."""

        def write(con):
            orphans: list[str] = []
            if collect:
                orphans = [r[0] for r in con.execute(
                    "SELECT stage_key FROM run_stages WHERE run_id = ? AND stage_key NOT IN "
                    "(SELECT stage_key FROM run_stages WHERE run_id <> ?)", [run_id, run_id]).fetchall()]
            con.execute("DELETE FROM run_stages WHERE run_id = ?", [run_id])
            con.execute("DELETE FROM metrics WHERE run_id = ?", [run_id])
            runs = con.execute("DELETE FROM runs WHERE id = ? RETURNING id", [run_id]).fetchall()
            rows = 0
            if orphans:
                marks = ", ".join("?" for _ in orphans)
                rows = con.execute(f"SELECT count(*) FROM predictions WHERE stage_key IN ({marks})",
                                   orphans).fetchall()[0][0]
                con.execute(f"DELETE FROM predictions WHERE stage_key IN ({marks})", orphans)
                con.execute(f"DELETE FROM metrics WHERE stage_key IN ({marks})", orphans)
                con.execute(f"DELETE FROM stages WHERE key IN ({marks})", orphans)
            return {"runs": len(runs), "stages": len(orphans), "predictions": int(rows)}

        return self._write(write)

    def set_tags(self, run_id: str, tags: str | None) -> None:
        self._write(lambda con: con.execute("UPDATE runs SET tags = ? WHERE id = ?", [tags or None, run_id]))

    # ------------------------------------------------------------------ events (what a running method writes)
    def handle(self, event: dict[str, Any]) -> Any:
        """Apply one event from a run. Event types mirror engine.run.context.RunContext's methods."""
        kind = event["type"]
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            raise ValueError(f"unknown event type {kind!r}")
        return handler(**{k: v for k, v in event.items() if k != "type"})

    def _on_run_info(self, run_id: str, task_version: str, split_key: str, versions: dict[str, str]) -> None:
        self._write(lambda con: con.execute(
            "UPDATE runs SET task_version = ?, split_key = ?, versions = ? WHERE id = ?",
            [task_version, split_key, json.dumps(versions), run_id]))

    def _on_run_status(self, run_id: str, status: str, error: str | None = None, log_tail: str | None = None) -> None:
        self.set_status(run_id, status, error, log_tail)

    def _on_examples(self, run_id: str, task_version: str, split_key: str, examples: dict[str, list]) -> None:
        """examples: columnar {id, source, text, gold, meta, split}; stored once per task version / split."""
        df = pd.DataFrame(examples)

        def write(con):
            con.register("ex_in", df)
            try:
                con.execute(
                    "INSERT INTO examples SELECT ?, e.id, e.source, e.text, e.gold, e.meta FROM ex_in e "
                    "WHERE e.id NOT IN (SELECT example_id FROM examples WHERE task_version = ?)",
                    [task_version, task_version])
                con.execute(
                    "INSERT INTO split_members SELECT ?, e.id, e.split FROM ex_in e "
                    "WHERE NOT EXISTS (SELECT 1 FROM split_members s WHERE s.split_key = ?)", [split_key, split_key])
            finally:
                con.unregister("ex_in")

        self._write(write)

    def _on_stage_start(self, run_id: str, key: str, role: str, kind: str, model: str, config: dict[str, Any]) -> None:
        def write(con):
            # A stage that never finished is started afresh: drop whatever it left behind.
            con.execute("DELETE FROM predictions WHERE stage_key = ? AND ? NOT IN "
                        "(SELECT key FROM stages WHERE status = 'done')", [key, key])
            con.execute("DELETE FROM metrics WHERE stage_key = ? AND run_id IS NULL AND ? NOT IN "
                        "(SELECT key FROM stages WHERE status = 'done')", [key, key])
            con.execute("DELETE FROM dynamics WHERE stage_key = ? AND ? NOT IN "
                        "(SELECT key FROM stages WHERE status = 'done')", [key, key])
            con.execute("DELETE FROM stages WHERE key = ?", [key])
            con.execute("INSERT INTO stages (key, kind, model, config, status, started, first_run) "
                        "VALUES (?, ?, ?, ?, 'running', ?, ?)", [key, kind, model, json.dumps(config, default=str),
                                                                 now(), run_id])
            self._link(con, run_id, role, key, cached=False)

        self._write(write)

    @staticmethod
    def _link(con, run_id: str, role: str, key: str, cached: bool) -> None:
        con.execute("DELETE FROM run_stages WHERE run_id = ? AND role = ?", [run_id, role])
        con.execute("INSERT INTO run_stages VALUES (?, ?, ?, ?)", [run_id, role, key, cached])

    def _on_stage_cached(self, run_id: str, key: str, role: str) -> None:
        self._write(lambda con: self._link(con, run_id, role, key, cached=True))

    def _on_stage_done(self, run_id: str, key: str, predictions: dict[str, dict[str, list]], seconds: float) -> None:
        """predictions: {split: {id, prob, gold, label_prob?, output?}} written with the done mark."""
        frames = []
        for split, cols in predictions.items():
            df = pd.DataFrame({"example_id": cols["id"], "prob": cols.get("prob"), "gold": cols.get("gold")})
            df["label_prob"] = cols.get("label_prob")
            df["output"] = cols.get("output")
            df["split"] = split
            df["position"] = range(len(df))
            frames.append(df)
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["example_id", "prob", "gold", "label_prob", "output", "split", "position"])
        df["pred"] = (df["prob"].astype(float) >= 0.5).astype("Int64") if len(df) else []
        df["correct"] = (df["pred"] == df["gold"]) if len(df) else []

        def write(con):
            con.execute("DELETE FROM predictions WHERE stage_key = ?", [key])
            con.register("pred_in", df)
            try:
                con.execute(
                    "INSERT INTO predictions (stage_key, split, example_id, prob, pred, gold, correct, label_prob, "
                    "output, position) SELECT ?, split, example_id, prob, pred, gold, correct, label_prob, output, "
                    "position FROM pred_in", [key])
            finally:
                con.unregister("pred_in")
            con.execute("UPDATE stages SET status = 'done', finished = ?, seconds = ? WHERE key = ?",
                        [now(), seconds, key])

        self._write(write)

    def _on_stage_dynamics(self, run_id: str, key: str, checkpoint: int, step: int, epoch: float,
                           predictions: dict[str, dict[str, list]]) -> None:
        """One evaluation point of a running stage: {split: {id, prob}} at `checkpoint` (0, 1, ...), taken after
        optimizer step `step`. A stage that is started again drops the points it left (stage_start)."""
        frames = [pd.DataFrame({"example_id": cols["id"], "prob": cols["prob"], "split": split,
                                "position": range(len(cols["id"]))}) for split, cols in predictions.items()]
        if not frames:
            return
        df = pd.concat(frames, ignore_index=True).astype({"example_id": "object", "prob": "float64"})

        def write(con):
            con.execute("DELETE FROM dynamics WHERE stage_key = ? AND checkpoint = ?", [key, int(checkpoint)])
            con.register("dyn_in", df)
            try:
                con.execute("INSERT INTO dynamics SELECT ?, split, example_id, ?, ?, ?, prob, position FROM dyn_in",
                            [key, int(checkpoint), int(step), float(epoch)])
            finally:
                con.unregister("dyn_in")

        self._write(write)

    def _on_weights_saved(self, run_id: str, key: str, role: str, path: str, bytes: int, kind: str,
                          files: int) -> None:
        """A stage's kept weights (engine.ml.weights.keep); shown only once the stage is done."""
        def write(con):
            con.execute("DELETE FROM weights WHERE stage_key = ?", [key])
            con.execute("INSERT INTO weights VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [key, path, int(bytes), int(files), kind, run_id, role, now()])

        self._write(write)

    def _on_stage_failed(self, run_id: str, key: str, error: str) -> None:
        self._write(lambda con: con.execute(
            "UPDATE stages SET status = 'failed', finished = ?, error = ? WHERE key = ?", [now(), error, key]))

    def _on_metrics(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """rows: {name, value, step?, stage_key?}; text values go to the text column."""
        recs = []
        for r in rows:
            value = r.get("value")
            is_num = isinstance(value, int | float) and not isinstance(value, bool)
            stage_key = r.get("stage_key")
            recs.append((None if stage_key else run_id, stage_key, str(r["name"]), r.get("step"),
                         float(value) if is_num else None, None if is_num or value is None else str(value)))
        if not recs:
            return
        # One columnar insert: DuckDB's executemany costs ~1 ms per row, a registered frame ~1 ms per batch.
        df = pd.DataFrame(recs, columns=["run_id", "stage_key", "name", "step", "value", "text"]).astype(
            {"run_id": "object", "stage_key": "object", "step": "Int64", "value": "float64", "text": "object"})

        def write(con):
            con.register("metrics_in", df)
            try:
                con.execute("INSERT INTO metrics SELECT run_id, stage_key, name, step, value, text, ? FROM metrics_in",
                            [now()])
            finally:
                con.unregister("metrics_in")

        self._write(write)

    # ------------------------------------------------------------------ engine: scheduling and paged queries
    def set_worker(self, run_id: str, pid: int | None) -> None:
        self._write(lambda con: con.execute("UPDATE runs SET worker_pid = ? WHERE id = ?", [pid, run_id]))

    def requeue(self, run_id: str) -> None:
        """Back to the queue: status queued, the previous attempt's times, error and worker cleared."""
        self._write(lambda con: con.execute(
            "UPDATE runs SET status = 'queued', started = NULL, finished = NULL, error = NULL, log_tail = NULL, "
            "worker_pid = NULL WHERE id = ?", [run_id]))
        if self.on_status is not None:
            self.on_status(run_id)

