"""`w2s sql`, `w2s export` (many runs), `w2s snapshot`, `w2s weights` and `w2s gc` as a user types them, on a
database file (the engine side of the same commands: tests/engine/server/test_toolbox.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pandas as pd

from engine.reading import open_store
from tests.helpers import ROOT, fake_run


def typed(*args: str, home) -> subprocess.CompletedProcess:
    """The command as a user types it (a process of its own)."""
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "W2S_HOME": str(home)}, timeout=120)


def test_sql_export_snapshot_weights_and_gc_on_a_file(tmp_path, monkeypatch, capsys):
    from engine.cli import main

    monkeypatch.setenv("W2S_HOME", str(tmp_path))

    def w2s(*args: str, home) -> subprocess.CompletedProcess:
        """The same command in this process (the CLI's imports once, not per command)."""
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    db = tmp_path / "runs.duckdb"
    store = open_store(db)
    folder = tmp_path / "weights" / ("a" * 24)
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"x" * 2000)
    rec = {"path": str(folder), "bytes": 2000, "kind": "model", "files": 1}
    first, _ = fake_run(store, method="naive", keys={"weak": "a" * 24}, keep={"weak": rec})
    second, _ = fake_run(store, method="aux_conf", seed=1)
    store.close()

    out = typed("sql", "SELECT method, count(*) AS n FROM runs GROUP BY method ORDER BY method", "--db", str(db),
              home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[2:4] == ["aux_conf  1", "naive     1"] and "2 row(s)" in out.stderr
    refused = typed("sql", "DELETE FROM runs", "--db", str(db), home=tmp_path)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "read-only" in refused.stderr

    exported = w2s("export", "--all", "--format", "parquet", "--out", str(tmp_path / "ex"), "--db", str(db),
                   home=tmp_path)
    assert exported.returncode == 0, exported.stderr
    runs = pd.read_parquet(tmp_path / "ex" / "runs.parquet")
    assert sorted(runs["id"]) == sorted([first, second]) and "pgr" in runs.columns
    preds = pd.read_parquet(tmp_path / "ex" / "predictions.parquet")
    assert len(preds) == 2 * 3 * 4  # two runs x three roles x four test examples
    one = w2s("export", "--method", "aux_conf", "--runs-only", "--format", "csv", "--out", str(tmp_path / "ex2"),
              "--db", str(db), home=tmp_path)
    assert one.returncode == 0 and list(pd.read_csv(tmp_path / "ex2" / "runs.csv")["id"]) == [second]

    snap = w2s("snapshot", str(tmp_path / "copy.duckdb"), "--db", str(db), home=tmp_path)
    assert snap.returncode == 0, snap.stderr
    with duckdb.connect(str(tmp_path / "copy.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2

    listed = w2s("weights", first, "--db", str(db), home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "1 of 3 role(s) kept, 2.0 kB" in listed.stdout
    got = w2s("weights", first, "--role", "weak", "--out", str(tmp_path / "dl"), "--db", str(db), home=tmp_path)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "dl" / f"{first}-weak" / "model.safetensors").read_bytes() == b"x" * 2000
    dry = w2s("gc", "--all", "--dry-run", "--db", str(db), home=tmp_path)
    assert dry.returncode == 0 and "would remove 1 folder(s), 2.0 kB" in dry.stdout and folder.exists()
    gone = w2s("gc", "--all", "--db", str(db), home=tmp_path)
    assert gone.returncode == 0 and "removed 1 folder(s)" in gone.stdout and not folder.exists()
