"""The default offline experiment end to end through the CLI, as a new user runs it."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_demo_config_shows_weak_to_strong(tmp_path):
    db = tmp_path / "runs.duckdb"
    env = {**os.environ, "W2S_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "engine.cli", "run", "assets/configs/demo.yaml", "--db", str(db),
                          "--quiet"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "median PGR" in out.stdout
    from engine.server.store import Store

    store = Store(db)
    runs = store.runs()
    assert len(runs) == 6 and set(runs.status) == {"done"}
    pgr = {m: statistics.median(runs[runs.method == m].pgr) for m in ("naive", "aux_conf")}
    assert pgr["aux_conf"] > 0.5 and pgr["naive"] > 0.3, pgr
    # per seed, both methods share one weak model and one ceiling through the stage cache
    trained = store.con.execute("SELECT count(*) FROM run_stages WHERE NOT cached").fetchall()[0][0]
    assert trained == 3 * 4  # weak, ceiling and two students per seed
    store.close()
