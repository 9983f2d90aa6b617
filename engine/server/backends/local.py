"""The subprocess backend: each run's worker is a child process of the engine on this machine.

    backend = SubprocessBackend(gpus=["0"])          # `w2s serve` (the default backend)

Each worker is `python -m engine.run.worker RUN` in a new session (a signal to the engine's terminal does not reach
it, and a signal to its group reaches its children too), with stdout and stderr appended to the run's log file,
never a pipe nobody drains. GPUs go to the least-loaded one, through CUDA_VISIBLE_DEVICES. Workers do not outlive
the engine: after a restart the orphans of a dead engine are killed (only after checking that the pid is still
our worker for that run, since pids are recycled) and their runs marked interrupted.

Warm starts (`warm=True`, the default where fork exists): the first run's worker is spawned as above and, beside it,
a zygote (engine.run.zygote) starts importing the ML stack once; every later worker is forked from it in a few
milliseconds instead of paying ~6 CPU seconds of imports. A forked worker is the same: its own process and
session, its own environment (the token of its run only), its log file; the zygote exits with the engine and stops
its workers. If the zygote cannot start or dies, workers are spawned cold again. `W2S_WARM_WORKERS=0` turns it off.

A worker's end is noticed when it happens, not on the scheduler's next tick: the zygote writes "exit PID CODE" on
its stdout (read by a thread here), a spawned worker has a thread waiting for it, and both call `on_exit` (the
scheduler sets it to its wake-up), so the next queued run starts at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import paths
from engine.server.backends.base import BackendError, Exit, Handle, exit_reason, write_header


def zygote_request(path: str, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """One request to the worker zygote listening at `path` (engine.run.zygote: one JSON line each way)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(message) + "\n").encode())
        with s.makefile("rb") as f:
            line = f.readline()
    if not line:
        raise ConnectionError("the worker zygote closed the connection")
    return json.loads(line)


def is_worker_of(pid: int, run_id: str) -> bool:
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


