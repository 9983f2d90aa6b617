"""`w2s runs`, `w2s show`, `w2s export` as a user types them, on a database file and through a running engine."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd

from engine.config import config_from_dict
from engine.reading import open_store
from engine.run.execute import run_local
from tests.helpers import ROOT, toy_config


def w2s(*args: str, home) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "W2S_HOME": str(home)}, timeout=120)


def test_runs_show_and_export_read_the_file(tmp_path, tiny_models):
    db = tmp_path / "runs.duckdb"
    store = open_store(db)
    run_id, _, summary = run_local(config_from_dict(toy_config(tiny_models, epochs=1, n=80)).expand()[0], store,
                                   progress=False)
    store.close()
    listed = w2s("runs", "--db", str(db), home=tmp_path)
    assert listed.returncode == 0 and run_id in listed.stdout and "done" in listed.stdout
    shown = w2s("show", run_id, "--db", str(db), home=tmp_path)
    assert shown.returncode == 0 and "student_acc" in shown.stdout and "ceiling" in shown.stdout
    out = tmp_path / "x.parquet"
    exported = w2s("export", run_id, "--db", str(db), "--format", "parquet", "--out", str(out), home=tmp_path)
    assert exported.returncode == 0, exported.stderr
    df = pd.read_parquet(out)
    assert len(df) == summary["n_test"] and {"weak_prob", "student_prob", "ceiling_prob"} <= set(df.columns)
    missing = w2s("show", "r-none", "--db", str(db), home=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("error: no run 'r-none'")


def test_runs_go_through_the_engine_that_holds_the_database(engine, tiny_models):
    (run,) = engine.client.wait_for(engine.client.submit(toy_config(tiny_models, epochs=1, n=80)).run_ids, 120)
    listed = w2s("runs", home=engine.home)  # the engine's database is the default one of its data directory
    assert listed.returncode == 0 and run.id in listed.stdout
