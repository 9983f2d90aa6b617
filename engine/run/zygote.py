"""A warm parent for workers: torch, transformers, trl and peft imported once, then one forked worker per run.

    python -m engine.run.zygote SOCKET        # started by the engine's subprocess backend, on first use

A cold worker spends most of a small run importing the ML stack (bench_profile: ~40% of its CPU time). The
zygote pays that once: it imports the libraries (never CUDA, so no device context is shared by a fork), freezes
the import heap for the garbage collector, and listens on a Unix socket. One JSON line per request:
- {"start": RUN, "env": {...}, "log": PATH, "cwd": DIR} forks a worker: the child starts a session of its own (a
  signal to its group reaches its children, as for a spawned worker), writes stdout and stderr to the run's log,
  takes `env` as its whole environment (CUDA_VISIBLE_DEVICES included) and runs `engine.run.worker` for RUN.
  Answer: {"pid": PID}.
- {"wait": PID}: {"code": the exit code (negative: killed by that signal), or null while it runs}.
When a worker ends the zygote also writes "exit PID CODE" on its stdout at once (a SIGCHLD wakes its loop), so the
engine notices the end without polling.
The engine's side of the protocol is engine.server.backends.local (`zygote_request`).
Each worker is still its own process: a crash or `kill -9` costs only its run. The zygote exits when the engine
that started it is gone, stopping its workers first, so workers never outlive their engine.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
from typing import Any

# What a worker imports: the ML libraries, then the engine's run modules (which read every W2S_* setting when
# called, never at import, so a child that takes its own environment after the fork sees its own settings), and
# what its HTTP client and torch's record_function import on first use. A worker that still imports something
# says so at the end of its log ("imported after the fork"; tests/engine/run/test_zygote.py checks it says nothing).
PRELOAD = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "pandas", "httpcore", "encodings.idna",
           "torch.profiler._cupti_monitor", "engine.run.worker", "engine.run.execute", "engine.run.stages",
           "engine.run.generative", "engine.run.policy_stages", "engine.ml.classifier", "engine.ml.trl_trainers",
           "engine.ml.generation", "engine.ml.trackers", "engine.metrics", "engine.deception")
# transformers imports a model family's module when a model of it is first loaded: the catalogue's families
ARCHITECTURES = ("gpt2", "qwen2", "gpt_neox", "llama")


def preload() -> None:
    """Import what a run imports and build what it would build on first use (pure Python state: never CUDA, a
    DuckDB or an HTTP connection, a thread), so a forked worker starts where a warm process is."""
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in PRELOAD + tuple(f"transformers.models.{a}.modeling_{a}" for a in ARCHITECTURES):
            try:
                importlib.import_module(name)
            except ImportError:  # an optional library missing: the worker imports what it has
                pass
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, Trainer  # noqa: F401

        from engine.client import tls_context
        from engine.registry import METHODS, MODELS, SCORERS, TASKS

        for registry in (TASKS, METHODS, MODELS, SCORERS):  # each imports its package's modules on first lookup
            registry.names()
        tls_context()
        try:  # transformers builds its table of checkpoint renamings (~900 regexes) on the first from_pretrained
            from transformers.conversion_mapping import get_checkpoint_conversion_mapping

            get_checkpoint_conversion_mapping(ARCHITECTURES[0])
        except ImportError:
            pass
    from engine.ml.callbacks import freeze_import_heap

    freeze_import_heap()


def child(req: dict[str, Any]) -> None:
    """In the forked child: become the run's worker (never returns)."""
    code = 1
    try:
        os.setsid()
        fd = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.close(null)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req.get("cwd") or os.getcwd())
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from engine.run import worker

        before = set(sys.modules)
        code = worker.main([req["start"]])
        late = sorted(set(sys.modules) - before)
        if late:  # what PRELOAD misses: each costs every run its import
            print(f"imported after the fork ({len(late)} modules): {', '.join(late)}", file=sys.stderr)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code or 0)


def serve(path: str) -> None:
    parent = os.getppid()
    preload()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(16)
    print("ready", flush=True)  # the backend waits for this line on our stdout
    exits: dict[int, int] = {}
    children: set[int] = set()
    # a child's end wakes the select below at once: SIGCHLD writes a byte to this pipe
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            exits[pid] = os.waitstatus_to_exitcode(status)
            print(f"exit {pid} {exits[pid]}", flush=True)  # the backend's reader wakes the scheduler

    try:
        while os.getppid() == parent:
            ready, _, _ = select.select([server, wake_r], [], [], 0.2)
            if wake_r in ready:
                try:
                    os.read(wake_r, 512)
                except BlockingIOError:
                    pass
            reap()
            if server not in ready:
                continue
            conn, _ = server.accept()
            with conn, conn.makefile("rwb") as f:
                line = f.readline()
                if not line:
                    continue
                req = json.loads(line)
                if "start" in req:
                    pid = os.fork()
                    if pid == 0:
                        signal.set_wakeup_fd(-1)  # the zygote's SIGCHLD wake-up is not the worker's
                        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                        f.close()
                        conn.close()
                        server.close()
                        os.close(wake_r)
                        os.close(wake_w)
                        child(req)
                    children.add(pid)
                    reply: dict[str, Any] = {"pid": pid}
                else:
                    reap()
                    reply = {"code": exits.get(int(req["wait"]))}
                f.write((json.dumps(reply) + "\n").encode())
                f.flush()
    finally:  # the engine is gone (or we were stopped): so are its workers
        for pid in children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        server.close()
        try:
            os.unlink(path)
        except OSError:
            pass


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(sys.argv[1])
