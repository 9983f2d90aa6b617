"""Read-only SQL on the runs database (one SELECT / EXPLAIN on the database's own tables, in a read-only
transaction, with a row limit and a timeout) and the consistent snapshot another process can open."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from engine.server.sql import SqlError, check_sql, run_sql, snapshot
from tests.helpers import fake_run


def test_a_query_returns_the_rows_the_store_has(store):
    for seed in range(3):
        fake_run(store, seed=seed)
    table, truncated = run_sql(store, "SELECT id, status, method FROM runs ORDER BY created DESC")
    mine = store.runs()[["id", "status", "method"]]
    assert table.to_pandas().to_dict("records") == mine.to_dict("records") and not truncated
    table, _ = run_sql(store, "WITH m AS (SELECT run_id, value FROM metrics WHERE name = 'pgr') "
                              "SELECT r.seed, m.value FROM runs r JOIN m ON m.run_id = r.id ORDER BY r.seed")
    assert table.to_pylist() == [{"seed": s, "value": pytest.approx(0.5 + s / 10)} for s in range(3)]
    assert run_sql(store, "EXPLAIN SELECT * FROM predictions")[0].column_names == ["explain_key", "explain_value"]
    assert run_sql(store, "SELECT 1 AS a, 2 AS a")[0].column_names == ["a", "a_1"]


@pytest.mark.parametrize("sql,message", [
    ("DELETE FROM runs", "only SELECT and EXPLAIN are run here (got DELETE)"),
    ("SELECT 1; DROP TABLE runs", "exactly one statement, got 2"),
    ("COPY runs TO '/tmp/w2s-leak.csv'", "got COPY"),
    ("ATTACH '/tmp/other.duckdb' AS other", "got ATTACH"),
    ("SET threads = 1", "got SET"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reaches outside the database"),
    ("SELECT * FROM runs WHERE id IN (SELECT id FROM read_parquet('x.parquet'))", "read_parquet()"),
    ("SELECT * FROM '/etc/passwd'", "'/etc/passwd' is not a table of the database"),
    ("SELECT * FROM glob('/*')", "glob() reaches outside"),
    ("SELECT getenv('HF_TOKEN')", "getenv() reaches outside"),
    ("SELECT * FROM other.main.runs", "is not a table of the database"),
    ("SELECT * FROM nope", "'nope' is not a table"),
    ("SELEC 1", "does not parse"),
])
def test_writes_files_and_the_machine_are_refused(store, sql, message):
    with pytest.raises(SqlError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_sql(store, sql)
    assert store._rows("SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'")[0][0] == 1


def test_the_transaction_is_read_only_even_past_the_check(store, monkeypatch):
    import engine.server.sql as sql

    fake_run(store)
    monkeypatch.setattr(sql, "check_sql", lambda con, q: q)  # as if a write slipped through the check
    with pytest.raises(SqlError, match="read-only mode"):
        run_sql(store, "DELETE FROM runs")
    assert store._rows("SELECT count(*) FROM runs")[0][0] == 1


def test_row_limit_and_timeout(store):
    table, truncated = run_sql(store, "SELECT * FROM range(100000) t(i)", limit=10)
    assert table.num_rows == 10 and truncated and table.column("i").to_pylist() == list(range(10))
    with pytest.raises(SqlError, match="ran longer than 0.3 s and was stopped"):
        run_sql(store, "SELECT count(*) FROM range(10000000000) a", timeout=0.3)
    assert run_sql(store, "SELECT 42 AS x")[0].to_pylist() == [{"x": 42}]  # the connection is fine afterwards
    with pytest.raises(SqlError, match="limit=0"):
        run_sql(store, "SELECT 1", limit=0)
    assert check_sql(store.con, "SELECT 1;  ") == "SELECT 1"


def test_a_snapshot_is_consistent_and_opens_in_another_process_while_the_store_writes(store, tmp_path):
    for seed in range(2):
        fake_run(store, seed=seed)
    stop = threading.Event()

    def write():
        while not stop.is_set():
            fake_run(store, seed=9)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        path = snapshot(store, tmp_path / "copy.duckdb")
    finally:
        stop.set()
        writer.join()
    code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "runs = con.execute('SELECT id FROM runs').fetchall(); "
            "stages = con.execute('SELECT count(DISTINCT run_id) FROM run_stages').fetchall()[0][0]; "
            "done = con.execute(\"SELECT count(*) FROM runs WHERE status = 'done'\").fetchall()[0][0]; "
            "print(len(runs), stages, done)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    n_runs, n_staged, n_done = map(int, out.stdout.split())
    assert n_runs >= 2 and n_staged <= n_runs and n_done >= 2  # a moment of the database, every table at once
    with pytest.raises(SqlError, match="already exists"):
        snapshot(store, path)
    live = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True)",
                           str(store.path)], capture_output=True, text=True)
    assert live.returncode != 0 and "lock" in live.stderr  # the live file stays locked: why snapshots exist
