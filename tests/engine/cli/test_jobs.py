"""`w2s submit --wait`, `w2s logs`, `w2s cancel` against the real engine."""

from __future__ import annotations

import pytest
import yaml

from tests.engine.cli.test_results import w2s
from tests.helpers import toy_config


@pytest.mark.slow  # end to end, ~20-40 s: runs in make test-slow
def test_submit_waits_for_the_sweep_and_logs_show_the_worker(engine, tiny_models, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(toy_config(tiny_models, epochs=1, n=80, seeds=[0, 1])))
    done = w2s("submit", str(path), "--wait", home=engine.home)
    assert done.returncode == 0, done.stderr
    assert "2 run(s) queued" in done.stdout and done.stdout.count(" done ") + done.stdout.count(" done\n") >= 2
    run_id = done.stdout.split("queued on ")[1].split(": ")[1].split()[0]
    log = w2s("logs", run_id, home=engine.home)
    assert log.returncode == 0 and f"worker for run {run_id}" in log.stdout
    refused = w2s("cancel", run_id, home=engine.home)
    assert refused.returncode == 2 and "only queued or running runs can be cancelled" in refused.stderr


def test_w2s_stop_stops_the_engine_and_says_how_to_resume(tmp_path):
    from tests.helpers import EngineProcess, gone, wait_until

    proc = EngineProcess(tmp_path / "home", tmp_path / "home" / "runs.duckdb")
    try:
        out = w2s("stop", home=proc.home)
        assert out.returncode == 0 and f"pid {proc.proc.pid}) stopped" in out.stdout and "requeue" in out.stdout
        wait_until(lambda: gone(proc.proc.pid) or proc.proc.poll() is not None, 30, "the engine to exit")
        again = w2s("stop", home=proc.home)
        assert again.returncode == 0 and "no engine running" in again.stdout
    finally:
        proc.stop()


def test_w2s_delete_and_a_resubmit_note(engine, tiny_models, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(toy_config(tiny_models, epochs=1, n=80, seeds=[3])))
    first = w2s("submit", str(path), "--wait", home=engine.home)
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.split("queued on ")[1].split(": ")[1].split()[0]
    again = w2s("submit", str(path), "--on-duplicate", "skip", home=engine.home)
    assert again.returncode == 0 and f"already exist ({run_id}); skipped" in again.stdout
    assert "nothing queued" in again.stdout
    deleted = w2s("delete", run_id, home=engine.home)
    assert deleted.returncode == 0 and f"run {run_id} deleted" in deleted.stdout
    assert "stay in the cache" in deleted.stdout
