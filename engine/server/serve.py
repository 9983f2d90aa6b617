"""`w2s serve`: open the database, bind 127.0.0.1, announce the engine in engine.json and run the API.

    w2s serve [--db PATH] [--port N] [--workers K]       # or: python -m engine.cli serve
    w2s serve --backend ray --ray-address HOST:6379 --port 8642    # runs go to a Ray cluster

It listens on 127.0.0.1 only (unless --host names an address other machines reach, for Ray nodes elsewhere:
plain HTTP, so only on a trusted network) and writes its address, a random token and its pid to
$W2S_HOME/engine.json (mode 0600); engine.client finds it through that file. A second engine on the same database is refused. With the
Ray backend the engine connects to the cluster as a driver before it answers; give a fixed --port so the runs a
restarted engine adopts from the cluster find it again at the same address.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from engine import paths
from engine.server.app import build_app
from engine.server.engine import Engine
from engine.server.scheduler import detect_gpus


def _write_engine_file(path: Path, info: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)
    os.replace(tmp, path)


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
          backend: str = "subprocess", ray_address: str | None = None, host: str = "127.0.0.1") -> int:
    """Open the database, bind host:port (127.0.0.1 unless told), write engine.json and serve until SIGINT/SIGTERM."""
    import uvicorn

    from engine.server.backends import BackendError, make_backend
    from engine.server.store import Store

    home = paths.data_home()
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
    engine = Engine(store, home, url, slots, gpus, grace, backend=runner)
    path = paths.engine_file(home)
    info = {"url": url, "token": engine.token, "pid": os.getpid(), "db": str(db_path), "workers": slots,
            "gpus": gpus, "backend": backend, "started": time.time(), "instance": uuid.uuid4().hex[:8]}
    where = getattr(runner, "describe", lambda: "")() or (f", GPUs {','.join(gpus)}" if gpus else " on CPU")

    def announce() -> None:  # the socket is already listening, so a reader of the file can connect at once
        _write_engine_file(path, info)
        print(f"engine at {url} (pid {os.getpid()}), database {db_path}, {slots} worker slot(s){where}; "
              f"token in {path}", file=sys.stderr, flush=True)

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
