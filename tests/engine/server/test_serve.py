"""`w2s serve`: one engine per database, engine.json and its identity, clean shutdown on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import ROOT, EngineProcess, free_port, read_db, toy_config


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


def _run_cli(home, *args):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env={**os.environ, "W2S_HOME": str(home)},
                          capture_output=True, text=True, timeout=120)


def test_sigterm_shuts_down_as_cleanly_as_ctrl_c(tmp_path):
    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=0)
    eng.client.upload("a.csv", b"text,label\n" + b"".join(b"row %d,%d\n" % (i, i % 2) for i in range(10)))  # a write
    eng.proc.send_signal(signal.SIGTERM)
    assert eng.proc.wait(timeout=30) == 0
    eng.log.close()
    assert not (tmp_path / "engine.json").exists()
    assert not (tmp_path / "runs.duckdb.wal").exists()  # checkpointed and closed
    assert read_db(tmp_path / "runs.duckdb", "SELECT count(*) FROM uploads") == [(1,)]


def test_a_stale_engine_json_whose_pid_is_another_process_does_not_block_a_start(tmp_path):
    """On a restarted Space the old engine's pid often belongs to some other process by now."""
    (tmp_path / "engine.json").write_text(json.dumps({
        "url": f"http://127.0.0.1:{free_port()}", "token": "old", "pid": os.getpid(), "db": str(tmp_path / "x"),
        "instance": "gone"}))
    out = _run_cli(tmp_path, "runs")
    assert out.returncode == 0 and "Traceback" not in out.stderr  # read from the file: no engine holds it
    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=0)
    try:
        assert eng.client.health().ok and json.loads((tmp_path / "engine.json").read_text())["pid"] == eng.proc.pid
    finally:
        eng.stop()


def test_a_wrong_token_in_engine_json_is_one_line_not_a_traceback(engine, tmp_path):
    info = json.loads((engine.home / "engine.json").read_text())
    for token, args in (("wrong", ["cancel", "rnone"]), ("wrongé", ["runs", "--db", info["db"]]),
                        ("a\nb", ["show", "rnone", "--db", info["db"]])):
        (tmp_path / "engine.json").write_text(json.dumps({**info, "token": token}))
        out = _run_cli(tmp_path, *args)
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    (tmp_path / "engine.json").write_text(json.dumps({**info, "token": "wrong"}))
    out = _run_cli(tmp_path, "runs", "--db", info["db"])
    assert "refused the token in" in out.stderr and "w2s serve" in out.stderr


@pytest.mark.slow  # a real run, to have its log and predictions on disk
def test_files_the_engine_creates_are_for_its_owner_only(engine, tiny_models):
    engine.client.upload("private.csv", b"text,label\n" + b"".join(b"row %d,%d\n" % (i, i % 2) for i in range(10)))
    run = engine.client.wait_for(engine.client.submit(toy_config(tiny_models, seed=7, n=120)).run_ids, timeout=120)[0]
    assert run.status == "done", run.error
    made = [p for p in engine.home.rglob("*") if not p.name.startswith("serve-")]  # the test's own log is not
    assert {"runs.duckdb", "engine.json", "secret", f"{run.id}.log"} <= {p.name for p in made}
    loose = {str(p.relative_to(engine.home)): oct(p.stat().st_mode & 0o777) for p in made if p.stat().st_mode & 0o077}
    assert not loose


def test_several_submissions_right_after_a_cold_start_all_validate(tmp_path):
    """They used to race on lazy imports in the engine's threads: an empty task registry, then transformers'
    'cannot import name AutoConfig'."""
    import threading

    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=0)
    configs = [{"task": t, "weak": w, "strong": s, "methods": [m]} for t, w, s, m in (
        ("world_size", "world-xs", "world-l", "naive"), ("world_pref", "world-xs", "world-s", "weak_rm"),
        ("arith_sums", "arith-s", "arith-l", "progressive_refine"), ("toy_sentiment", "world-xs", "world-l", "naive"))]
    replies = []
    try:
        threads = [threading.Thread(target=lambda c=c: replies.append(
            eng.client._http.post("/api/validate", json={"config": c}, timeout=120))) for c in configs * 2]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert [r.status_code for r in replies] == [200] * 8, [r.text[:200] for r in replies]
    finally:
        eng.stop()


def test_interrupted_runs_are_requeued_on_start_when_the_owner_asks(tmp_path):
    from engine.server.store import Store

    store = Store(tmp_path / "runs.duckdb")
    run_id = store.create_run({"task": "world_size", "method": "naive", "seed": 0}, status="interrupted")
    store.close()
    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=0, env={"W2S_REQUEUE_INTERRUPTED": "1"})
    try:
        assert eng.client.run(run_id).status == "queued"
    finally:
        eng.stop()


def test_on_a_space_the_engine_is_public_and_keeps_the_hf_cache_beside_the_data(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("W2S_PUBLIC", raising=False)
    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=0, env={"SPACE_ID": "someone/w2s"})
    try:
        policy = eng.client.policy()
        assert policy.public and policy.hf_home == str(tmp_path / "hf")
    finally:
        eng.stop()
