"""The engine as a real subprocess (`w2s serve`): jobs, workers, events, cancel, crashes, restarts, bad input."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import ROOT


def test_second_engine_on_the_same_database_is_refused(engine, tmp_path):
    for home in (engine.home, tmp_path):  # same data directory (engine.json), or another one (the DB lock)
        out = subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--db", str(engine.db)], cwd=ROOT,
                             env={**os.environ, "W2S_HOME": str(home)}, capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
        assert f"pid {engine.proc.pid}" in out.stderr, out.stderr
    assert "engine already running at " + engine.client.url in out.stderr or "held by another process" in out.stderr
    assert engine.client.health().ok


def test_an_engine_on_all_interfaces_advertises_a_reachable_address_and_warns(tmp_path):
    from pathlib import Path

    from tests.helpers import EngineProcess

    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=0, args=("--host", "0.0.0.0"))
    try:
        assert eng.client.health().ok and not eng.client.url.startswith("http://0.0.0.0")
        assert "plain HTTP" in Path(eng.log.name).read_text()
    finally:
        eng.stop()
