"""Where worker processes run: one interface, one backend per kind of machine pool.

    backend = make_backend("subprocess", gpus=["0", "1"])     # or make_backend("ray", address="10.0.0.2:6379", ...)
    handle = backend.start(run_id, env, resources, log_path)   # `python -m engine.run.worker RUN` for one run
    backend.poll(handle)             # None while the worker runs, else an Exit (exit code, one-line reason)
    backend.signal(handle, SIGTERM)  # ask the worker to stop (it reports cancelled); SIGKILL: stop it now
    backend.reconcile(running)       # after an engine restart: {run_id: handle} of the runs it still holds
    backend.close()

The scheduler (engine.server.scheduler) owns the queue and every run's status; a backend only starts, watches and
stops worker processes. `subprocess` (backends.local) runs them as child processes of the engine on this machine;
`ray` (backends.ray_cluster) runs each in a detached Ray actor placed on any node of a Ray cluster with the
resources its config asks for. Another way to start workers (a pre-warmed worker, Slurm) is one more module with
the same five methods, listed in BACKENDS.
"""

from __future__ import annotations

from typing import Any

from engine.server.backends.base import Backend, BackendError, Exit, Handle, exit_reason, write_header

BACKENDS = ("subprocess", "ray")
__all__ = ["BACKENDS", "Backend", "BackendError", "Exit", "Handle", "exit_reason", "make_backend", "write_header"]


def make_backend(name: str, **options: Any) -> Backend:
    """The backend called `name` with its options (subprocess: gpus; ray: address, namespace)."""
    if name == "subprocess":
        from engine.server.backends.local import SubprocessBackend

        return SubprocessBackend(**options)
    if name == "ray":
        from engine.server.backends.ray_cluster import RayBackend

        return RayBackend(**options)
    raise BackendError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
