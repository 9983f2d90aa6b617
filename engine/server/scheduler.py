"""The engine's scheduler: queued runs in the database become worker processes, up to K at once.

    scheduler = Scheduler(store, home, url, token, slots=1, gpus=[], changes=Changes())
    scheduler.start()        # marks runs a dead engine left running as interrupted, then schedules
    scheduler.cancel(run_id) # SIGTERM, SIGKILL after a grace period; the run is cancelled at once
    scheduler.stop()         # engine shutdown: running runs become interrupted

Each run gets its own `python -m engine.run.worker RUN` process (a new session, so a signal to the
engine's terminal does not reach it) whose stdout and stderr go to $W2S_HOME/logs/<run>.log, never
a pipe. The worker reports done / failed itself; a worker that exits while its run is still
"running" (segfault, kill -9, the OOM killer) has its run marked failed with the tail of its log.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine import paths


def detect_gpus() -> list[str]:
    """GPU ids the workers may use, without importing torch: CUDA_VISIBLE_DEVICES if set, else nvidia-smi."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]


def log_tail(path: Path, max_bytes: int = 4000) -> str:
    """The last `max_bytes` of a log file (from a line start), or "" when there is none."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return text.split("\n", 1)[1] if size > max_bytes and "\n" in text else text


def _is_worker_of(pid: int, run_id: str) -> bool:
    """True when `pid` is alive and is our worker for `run_id` (a recycled pid must never be killed)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        try:
            cmdline = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                                     timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return False
    return "engine.run.worker" in cmdline and run_id in cmdline


