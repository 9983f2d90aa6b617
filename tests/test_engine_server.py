"""The engine as a real subprocess (`w2s serve`): jobs, workers, events, cancel, crashes, restarts, bad input.

    .venv/bin/python -m pytest -q tests/test_engine_server.py -p no:cacheprovider

No mocks: each test talks HTTP to an engine started with `python -m engine.cli serve`, whose workers
train tiny local GPT-2 models on the generated toy task; the database is read back after the engine stops.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import EngineProcess, gone, read_db, wait_until

from engine.client import EngineError

ROOT = Path(__file__).resolve().parents[1]


def config(tiny_models, seed: int = 0, epochs: float = 2, n: int = 200, **over) -> dict:
    cfg = {"task": {"name": "toy_sentiment", "n": n}, "weak": tiny_models["weak"], "strong": tiny_models["strong"],
           "methods": ["naive"], "seeds": [seed], "train": {"epochs": epochs, "lr": 1e-3, "batch_size": 16}}
    cfg.update(over)
    return cfg


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    proc = EngineProcess(home, home / "runs.duckdb", workers=1)
    yield proc
    proc.stop()


# ----------------------------------------------------------------------------- jobs
def test_submit_runs_to_done_and_rows_are_queryable(engine, tiny_models):
    c = engine.client
    reply = c.submit(config(tiny_models, seed=0))
    assert len(reply.run_ids) == 1
    (run,) = c.wait_for(reply.run_ids, timeout=90)
    assert run.status == "done", run.error
    assert run.sweep == reply.sweep and {s["role"] for s in run.stages} == {"weak", "ceiling", "student"}
    metrics = c.metrics(run.id)
    assert 0 <= metrics["student_acc"] <= 1
    assert c.curves(run.id).data["name"]  # training curves arrived as events
    page = c.predictions(run.id, limit=10)
    assert page.total == metrics["n_test"] and len(page.data["example_id"]) == 10
    quadrants = {q: c.predictions(run.id, quadrant=q, limit=1).total
                 for q in ("both_right", "student_fixed", "student_imitated", "student_broke")}
    assert quadrants == {q: metrics[q] for q in quadrants}
    weak_b = c.predictions(run.id, split="B", role="weak", limit=5)
    assert weak_b.total == metrics["n_train_b"] and "student_prob" not in weak_b.columns
    assert "worker pid" in c.log(run.id)


def test_four_jobs_with_one_slot_run_one_after_another(engine, tiny_models):
    c = engine.client
    ids = [c.submit(config(tiny_models, seed=10 + i, n=120)).run_ids[0] for i in range(4)]
    runs = c.wait_for(ids, timeout=150)
    assert [r.status for r in runs] == ["done"] * 4, [r.error for r in runs]
    spans = sorted((r.started, r.finished) for r in runs)
    for (_, finished), (started, _) in zip(spans, spans[1:]):
        assert finished <= started, spans


def test_cancel_mid_run_keeps_earlier_rows(engine, tiny_models):
    c = engine.client
    run_id = c.submit(config(tiny_models, seed=20, epochs=60)).run_ids[0]
    wait_until(lambda: any(s["role"] == "weak" and s["status"] == "done" for s in c.run(run_id).stages), 90,
               "the weak stage to finish")
    live = wait_until(lambda: (p := c.run(run_id).progress) and p.stage.startswith("ceiling") and p, 30,
                      "progress of the next stage")
    assert 0 < live.step <= live.total and live.unit == "step"
    pid = c.run(run_id).worker_pid
    assert c.cancel(run_id).status == "cancelled"
    wait_until(lambda: c.run(run_id).worker_pid is None and run_id not in c.health().running, 20, "the worker to stop")
    assert gone(pid)
    run = c.run(run_id)
    assert run.status == "cancelled"
    assert any(s["role"] == "weak" and s["status"] == "done" for s in run.stages)
    assert c.predictions(run_id, split="B", role="weak", limit=1).total > 0
    with pytest.raises(EngineError) as err:
        c.cancel(run_id)
    assert err.value.status == 409


def test_cancel_of_a_queued_run(tmp_path, tiny_models):
    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=0)  # 0 slots: runs only queue
    try:
        run_id = eng.client.submit(config(tiny_models)).run_ids[0]
        assert eng.client.run(run_id).status == "queued"
        assert eng.client.cancel(run_id).status == "cancelled"
        assert not (tmp_path / "logs" / f"{run_id}.log").exists()
    finally:
        eng.stop()


def test_killed_worker_fails_its_run_with_log_tail(engine, tiny_models):
    c = engine.client
    run_id = c.submit(config(tiny_models, seed=30, epochs=60)).run_ids[0]
    wait_until(lambda: c.run(run_id).progress, 60, "training progress")
    os.kill(c.run(run_id).worker_pid, signal.SIGKILL)
    run = wait_until(lambda: (r := c.run(run_id)).status == "failed" and r, 30, "the run to fail")
    assert "SIGKILL" in run.error and "worker pid" in run.log_tail
    assert c.health().ok


# ----------------------------------------------------------------------------- engine crash and restart
def test_engine_killed_mid_run_restart_marks_interrupted_and_requeue_reuses_stages(tmp_path, tiny_models):
    db = tmp_path / "runs.duckdb"
    first = EngineProcess(tmp_path, db)
    c = first.client
    run_id = c.submit(config(tiny_models, seed=40, epochs=40)).run_ids[0]
    weak = wait_until(lambda: [s for s in c.run(run_id).stages if s["role"] == "weak" and s["status"] == "done"],
                      90, "the weak stage")[0]
    worker = c.run(run_id).worker_pid
    first.proc.kill()
    first.proc.wait()
    first.log.close()

    second = EngineProcess(tmp_path, db)
    try:
        c = second.client
        run = c.run(run_id)
        assert run.status == "interrupted" and "requeue" in run.error
        wait_until(lambda: gone(worker), 10, "the orphan worker to be killed")
        assert c.predictions(run_id, split="B", role="weak", limit=1).total > 0  # earlier rows intact
        assert c.requeue(run_id).status == "queued"
        (run,) = c.wait_for([run_id], timeout=120)
        assert run.status == "done", run.error
    finally:
        second.stop()
    rows = read_db(db, "SELECT role, stage_key, cached FROM run_stages WHERE run_id = ?", [run_id])
    by_role = {role: (key, cached) for role, key, cached in rows}
    assert by_role["weak"] == (weak["stage_key"], True)
    assert by_role["ceiling"][1] is False
    assert read_db(db, "SELECT status FROM runs WHERE id = ?", [run_id]) == [("done",)]


def test_second_engine_on_the_same_database_is_refused(engine, tmp_path):
    for home in (engine.home, tmp_path):  # same data directory (engine.json), or another one (the DB lock)
        out = subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--db", str(engine.db)], cwd=ROOT,
                             env={**os.environ, "W2S_HOME": str(home)}, capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
        assert f"pid {engine.proc.pid}" in out.stderr, out.stderr
    assert "engine already running at " + engine.client.url in out.stderr or "held by another process" in out.stderr
    assert engine.client.health().ok


# ----------------------------------------------------------------------------- bad input and security
def test_wrong_or_missing_token_is_401_and_does_nothing(engine, tiny_models):
    before = len(engine.client.runs().data["id"])
    url = engine.client.url
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": engine.client.info.token}):
        resp = httpx.post(f"{url}/api/runs", json={"config": config(tiny_models)}, headers=headers)
        assert resp.status_code == 401 and "token" in resp.json()["detail"]
    assert httpx.get(f"{url}/api/runs").status_code == 401
    assert len(engine.client.runs().data["id"]) == before


@pytest.mark.parametrize("body,status,words", [
    ({"config": {"task": "toy_sentiment", "lrr": 1}}, 422, ["unknown key 'lrr'", "valid keys"]),
    ({"config": {"task": "toy_sentimnt"}}, 422, ["unknown task 'toy_sentimnt'", "did you mean 'toy_sentiment'"]),
    ({"config": {"task": "toy_sentiment", "train": {"lr": 3}}}, 422, ["lr=3", "(0, 1)"]),
    ({"config": {"task": "toy_sentiment", "weak": "/no/such/model"}}, 422, ["/no/such/model", "does not exist"]),
    ({"config": {}, "priority": 1}, 422, ["unknown field 'priority'"]),
    ({}, 422, ["config", "required"]),
])
def test_bad_submissions_are_4xx_naming_the_problem(engine, body, status, words):
    before = len(engine.client.runs().data["id"])
    resp = engine.client._http.post("/api/runs", json=body)
    assert resp.status_code == status
    for w in words:
        assert w in resp.json()["detail"]
    assert len(engine.client.runs().data["id"]) == before


def test_malformed_json_unknown_run_and_bad_events(engine):
    http = engine.client._http
    resp = http.post("/api/runs", content=b'{"config": {', headers={"content-type": "application/json"})
    assert resp.status_code == 400 and "malformed JSON" in resp.json()["detail"]
    for method, path in (("GET", "/api/runs/rmissing"), ("POST", "/api/runs/rmissing/cancel"),
                         ("POST", "/api/runs/rmissing/requeue"), ("GET", "/api/runs/rmissing/predictions")):
        resp = http.request(method, path)
        assert resp.status_code == 404 and "rmissing" in resp.json()["detail"]
    with pytest.raises(EngineError, match="rmissing") as err:
        engine.client.log("rmissing")
    assert err.value.status == 404
    run_id = engine.client.runs().data["id"][0]
    resp = http.post(f"/api/runs/{run_id}/events", json={"attempt": "t", "seq": 0, "events": [{"type": "nope"}]})
    assert resp.status_code == 400 and "unknown event type 'nope'" in resp.json()["detail"]


def test_client_that_disconnects_mid_request_changes_nothing(engine):
    before = len(engine.client.runs().data["id"])
    host, port = engine.client.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"POST /api/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {engine.client.info.token}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"config\": {\"task\": ".encode())
    with httpx.Client(base_url=engine.client.url, headers=engine.client._http.headers) as h:
        with pytest.raises(httpx.ReadTimeout):  # a long-poll dropped by its client
            h.get("/api/wait", params={"since": 10**9, "timeout": 5}, timeout=0.5)
    assert engine.client.health().ok
    assert len(engine.client.runs().data["id"]) == before


# ----------------------------------------------------------------------------- units that need no engine
def test_run_spec_round_trips_through_its_stored_dict(tiny_models):
    from engine.config import config_from_dict, spec_from_dict
    from engine.registry import METHODS

    for method in METHODS.names():
        for spec in config_from_dict(config(tiny_models, methods=[method])).expand():
            assert spec_from_dict(spec.to_dict()).to_json() == spec.to_json()


def test_client_imports_without_the_ml_stack_or_duckdb():
    code = ("import sys; import engine.client, engine.api; "
            "print(sorted(m for m in ('torch', 'transformers', 'duckdb', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
