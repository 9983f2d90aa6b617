"""The Ray backend: each run's worker is a detached Ray actor, placed by Ray on any node with the resources the run
asks for.

    backend = RayBackend(address="10.0.0.2:6379", namespace="w2s-1a2b3c")    # `w2s serve --backend ray`

The engine connects to the cluster as a Ray driver. A run becomes the actor `run-<id>` (class
backends.ray_launcher.Launcher) with the run config's `resources` (num_cpus, num_gpus: default 1 when the cluster
has GPUs, memory) as its Ray resources; the actor starts the same `python -m engine.run.worker RUN` as the subprocess
backend, with the engine's URL and the run's token, and streams its output back as log events. Cancel forwards
SIGTERM to the worker, then kills the actor. A killed Ray worker or a dead node ends the actor's call with
ActorDiedError: the run fails with that reason and the log tail the engine has. Actors are detached and named in
a namespace per database, so they outlive an engine restart: the next engine adopts the ones still running
(reconcile) and the runs whose actor is gone become interrupted. Each node needs the project installed (the same
environment: Ray's usual rule) and the model folders and data files a run names (the worker checks, naming the
node).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import paths
from engine.server.backends.base import BackendError, Exit, Handle, exit_reason, write_header
from engine.server.backends.ray_launcher import Launcher

FORWARDED = ("W2S_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")  # machine settings a worker on any node should share
ACTOR_PREFIX = "run-"


@dataclass
class RayRun:
    actor: Any
    call: Any                      # the ObjectRef that resolves when the worker ends (run, or wait when adopted)
    info: Any = None               # the ObjectRef of the actor's info() until it is read
    unavailable_since: float | None = None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


class RayBackend:
    name = "ray"

    def __init__(self, address: str | None = None, namespace: str = "w2s", unavailable_grace: float = 60.0):
        try:
            import ray
        except ImportError:
            raise BackendError("the ray backend needs Ray: pip install 'w2s-studio[ray]' (ray[default]==2.60.0)"
                               ) from None
        self.ray, self.namespace, self.unavailable_grace = ray, namespace, unavailable_grace
        self.address = address or os.environ.get("RAY_ADDRESS") or "local"
        self.survives_engine = self.address != "local"  # a local Ray instance stops with the engine
        try:
            ray.init(address=self.address, namespace=namespace, log_to_driver=False, logging_level="WARNING",
                     runtime_env={"env_vars": {"PYTHONPATH": str(paths.SOURCE_ROOT)}})
        except Exception as exc:  # ConnectionError, a version mismatch: Ray's message is the useful part
            raise BackendError(f"cannot connect to the Ray cluster at {self.address}: {str(exc).splitlines()[0]}; "
                               "start one with `ray start --head`, or fix --ray-address") from None
        self.launcher = ray.remote(Launcher)
        total = ray.cluster_resources()
        self.default_slots = max(1, int(total.get("CPU", 1)))

    def describe(self) -> str:
        total = self.ray.cluster_resources()
        nodes = sum(1 for n in self.ray.nodes() if n["Alive"])
        return (f" on the Ray cluster at {self.address} ({nodes} node(s), {total.get('CPU', 0):g} CPUs, "
                f"{total.get('GPU', 0):g} GPUs)")

    # ------------------------------------------------------------------ starting
    def options(self, resources: dict[str, Any]) -> dict[str, Any]:
        """The Ray actor options for a run's `resources`; BackendError when no alive node could ever hold them."""
        from engine.sweep import parse_bytes

        num_gpus = resources.get("num_gpus")
        if num_gpus is None:
            num_gpus = 1 if self.ray.cluster_resources().get("GPU", 0) > 0 else 0
        opts: dict[str, Any] = {"num_cpus": float(resources.get("num_cpus") or 1), "num_gpus": float(num_gpus)}
        if resources.get("memory"):
            opts["memory"] = parse_bytes(resources["memory"])
        nodes = [n for n in self.ray.nodes() if n["Alive"]]
        want = {"CPU": opts["num_cpus"], "GPU": opts["num_gpus"], "memory": opts.get("memory", 0)}
        if not any(all(n["Resources"].get(k, 0) >= v for k, v in want.items() if v) for n in nodes):
            have = "; ".join(f"{n['NodeManagerAddress']}: {n['Resources'].get('CPU', 0):g} CPU, "
                             f"{n['Resources'].get('GPU', 0):g} GPU, {_gb(n['Resources'].get('memory', 0))}"
                             for n in nodes) or "no alive node"
            asked = ", ".join(f"{k} {_gb(v) if k == 'memory' else f'{v:g}'}" for k, v in want.items() if v)
            raise BackendError(f"no node of the Ray cluster has what this run asks for ({asked}; nodes: {have}); "
                               "lower the config's resources or add a node")
        return opts

    def _kill_named(self, name: str) -> None:
        try:
            self.ray.kill(self.ray.get_actor(name), no_restart=True)
        except (ValueError, self.ray.exceptions.RayError):
            pass

    def start(self, run_id: str, env: dict[str, str], resources: dict[str, Any], log_path: Path) -> Handle:
        opts = self.options(resources)
        name = ACTOR_PREFIX + run_id
        self._kill_named(name)  # an earlier attempt's actor (a requeued run) frees the name
        shown = ", ".join(f"{k} {_gb(v) if k == 'memory' else f'{v:g}'}" for k, v in opts.items())
        write_header(log_path, run_id, f" on Ray ({shown})")
        # Only machine settings travel to another node (its PATH, HOME and the like are its own), plus the engine's
        # URL and the run's token; env is already what the policy lets a worker have.
        actor_env = {k: v for k, v in env.items() if k.startswith(FORWARDED) and k != "W2S_HOME"}
        actor_env.setdefault(paths.ENGINE_RETRY_VAR, "300")  # ride out an engine restart
        actor_env.setdefault("W2S_THREADS", str(max(1, int(opts["num_cpus"]))))
        actor_env["PYTHONPATH"] = str(paths.SOURCE_ROOT)
        try:
            actor = self.launcher.options(name=name, lifetime="detached", max_concurrency=4, max_restarts=0,
                                          **opts).remote(run_id, actor_env)
        except Exception as exc:
            raise BackendError(f"Ray could not create the run's actor: {exc}") from None
        return Handle(run_id, RayRun(actor, actor.run.remote(), actor.info.remote()), where="on Ray",
                      token=env.get(paths.ENGINE_TOKEN_VAR, ""))

    # ------------------------------------------------------------------ watching and stopping
    def poll(self, handle: Handle) -> Exit | None:
        ray, run = self.ray, handle.ref
        if run.info is not None and ray.wait([run.info], timeout=0)[0]:
            try:
                info = ray.get(run.info)
                handle.pid, handle.where = info["worker_pid"], f"Ray node {info['node']}, pid {info['worker_pid']}"
            except ray.exceptions.RayError:
                pass
            run.info = None
        if not ray.wait([run.call], timeout=0)[0]:
            if run.unavailable_since and time.monotonic() - run.unavailable_since > self.unavailable_grace:
                return self._end(handle, Exit(None, f"the Ray node of this run's worker ({handle.where}) stopped "
                                                    f"answering for {self.unavailable_grace:.0f} s; see the log tail"))
            return None
        try:
            code = ray.get(run.call)
        except ray.exceptions.ActorUnavailableError:  # its node stopped answering: ask again until Ray decides
            run.unavailable_since = run.unavailable_since or time.monotonic()
            run.call = run.actor.wait.remote()
            return None
        except ray.exceptions.ActorDiedError as exc:
            text = str(exc)
            node_died = "worker process has died" not in text and "node" in text.lower() and "died" in text
            what = "its Ray node died" if node_died else "its Ray worker process died (killed, out of memory or crashed)"
            return self._end(handle, Exit(None, f"the run's worker ({handle.where}) ended without reporting: {what}; "
                                                "see the log tail"))
        except ray.exceptions.RayError as exc:
            return self._end(handle, Exit(None, f"Ray: {type(exc).__name__}: {str(exc).splitlines()[0]}"))
        return self._end(handle, Exit(code, exit_reason(code) if code is not None else "the worker never started"))

    def _end(self, handle: Handle, end: Exit) -> Exit:
        try:
            self.ray.kill(handle.ref.actor, no_restart=True)  # a detached actor lives until it is killed
        except self.ray.exceptions.RayError:
            pass
        return end

    def signal(self, handle: Handle, sig: int) -> None:
        import signal as signals

        try:
            if sig == signals.SIGKILL:
                self.ray.kill(handle.ref.actor, no_restart=True)  # its worker dies with it (PR_SET_PDEATHSIG)
            else:
                handle.ref.actor.signal.remote(int(sig))
        except self.ray.exceptions.RayError:
            pass

    def reconcile(self, running: list[tuple[str, int | None]]) -> dict[str, Handle]:
        """Adopt the actors of runs the database says are running and whose worker still runs; kill every other
        actor of this namespace (finished while no engine could hear it, or of a run that is not running)."""
        ray, held = self.ray, {}
        wanted = {run_id for run_id, _ in running}
        for name in ray.util.list_named_actors():
            if not name.startswith(ACTOR_PREFIX):
                continue
            run_id = name[len(ACTOR_PREFIX):]
            try:
                actor = ray.get_actor(name)
                status = ray.get(actor.status.remote(), timeout=15) if run_id in wanted else None
            except (ValueError, ray.exceptions.RayError):
                status = None
            if status and status["running"]:
                held[run_id] = Handle(run_id, RayRun(actor, actor.wait.remote(), actor.info.remote()), where="on Ray",
                                      token=status.get("token", ""))
            else:
                self._kill_named(name)
        return held

    def close(self) -> None:
        self.ray.shutdown()