class Changes:
    """A version counter that long-polling clients wait on: bumped (from any thread) on every change."""

    def __init__(self) -> None:
        self.version = 0
        self.run_versions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._event = loop, asyncio.Event()

    def bump(self, run_id: str | None = None) -> None:
        with self._lock:
            self.version += 1
            if run_id:
                self.run_versions[run_id] = self.version
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:  # on the event loop: release every waiter, arm a fresh event
        old, self._event = self._event, asyncio.Event()
        if old is not None:
            old.set()

    def current(self, run_id: str | None = None) -> int:
        return self.run_versions.get(run_id, 0) if run_id else self.version

    async def wait(self, since: int, timeout: float, run_id: str | None = None) -> bool:
        """Wait until something (about `run_id`, if given) changed after version `since`; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.current(run_id) <= since:
            left = deadline - time.monotonic()
            if left <= 0 or self._event is None:
                return False
            try:
                await asyncio.wait_for(self._event.wait(), left)
            except TimeoutError:
                return False
        return True


@dataclass
class Worker:
    run_id: str
    proc: subprocess.Popen
    log: IO[bytes]
    gpu: str | None
    kill_at: float | None = None  # set by cancel / stop: SIGKILL if still alive then
    started: float = field(default_factory=time.monotonic)


class Scheduler:
    def __init__(self, store: Any, home: Path, url: str, token: str, slots: int, gpus: list[str],
                 changes: Changes, grace: float = 5.0, worker_tokens: Any = None, env_filter: Any = None,
                 max_run_seconds: float = 0):
        self.store, self.home, self.url, self.token = store, Path(home), url, token
        self.slots, self.gpus, self.changes, self.grace = slots, gpus, changes, grace
        # Each worker gets a token scoped to its run (engine.server.auth.WorkerTokens), not the engine's own, and
        # the environment the policy allows (engine.server.policy.Policy.worker_env).
        self.worker_tokens, self.env_filter = worker_tokens, env_filter or (lambda env: env)
        self.max_run_seconds = max_run_seconds
        self.workers: dict[str, Worker] = {}
        self.lock = threading.RLock()  # held while a run's status and its worker change together
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="w2s-scheduler", daemon=True)

    def log_path(self, run_id: str) -> Path:
        return paths.run_log(run_id, self.home)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.recover()
        self._thread.start()

    def recover(self) -> None:
        """Runs still marked running belong to an engine that died: stop their orphan workers, mark them interrupted."""
        for run_id, pid in self.store.worker_pids("running"):
            if pid and _is_worker_of(int(pid), run_id):
                try:
                    os.killpg(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.store.set_status(run_id, "interrupted", error="the engine stopped while this run was running; "
                                  "requeue it to continue (finished stages are reused)")
            self.store.set_worker(run_id, None)
            self.changes.bump(run_id)

    def stop(self) -> None:
        """Engine shutdown: running runs are marked interrupted, then their workers stopped."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self.lock:
            for w in self.workers.values():
                if self.store.run_status(w.run_id) == "running":  # not one that just reported its end
                    self.store.set_status(w.run_id, "interrupted", error="the engine was stopped while this run "
                                          "was running; requeue it to continue (finished stages are reused)")
                self._signal(w, signal.SIGTERM)
            deadline = time.monotonic() + self.grace
            for w in list(self.workers.values()):
                try:
                    w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._signal(w, signal.SIGKILL)
                    w.proc.wait(timeout=5)
                self._finish(w)

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ requests from the API
    def cancel(self, run_id: str) -> None:
        """Mark cancelled (what the run wrote stays) and stop its worker, if it has one here."""
        with self.lock:
            self.store.set_status(run_id, "cancelled", error="stopped by the user")
            worker = self.workers.get(run_id)
            if worker is not None and worker.kill_at is None:
                self._signal(worker, signal.SIGTERM)
                worker.kill_at = time.monotonic() + self.grace
        self.changes.bump(run_id)
        self.wake()

    def running(self) -> list[str]:
        with self.lock:
            return list(self.workers)

    # ------------------------------------------------------------------ the loop
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=0.25)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                with self.lock:
                    self._reap()
                    self._fill()
            except Exception:  # the engine keeps serving; the next tick tries again
                traceback.print_exc()

    def _reap(self) -> None:
        now = time.monotonic()
        for w in list(self.workers.values()):
            code = w.proc.poll()
            if code is None:
                if w.kill_at is not None and now >= w.kill_at:
                    self._signal(w, signal.SIGKILL)
                elif w.kill_at is None and self.max_run_seconds and now - w.started > self.max_run_seconds:
                    minutes = self.max_run_seconds / 60
                    self.store.set_status(w.run_id, "failed", error=f"stopped after {minutes:g} minutes: this "
                                          "server's limit for one run (owner setting W2S_MAX_RUN_MINUTES); finished "
                                          "stages are kept and reused by a requeue")
                    self._signal(w, signal.SIGTERM)
                    w.kill_at = now + self.grace
                    self.changes.bump(w.run_id)
                continue
            self._finish(w)
            if self.store.run_status(w.run_id) == "running":  # exited without reporting
                self.store.set_status(w.run_id, "failed", error=self._exit_reason(code),
                                      log_tail=log_tail(self.log_path(w.run_id)))
            self.changes.bump(w.run_id)

    @staticmethod
    def _exit_reason(code: int) -> str:
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            hint = " (killed: out of memory, or kill -9)" if -code == signal.SIGKILL else ""
            return f"worker process was killed by {name}{hint} before it reported; see the log tail"
        return f"worker process exited with code {code} before it reported; see the log tail"

    def _fill(self) -> None:
        free = self.slots - len(self.workers)
        if free <= 0:
            return
        for run_id in self.store.runs_with_status("queued")[:free]:
            self._spawn(run_id)

    def _pick_gpu(self) -> str | None:
        if not self.gpus:
            return None
        load = {g: 0 for g in self.gpus}
        for w in self.workers.values():
            if w.gpu in load:
                load[w.gpu] += 1
        return min(self.gpus, key=lambda g: load[g])

    def _spawn(self, run_id: str) -> None:
        gpu = self._pick_gpu()
        path = self.log_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        log = path.open("ab")
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} worker for run {run_id}"
                  f"{f' on GPU {gpu}' if gpu is not None else ''}\n".encode())
        log.flush()
        token = self.worker_tokens.issue(run_id) if self.worker_tokens is not None else self.token
        env = {**self.env_filter(dict(os.environ)), paths.ENGINE_URL_VAR: self.url, paths.ENGINE_TOKEN_VAR: token,
               "W2S_HOME": str(self.home), "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(
                   p for p in (str(paths.SOURCE_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        try:
            proc = subprocess.Popen([sys.executable, "-m", "engine.run.worker", run_id], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=paths.SOURCE_ROOT, env=env, start_new_session=True)
        except OSError as exc:
            log.close()
            if self.worker_tokens is not None:
                self.worker_tokens.revoke(run_id)
            self.store.set_status(run_id, "failed", error=f"could not start a worker process: {exc}")
            self.changes.bump(run_id)
            return
        worker = Worker(run_id, proc, log, gpu)
        self.workers[run_id] = worker
        try:
            self.store.set_status(run_id, "running")
            self.store.set_worker(run_id, proc.pid)
        except Exception:
            self._signal(worker, signal.SIGKILL)
            raise
        self.changes.bump(run_id)

    def _finish(self, w: Worker) -> None:
        self.workers.pop(w.run_id, None)
        w.log.close()
        if self.worker_tokens is not None:
            self.worker_tokens.revoke(w.run_id)
        try:
            self.store.set_worker(w.run_id, None)
        except Exception:
            traceback.print_exc()

    @staticmethod
    def _signal(w: Worker, sig: int) -> None:
        try:
            os.killpg(w.proc.pid, sig)  # the worker leads its own session: this reaches its children too
        except (ProcessLookupError, PermissionError):
            pass
