"""engine.server.scheduler on a real engine: one slot runs jobs in turn, cancel, a killed worker, an engine restart."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from engine.client import EngineError
from engine.server.scheduler import Changes
from tests.helpers import EngineProcess, gone, read_db, toy_config, wait_until


@pytest.mark.slow  # end to end, ~20-40 s: runs in make test-slow
def test_four_jobs_with_one_slot_run_one_after_another(engine, tiny_models):
    c = engine.client
    ids = [c.submit(toy_config(tiny_models, seed=10 + i, n=120)).run_ids[0] for i in range(4)]
    runs = c.wait_for(ids, timeout=150)
    assert [r.status for r in runs] == ["done"] * 4, [r.error for r in runs]
    spans = sorted((r.started, r.finished) for r in runs)
    for (_, finished), (started, _) in zip(spans, spans[1:]):
        assert finished <= started, spans


def test_cancel_mid_run_keeps_earlier_rows(engine, tiny_models):
    c = engine.client
    run_id = c.submit(toy_config(tiny_models, seed=20, epochs=60)).run_ids[0]
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
        run_id = eng.client.submit(toy_config(tiny_models)).run_ids[0]
        assert eng.client.run(run_id).status == "queued"
        assert eng.client.cancel(run_id).status == "cancelled"
        assert not (tmp_path / "logs" / f"{run_id}.log").exists()
    finally:
        eng.stop()


def test_killed_worker_fails_its_run_with_log_tail(engine, tiny_models):
    c = engine.client
    run_id = c.submit(toy_config(tiny_models, seed=30, epochs=60)).run_ids[0]
    wait_until(lambda: c.run(run_id).progress, 60, "training progress")
    os.kill(c.run(run_id).worker_pid, signal.SIGKILL)
    run = wait_until(lambda: (r := c.run(run_id)).status == "failed" and r, 30, "the run to fail")
    assert "SIGKILL" in run.error and "worker pid" in run.log_tail
    assert c.health().ok


# ----------------------------------------------------------------------------- engine crash and restart
@pytest.mark.slow  # end to end, ~20-40 s: runs in make test-slow
def test_engine_killed_mid_run_restart_marks_interrupted_and_requeue_reuses_stages(tmp_path, tiny_models):
    db = tmp_path / "runs.duckdb"
    first = EngineProcess(tmp_path, db)
    c = first.client
    run_id = c.submit(toy_config(tiny_models, seed=40, epochs=40)).run_ids[0]
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


def test_a_status_waiter_sleeps_through_a_runs_events_and_wakes_on_its_status_change():
    async def scenario():
        changes = Changes()
        changes.attach(asyncio.get_running_loop())
        since = changes.current()
        status_waiter = asyncio.create_task(changes.wait(since, 60, status=True))
        any_waiter = asyncio.create_task(changes.wait(since, 60))
        changes.bump("r1")  # an event of a running run (a metrics batch, progress)
        assert await asyncio.wait_for(any_waiter, 60) is True
        for _ in range(5):  # the wake-up went round the loop: the status waiter checked and waits on
            await asyncio.sleep(0)
        assert not status_waiter.done()
        changes.bump("r1", status=True)  # the run's status changed (Store.on_status)
        assert await asyncio.wait_for(status_waiter, 60) is True
        assert changes.current(status=True) == changes.current() == 2

    asyncio.run(scenario())
