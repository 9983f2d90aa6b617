"""Commands that talk to the engine: `w2s serve`, `submit`, `cancel`, `requeue`, `logs`."""

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
        reply = engine.submit(config)
    except EngineError as exc:
        return fail(str(exc))
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

    r = sub.add_parser("submit", help="queue an experiment config on the running engine")
    r.add_argument("config")
    r.add_argument("--wait", action="store_true", help="wait until every run finished")
    r.add_argument("--start", action="store_true", help="start an engine if none is running")
    r.add_argument("--db", help=DB_HELP + " (with --start)")
    r.set_defaults(fn=cmd_submit)

    for name, action, text in (("cancel", "cancel", "stop a queued or running run"),
                               ("requeue", "requeue", "queue an interrupted, failed or cancelled run again")):
        r = sub.add_parser(name, help=text)
        r.add_argument("run")
        r.set_defaults(fn=lambda a, action=action: _run_action(a, action))

    r = sub.add_parser("logs", help="a run's worker log")
    r.add_argument("run")
    r.add_argument("--follow", "-f", action="store_true", help="keep printing until the run finishes")
    r.add_argument("--bytes", type=int, default=8000, help="how much of the end of the log to show")
    r.set_defaults(fn=cmd_logs)
