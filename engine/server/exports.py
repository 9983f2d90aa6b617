"""Many runs at once as tidy tables: one row per run (its settings and metrics), one row per prediction.

    runs = runs_table(store, RunFilter(tag="baseline", task="world_size"))   # id, name, status, ..., config.*, metrics
    rows = predictions_table(store, list(runs["id"]))                         # run x role x split x example
    data = table_bytes(rows, "parquet")                                       # what `w2s export` and the API send

The run table has the run's columns, its config flattened into `config.<field>` columns (config.train.epochs,
config.method_config.aux_coef, ...) and one column per run-level metric (pgr, weak_acc, ..., `metric.<name>` where
a metric's name is also a run column). The prediction table has every stored prediction of every role of those
runs, on every split a stage predicted (B and test for the weak model, test for the others, ...), with the
example's text and gold label: run_id, role, stage_key, cached, split, position, example_id, text, gold, prob,
pred, correct, label_prob, output.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

FORMATS = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv"}


@dataclass(frozen=True)
class RunFilter:
    """Which runs: every given criterion must hold (tag: one of the run's comma- or space-separated tags)."""

    status: str | None = None
    task: str | None = None
    method: str | None = None
    sweep: str | None = None
    tag: str | None = None
    runs: tuple[str, ...] = ()


def tags_of(text: Any) -> list[str]:
    return [t for t in re.split(r"[,\s]+", text or "") if t] if isinstance(text, str) else []


def runs_table(store: Any, where: RunFilter = RunFilter(), visible_to: str | None = None) -> pd.DataFrame:
    """One row per matching run, oldest first: run columns, config.* columns and one column per metric."""
    clauses, params = [], []
    for col in ("status", "task", "method", "sweep"):
        if getattr(where, col):
            clauses.append(f"r.{col} = ?")
            params.append(getattr(where, col))
    if where.runs:
        clauses.append("list_contains(?, r.id)")
        params.append(list(where.runs))
    if visible_to is not None:
        clauses.append("(r.owner = ? OR r.public)")
        params.append(visible_to)
    runs = store._df(
        "SELECT r.id, r.name, r.status, r.task, r.task_version, r.weak, r.strong, r.method, r.seed, r.sweep, r.tags, "
        "r.created, r.started, r.finished, date_diff('millisecond', r.started, coalesce(r.finished, r.started)) "
        "/ 1000.0 AS seconds, r.error, r.config FROM runs r" + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
        + " ORDER BY r.created, r.id", params)
    if where.tag:
        wanted = where.tag.strip().lower()
        runs = runs[[wanted in (t.lower() for t in tags_of(x)) for x in runs["tags"]]]
    runs = runs.reset_index(drop=True)
    config = pd.json_normalize([json.loads(c) if isinstance(c, str) else {} for c in runs.pop("config")], sep=".")
    config.columns = [f"config.{c}" for c in config.columns]
    metrics = store._df("SELECT run_id, name, value, text FROM metrics WHERE stage_key IS NULL AND "
                        "list_contains(?, run_id) ORDER BY created", [list(runs["id"])])
    wide = pd.DataFrame(index=runs["id"])
    if not metrics.empty:
        metrics["v"] = metrics["value"].astype(object).where(metrics["text"].isna(), metrics["text"])
        last = metrics.drop_duplicates(["run_id", "name"], keep="last")  # a metric written twice: its last value
        wide = last.pivot(index="run_id", columns="name", values="v").reindex(runs["id"])
        wide.columns = [f"metric.{c}" if c in runs.columns else str(c) for c in wide.columns]
        for col in wide.columns:  # a column is numbers, or text where any run stored text (Parquet needs one type)
            numeric = wide[col].dropna().map(lambda v: isinstance(v, int | float)).all()
            wide[col] = wide[col].astype(float) if numeric else wide[col].map(lambda v: None if pd.isna(v) else str(v))
    return pd.concat([runs, config, wide.reset_index(drop=True)], axis=1)


def predictions_table(store: Any, run_ids: list[str]) -> pd.DataFrame:
    """Every stored prediction of every role of `run_ids`, with the example's text and gold label."""
    return store._df(
        """
        SELECT rs.run_id, rs.role, rs.stage_key, rs.cached, p.split, p.position, p.example_id, e.text, p.gold, p.prob,
               p.pred, p.correct, p.label_prob, p.output
        FROM run_stages rs
        JOIN runs r ON r.id = rs.run_id
        JOIN predictions p ON p.stage_key = rs.stage_key
        LEFT JOIN examples e ON e.task_version = r.task_version AND e.example_id = p.example_id
        WHERE list_contains(?, rs.run_id)
        ORDER BY rs.run_id, rs.role, p.split, p.position, p.example_id
        """, [list(run_ids)])


def table_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """`df` as a Parquet or CSV file's bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use {' or '.join(FORMATS)}")
    buffer = io.BytesIO()
    if fmt == "parquet":
        df.to_parquet(buffer, index=False)
    else:
        df.to_csv(buffer, index=False)
    return buffer.getvalue()
