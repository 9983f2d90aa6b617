"""The database schema as numbered migrations: migration 1 is the initial schema, each later one a change to it.

    migrate(con)      # applies every migration newer than the file's schema_version, each in a transaction

Add a migration by appending to MIGRATIONS; never edit one that has shipped.
"""

from __future__ import annotations

from typing import Any

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
    # 4: public mode. Each run belongs to whoever submitted it ('' = the server's owner: the CLI, or local mode)
    # and is seen by everyone only when the owner marks it public; uploads are owned and expire the same way.
    """
    ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner VARCHAR DEFAULT '';
    ALTER TABLE runs ADD COLUMN IF NOT EXISTS public BOOLEAN DEFAULT false;
    UPDATE runs SET owner = coalesce(owner, ''), public = coalesce(public, false);
    CREATE TABLE IF NOT EXISTS uploads (
        name VARCHAR, owner VARCHAR, bytes BIGINT, rows INTEGER, created TIMESTAMP, expires TIMESTAMP,
        PRIMARY KEY (name, owner)
    );
    """,
    # 5: kept weights (train.keep_weights): one Hugging Face folder per stage key, the stage's key unchanged by
    # keeping them; `w2s gc` deletes folders and rows.
    """
    CREATE TABLE IF NOT EXISTS weights (
        stage_key VARCHAR PRIMARY KEY, path VARCHAR, bytes BIGINT, files INTEGER, kind VARCHAR, run_id VARCHAR,
        role VARCHAR, created TIMESTAMP
    );
    """,
    # 6: training dynamics. Every classifier stage's p(1) on its training rows and on each split it labels, at each
    # evaluation point (checkpoint 0, 1, ...; the optimizer step and epoch it was taken at), written as training
    # goes and kept with the stage like its predictions; `position` is the row's place in what the stage wrote.
    """
    CREATE TABLE IF NOT EXISTS dynamics (
        stage_key VARCHAR, split VARCHAR, example_id VARCHAR, checkpoint INTEGER, step INTEGER, epoch DOUBLE,
        prob DOUBLE, position INTEGER, PRIMARY KEY (stage_key, split, checkpoint, example_id)
    );
    """,
]


def migrate(con: Any) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
    row = con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
    for version, sql in enumerate(MIGRATIONS, start=1):
        if row is None or version > row:
            con.execute("BEGIN")
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?)", [version])
            con.execute("COMMIT")
