"""The subprocess backend: each run's worker is a child process of the engine on this machine.

    backend = SubprocessBackend(gpus=["0"])          # `w2s serve` (the default backend)

Each worker is `python -m engine.run.worker RUN` in a new session (a signal to the engine's terminal does not reach
it, and a signal to its group reaches its children too), with stdout and stderr appended to the run's log file,
never a pipe nobody drains. GPUs go to the least-loaded one, through CUDA_VISIBLE_DEVICES. Workers do not outlive
the engine: after a restart the orphans of a dead engine are killed (only after checking that the pid is still
our worker for that run, since pids are recycled) and their runs marked interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from engine import paths
from engine.server.backends.base import BackendError, Exit, Handle, exit_reason, write_header


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

    def __init__(self, gpus: list[str] | None = None):
        self.gpus = list(gpus or [])
        self.load: dict[str, int] = {g: 0 for g in self.gpus}

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
        log = log_path.open("ab")
        try:
            proc = subprocess.Popen([sys.executable, "-m", "engine.run.worker", run_id], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=paths.SOURCE_ROOT, env=full,
                                    start_new_session=True)
        except OSError as exc:
            raise BackendError(f"could not start a worker process: {exc}") from None
        finally:
            log.close()  # the child holds its own copy of the descriptor
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
        pass
