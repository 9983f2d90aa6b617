"""One run's worker on a Ray node: the class the Ray backend makes into a detached actor, one per run.

    launcher = Launcher(run_id, env)     # on the node, inside the actor
    launcher.run()                       # `python -m engine.run.worker RUN` as a child; its output streamed to
                                         # the engine as `log` events; returns the child's exit code
    launcher.signal(SIGTERM)             # forwarded to the child's process group (the engine's cancel)

The worker is the same program as on the subprocess backend; this class only starts it with the run's
environment, forwards its output and signals, and returns how it ended. The actor is detached, so it keeps running
while the engine restarts, and the next engine adopts it (`status`, `wait`); once its worker has ended it exits by
itself a few seconds later, so no finished run holds a node's resources. The child dies with the actor
(PR_SET_PDEATHSIG), so a killed Ray worker or a dead node takes the run down with it, as a killed subprocess would.
Only the standard library, httpx and engine.client are imported here: this module is loaded on every Ray node.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from engine import paths
from engine.client import EngineClient, EngineError

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the child may outlive a killed actor
        pass


class LogShipper:
    """Sends text to the engine as the run's `log` events, at most every `every` seconds, from its own thread."""

    def __init__(self, client: EngineClient, run_id: str, every: float = 0.5, chunk: int = 256_000):
        self.client, self.run_id, self.every, self.chunk = client, run_id, every, chunk
        self.attempt, self.seq = f"log-{uuid.uuid4().hex[:10]}", 0
        self.failed: str | None = None  # the engine could not be reached for the whole retry window
        self._parts: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="w2s-log-shipper", daemon=True)
        self._thread.start()

    def write(self, text: str) -> None:
        with self._lock:
            self._parts.append(text)

    def flush(self) -> None:
        with self._lock:
            text, self._parts = "".join(self._parts), []
        for start in range(0, len(text), self.chunk):
            event = {"type": "log", "run_id": self.run_id, "text": text[start:start + self.chunk]}
            self.client.post_events(self.run_id, self.attempt, self.seq, [event])
            self.seq += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._flush_or_note()

    def _flush_or_note(self) -> None:
        try:
            self.flush()
        except EngineError as exc:
            self.failed = str(exc)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._flush_or_note()


class Launcher:
    """Starts, watches and signals one run's worker process on the node Ray placed this actor on."""

    def __init__(self, run_id: str, env: dict[str, str], linger: float = 5.0):
        self.run_id, self.env, self.linger = run_id, env, linger
        self.proc: subprocess.Popen | None = None
        self.code: int | None = None
        self.node = ""
        self.started, self.ended = threading.Event(), threading.Event()

    def run(self) -> int:
        import ray

        context = ray.get_runtime_context()
        self.node = f"{ray.util.get_node_ip_address()} ({context.get_node_id()[:8]})"
        env = {**os.environ, **self.env, paths.NODE_VAR: self.node, "PYTHONUNBUFFERED": "1"}
        client = EngineClient(env[paths.ENGINE_URL_VAR], env[paths.ENGINE_TOKEN_VAR],
                              retry_for=float(env.get(paths.ENGINE_RETRY_VAR, "300")))
        ship = LogShipper(client, self.run_id)
        resources = {k: v for k, v in context.get_assigned_resources().items() if not k.startswith("node:")}
        ship.write(f"Ray worker pid {os.getpid()} on node {self.node}, resources {resources}\n")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine.run.worker", self.run_id], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                cwd=paths.SOURCE_ROOT if Path(paths.SOURCE_ROOT).is_dir() else None, preexec_fn=_die_with_parent)
        except OSError as exc:
            ship.write(f"could not start the worker process on node {self.node}: {exc}\n")
            self.code = 127
        self.started.set()
        if self.proc is not None:
            decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
            for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):  # drained here: never a full pipe
                ship.write(decode(chunk))
            self.code = self.proc.wait()
        ship.close()
        self.ended.set()
        # A detached actor lives until killed: once its result is out (returned now; a waiting engine hears it at
        # once), the actor ends itself, so a run the engine stopped watching never holds the node's resources.
        threading.Timer(self.linger, os._exit, [0]).start()
        return self.code

    def info(self) -> dict[str, Any]:
        """Where the worker runs, once it has started (waits up to a minute for that)."""
        self.started.wait(60)
        return {"pid": os.getpid(), "worker_pid": self.proc.pid if self.proc else None, "node": self.node}

    def status(self) -> dict[str, Any]:
        """Whether the worker still runs, and the run token it holds (the engine that adopts it accepts it)."""
        return {"running": not self.ended.is_set(), "code": self.code, "token": self.env.get(paths.ENGINE_TOKEN_VAR)}

    def wait(self) -> int | None:
        self.ended.wait()
        return self.code

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