class SubprocessBackend:
    name = "subprocess"
    survives_engine = False

    def __init__(self, gpus: list[str] | None = None, warm: bool | None = None):
        self.gpus = list(gpus or [])
        self.load: dict[str, int] = {g: 0 for g in self.gpus}
        self.warm = (os.environ.get("W2S_WARM_WORKERS", "1") != "0" and hasattr(os, "fork")) if warm is None else warm
        self.zygote: subprocess.Popen | None = None
        self.zygote_dir: str | None = None
        self.zygote_ready = False
        self.exits: dict[int, int] = {}  # forked worker pid -> exit code, as the zygote reported it
        self.on_exit: Callable[[], None] | None = None  # called (from another thread) when a worker has ended

    def _ended(self) -> None:
        if self.on_exit is not None:
            self.on_exit()

    def _read_zygote(self, out: Any) -> None:
        """The zygote's stdout: "ready" once it listens, then "exit PID CODE" for each worker that ended."""
        for line in out:
            words = line.split()
            if words == [b"ready"]:
                self.zygote_ready = True
            elif len(words) == 3 and words[0] == b"exit":
                self.exits[int(words[1])] = int(words[2])
                self._ended()
        self._ended()  # the zygote is gone: its workers with it

    def _watch(self, proc: subprocess.Popen) -> None:
        proc.wait()
        self._ended()

    # ---------------------------------------------------------------- the warm parent
    def _zygote_socket(self, env: dict[str, str]) -> str | None:
        """The zygote's socket once it has imported everything (checked without blocking), else None; the first
        call starts it in the background."""
        if not self.warm:
            return None
        if self.zygote is None:
            self.zygote_dir = tempfile.mkdtemp(prefix="w2s-z")  # short: a Unix socket path has ~100 bytes
            # a worker's environment as the engine's policy filtered it, without the run's own token
            env = {k: v for k, v in env.items() if k not in (paths.ENGINE_TOKEN_VAR, "CUDA_VISIBLE_DEVICES")}
            self.zygote = subprocess.Popen(
                [sys.executable, "-m", "engine.run.zygote", os.path.join(self.zygote_dir, "z.sock")],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=paths.SOURCE_ROOT,
                env=env,
                start_new_session=True)
            threading.Thread(target=self._read_zygote, args=(self.zygote.stdout,), name="w2s-zygote",
                             daemon=True).start()
            return None
        if self.zygote.poll() is not None:  # it died: cold starts from now on
            self.warm = False
            return None
        return os.path.join(self.zygote_dir, "z.sock") if self.zygote_ready else None

    def _fork(self, sock: str, run_id: str, env: dict[str, str], log_path: Path) -> int | None:
        try:
            return int(zygote_request(sock, {"start": run_id, "env": env, "log": str(log_path),
                                      "cwd": str(paths.SOURCE_ROOT)})["pid"])
        except (OSError, ValueError, KeyError):
            self.warm = False
            return None

    def _pick_gpu(self) -> str | None:
        return min(self.gpus, key=lambda g: self.load[g]) if self.gpus else None

    def start(self, run_id: str, env: dict[str, str], resources: dict[str, Any], log_path: Path) -> Handle:
        gpu = self._pick_gpu() if resources.get("num_gpus") != 0 else None
        write_header(log_path, run_id, f" on GPU {gpu}" if gpu is not None else "")
        full = {**env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(
            p for p in (str(paths.SOURCE_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        if gpu is not None:
            full["CUDA_VISIBLE_DEVICES"] = gpu
        elif self.gpus:
            full["CUDA_VISIBLE_DEVICES"] = ""  # the run asked for no GPU
        sock = self._zygote_socket(full)
        pid = self._fork(sock, run_id, full, log_path) if sock else None
        if pid is not None:
            if gpu is not None:
                self.load[gpu] += 1
            return Handle(run_id, (Forked(pid, sock, self.exits), gpu), pid=pid, where=f"pid {pid}",
                          token=env.get(paths.ENGINE_TOKEN_VAR, ""))
        log = log_path.open("ab")
        try:
            proc = subprocess.Popen([sys.executable, "-m", "engine.run.worker", run_id], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=paths.SOURCE_ROOT, env=full,
                                    start_new_session=True)
        except OSError as exc:
            raise BackendError(f"could not start a worker process: {exc}") from None
        finally:
            log.close()  # the child holds its own copy of the descriptor
        threading.Thread(target=self._watch, args=(proc,), name=f"w2s-watch-{run_id}", daemon=True).start()
        if gpu is not None:
            self.load[gpu] += 1
        return Handle(run_id, (proc, gpu), pid=proc.pid, where=f"pid {proc.pid}",
                      token=env.get(paths.ENGINE_TOKEN_VAR, ""))

    def poll(self, handle: Handle) -> Exit | None:
        proc, gpu = handle.ref
        code = proc.poll()
        if code is None:
            return None
        if gpu is not None:
            self.load[gpu] -= 1
            handle.ref = (proc, None)
        return Exit(code, exit_reason(code))

    def signal(self, handle: Handle, sig: int) -> None:
        try:
            os.killpg(handle.ref[0].pid, sig)  # the worker leads its own session: this reaches its children too
        except (ProcessLookupError, PermissionError):
            pass

    def reconcile(self, running: list[tuple[str, int | None]]) -> dict[str, Handle]:
        """Workers of a dead engine are not adopted: stop every one still alive."""
        for run_id, pid in running:
            if pid and is_worker_of(int(pid), run_id):
                try:
                    os.killpg(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return {}

    def close(self) -> None:
        if self.zygote is not None and self.zygote.poll() is None:
            self.zygote.terminate()  # it stops the workers it forked on its way out
            try:
                self.zygote.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.zygote.kill()
        if self.zygote_dir:
            shutil.rmtree(self.zygote_dir, ignore_errors=True)


class Forked:
    """A worker forked by the zygote: Popen's poll and pid, answered by the zygote (its parent): from the exits it
    reported on its stdout, else by asking it."""

    def __init__(self, pid: int, sock: str, exits: dict[int, int] | None = None):
        self.pid, self.sock, self.returncode = pid, sock, None
        self.exits = {} if exits is None else exits

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.exits.pop(self.pid, None)
        if self.returncode is None:
            try:
                self.returncode = zygote_request(self.sock, {"wait": self.pid}, timeout=10)["code"]
            except OSError:  # the zygote is gone: the worker, in its own session, may still run
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    self.returncode = -signal.SIGKILL
                except PermissionError:
                    pass
        return self.returncode
