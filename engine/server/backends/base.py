"""The interface every worker backend implements (see engine.server.backends): Backend, its Handle and Exit, the
error a failed start raises, and the two helpers every backend shares (the exit reason and the log header)."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class BackendError(RuntimeError):
    """A worker could not be started (no process, no Ray node with the resources); the message says why and the fix."""


@dataclass
class Handle:
    """One started worker, as its backend knows it."""

    run_id: str
    ref: Any                # the backend's own object: a Popen, a Ray actor and its call
    pid: int | None = None  # the worker's process id once known (stored with the run; on Ray, on its node)
    where: str = ""         # how messages name the worker: "pid 4242", "Ray node 10.0.0.3, pid 4242"
    token: str = ""         # the run token the worker holds (an engine that adopts the worker accepts it again)


@dataclass(frozen=True)
class Exit:
    """How a worker ended: its exit status (negative: the signal that killed it; None: it vanished with its
    machine or Ray worker) and the one line a run gets as its error when the worker did not report an outcome."""

    code: int | None
    reason: str


class Backend(Protocol):
    """`start` gets the worker's whole environment (the engine's, filtered by the policy, plus the engine's URL and
    the run's token) and the run config's `resources`; it writes the log's header line."""

    name: str
    survives_engine: bool  # workers keep running while the engine is down, and the next engine adopts them

    def start(self, run_id: str, env: dict[str, str], resources: dict[str, Any], log_path: Path) -> Handle: ...

    def poll(self, handle: Handle) -> Exit | None: ...

    def signal(self, handle: Handle, sig: int) -> None: ...

    def reconcile(self, running: list[tuple[str, int | None]]) -> dict[str, Handle]: ...

    def close(self) -> None: ...


def exit_reason(code: int) -> str:
    """The run's error when its worker exited with `code` before reporting an outcome."""
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = " (killed: out of memory, or kill -9)" if -code == signal.SIGKILL else ""
        return f"worker process was killed by {name}{hint} before it reported; see the log tail"
    return f"worker process exited with code {code} before it reported; see the log tail"


def write_header(log_path: Path, run_id: str, where: str) -> None:
    """The line that opens each attempt in a run's log (the engine keeps the log, whatever the backend)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} worker for run {run_id}{where}\n".encode())
