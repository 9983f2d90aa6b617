"""Per-run worker tokens: signed per run, kept across engine restarts, and scoped on the real engine to the routes
of their own run (read it, post its events, claim stages, read the stage cache)."""

from __future__ import annotations

import os
import stat

import httpx

from engine.server.tokens import RunTokens, run_may
from tests.helpers import toy_config


def test_a_run_token_names_its_run_survives_a_restart_and_cannot_be_forged(tmp_path):
    tokens = RunTokens(tmp_path)
    token = tokens.issue("r1234")
    assert tokens.run_of(token) == "r1234"
    assert RunTokens(tmp_path).run_of(token) == "r1234"  # a restarted engine reads the same key
    assert stat.S_IMODE(os.stat(tmp_path / "worker.secret").st_mode) == 0o600
    assert RunTokens(tmp_path / "other").run_of(token) is None  # another engine's key
    forged = token.replace("r1234", "r9999")
    assert tokens.run_of(forged) is None and tokens.run_of("run.r1") is None and tokens.run_of("x") is None


def test_run_routes():
    assert run_may("POST", "/api/runs/r1/events", "r1") and run_may("GET", "/api/runs/r1", "r1")
    assert run_may("GET", "/api/stages/abc123", "r1") and run_may("POST", "/api/runs/r1/stages/abc1/claim", "r1")
    assert not run_may("POST", "/api/runs/r2/events", "r1") and not run_may("GET", "/api/runs", "r1")
    assert not run_may("POST", "/api/runs/r1/cancel", "r1") and not run_may("GET", "/api/runs/r1/log", "r1")


def test_the_engine_lets_a_run_token_act_for_its_run_only(engine, tiny_models):
    c = engine.client
    mine, other = c.submit(toy_config(tiny_models, seed=60, n=120)).run_ids + c.submit(
        toy_config(tiny_models, seed=61, n=120)).run_ids
    for run_id in (mine, other):
        c.cancel(run_id)
    token = RunTokens(engine.home).issue(mine)
    auth = {"Authorization": f"Bearer {token}"}
    body = {"attempt": "t", "seq": 0, "events": [{"type": "log", "text": "hello from a worker\n"}]}
    url = c.url
    assert httpx.get(f"{url}/api/runs/{mine}", headers=auth).json()["id"] == mine
    assert httpx.post(f"{url}/api/runs/{mine}/events", json=body, headers=auth).json()["applied"] == 1
    assert "hello from a worker" in c.log(mine)  # a `log` event is appended to the run's log by the engine
    for method, path in (("POST", f"/api/runs/{other}/events"), ("GET", "/api/runs"), ("GET", f"/api/runs/{other}"),
                         ("POST", f"/api/runs/{mine}/requeue"), ("POST", "/api/shutdown")):
        resp = httpx.request(method, f"{url}{path}", json=body, headers=auth)
        assert resp.status_code == 403 and f"scoped to run {mine}" in resp.json()["detail"], (path, resp.text)
    forged = {"Authorization": f"Bearer {token[:-4]}AAAA"}
    assert httpx.get(f"{url}/api/runs/{mine}", headers=forged).status_code == 401
    assert "hello" not in c.log(other)
