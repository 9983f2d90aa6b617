"""engine.run.zygote through a real engine: workers forked warm, the same results, a killed worker costs its run only,
and the zygote and its workers go with the engine."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from engine import paths
from engine.config import config_from_dict
from engine.run.execute import run_local
from engine.server.backends.local import Forked, SubprocessBackend
from engine.server.store import Store
from tests.helpers import EngineProcess, gone, toy_config, wait_until


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.slow
def test_workers_fork_from_a_warm_zygote_and_fail_alone(tmp_path, tiny_models):
    eng = EngineProcess(tmp_path, tmp_path / "runs.duckdb", workers=1, env={"W2S_WARM_WORKERS": "1"})
    c = eng.client
    try:
        cold = c.submit(toy_config(tiny_models, seed=1, n=120)).run_ids[0]
        assert c.wait_for([cold], timeout=150)[0].status == "done"
        zygotes = wait_until(lambda: [int(p) for p in os.listdir("/proc") if p.isdigit()
                                      and _is_zygote_of(int(p), eng.proc.pid)], 90, "the zygote to start")
        (zygote,) = zygotes
        # once the zygote listens (it binds after importing), the next run is forked by it and gives the numbers
        # the same config gives in this process
        wait_until(lambda: any(f.endswith(".sock") for d in _zygote_dirs(zygote) for f in os.listdir(d)), 90,
                   "the zygote's socket")
        warm = c.submit(toy_config(tiny_models, seed=2, n=120)).run_ids[0]
        pid = wait_until(lambda: c.run(warm).worker_pid, 60, "the warm worker")
        assert parent_of(pid) == zygote
        runs = c.wait_for([warm], timeout=150)
        assert runs[0].status == "done", runs[0].error
        # the zygote had imported everything the run needed (else the worker's log names what it imported)
        wait_until(lambda: c.run(warm).worker_pid is None, 30, "the warm worker to end")
        assert "imported after the fork" not in (tmp_path / "logs" / f"{warm}.log").read_text()
        (spec,) = config_from_dict(toy_config(tiny_models, seed=2, n=120)).expand()
        store = Store(tmp_path / "in-process.duckdb")
        _, status, here = run_local(spec, store, progress=False)
        store.close()
        there = c.metrics(warm)
        assert status == "done" and {k: here[k] for k in ("weak_acc", "student_acc", "ceiling_acc")} == pytest.approx(
            {k: there[k] for k in ("weak_acc", "student_acc", "ceiling_acc")}, abs=1e-9)
        # kill -9 of a forked worker fails its run; the zygote lives on and forks the next one
        victim = c.submit(toy_config(tiny_models, seed=3, epochs=60)).run_ids[0]
        wait_until(lambda: c.run(victim).progress, 60, "training progress")
        vpid = c.run(victim).worker_pid
        assert parent_of(vpid) == zygote
        os.kill(vpid, signal.SIGKILL)
        run = wait_until(lambda: (r := c.run(victim)).status == "failed" and r, 30, "the run to fail")
        assert "SIGKILL" in run.error
        after = c.submit(toy_config(tiny_models, seed=4, n=120)).run_ids[0]
        assert c.wait_for([after], timeout=150)[0].status == "done"
        assert not gone(zygote)
        # a long run still going when the engine stops: the zygote and that worker go with it
        last = c.submit(toy_config(tiny_models, seed=5, epochs=60)).run_ids[0]
        wait_until(lambda: c.run(last).progress, 60, "training progress")
        lpid = c.run(last).worker_pid
    finally:
        eng.stop()
    wait_until(lambda: gone(zygote) and gone(lpid), 30, "the zygote and its worker to exit")


@pytest.mark.slow
def test_the_end_of_a_forked_worker_reaches_the_backend_without_a_poll(tmp_path):
    ended = threading.Event()
    backend = SubprocessBackend(warm=True)
    backend.on_exit = ended.set  # the scheduler's wake-up
    env = {**os.environ, paths.ENGINE_URL_VAR: "http://127.0.0.1:9", paths.ENGINE_TOKEN_VAR: "run.r1.x",
           paths.ENGINE_RETRY_VAR: "0"}
    try:
        cold = backend.start("r1", env, {}, tmp_path / "r1.log")  # the first is spawned; the zygote starts
        assert ended.wait(60), "a spawned worker's end did not call on_exit"
        assert backend.poll(cold).code not in (None, 0)  # it cannot reach its engine
        wait_until(lambda: backend._zygote_socket(env), 120, "the zygote to listen")
        ended.clear()
        warm = backend.start("r2", env, {}, tmp_path / "r2.log")
        assert isinstance(warm.ref[0], Forked)
        assert ended.wait(60), "a forked worker's end did not call on_exit"
        (code,) = backend.exits.values()  # reported by the zygote on its stdout, not asked for
        assert backend.exits == {warm.pid: code} and code != 0
        assert backend.poll(warm).code == code and backend.exits == {}
        assert "cannot reach the engine" in (tmp_path / "r2.log").read_text()
    finally:
        backend.close()


def _is_zygote_of(pid: int, engine_pid: int) -> bool:
    try:
        return "engine.run.zygote" in cmdline(pid) and parent_of(pid) == engine_pid
    except OSError:
        return False


def _zygote_dirs(pid: int) -> list[str]:
    sock = cmdline(pid).split()[-1]
    return [os.path.dirname(sock)] if os.path.isdir(os.path.dirname(sock)) else []

