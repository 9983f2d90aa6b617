"""The engine's data endpoints: presets as shipped, uploads kept where workers read them and described."""

from __future__ import annotations

import pytest

from engine.client import EngineError


def test_presets_are_the_shipped_yaml_demo_first(engine):
    presets = engine.client.presets()
    assert presets[0].name == "demo" and presets[0].config["task"] == "world_size"
    assert any(p.name.startswith("burns_") for p in presets)


def test_an_upload_is_stored_once_and_described(engine):
    data = b"review,stars\nnice,5\nbad,1\nok,3\n"
    first = engine.client.upload("stars.csv", data)
    again = engine.client.upload("stars.csv", data)
    assert first.path == again.path and first.path.startswith(str(engine.home / "uploads"))
    assert first.rows == 3 and first.columns == ["review", "stars"] and first.distinct["stars"] == 3
    assert sorted(first.values["stars"]) == [1, 3, 5] and first.preview.data["review"] == ["nice", "bad", "ok"]


@pytest.mark.parametrize("name,data,words", [
    ("notes.txt", b"hello", "unknown file type"),
    ("broken.parquet", b"not parquet", "cannot read file broken.parquet as parquet"),
])
def test_an_unusable_upload_is_a_422_naming_the_fix(engine, name, data, words):
    with pytest.raises(EngineError) as err:
        engine.client.upload(name, data)
    assert err.value.status == 422 and words in str(err.value) and str(engine.home) not in str(err.value)


# ----------------------------------------------------------------------------- stage sharing between running runs
def test_stage_claims_let_one_live_run_train_a_stage_and_survive_a_restart(tmp_path, store):
    """The claim rules on a real store: the first asker trains; a second waits while the holder runs; the holder's
    stage_done makes it "done"; a holder that fails frees it; a new engine reads a running stage row's holder."""
    from engine import api
    from engine.server.engine import Engine

    def engine() -> Engine:
        return Engine(store, tmp_path, "http://127.0.0.1:1", slots=0, gpus=[])

    a, b, c = (store.create_run({"name": "x"}, status="running") for _ in range(3))
    first = engine()
    assert first.claim_stage(a, "k1")["state"] == "train"
    assert first.claim_stage(a, "k1")["state"] == "train"  # asking again (a retry) keeps the claim
    assert first.claim_stage(b, "k1") == {"state": "wait", "holder": a}
    batch = lambda seq, *events: api.EventBatch(attempt="t", seq=seq, events=list(events))  # noqa: E731
    start = {"type": "stage_start", "key": "k1", "role": "weak", "kind": "classifier", "model": "m", "config": {}}
    first.apply(a, batch(0, start))
    assert engine().claim_stage(b, "k1") == {"state": "wait", "holder": a}  # a restarted engine: from the stages row
    first.apply(a, batch(1, {"type": "stage_done", "key": "k1", "seconds": 1.0,
                             "predictions": {"test": {"id": ["e1"], "prob": [0.9], "gold": [1]}}}))
    assert first.claim_stage(b, "k1")["state"] == "done" and first.claim_stage(c, "k1")["state"] == "done"

    assert first.claim_stage(b, "k2")["state"] == "train"
    assert first.claim_stage(c, "k2") == {"state": "wait", "holder": b}
    store.set_status(b, "failed", error="killed")  # the holder died: its claim goes with it
    assert first.claim_stage(c, "k2") == {"state": "train", "holder": c}


@pytest.mark.slow
def test_two_runs_needing_the_same_stages_at_once_train_each_once(tmp_path, tiny_models):
    """Two methods on one seed share the weak and the ceiling stage. Started together on two worker slots, one run
    trains each shared stage while the other waits for it and reads it from the cache; without the claim both would
    miss the cache and train both stages."""
    from tests.helpers import EngineProcess, read_db, toy_config

    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=2)
    try:
        c = eng.client
        ids = c.submit(toy_config(tiny_models, seed=80, epochs=15, n=2000, methods=["naive", "aux_conf"])).run_ids
        runs = c.wait_for(ids, timeout=300)
        assert [r.status for r in runs] == ["done", "done"], [r.error for r in runs]
        logs = {r: c.log(r, max_bytes=200_000) for r in ids}
    finally:
        eng.stop()
    rows = read_db(eng.db, "SELECT role, stage_key, run_id, cached FROM run_stages WHERE role IN ('weak', 'ceiling')")
    for role in ("weak", "ceiling"):
        mine = {run: (key, cached) for r, key, run, cached in rows if r == role}
        assert len(set(mine.values())) == 2 and len({key for key, _ in mine.values()}) == 1  # one stage ...
        trainer = next(run for run, (_, cached) in mine.items() if not cached)  # ... trained once, reused once
        waiter = next(run for run in ids if run != trainer)
        assert f"{role}: stage {mine[trainer][0]} is being trained by run {trainer}; waiting for it" in logs[waiter]
    assert read_db(eng.db, "SELECT count(*) FROM stages")[0][0] == 4  # weak, ceiling and the two students
