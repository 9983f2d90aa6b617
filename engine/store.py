"""DuckDB storage: the schema, every write and the named queries (the only module with SQL).

    store = Store("runs.duckdb")           # opens (creates) the file and applies migrations
    store.handle({"type": "run_status", "run_id": r, "status": "running"})
    store.runs()                            # DataFrame of all runs with their headline metrics
    store.examples_view(run_id)             # per-example weak / student / ceiling outputs

One process owns the file (DuckDB admits one writer; any other process that opens it fails with a
lock error), so the engine server holds the Store and everything else goes through it. Writes arrive
as events (`handle`) in transactions; a stage's predictions and its "done" mark commit together, so a
half-finished stage is never reused.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

MIGRATIONS = [
    # 1: the initial schema.
    """
    CREATE TABLE IF NOT EXISTS runs (
        id VARCHAR PRIMARY KEY, created TIMESTAMP, started TIMESTAMP, finished TIMESTAMP, status VARCHAR,
        name VARCHAR, task VARCHAR, task_version VARCHAR, split_key VARCHAR, weak VARCHAR, strong VARCHAR,
        method VARCHAR, seed INTEGER, config JSON, versions JSON, error VARCHAR, log_tail VARCHAR,
        tags VARCHAR, sweep VARCHAR
    );
    CREATE TABLE IF NOT EXISTS stages (
        key VARCHAR PRIMARY KEY, kind VARCHAR, model VARCHAR, config JSON, status VARCHAR,
        started TIMESTAMP, finished TIMESTAMP, seconds DOUBLE, error VARCHAR, first_run VARCHAR
    );
    CREATE TABLE IF NOT EXISTS run_stages (
        run_id VARCHAR, role VARCHAR, stage_key VARCHAR, cached BOOLEAN, PRIMARY KEY (run_id, role)
    );
    CREATE TABLE IF NOT EXISTS metrics (
        run_id VARCHAR, stage_key VARCHAR, name VARCHAR, step INTEGER, value DOUBLE, text VARCHAR,
        created TIMESTAMP
    );
    CREATE TABLE IF NOT EXISTS examples (
        task_version VARCHAR, example_id VARCHAR, source VARCHAR, text VARCHAR, gold INTEGER, meta JSON,
        PRIMARY KEY (task_version, example_id)
    );
    CREATE TABLE IF NOT EXISTS split_members (
        split_key VARCHAR, example_id VARCHAR, split VARCHAR, PRIMARY KEY (split_key, example_id)
    );
    CREATE TABLE IF NOT EXISTS predictions (
        stage_key VARCHAR, split VARCHAR, example_id VARCHAR, prob DOUBLE, pred INTEGER, gold INTEGER,
        correct BOOLEAN, label_prob DOUBLE, output VARCHAR, PRIMARY KEY (stage_key, split, example_id)
    );
    """,
    # 2: the engine's scheduler records each running run's worker process, so a restarted engine can
    # find and stop workers left behind by one that died.
    """
    ALTER TABLE runs ADD COLUMN IF NOT EXISTS worker_pid INTEGER;
    """,
    # 3: each prediction row keeps its position in the stage's output, so a cached stage returns its rows in the
    # order a fresh one did (stage_lookup), never in the table's sort order.
    """
    ALTER TABLE predictions ADD COLUMN IF NOT EXISTS position INTEGER;
    """,
]

QUADRANTS = {  # weak supervisor vs strong student on the same example (binary labels)
    "both_right": "w.weak_correct AND w.student_correct",
    "student_fixed": "NOT w.weak_correct AND w.student_correct",
    "student_imitated": "NOT w.weak_correct AND NOT w.student_correct",
    "student_broke": "w.weak_correct AND NOT w.student_correct",
}

REGIONS = {  # Yang et al. 2024's knowledge regions: the GT-trained weak model and the ceiling right or wrong
    "Wk_Sk": "w.weak_correct AND w.ceiling_correct",
    "Wk_Suk": "w.weak_correct AND NOT w.ceiling_correct",
    "Wuk_Sk": "NOT w.weak_correct AND w.ceiling_correct",
    "Wuk_Suk": "NOT w.weak_correct AND NOT w.ceiling_correct",
}
REGION_SQL = "CASE " + " ".join(f"WHEN {cond} THEN '{name}'" for name, cond in REGIONS.items()) + " END"
DECEPTION = f"({REGIONS['Wuk_Sk']}) AND NOT w.student_correct"  # the strong model knows, the weak cannot check

RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id() -> str:
    return "r" + uuid.uuid4().hex[:11]


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(self.path))
        self._lock = threading.RLock()
        self._migrate()

    # ------------------------------------------------------------------ plumbing
    def _migrate(self) -> None:
        with self._lock:
            self.con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            row = self.con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
            for version, sql in enumerate(MIGRATIONS, start=1):
                if row is None or version > row:
                    self.con.execute("BEGIN")
                    self.con.execute(sql)
                    self.con.execute("INSERT INTO schema_version VALUES (?)", [version])
                    self.con.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.con.close()

    def _write(self, fn, *args: Any) -> Any:
        """Run fn(con, *args) in one transaction under the writer lock."""
        with self._lock:
            self.con.execute("BEGIN")
            try:
                out = fn(self.con, *args)
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
            return out

    def _df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        cur = self.con.cursor()  # one cursor per call: shared connections are not thread-safe
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def _rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        cur = self.con.cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()

    # ------------------------------------------------------------------ runs
    def create_run(self, spec_dict: dict[str, Any], status: str = "queued", sweep: str | None = None,
                   run_id: str | None = None, tags: str | None = None) -> str:
        run_id = run_id or new_run_id()

        def write(con):
            con.execute(
                "INSERT INTO runs (id, created, status, name, task, weak, strong, method, seed, config, sweep, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, now(), status, spec_dict.get("name"), spec_dict.get("task"), spec_dict.get("weak"),
                 spec_dict.get("strong"), spec_dict.get("method"), spec_dict.get("seed"),
                 json.dumps(spec_dict, default=str), sweep, tags or None],
            )

        self._write(write)
        return run_id

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

    def set_tags(self, run_id: str, tags: str | None) -> None:
        self._write(lambda con: con.execute("UPDATE runs SET tags = ? WHERE id = ?", [tags or None, run_id]))

    def run_exists(self, run_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM runs WHERE id = ?", [run_id]))

    def run_status(self, run_id: str) -> str | None:
        rows = self._rows("SELECT status FROM runs WHERE id = ?", [run_id])
        return rows[0][0] if rows else None

    def runs_with_status(self, *statuses: str) -> list[str]:
        marks = ", ".join("?" for _ in statuses)
        return [r[0] for r in self._rows(f"SELECT id FROM runs WHERE status IN ({marks}) ORDER BY created", list(statuses))]

    # ------------------------------------------------------------------ events (what a running method writes)
    def handle(self, event: dict[str, Any]) -> Any:
        """Apply one event from a run. Event types mirror engine.context.RunContext's methods."""
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

    # ------------------------------------------------------------------ cache lookups (queries a worker needs)
    def stage_lookup(self, key: str) -> dict[str, dict[str, list]] | None:
        """A finished stage's predictions by split, each split's rows in the order the stage wrote them, or None
        when it is absent or unfinished."""
        if not self._rows("SELECT 1 FROM stages WHERE key = ? AND status = 'done'", [key]):
            return None
        df = self._df("SELECT split, example_id, prob, gold, label_prob, output FROM predictions WHERE stage_key = ? "
                      "ORDER BY split, position, example_id", [key])
        out: dict[str, dict[str, list]] = {}
        for split, part in df.groupby("split", sort=False):
            out[str(split)] = {"id": part["example_id"].tolist(), "prob": part["prob"].tolist(),
                               "gold": part["gold"].tolist(),
                               "output": part["output"].where(part["output"].notna(), None).tolist()}
        return out

    # ------------------------------------------------------------------ named queries
    def runs(self, status: str | None = None, task: str | None = None, method: str | None = None,
             limit: int = 500) -> pd.DataFrame:
        where, params = [], []
        for col, val in (("status", status), ("task", task), ("method", method)):
            if val:
                where.append(f"r.{col} = ?")
                params.append(val)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._df(
            f"""
            SELECT r.id, r.status, r.name, r.task, r.weak, r.strong, r.method, r.seed, r.created, r.started,
                   r.finished, date_diff('millisecond', r.started, coalesce(r.finished, r.started)) / 1000.0 AS seconds,
                   max(m.value) FILTER (WHERE m.name = 'pgr') AS pgr,
                   max(m.value) FILTER (WHERE m.name = 'weak_acc') AS weak_acc,
                   max(m.value) FILTER (WHERE m.name = 'student_acc') AS student_acc,
                   max(m.value) FILTER (WHERE m.name = 'ceiling_acc') AS ceiling_acc,
                   r.error, r.tags, r.sweep
            FROM runs r LEFT JOIN metrics m ON m.run_id = r.id AND m.stage_key IS NULL
            {clause}
            GROUP BY ALL ORDER BY r.created DESC LIMIT ?
            """, [*params, limit])

    def run(self, run_id: str) -> dict[str, Any] | None:
        df = self._df("SELECT * FROM runs WHERE id = ?", [run_id])
        if df.empty:
            return None
        row = df.iloc[0].to_dict()
        for key in ("config", "versions"):
            row[key] = json.loads(row[key]) if isinstance(row[key], str) else None
        row["stages"] = self._df(
            "SELECT rs.role, rs.stage_key, rs.cached, s.kind, s.model, s.status, s.seconds, s.error "
            "FROM run_stages rs LEFT JOIN stages s ON s.key = rs.stage_key WHERE rs.run_id = ? ORDER BY s.started",
            [run_id]).to_dict("records")
        return row

    def run_metrics(self, run_id: str) -> dict[str, Any]:
        rows = self._rows("SELECT name, value, text FROM metrics WHERE run_id = ? AND stage_key IS NULL "
                          "ORDER BY created", [run_id])
        return {name: (value if text is None else text) for name, value, text in rows}

    def curves(self, run_id: str) -> pd.DataFrame:
        return self._df(
            "SELECT rs.role, m.name, m.step, m.value FROM run_stages rs JOIN metrics m ON m.stage_key = rs.stage_key "
            "WHERE rs.run_id = ? AND m.step IS NOT NULL ORDER BY rs.role, m.name, m.step", [run_id])

    def roles(self, run_id: str) -> list[str]:
        return [r[0] for r in self._rows("SELECT role FROM run_stages WHERE run_id = ? ORDER BY role", [run_id])]

    def examples_view(self, run_id: str, split: str = "test", limit: int | None = None, offset: int = 0) -> pd.DataFrame:
        """One row per example of the run's split: text, gold and each role's p(1) and correctness."""
        roles = self.roles(run_id)
        cols = "".join(f', w."{r}_prob", w."{r}_correct"' for r in roles)
        sql = f"SELECT w.example_id, w.text, w.gold, w.meta{cols} FROM ({self._wide_predictions(run_id, roles)}) w " \
              "ORDER BY w.example_id"
        params: list[Any] = [split, split, run_id]
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return self._df(sql, params)

    def export(self, run_id: str, path: str | Path, fmt: str = "csv") -> Path:
        df = self.examples_view(run_id, split="test")
        path = Path(path)
        if fmt == "csv":
            df.to_csv(path, index=False)
        elif fmt == "parquet":
            df.to_parquet(path, index=False)
        else:
            raise ValueError(f"unknown export format {fmt!r}; use csv or parquet")
        return path

    # ------------------------------------------------------------------ engine: scheduling and paged queries
    def set_worker(self, run_id: str, pid: int | None) -> None:
        self._write(lambda con: con.execute("UPDATE runs SET worker_pid = ? WHERE id = ?", [pid, run_id]))

    def worker_pids(self, status: str = "running") -> list[tuple[str, int | None]]:
        return [(r[0], r[1]) for r in self._rows("SELECT id, worker_pid FROM runs WHERE status = ? ORDER BY created",
                                                 [status])]

    def requeue(self, run_id: str) -> None:
        """Back to the queue: status queued, the previous attempt's times, error and worker cleared."""
        self._write(lambda con: con.execute(
            "UPDATE runs SET status = 'queued', started = NULL, finished = NULL, error = NULL, log_tail = NULL, "
            "worker_pid = NULL WHERE id = ?", [run_id]))

    def _wide_predictions(self, run_id: str, roles: list[str]) -> str:
        """SQL for one row per example of a run's split (params: split, split, run_id) with, per role, its
        p(1), prediction, correctness and output record (JSON text: margins, completions) as columns <role>_prob,
        <role>_pred, <role>_correct, <role>_output."""
        for role in roles:
            if not role.replace("_", "").isalnum():
                raise ValueError(f"role {role!r} has characters a column name cannot hold")
        cols = "".join(
            f", max(p.prob) FILTER (WHERE rs.role = '{r}') AS \"{r}_prob\""
            f", max(p.pred) FILTER (WHERE rs.role = '{r}') AS \"{r}_pred\""
            f", bool_or(p.correct) FILTER (WHERE rs.role = '{r}') AS \"{r}_correct\""
            f", max(p.output) FILTER (WHERE rs.role = '{r}') AS \"{r}_output\"" for r in roles)
        return f"""
            SELECT sm.example_id, e.text, e.gold, e.meta {cols}
            FROM runs r
            JOIN split_members sm ON sm.split_key = r.split_key AND sm.split = ?
            JOIN examples e ON e.task_version = r.task_version AND e.example_id = sm.example_id
            LEFT JOIN run_stages rs ON rs.run_id = r.id
            LEFT JOIN predictions p ON p.stage_key = rs.stage_key AND p.example_id = sm.example_id AND p.split = ?
            WHERE r.id = ?
            GROUP BY ALL
        """

    def predictions_page(self, run_id: str, split: str = "test", role: str | None = None,
                         quadrant: str | None = None, limit: int = 100, offset: int = 0, region: str | None = None,
                         deception: bool = False) -> tuple[pd.DataFrame, int]:
        """A page of per-example outputs and the number of rows that match.

        role: only that model's columns and the examples it predicted; quadrant: both_right, student_fixed
        (weak wrong, student right), student_imitated (both wrong), student_broke (weak right, student wrong);
        region: Wk_Sk, Wk_Suk, Wuk_Sk, Wuk_Suk (weak model / ceiling right or wrong); deception: only the
        deception cases (Wuk_Sk and the student wrong). Runs with a weak model and a ceiling get a `region` column.
        """
        roles = self.roles(run_id)
        if role is not None and role not in roles:
            raise ValueError(f"run {run_id} has no model role '{role}'; its roles: {', '.join(roles) or '(none yet)'}")
        if quadrant is not None and quadrant not in QUADRANTS:
            raise ValueError(f"quadrant '{quadrant}' is not one of {', '.join(QUADRANTS)}")
        if region is not None and region not in REGIONS:
            raise ValueError(f"region '{region}' is not one of {', '.join(REGIONS)}")
        shown = [role] if role else roles
        wants = (["weak", "student"] if quadrant else []) + (["weak", "ceiling"] if region or deception else []) + (
            ["student"] if deception else [])
        if not set(wants) <= set(roles):
            return pd.DataFrame(columns=["example_id", "text", "gold"]), 0
        with_region = {"weak", "ceiling"} <= set(roles)
        needed = list(dict.fromkeys(shown + wants + (["weak", "ceiling"] if with_region else [])))
        where = []
        if role:
            where.append(f'w."{role}_prob" IS NOT NULL')
        if quadrant:
            where.append(QUADRANTS[quadrant])
        if region:
            where.append(REGIONS[region])
        if deception:
            where.append(DECEPTION)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        inner = self._wide_predictions(run_id, needed)
        params = [split, split, run_id]
        total = self._rows(f"SELECT count(*) FROM ({inner}) w {clause}", params)[0][0]
        drop = [f"{r}_{c}" for r in needed if r not in shown for c in ("prob", "pred", "correct", "output")]
        select = "w.*" + (f" EXCLUDE ({', '.join(chr(34) + d + chr(34) for d in drop)})" if drop else "") + (
            f", {REGION_SQL} AS region" if with_region else "")
        df = self._df(f"SELECT {select} FROM ({inner}) w {clause} ORDER BY w.example_id LIMIT ? OFFSET ?",
                      [*params, limit, offset])
        return df, int(total)
