"""The engine's HTTP API on a real subprocess: a submitted run's rows, the token guard, bad input answered 4xx."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from engine import api
from engine.client import EngineError
from tests.helpers import toy_config


# ----------------------------------------------------------------------------- jobs
def test_submit_runs_to_done_and_rows_are_queryable(engine, tiny_models):
    c = engine.client
    reply = c.submit(toy_config(tiny_models, seed=0))
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


# ----------------------------------------------------------------------------- bad input and security
def test_wrong_or_missing_token_is_401_and_does_nothing(engine, tiny_models):
    before = len(engine.client.runs().data["id"])
    url = engine.client.url
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": engine.client.info.token}):
        resp = httpx.post(f"{url}/api/runs", json={"config": toy_config(tiny_models)}, headers=headers)
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


# ----------------------------------------------------------------------------- what the studio reads
@pytest.fixture(scope="module")
def pair(engine, tiny_models):
    """Two finished runs on the same examples (seed 0), trained for one and for two epochs: two setups."""
    ids = [engine.client.submit(toy_config(tiny_models, epochs=e, n=120, name=f"pair-{e}")).run_ids[0] for e in (1, 2)]
    runs = engine.client.wait_for(ids, timeout=180)
    assert [r.status for r in runs] == ["done", "done"], [r.error for r in runs]
    return ids


def test_one_request_gives_a_page_and_the_grids_counts(engine, pair):
    c = engine.client
    page = c.predictions(pair[0], limit=1000, counts=True)
    rows = page.records()
    counts = page.counts
    assert counts.total == page.total == len(rows) == c.metrics(pair[0])["n_test"] and counts.scored == counts.total
    for key, q in api.QUADRANTS.items():
        assert counts.quadrants[key] == sum(r["weak_correct"] == q.weak_right and r["student_correct"] ==
                                            q.student_right for r in rows)
    assert sum(counts.regions.values()) == counts.total and counts.deception == sum(
        r["region"] == api.DECEPTION_ZONE and not r["student_correct"] for r in rows)
    half_b = c.predictions(pair[0], split="B", limit=1, counts=True).counts
    n_b = c.metrics(pair[0])["n_train_b"]
    assert half_b.total == n_b and half_b.scored == 0  # no student prediction on B
    assert half_b.predicted == {"weak": n_b, "student": 0, "ceiling": 0}


def test_the_engine_searches_sorts_and_compares_pages(engine, pair):
    c = engine.client
    rows = c.predictions(pair[0], limit=1000).records()
    word = rows[0]["text"].split()[-1]
    found = c.predictions(pair[0], search=word.upper(), limit=1000)
    assert found.total == sum(word in r["text"].lower() for r in rows) and found.total >= 1
    assert c.predictions(pair[0], search=rows[0]["example_id"][:6], limit=5).records()[0]["example_id"].startswith(
        rows[0]["example_id"][:6])
    conf = [max(p, 1 - p) for p in c.predictions(pair[0], order="weak_conf", limit=1000).data["weak_prob"]]
    assert conf == sorted(conf, reverse=True)
    low = [max(p, 1 - p) for p in c.predictions(pair[0], order="-student_conf", limit=1000).data["student_prob"]]
    assert low == sorted(low)
    both = c.predictions(pair[0], compare=pair[1], limit=1000, counts=True)
    assert both.counts.compared == both.total and "other_prob" in both.columns
    differ = c.predictions(pair[0], compare=pair[1], disagree=True, limit=1000).records()
    assert all((r["student_prob"] >= 0.5) != (r["other_prob"] >= 0.5) for r in differ)
    assert len(differ) == sum((r["student_prob"] >= 0.5) != (r["other_prob"] >= 0.5) for r in both.records())
    with pytest.raises(EngineError, match="order 'loudness'"):
        c.predictions(pair[0], order="loudness")


def test_a_run_with_its_curves_and_log_is_one_request(engine, pair):
    c = engine.client
    before = c.health()
    run = c.run(pair[0], curves=True, log=True)
    after = c.health()
    assert run.curves.data["name"] and "worker pid" in run.log and run.config_key
    assert after.requests - before.requests == 2  # the run, and the second health call itself
    # the access check, the run row, its stages and its curves (the scheduler's own poll may add one or two)
    assert after.statements - before.statements - 1 <= 6


def test_runs_carry_their_setup_and_duplicates_are_named_before_queueing(engine, tiny_models, pair):
    c = engine.client
    listed = {r["id"]: r for r in c.runs(configs=True).records()}
    keys = {listed[i]["config_key"] for i in pair}
    assert len(keys) == 2 and listed[pair[0]]["config"]["train"]["epochs"] == 1.0  # epochs 1 vs 2: two setups
    again = toy_config(tiny_models, epochs=1, n=120, name="renamed", seeds=[0, 1])
    check = c.validate(again)
    assert check.config_keys[0] == check.config_keys[1] == listed[pair[0]]["config_key"]  # the name is no setting
    assert [(d.run_id, d.seed) for d in check.duplicates] == [(pair[0], 0)]
    with pytest.raises(EngineError, match=f"already exist \\({pair[0]}\\)") as err:
        c.submit(again, on_duplicate="refuse")
    assert err.value.status == 409
    before = len(c.runs().data["id"])
    skipped = c.submit(again, on_duplicate="skip")
    assert skipped.skipped == 1 and len(skipped.run_ids) == 1 and len(c.runs().data["id"]) == before + 1
    c.cancel(skipped.run_ids[0])


def test_validate_without_checks_reads_keys_types_and_values_only(engine):
    c = engine.client
    reply = c.validate({"task": "toy_sentiment", "weak": "no-such-org/no-such-model"}, full=False)
    assert reply.runs == 1  # the model is not looked up: what loading a YAML file needs
    with pytest.raises(EngineError, match="train: unknown key 'epoch'; did you mean 'epochs'"):
        c.validate({"task": "toy_sentiment", "train": {"epoch": 5}}, full=False)


def test_delete_refuses_an_active_run_and_removes_a_finished_one(engine, tiny_models):
    c = engine.client
    queued = c.submit(toy_config(tiny_models, epochs=1, n=80, seed=9)).run_ids[0]
    try:
        with pytest.raises(EngineError, match="stop it first") as err:
            c.delete_run(queued)
        assert err.value.status == 409
    finally:
        c.cancel(queued)
    c.wait_for([queued], timeout=60)
    reply = c.delete_run(queued, collect=True)
    assert reply.runs == 1 and queued not in c.runs().data["id"]
    with pytest.raises(EngineError) as gone:
        c.run(queued)
    assert gone.value.status == 404


def test_out_of_range_numbers_in_a_config_or_a_query_are_4xx_and_queue_nothing(engine, tiny_models):
    c = engine.client
    before = len(c.runs().data["id"])
    for config, words in (({**toy_config(tiny_models), "seeds": [0, 1, 10**30]}, "is out of range"),
                          ({**toy_config(tiny_models), "train": {"epochs": float("inf")}}, "not a finite number")):
        resp = c._http.post("/api/runs", content=json.dumps({"config": config}),
                            headers={"content-type": "application/json"})  # JSON's Infinity is accepted by Python
        assert resp.status_code == 422 and words in resp.json()["detail"]
    assert len(c.runs().data["id"]) == before  # no part of the sweep was queued
    run_id = c.submit(toy_config(tiny_models, seed=5)).run_ids[0]
    c.cancel(run_id)
    for params in ({"offset": 10**30}, {"offset": -1}, {"limit": 10**9}):
        resp = c._http.get(f"/api/runs/{run_id}/predictions", params=params)
        assert resp.status_code == 422 and ("offset" in resp.json()["detail"] or "limit" in resp.json()["detail"])
    resp = c._http.get("/api/wait", params={"since": 0, "timeout": "nan"})
    assert resp.status_code == 422


def test_validate_reports_skipped_rows_and_mapped_labels(engine, tiny_models, tmp_path):
    rows = "".join(f"sentence {i},{'pos' if i % 2 else 'neg'}\n" for i in range(40)) + "no label,\n"
    up = engine.client.upload("gaps.csv", ("text,label\n" + rows).encode())
    reply = engine.client.validate({**toy_config(tiny_models), "task": {"name": "file", "path": up.ref}})
    assert any("1 of 41 rows skipped" in n for n in reply.notes), reply.notes
    assert any("'neg' -> 0, 'pos' -> 1" in n for n in reply.notes)
    assert up.missing == {"text": 0, "label": 1}


def test_the_registry_lists_the_per_role_training_settings_for_the_studios_form(engine):
    reg = engine.client.registry()
    roles = next(f for f in reg.train if f.name == "roles")
    assert "weak" in roles.help and roles.default is None
    assert {"weak", "student", "ceiling", "stage1", "sft", "intermediate"} <= set(reg.train_roles)
    assert {"chat_template", "generation_backend", "quantization", "device_map"} <= {f.name for f in reg.train}
