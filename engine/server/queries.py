"""The named reads over the runs database: run lists, one run, metrics, curves, per-example pages, the stage cache.

    store.runs(status="done")                     # DataFrame of runs with their headline metrics
    store.examples_view(run_id)                   # per-example weak / student / ceiling outputs
    store.predictions_page(run_id, quadrant="student_fixed", limit=100)

`Queries` is the read half of engine.server.store.Store (which adds the writes); every statement runs on its own
cursor, because a DuckDB connection shared between threads is not safe. The quadrant and region conditions are
built from the vocabulary in engine.api, so the SQL and every other layer name the same things.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from engine.api import DECEPTION_ZONE, QUADRANTS, REGIONS


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # the store writes naive UTC timestamps


def _truth(column: str, right: bool) -> str:
    return f"w.{column}" if right else f"NOT w.{column}"


QUADRANT_SQL = {k: f"{_truth('weak_correct', q.weak_right)} AND {_truth('student_correct', q.student_right)}"
                for k, q in QUADRANTS.items()}
REGION_SQL = {k: f"{_truth('weak_correct', r.weak_knows)} AND {_truth('ceiling_correct', r.strong_knows)}"
              for k, r in REGIONS.items()}
REGION_CASE = "CASE " + " ".join(f"WHEN {cond} THEN '{name}'" for name, cond in REGION_SQL.items()) + " END"
DECEPTION_SQL = f"({REGION_SQL[DECEPTION_ZONE]}) AND NOT w.student_correct"  # the strong model knows, the weak cannot check


class Queries:
    con: Any

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

    def run_exists(self, run_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM runs WHERE id = ?", [run_id]))

    def run_status(self, run_id: str) -> str | None:
        rows = self._rows("SELECT status FROM runs WHERE id = ?", [run_id])
        return rows[0][0] if rows else None

    def runs_with_status(self, *statuses: str) -> list[str]:
        marks = ", ".join("?" for _ in statuses)
        return [r[0] for r in self._rows(f"SELECT id FROM runs WHERE status IN ({marks}) ORDER BY created", list(statuses))]

    def run_access(self, run_id: str) -> tuple[str, str, bool] | None:
        """(status, owner, public) of a run, or None when there is no such run."""
        rows = self._rows("SELECT status, coalesce(owner, ''), coalesce(public, false) FROM runs WHERE id = ?", [run_id])
        return (rows[0][0], rows[0][1], bool(rows[0][2])) if rows else None

    def active_runs(self, owner: str | None = None) -> int:
        """Queued and running runs, of one owner or of everyone."""
        sql = "SELECT count(*) FROM runs WHERE status IN ('queued', 'running')"
        return int(self._rows(sql + (" AND owner = ?" if owner is not None else ""),
                              [owner] if owner is not None else [])[0][0])

    def upload_owned(self, name: str, owner: str | None) -> bool:
        """A live upload named `name` of this owner (None: of anyone)."""
        sql = "SELECT 1 FROM uploads WHERE name = ? AND (expires IS NULL OR expires > ?)"
        return bool(self._rows(sql + (" AND owner = ?" if owner is not None else ""),
                               [name, _utcnow()] + ([owner] if owner is not None else [])))

    def uploads_of(self, owner: str) -> int:
        return int(self._rows("SELECT count(*) FROM uploads WHERE owner = ? AND (expires IS NULL OR expires > ?)",
                              [owner, _utcnow()])[0][0])

    def worker_pids(self, status: str = "running") -> list[tuple[str, int | None]]:
        return [(r[0], r[1]) for r in self._rows("SELECT id, worker_pid FROM runs WHERE status = ? ORDER BY created",
                                                 [status])]

    # ------------------------------------------------------------------ cache lookups (queries a worker needs)
    def stage_state(self, key: str) -> tuple[str, str | None] | None:
        """A stage's (status, first run): done, running (that run is training it) or failed; None if never started."""
        rows = self._rows("SELECT status, first_run FROM stages WHERE key = ?", [key])
        return (rows[0][0], rows[0][1]) if rows else None

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
             limit: int = 500, visible_to: str | None = None) -> pd.DataFrame:
        """Runs, newest first. `visible_to`: only that owner's runs and the public ones (None: every run)."""
        where, params = [], []
        for col, val in (("status", status), ("task", task), ("method", method)):
            if val:
                where.append(f"r.{col} = ?")
                params.append(val)
        if visible_to is not None:
            where.append("(r.owner = ? OR r.public)")
            params.append(visible_to)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._df(
            f"""
            SELECT r.id, r.status, r.name, r.task, r.weak, r.strong, r.method, r.seed, r.created, r.started,
                   r.finished, date_diff('millisecond', r.started, coalesce(r.finished, r.started)) / 1000.0 AS seconds,
                   max(m.value) FILTER (WHERE m.name = 'pgr') AS pgr,
                   max(m.value) FILTER (WHERE m.name = 'weak_acc') AS weak_acc,
                   max(m.value) FILTER (WHERE m.name = 'student_acc') AS student_acc,
                   max(m.value) FILTER (WHERE m.name = 'ceiling_acc') AS ceiling_acc,
                   r.error, r.tags, r.sweep, coalesce(r.owner, '') AS owner, coalesce(r.public, false) AS public
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
            "SELECT rs.role, rs.stage_key, rs.cached, s.kind, s.model, s.status, s.seconds, s.error, "
            "w.bytes AS weights_bytes, w.kind AS weights_kind FROM run_stages rs LEFT JOIN stages s ON s.key = "
            "rs.stage_key LEFT JOIN weights w ON w.stage_key = rs.stage_key AND s.status = 'done' "
            "WHERE rs.run_id = ? ORDER BY s.started",
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
        if quadrant is not None and quadrant not in QUADRANT_SQL:
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
            where.append(QUADRANT_SQL[quadrant])
        if region:
            where.append(REGION_SQL[region])
        if deception:
            where.append(DECEPTION_SQL)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        inner = self._wide_predictions(run_id, needed)
        params = [split, split, run_id]
        total = self._rows(f"SELECT count(*) FROM ({inner}) w {clause}", params)[0][0]
        drop = [f"{r}_{c}" for r in needed if r not in shown for c in ("prob", "pred", "correct", "output")]
        select = "w.*" + (f" EXCLUDE ({', '.join(chr(34) + d + chr(34) for d in drop)})" if drop else "") + (
            f", {REGION_CASE} AS region" if with_region else "")
        df = self._df(f"SELECT {select} FROM ({inner}) w {clause} ORDER BY w.example_id LIMIT ? OFFSET ?",
                      [*params, limit, offset])
        return df, int(total)
