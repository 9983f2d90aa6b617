"""The engine's scheduler: queued runs in the database become workers, up to K at once, through a backend.

    scheduler = Scheduler(store, home, url, slots=1, backend=SubprocessBackend(), changes=Changes(),
                          worker_tokens=WorkerTokens(), env_filter=policy.worker_env)
    scheduler.start()        # adopts the runs the backend still holds, marks the other running runs interrupted
    scheduler.cancel(run_id) # SIGTERM, SIGKILL after a grace period; the run is cancelled at once
    scheduler.stop()         # engine shutdown: running runs become interrupted (unless the backend keeps them)

Each run gets its own `python -m engine.run.worker RUN`, started by the backend (engine.server.backends: a local
subprocess, or a Ray actor on a cluster node) with the engine's URL, a token scoped to that run
(engine.server.auth.WorkerTokens, revoked when the worker ends) and the environment the policy allows. Its output
ends in $W2S_HOME/logs/<run>.log on the engine's machine (written by the child, or streamed as log events). The
worker reports done / failed itself; a worker that ends while its run is still "running" (segfault, kill -9, the
OOM killer, a dead Ray node) has its run marked failed with the tail of its log.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import paths
from engine.server.backends.base import Backend, BackendError, Handle


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


class Changes:
    """A version counter that long-polling clients wait on: bumped (from any thread) on every change; a bump with
    `status` (a run's status changed: the store's on_status) also moves `status_version`, which a client waiting for
    runs to finish waits on, so a running run's stream of events does not wake it each time."""

    def __init__(self) -> None:
        self.version = 0
        self.status_version = 0
        self.run_versions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._event = loop, asyncio.Event()

    def bump(self, run_id: str | None = None, status: bool = False) -> None:
        with self._lock:
            self.version += 1
            if run_id:
                self.run_versions[run_id] = self.version
            if status:
                self.status_version = self.version
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:  # on the event loop: release every waiter, arm a fresh event
        old, self._event = self._event, asyncio.Event()
        if old is not None:
            old.set()

    def current(self, run_id: str | None = None, status: bool = False) -> int:
        if status:
            return self.status_version
        return self.run_versions.get(run_id, 0) if run_id else self.version

    async def wait(self, since: int, timeout: float, run_id: str | None = None, status: bool = False) -> bool:
        """Wait until something (about `run_id`, if given; with `status`, a run's status) changed after version
        `since`; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.current(run_id, status) <= since:
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
    handle: Handle
    recorded_pid: int | None = None
    kill_at: float | None = None  # set by cancel / stop: SIGKILL if still alive then
    started: float = field(default_factory=time.monotonic)


class Scheduler:
    def __init__(self, store: Any, home: Path, url: str, slots: int, backend: Backend, changes: Changes,
                 grace: float = 5.0, worker_tokens: Any = None, env_filter: Any = None, max_run_seconds: float = 0):
        self.store, self.home, self.url = store, Path(home), url
        self.slots, self.backend, self.changes, self.grace = slots, backend, changes, grace
        # Each worker gets a token scoped to its run (engine.server.auth.WorkerTokens), not the engine's own, and
        # the environment the policy allows (engine.server.policy.Policy.worker_env).
        self.worker_tokens, self.env_filter = worker_tokens, env_filter or (lambda env: env)
        self.max_run_seconds = max_run_seconds
        self.workers: dict[str, Worker] = {}
        self.lock = threading.RLock()  # held while a run's status and its worker change together
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="w2s-scheduler", daemon=True)
        if hasattr(backend, "on_exit"):  # a backend that sees its workers end wakes the loop then, not on a tick
            backend.on_exit = self.wake

    def log_path(self, run_id: str) -> Path:
        return paths.run_log(run_id, self.home)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.recover()
        self._thread.start()

    def recover(self) -> None:
        """Runs still marked running belong to an engine that stopped: the backend's own are adopted (a Ray
        cluster keeps them running), the others are marked interrupted (their orphan workers stopped)."""
        running = self.store.worker_pids("running")
        held = self.backend.reconcile(running)
        with self.lock:
            for run_id, _ in running:
                if run_id in held:
                    self.workers[run_id] = Worker(run_id, held[run_id], recorded_pid=held[run_id].pid)
                    if self.worker_tokens is not None and held[run_id].token:  # the token its worker still holds
                        self.worker_tokens.adopt(held[run_id].token, run_id)
                    self.store.set_worker(run_id, held[run_id].pid)
                    with self.log_path(run_id).open("ab") as log:
                        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} a restarted engine adopted this "
                                  f"run's worker ({self.backend.name})\n".encode())
                else:
                    self.store.set_status(run_id, "interrupted", error="the engine stopped while this run was "
                                          "running; requeue it to continue (finished stages are reused)")
                    self.store.set_worker(run_id, None)
                self.changes.bump(run_id)

    def stop(self) -> None:
        """Engine shutdown: running runs are marked interrupted, then their workers stopped; a backend whose
        workers outlive the engine keeps them running for the next engine to adopt."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self.lock:
            if self.backend.survives_engine:
                self.workers.clear()
                self.backend.close()
                return
            for w in self.workers.values():
                if self.store.run_status(w.run_id) == "running":  # not one that just reported its end
                    self.store.set_status(w.run_id, "interrupted", error="the engine was stopped while this run "
                                          "was running; requeue it to continue (finished stages are reused)")
                self.backend.signal(w.handle, signal.SIGTERM)
            deadline, killed = time.monotonic() + self.grace, False
            while self.workers and time.monotonic() < deadline + 5:
                for w in list(self.workers.values()):
                    if self.backend.poll(w.handle) is not None:
                        self._finish(w)
                if not killed and time.monotonic() >= deadline:
                    for w in self.workers.values():
                        self.backend.signal(w.handle, signal.SIGKILL)
                    killed = True
                time.sleep(0.05)
            for w in list(self.workers.values()):
                self._finish(w)
            self.backend.close()

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ requests from the API
    def cancel(self, run_id: str) -> None:
        """Mark cancelled (what the run wrote stays) and stop its worker, if it has one here."""
        with self.lock:
            self.store.set_status(run_id, "cancelled", error="stopped by the user")
            worker = self.workers.get(run_id)
            if worker is not None and worker.kill_at is None:
                self.backend.signal(worker.handle, signal.SIGTERM)
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
            end = self.backend.poll(w.handle)
            if w.handle.pid != w.recorded_pid:  # a Ray worker's pid is known once it started on its node
                w.recorded_pid = w.handle.pid
                self.store.set_worker(w.run_id, w.handle.pid)
            if end is None:
                if w.kill_at is not None and now >= w.kill_at:
                    self.backend.signal(w.handle, signal.SIGKILL)
                elif w.kill_at is None and self.max_run_seconds and now - w.started > self.max_run_seconds:
                    minutes = self.max_run_seconds / 60
                    self.store.set_status(w.run_id, "failed", error=f"stopped after {minutes:g} minutes: this "
                                          "server's limit for one run (owner setting W2S_MAX_RUN_MINUTES); finished "
                                          "stages are kept and reused by a requeue")
                    self.backend.signal(w.handle, signal.SIGTERM)
                    w.kill_at = now + self.grace
                    self.changes.bump(w.run_id)
                continue
            self._finish(w)
            if self.store.run_status(w.run_id) == "running":  # ended without reporting
                self.store.set_status(w.run_id, "failed", error=end.reason, log_tail=log_tail(self.log_path(w.run_id)))
            self.changes.bump(w.run_id)

    def _fill(self) -> None:
        free = self.slots - len(self.workers)
        if free <= 0:
            return
        for run_id in self.store.runs_with_status("queued")[:free]:
            self._spawn(run_id)

    def worker_env(self, run_id: str) -> dict[str, str]:
        """A worker's environment: what the policy lets through of the engine's, the engine's URL and a token
        scoped to this one run."""
        token = self.worker_tokens.issue(run_id) if self.worker_tokens is not None else ""
        return {**self.env_filter(dict(os.environ)), paths.ENGINE_URL_VAR: self.url, paths.ENGINE_TOKEN_VAR: token,
                "W2S_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}

    def _resources(self, run_id: str) -> dict[str, Any]:
        row = self.store.run(run_id) or {}
        config = row.get("config") or {}
        if isinstance(config, str):
            config = json.loads(config)
        return dict(config.get("resources") or {})

    def _spawn(self, run_id: str) -> None:
        try:
            handle = self.backend.start(run_id, self.worker_env(run_id), self._resources(run_id),
                                        self.log_path(run_id))
        except BackendError as exc:
            if self.worker_tokens is not None:
                self.worker_tokens.revoke(run_id)
            self.store.set_status(run_id, "failed", error=str(exc))
            self.changes.bump(run_id)
            return
        worker = Worker(run_id, handle, recorded_pid=handle.pid)
        self.workers[run_id] = worker
        try:
            self.store.set_status(run_id, "running")
            self.store.set_worker(run_id, handle.pid)
        except Exception:
            self.backend.signal(handle, signal.SIGKILL)
            raise
        self.changes.bump(run_id)

    def _finish(self, w: Worker) -> None:
        self.workers.pop(w.run_id, None)
        if self.worker_tokens is not None:
            self.worker_tokens.revoke(w.run_id)
        try:
            self.store.set_worker(w.run_id, None)
        except Exception:
            traceback.print_exc()
