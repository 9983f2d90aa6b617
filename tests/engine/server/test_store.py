"""engine.server.store / schema / queries on a real DuckDB file: migrations, run rows, the stage cache's rules."""

from __future__ import annotations

import duckdb

from engine.server.schema import MIGRATIONS
from engine.server.store import Store


def test_migrations_apply_once_and_record_their_version(tmp_path):
    path = tmp_path / "runs.duckdb"
    Store(path).close()
    Store(path).close()  # a second open applies nothing again
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT list(version ORDER BY version) FROM schema_version").fetchone()[0] == list(
        range(1, len(MIGRATIONS) + 1))


def test_a_stage_is_found_only_after_its_done_mark(store):
    run = store.create_run({"name": "x", "task": "t", "method": "naive", "seed": 0})
    store.handle({"type": "stage_start", "run_id": run, "key": "k1", "role": "weak", "kind": "classifier",
                  "model": "m", "config": {}})
    assert store.stage_lookup("k1") is None
    store.handle({"type": "stage_done", "run_id": run, "key": "k1", "seconds": 1.0,
                  "predictions": {"test": {"id": ["b", "a"], "prob": [0.9, 0.2], "gold": [1, 1]}}})
    found = store.stage_lookup("k1")
    assert set(found["test"]["id"]) == {"a", "b"}
    assert store.run(run)["stages"][0]["status"] == "done"


def test_status_changes_stamp_times_and_unknown_statuses_are_refused(store):
    import pytest

    run = store.create_run({"name": "x"})
    store.set_status(run, "running")
    store.set_status(run, "failed", error="boom")
    row = store.run(run)
    assert row["status"] == "failed" and row["error"] == "boom" and row["finished"] is not None
    with pytest.raises(ValueError, match="unknown run status"):
        store.set_status(run, "exploded")
