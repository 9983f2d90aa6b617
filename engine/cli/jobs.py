"""Commands that talk to the engine: `w2s serve`, `stop`, `submit`, `cancel`, `requeue`, `delete`, `logs`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli._format import DB_HELP, fail, table


def cmd_serve(args: argparse.Namespace) -> int:
    from engine.server.serve import serve

    return serve(args.db, port=args.port, workers=args.workers, grace=args.grace, backend=args.backend,
                 ray_address=args.ray_address, host=args.host, public=args.public or None)


def _client_or_exit():
    from engine.client import EngineError, connect

    try:
        return connect()
    except EngineError as exc:
        sys.exit(f"error: {exc}")


def cmd_submit(args: argparse.Namespace) -> int:
    import yaml

    from engine.client import EngineError, ensure_engine

    path = Path(args.config)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        return fail(f"cannot read {path}: {exc}")
    try:
        engine = ensure_engine(db=args.db) if args.start else _client_or_exit()
        reply = engine.submit(config, on_duplicate=args.on_duplicate)
    except EngineError as exc:
        return fail(str(exc))
    if reply.duplicates:
        what = "skipped" if args.on_duplicate == "skip" else "queued again"
        print(f"note: {len(reply.duplicates)} run(s) of this setup and seed already exist "
              f"({', '.join(d.run_id for d in reply.duplicates)}); {what} (--on-duplicate create|skip|refuse)")
    if not reply.run_ids:
        print("nothing queued: every run already exists")
        return 0
    print(f"sweep {reply.sweep}: {len(reply.run_ids)} run(s) queued on {engine.url}: {' '.join(reply.run_ids)}")
    if not args.wait:
        print(f"follow with `w2s runs` or `w2s logs {reply.run_ids[0]} --follow`")
        return 0
    runs = engine.wait_for(reply.run_ids)
    print(table([[r.id, r.method, r.seed, r.status, r.error or ""] for r in runs],
                ["run", "method", "seed", "status", "error"]))
    return 0 if all(r.status == "done" for r in runs) else 1


def _run_action(args: argparse.Namespace, action: str) -> int:
    from engine.client import EngineError

    try:
        run = getattr(_client_or_exit(), action)(args.run)
    except EngineError as exc:
        return fail(str(exc))
    print(f"run {run.id}: {run.status}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the running engine (the one in $W2S_HOME/engine.json); its running runs become interrupted."""
    import time

    from engine.client import EngineError, find_engine, pid_alive

    info = find_engine()
    if info is None:
        print("no engine running")
        return 0
    try:
        _client_or_exit().shutdown()
    except EngineError as exc:
        return fail(str(exc))
    def running() -> bool:  # an exited engine whose parent has not reaped it yet (a zombie) counts as stopped
        try:
            if "State:\tZ" in Path(f"/proc/{info.pid}/status").read_text():
                return False
        except OSError:
            pass
        return pid_alive(info.pid)

    deadline = time.monotonic() + args.timeout
    while running() and time.monotonic() < deadline:
        time.sleep(0.1)
    if running():
        return fail(f"the engine (pid {info.pid}) did not exit within {args.timeout:.0f} s; kill it with "
                    f"`kill {info.pid}`")
    print(f"engine at {info.url} (pid {info.pid}) stopped; running runs are marked interrupted (`w2s requeue RUN`)")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from engine.client import EngineError

    try:
        reply = _client_or_exit().delete_run(args.run, collect=args.collect)
    except EngineError as exc:
        return fail(str(exc))
    kept = "" if args.collect else " (its stages stay in the cache; --collect removes those no other run uses)"
    print(f"run {reply.run_id} deleted: {reply.stages} stage(s) and {reply.predictions} prediction rows removed{kept}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from engine.api import TERMINAL
    from engine.client import EngineError

    engine = _client_or_exit()
    try:
        text = engine.log(args.run, max_bytes=args.bytes)
        print(text, end="")
        if not args.follow:
            return 0
        seen, version = len(text), 0
        while True:  # re-read the tail after each change; print only what is new
            version = engine.wait(version, timeout=10, run_id=args.run)
            text = engine.log(args.run, max_bytes=1_000_000)
            print(text[seen:] if len(text) >= seen else text, end="", flush=True)
            seen = len(text)
            if engine.run(args.run).status in TERMINAL:
                return 0
    except EngineError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("serve", help="start the engine: owns the database, runs queued jobs in worker processes")
    r.add_argument("--db", help=DB_HELP)
    r.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    r.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 lets Ray "
                                                       "nodes on other machines reach it, over plain HTTP)")
    r.add_argument("--workers", type=int, help="runs at once (default: one per GPU, 1 on CPU; with Ray: the "
                                                "cluster's CPUs; 0 = only queue)")
    r.add_argument("--grace", type=float, default=5.0, help="seconds a cancelled worker gets before SIGKILL")
    r.add_argument("--backend", choices=["subprocess", "ray"], default="subprocess",
                   help="where workers run: subprocesses on this machine (default) or a Ray cluster")
    r.add_argument("--ray-address", help="the Ray cluster (host:port of its head; default $RAY_ADDRESS, else a "
                                         "local Ray instance that stops with the engine)")
    r.add_argument("--public", action="store_true", help="public mode (also on with SPACE_ID or W2S_PUBLIC=1): "
                   "uploads and catalogue models only, visitors kept apart, caps (engine/server/policy.py)")
    r.set_defaults(fn=cmd_serve)

    r = sub.add_parser("stop", help="stop the running engine (running runs become interrupted; requeue them later)")
    r.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for it to exit")
    r.set_defaults(fn=cmd_stop)

    r = sub.add_parser("submit", help="queue an experiment config on the running engine")
    r.add_argument("config")
    r.add_argument("--on-duplicate", choices=["create", "skip", "refuse"], default="create",
                   help="a run whose setup and seed already exist: queue it again (default), skip it, or refuse")
    r.add_argument("--wait", action="store_true", help="wait until every run finished")
    r.add_argument("--start", action="store_true", help="start an engine if none is running")
    r.add_argument("--db", help=DB_HELP + " (with --start)")
    r.set_defaults(fn=cmd_submit)

    for name, action, text in (("cancel", "cancel", "stop a queued or running run"),
                               ("requeue", "requeue", "queue an interrupted, failed or cancelled run again")):
        r = sub.add_parser(name, help=text)
        r.add_argument("run")
        r.set_defaults(fn=lambda a, action=action: _run_action(a, action))

    r = sub.add_parser("delete", help="delete a finished run (its stages stay cached unless --collect)")
    r.add_argument("run")
    r.add_argument("--collect", action="store_true", help="also remove its stages that no other run uses")
    r.set_defaults(fn=cmd_delete)

    r = sub.add_parser("logs", help="a run's worker log")
    r.add_argument("run")
    r.add_argument("--follow", "-f", action="store_true", help="keep printing until the run finishes")
    r.add_argument("--bytes", type=int, default=8000, help="how much of the end of the log to show")
    r.set_defaults(fn=cmd_logs)
