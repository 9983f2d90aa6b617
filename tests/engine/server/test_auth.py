"""engine.server.auth against a real public-mode engine: two visitors and the owner kept apart, every cap with its
message, the body limit, and the scoped token a worker gets instead of the engine's own."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from engine.client import EngineClient, EngineError
from engine.server.auth import Identities, WorkerTokens
from tests.helpers import EngineProcess, toy_config, wait_until

DEMO = {"task": "world_size", "weak": "world-xs", "strong": "world-s", "methods": ["naive"], "n_train": 200,
        "n_test": 100, "train": {"epochs": 1}}


def test_visitor_tokens_are_signed_and_the_owner_token_follows_the_password():
    ids = Identities(b"k" * 32)
    visitor, token = ids.mint()
    assert ids.verify(token, None).visitor == visitor
    forged = visitor[:-1] + ("0" if visitor[-1] != "0" else "1")
    assert ids.verify(f"{forged}.{token.split('.')[1]}", None) is None  # another id with this signature
    assert Identities(b"x" * 32).verify(token, None) is None  # another server's secret
    owner = ids.owner_token("sesame")
    assert ids.verify(owner, "sesame").is_owner and ids.verify(owner, "changed") is None
    assert ids.verify(owner, None) is None
    workers = WorkerTokens()
    t = workers.issue("r1")
    assert workers.run_of(t) == "r1"
    workers.revoke("r1")
    assert workers.run_of(t) is None
    later = WorkerTokens()  # a restarted engine adopts a Ray worker that kept running: its token works again
    later.adopt(t, "r1")
    later.adopt("the engine's own token", "r1")  # only worker tokens are adopted
    assert later.run_of(t) == "r1" and later.run_of("the engine's own token") is None


@pytest.fixture(scope="module")
def pub(tmp_path_factory):
    """A public engine that only queues (0 worker slots), an owner password, small caps."""
    home = tmp_path_factory.mktemp("public")
    eng = EngineProcess(home, home / "runs.duckdb", workers=0, public=True,
                        env={"W2S_OWNER_PASSWORD": "sesame", "W2S_MAX_QUEUED": "3", "W2S_MAX_QUEUE": "5",
                             "W2S_MAX_UPLOAD_MB": "0.01", "W2S_MAX_BODY_MB": "0.05"})
    owner = eng.client
    a, b = (owner.as_visitor(owner.new_visitor().token) for _ in range(2))
    yield eng, owner, a, b
    eng.stop()


def test_visitors_see_and_control_only_their_own_runs(pub):
    eng, owner, a, b = pub
    (run_a,) = a.submit(DEMO).run_ids
    assert run_a in a.runs().data["id"] and run_a not in b.runs().data["id"]
    assert a.run(run_a).model_dump()["mine"] is True
    for call in (b.run, b.cancel, b.requeue, b.metrics, b.log, lambda r: b.set_tags(r, "x"),
                 lambda r: b.predictions(r)):
        with pytest.raises(EngineError) as err:
            call(run_a)
        assert err.value.status == 404 and f"no run '{run_a}'" in str(err.value)
    assert run_a not in b.health().running
    with pytest.raises(EngineError) as err:  # only the owner shares runs
        a.set_public(run_a, True)
    assert err.value.status == 403
    owner.set_public(run_a, True)
    shared = b.run(run_a).model_dump()
    assert shared["public"] and not shared["mine"] and "owner" not in shared
    assert run_a in b.runs().data["id"] and "owner" not in b.runs().columns
    with pytest.raises(EngineError) as err:  # a shared demo run is read-only for other visitors
        b.cancel(run_a)
    assert err.value.status == 403 and "only its owner" in str(err.value)
    assert owner.runs().data["owner"]  # the owner sees who owns what
    a.cancel(run_a)
    owner.set_public(run_a, False)
    assert run_a not in b.runs().data["id"]


def test_a_visitor_cannot_post_events_read_the_stage_cache_or_stop_the_engine(pub):
    eng, owner, a, b = pub
    (run_a,) = a.submit(DEMO).run_ids
    for method, path, body in (("POST", f"/api/runs/{run_a}/events", {"attempt": "x", "seq": 0, "events": []}),
                               ("GET", "/api/stages/abc", None), ("POST", "/api/shutdown", None),
                               ("POST", "/api/visitors", None)):
        with pytest.raises(EngineError) as err:
            a._call(method, path, json=body)
        assert err.value.status == 403 and "owner" in str(err.value)
    bad = owner.as_visitor("v0123456789abcdef.00")
    with pytest.raises(EngineError) as err:
        bad.runs()
    assert err.value.status == 401 and "visitor identity is not valid" in str(err.value)
    a.cancel(run_a)


def test_server_paths_typed_folders_and_remote_code_are_refused(pub, tmp_path):
    eng, owner, a, b = pub
    secret = tmp_path / "server.csv"
    secret.write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(20)))
    for config, words in (
        ({**DEMO, "task": {"name": "file", "path": str(secret)}}, "is a server path"),
        ({**DEMO, "weak": str(tmp_path)}, "is a folder on the server"),
        ({**DEMO, "train": {"epochs": 1, "trust_remote_code": True}}, "remote code is off"),
    ):
        with pytest.raises(EngineError) as err:
            a.validate(config)
        assert err.value.status == 422 and words in str(err.value)
    # An upload is referenced, never a server path, and only its owner's tasks may read it.
    up = a.upload("mine.csv", secret.read_bytes())
    assert up.path.startswith("upload:") and str(eng.home) not in up.model_dump_json()
    ok = a.validate({**DEMO, "task": {"name": "file", "path": up.path}, "n_train": None, "n_test": None})
    assert ok.runs == 1
    with pytest.raises(EngineError) as err:
        b.validate({**DEMO, "task": {"name": "file", "path": up.path}})
    assert "is not one of your uploads" in str(err.value)


def test_each_cap_is_enforced_with_its_message(pub):
    eng, owner, a, b = pub
    with pytest.raises(EngineError) as err:
        a.submit({**DEMO, "seeds": list(range(6))})
    assert err.value.status == 422 and "at most 5 (owner setting W2S_MAX_SEEDS)" in str(err.value)
    with pytest.raises(EngineError) as err:
        a.submit({**DEMO, "n_train": 6000})
    assert "W2S_MAX_EXAMPLES" in str(err.value)
    ids = a.submit({**DEMO, "seeds": [0, 1, 2]}).run_ids
    with pytest.raises(EngineError) as err:
        a.submit(DEMO)
    assert err.value.status == 429 and "limit is 3 per visitor (owner setting W2S_MAX_QUEUED)" in str(err.value)
    ids_b = b.submit({**DEMO, "seeds": [0, 1]}).run_ids
    with pytest.raises(EngineError) as err:  # 5 queued in all
        b.submit(DEMO)
    assert err.value.status == 429 and "queue is full (5 queued or running runs, owner setting W2S_MAX_QUEUE)" in \
        str(err.value)
    for run_id in ids:
        a.cancel(run_id)
    for run_id in ids_b:
        b.cancel(run_id)
    with pytest.raises(EngineError) as err:
        a.upload("big.csv", b"text,label\n" + b"x,1\n" * 4000)
    assert err.value.status == 413 and "W2S_MAX_UPLOAD_MB" in str(err.value)
    with pytest.raises(EngineError) as err:  # the request body limit, with a Content-Length
        a._call("POST", "/api/validate", json={"config": {"name": "x" * 80_000}})
    assert err.value.status == 413 and "W2S_MAX_BODY_MB" in str(err.value)

    def chunks():
        yield b'{"config": {"name": "'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"}}'

    resp = a._http.post("/api/validate", content=chunks(), headers={"X-W2S-Visitor": a.visitor,
                                                                    "Content-Type": "application/json"})
    assert resp.status_code == 413  # without Content-Length (chunked), counted as it arrives
    assert owner.health().ok


@pytest.mark.slow  # a worker has to be running
def test_a_worker_gets_a_token_for_its_run_only_and_no_hf_token(tmp_path, tiny_models):
    tiny = ",".join(tiny_models.values())  # the owner may allow models by name, folders included
    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=1, public=True,
                        env={"W2S_ALLOW_MODELS": tiny, "HF_TOKEN": "hf_not_for_workers", "W2S_MAX_EXAMPLES": "0",
                             "W2S_MAX_EPOCHS": "0"})
    try:
        c = eng.client
        run_id = c.submit(toy_config(tiny_models, epochs=200)).run_ids[0]
        pid = wait_until(lambda: c.run(run_id).worker_pid, 60, "the worker to start")
        env = dict(kv.split("=", 1) for kv in open(f"/proc/{pid}/environ", "rb").read().decode().split("\0") if kv)
        assert "HF_TOKEN" not in env and env["W2S_ENGINE_TOKEN"] != eng.client._token
        worker = EngineClient(c.url, env["W2S_ENGINE_TOKEN"])
        assert worker.run(run_id).id == run_id
        other = c.submit(toy_config(tiny_models, seed=1)).run_ids[0]
        for call in (worker.runs, lambda: worker.run(other), worker.health, lambda: worker.cancel(run_id)):
            with pytest.raises(EngineError) as err:
                call()
            assert err.value.status == 403 and "only its own run" in str(err.value)
        c.cancel(run_id)
        c.cancel(other)
        wait_until(lambda: c.run(run_id).worker_pid is None, 30, "the worker to stop")
        with pytest.raises(EngineError) as err:  # revoked with its worker
            worker.run(run_id)
        assert err.value.status == 401
    finally:
        eng.stop()


def test_owner_login_checks_the_password(pub):
    eng, owner, a, b = pub
    with pytest.raises(EngineError) as err:
        owner.owner_login("guess")
    assert err.value.status == 403
    token = owner.owner_login("sesame").token
    as_owner = owner.as_visitor(token)
    assert as_owner.policy().is_owner and as_owner.policy().settings
    assert not a.policy().is_owner and a.policy().settings == [] and a.policy().public
    t0 = time.monotonic()
    with pytest.raises(EngineError):
        owner.owner_login("guess again")
    assert time.monotonic() - t0 >= 0.9  # a wrong password costs a second
    assert httpx.get(f"{owner.url}/api/ping").json()["pid"] == eng.proc.pid  # open, says only who it is
    assert os.stat(eng.home / "secret").st_mode & 0o077 == 0


def test_a_visitor_gets_no_sql_snapshot_or_gc_keeps_no_weights_and_exports_only_their_runs(pub, tmp_path):
    eng, owner, a, b = pub
    for call in (lambda: a.sql("SELECT 1"), lambda: a.snapshot(tmp_path / "copy.duckdb"),
                 lambda: a.gc(dry_run=True)):
        with pytest.raises(EngineError) as err:
            call()
        assert err.value.status == 403 and "only the server's owner" in str(err.value)
    assert not (tmp_path / "copy.duckdb").exists()
    assert owner.sql("SELECT 1 AS x").data["x"] == [1]  # the owner keeps the SQL endpoint
    for train in ({"keep_weights": True}, {"report_to": ["tensorboard"]}):
        with pytest.raises(EngineError) as err:
            a.submit({**DEMO, "train": train})
        assert err.value.status == 422 and "is off on this server" in str(err.value)
    (run_a,) = a.submit(DEMO).run_ids
    assert run_a in a.export("runs", format="json").data["id"]
    assert run_a not in b.export("runs", format="json").data.get("id", [])
    a.cancel(run_a)
