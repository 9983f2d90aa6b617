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


def test_a_running_runs_duration_counts_up_to_now(store):
    import time

    run = store.create_run({"name": "x"})
    store.set_status(run, "running")
    time.sleep(1.1)
    seconds = store.runs().set_index("id").loc[run, "seconds"]
    assert seconds >= 1.0  # it read 0 s while running, before finishing
    store.set_status(run, "done")
    done = store.runs().set_index("id").loc[run, "seconds"]
    time.sleep(0.3)
    assert store.runs().set_index("id").loc[run, "seconds"] == done  # a finished run's duration stays


def _run_with_stages(store, keys: dict[str, str]) -> str:
    run = store.create_run({"name": "x", "task": "t", "method": "naive", "seed": 0}, status="done")
    for role, key in keys.items():
        store.handle({"type": "stage_start", "run_id": run, "key": key, "role": role, "kind": "classifier",
                      "model": "m", "config": {}})
        store.handle({"type": "stage_done", "run_id": run, "key": key, "seconds": 1.0,
                      "predictions": {"test": {"id": ["a", "b"], "prob": [0.9, 0.2], "gold": [1, 1]}}})
        store.handle({"type": "metrics", "run_id": run, "rows": [{"name": "train_loss", "value": 1.0, "step": 1,
                                                                   "stage_key": key}]})
    store.handle({"type": "metrics", "run_id": run, "rows": [{"name": "pgr", "value": 0.5}]})
    return run


def test_deleting_a_run_keeps_shared_stages_and_collects_only_unshared_ones(store):
    first = _run_with_stages(store, {"weak": "kw", "ceiling": "kc", "student": "ks1"})
    second = _run_with_stages(store, {"weak": "kw", "ceiling": "kc", "student": "ks2"})  # shares weak and ceiling
    kept = store.delete_run(first)  # stages stay in the cache
    assert kept == {"runs": 1, "stages": 0, "predictions": 0} and not store.run_exists(first)
    assert store.stage_lookup("ks1") is not None and store.run_metrics(first) == {}
    third = _run_with_stages(store, {"weak": "kw", "ceiling": "kc", "student": "ks3"})
    collected = store.delete_run(third, collect=True)  # only its own student stage is unshared
    assert collected == {"runs": 1, "stages": 1, "predictions": 2}
    assert store.stage_lookup("ks3") is None and store.stage_lookup("kw") is not None
    assert set(store.curves(second)["role"]) == {"weak", "ceiling", "student"}  # the other run keeps its curves
    assert store.delete_run(second, collect=True)["stages"] == 3
    left = store._rows("SELECT count(*) FROM predictions WHERE stage_key IN ('kw', 'kc', 'ks2')")[0][0]
    assert left == 0


def test_every_status_write_is_announced_to_on_status(store):
    from tests.helpers import fake_run

    run_id, _ = fake_run(store)
    seen: list[str] = []
    store.on_status = seen.append  # the engine's Changes: long-polls waiting for a status wake up
    store.handle({"type": "metrics", "run_id": run_id, "rows": [{"name": "x", "value": 1.0}]})
    assert seen == []  # an event is no status change
    store.requeue(run_id)
    store.set_status(run_id, "running")
    store.set_status(run_id, "failed", error="boom")
    assert seen == [run_id] * 3
