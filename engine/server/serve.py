"""`w2s serve`: open the database, bind 127.0.0.1, announce the engine in engine.json and run the API.

    w2s serve [--db PATH] [--port N] [--workers K] [--public]      # or: python -m engine.cli serve
    w2s serve --backend ray --ray-address HOST:6379 --port 8642    # runs go to a Ray cluster

It listens on 127.0.0.1 only (unless --host names an address other machines reach, for Ray nodes elsewhere:
plain HTTP, so only on a trusted network) and writes its address, a random token, its pid and an instance id to
$W2S_HOME/engine.json; engine.client finds it through that file and checks the instance against /api/ping, so a
stale file whose pid now belongs to another process (a restarted Space) does not stop a new engine. A second
engine on the same database is refused. Everything it creates (database, logs, uploads, engine.json, its secret)
is readable by its owner only. SIGTERM stops it as cleanly as Ctrl-C: running runs are marked interrupted (Ray
runs keep running for the next engine to adopt), the database is checkpointed and closed, engine.json is removed.
With the Ray backend the engine connects to the cluster as a driver before it answers; give a fixed --port so the
runs a restarted engine adopts from the cluster find it again at the same address.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from engine import paths
from engine.server.app import build_app
from engine.server.engine import Engine
from engine.server.policy import Policy, PolicyError
from engine.server.scheduler import detect_gpus


class Terminated(BaseException):
    """SIGTERM outside uvicorn's own handling (before it starts, or re-raised by it after a graceful stop)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def load_secret(home: Path) -> bytes:
    """The engine's persistent signing secret (visitor identities survive restarts), made on first start."""
    path = paths.secret_file(home)
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        value = secrets.token_bytes(32)
        _write_private(path, value.hex())
        return value


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _write_engine_file(path: Path, info: dict[str, Any]) -> None:
    _write_private(path, json.dumps(info, indent=2))


def _already_running(home: Path, db: Path, lock_error: str | None) -> str:
    from engine.client import find_engine

    info = find_engine(home)
    if info is not None:
        return f"engine already running at {info.url} (pid {info.pid}) with database {info.db}"
    pid = re.search(r"PID (\d+)", lock_error or "")
    return (f"database {db} is held by another process (pid {pid.group(1) if pid else '?'}): an engine or a "
            "`w2s run` using it; stop it, or use another --db")


def _db_id(db: Path) -> str:
    """A short stable id of the database file: the Ray namespace of its runs, so engines on other databases that
    share a cluster never adopt each other's runs."""
    import hashlib

    return hashlib.sha1(str(db).encode()).hexdigest()[:10]


def _own_address() -> str:
    """This machine's address on its default route (what other nodes reach it at); no packet is sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 1))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def serve(db: str | None = None, port: int = 0, workers: int | None = None, grace: float = 5.0,
          public: bool | None = None, backend: str = "subprocess", ray_address: str | None = None,
          host: str = "127.0.0.1") -> int:
    """Open the database, bind host:port (127.0.0.1 unless told), write engine.json and serve until SIGINT/SIGTERM."""
    os.umask(0o077)  # the database, logs, uploads and workers' files: readable by this user only
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _serve(db, port, workers, grace, public, backend, ray_address, host)
    except (KeyboardInterrupt, Terminated):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(db: str | None, port: int, workers: int | None, grace: float, public: bool | None, backend: str,
           ray_address: str | None, host: str) -> int:
    import uvicorn

    from engine.server.backends import BackendError, make_backend
    from engine.server.store import Store

    try:
        policy = Policy.load(public)
        policy.allowed_models()  # an unreadable allow-list file fails here, not on the first submission
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    home = paths.data_home()
    if paths.on_space() and not os.environ.get("HF_HOME"):
        os.environ["HF_HOME"] = str(paths.hf_home_default(home))  # the model cache on the same storage as the runs
    db_path = (Path(db) if db else paths.default_db()).expanduser().resolve()
    if paths.engine_file(home).exists() and (other := _already_running(home, db_path, None)).startswith("engine"):
        print(f"error: {other}", file=sys.stderr)
        return 1
    try:
        store = Store(db_path)  # applies migrations; DuckDB's file lock keeps a second engine out
    except Exception as exc:
        if "lock" in str(exc).lower():
            print(f"error: {_already_running(home, db_path, str(exc))}", file=sys.stderr)
            return 1
        raise
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        store.close()
        print(f"error: cannot listen on {host}:{port}: {exc.strerror}; pick another --port (0 = any free) or --host",
              file=sys.stderr)
        return 1
    url = f"http://{_own_address() if host in ('0.0.0.0', '') else host}:{sock.getsockname()[1]}"
    if host not in ("127.0.0.1", "localhost"):
        print(f"warning: the engine listens on {host} over plain HTTP: its tokens cross the network in clear; use "
              "it only on a trusted network (TLS is planned; see the README)", file=sys.stderr)
    gpus = detect_gpus() if backend == "subprocess" else []
    try:
        runner = make_backend(backend, gpus=gpus) if backend == "subprocess" else make_backend(
            backend, address=ray_address, namespace=f"w2s-{_db_id(db_path)}")
    except BackendError as exc:
        sock.close()
        store.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    slots = workers if workers is not None else getattr(runner, "default_slots", max(1, len(gpus)))
    instance = uuid.uuid4().hex[:12]
    engine = Engine(store, home, url, slots, gpus, grace, policy=policy, secret=load_secret(home), instance=instance,
                    backend=runner)
    path = paths.engine_file(home)
    info = {"url": url, "token": engine.token, "pid": os.getpid(), "db": str(db_path), "workers": slots,
            "gpus": gpus, "backend": backend, "started": time.time(), "instance": instance, "public": policy.public}
    where = getattr(runner, "describe", lambda: "")() or (f", GPUs {','.join(gpus)}" if gpus else " on CPU")

    def announce() -> None:  # the socket is already listening, so a reader of the file can connect at once
        _write_engine_file(path, info)
        print(f"engine at {url} (pid {os.getpid()}), database {db_path}, {slots} worker slot(s){where}, "
              f"{'public' if policy.public else 'local'} mode; token in {path}", file=sys.stderr, flush=True)

    app = build_app(engine, on_ready=announce)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3, lifespan="on"))
    app.state.server = server
    try:
        server.run(sockets=[sock])
    finally:
        try:
            if json.loads(path.read_text()).get("instance") == info["instance"]:
                path.unlink()
        except (OSError, ValueError):
            pass
        store.close()
    return 0
