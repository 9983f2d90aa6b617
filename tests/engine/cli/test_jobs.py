"""`w2s submit --wait`, `w2s logs`, `w2s cancel` against the real engine."""

from __future__ import annotations

import yaml

from tests.engine.cli.test_results import w2s
from tests.helpers import toy_config


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
