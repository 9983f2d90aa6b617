"""engine.paths: every location follows its W2S_* variable, and nothing else reads those variables."""

from __future__ import annotations

import subprocess

from engine import paths
from tests.helpers import ROOT


def test_locations_follow_their_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("W2S_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("W2S_THREADS", "3")
    assert paths.default_db() == tmp_path / "home" / "runs.duckdb"
    assert paths.engine_file() == tmp_path / "home" / "engine.json"
    assert paths.run_log("r1") == tmp_path / "home" / "logs" / "r1.log"
    assert paths.uploads_dir() == tmp_path / "home" / "uploads"
    assert paths.zoo_dir() == (tmp_path / "zoo").resolve() and paths.threads() == 3
    monkeypatch.delenv("W2S_ZOO_DIR")
    assert paths.zoo_dir() == paths.assets_dir() / "zoo" and (paths.configs_dir() / "demo.yaml").is_file()


def test_no_other_module_reads_the_w2s_variables():
    found = subprocess.run(["git", "grep", "-lE", r"environ(\.get)?[\[(]\s*\"W2S_(HOME|ZOO_DIR|ARITH_DIR|THREADS)",
                            "--", "engine", "studio"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert found == ["engine/paths.py"]
