"""The subprocess backend on its own, with real processes: a worker that cannot reach its engine exits with a reason
in its log, a signal reaches it, and the orphans of a dead engine are stopped only when the pid is really our
worker (the scheduler and engine tests in tests/engine/server cover it end to end)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from engine import paths
from engine.server.backends import exit_reason, make_backend
from engine.server.backends.local import is_worker_of
from tests.helpers import gone


def test_a_worker_that_cannot_reach_its_engine_ends_with_its_reason_in_the_log(tmp_path):
    backend = make_backend("subprocess")
    ended = threading.Event()
    backend.on_exit = ended.set  # the scheduler's wake-up: the end is noticed when it happens, not on a tick
    log = tmp_path / "logs" / "r1.log"
    env = {paths.ENGINE_URL_VAR: "http://127.0.0.1:9", paths.ENGINE_TOKEN_VAR: "run.r1.x",
           paths.ENGINE_RETRY_VAR: "0"}
    handle = backend.start("r1", env, {}, log)
    assert handle.pid and handle.where == f"pid {handle.pid}"
    assert ended.wait(60), "the worker's end did not call on_exit"
    end = backend.poll(handle)
    assert end.code not in (None, 0) and "before it reported" in end.reason
    text = log.read_text()
    assert text.startswith("--- ") and "worker for run r1" in text and "cannot reach the engine" in text


def test_signals_reach_the_worker_and_reconcile_kills_only_our_orphans(tmp_path):
    backend = make_backend("subprocess")
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)", "engine.run.worker", "r7"]
    ours = subprocess.Popen(sleeper, start_new_session=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        assert is_worker_of(ours.pid, "r7") and not is_worker_of(ours.pid, "r8")
        assert not is_worker_of(stranger.pid, "r7")
        assert backend.reconcile([("r7", ours.pid), ("r8", stranger.pid)]) == {}  # nothing is adopted
        assert ours.wait(timeout=10) == -signal.SIGKILL
        time.sleep(0.2)
        assert stranger.poll() is None  # a pid that is not our worker is left alone
    finally:
        stranger.kill()
        stranger.wait()
    assert gone(ours.pid)
    assert "SIGKILL" in exit_reason(-9) and "code 3" in exit_reason(3)
