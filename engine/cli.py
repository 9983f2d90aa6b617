"""The `w2s` command line.

    w2s serve [--db PATH] [--port N] [--workers K]   start the engine (owns the database, runs jobs)
    w2s submit CONFIG.yaml [--wait]      queue an experiment on the running engine
    w2s cancel RUN | requeue RUN         stop a run / queue an interrupted, failed or cancelled run again
    w2s logs RUN [--follow]              a run's worker log
    w2s run CONFIG.yaml [--db PATH]      run an experiment (a sweep of methods x seeds) in this process
    w2s runs [--db PATH]                 list runs (through the engine when one is running)
    w2s show RUN                         a run's metrics, PGR and stages
    w2s export RUN --format csv|parquet  per-example outputs of a run
    w2s verify RUN [--atol 1e-4]         re-execute a finished run with the cache off; do its predictions return?
    w2s ls [tasks|models|methods]        what is registered
    w2s zoo build [--seed S] [--out DIR] pretrain the offline model family
"""

from __future__ import annotations

import argparse
import math
import sys
import uuid
from pathlib import Path
from typing import Any


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _db_path(db: str | None) -> Path:
    from engine.runner import default_db

    return (Path(db) if db else default_db()).expanduser().resolve()


def _engine_for(db: str | None):
    """A client for the running engine when it holds `db` (default: the default database), else None."""
    from engine.client import EngineClient, find_engine

    info = find_engine()
    if info is None or Path(info.db).resolve() != _db_path(db):
        return None
    return EngineClient(info.url, info.token, info=info)


def _open_store(db: str | None):
    from engine.store import Store

    path = _db_path(db)
    try:
        return Store(path)
    except Exception as exc:  # duckdb.IOException when another process holds the file
        if "lock" in str(exc).lower():
            sys.exit(f"error: {path} is in use by another process (a running engine?). Stop it, or use another "
                     "--db file")
        raise


def cmd_run(args: argparse.Namespace) -> int:
    from engine.config import load_config
    from engine.metrics import median_over_seeds
    from engine.runner import USER_ERRORS, run_local, validate

    try:
        specs = load_config(args.config).expand()
        for spec in specs:
            validate(spec)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = _engine_for(args.db)
    if engine is not None:
        print(f"error: engine running at {engine.url} holds {engine.info.db}; use `w2s submit {args.config}` "
              "(or stop the engine, or pass another --db)", file=sys.stderr)
        return 2
    store = _open_store(args.db)
    sweep = uuid.uuid4().hex[:8]
    print(f"{len(specs)} run(s): {', '.join(sorted({s.method for s in specs}))} x seeds "
          f"{sorted({s.seed for s in specs})} on {specs[0].task} ({specs[0].weak} -> {specs[0].strong}); db {store.path}",
          file=sys.stderr)
    results = []
    for spec in specs:
        print(f"\n== {spec.method} seed {spec.seed}", file=sys.stderr)
        run_id, status, out = run_local(spec, store, progress=not args.quiet, sweep=sweep)
        if status == "failed":
            print(f"run {run_id} failed: {out}", file=sys.stderr)
        results.append((spec, run_id, status, out))
    rows = []
    for spec, run_id, status, out in results:
        m = out if isinstance(out, dict) else {}
        ci = f"[{_fmt(m.get('pgr_ci_low'), 2)}, {_fmt(m.get('pgr_ci_high'), 2)}]" if m.get("pgr_ci_low") is not None else "-"
        rows.append([run_id, spec.method, spec.seed, status, m.get("weak_acc"), m.get("student_acc"),
                     m.get("ceiling_acc"), m.get("pgr") if m.get("pgr") is not None else m.get("pgr_reason"), ci])
    print()
    print(_table(rows, ["run", "method", "seed", "status", "weak", "student", "ceiling", "PGR", "PGR 95% CI"]))
    by_method: dict[str, list] = {}
    for spec, _, status, out in results:
        if isinstance(out, dict):
            by_method.setdefault(spec.method, []).append(out)
    if by_method:
        print("\nmedians over seeds")
        print(_table([[m, len(v), median_over_seeds([x["weak_acc"] for x in v]),
                       median_over_seeds([x["student_acc"] for x in v]),
                       median_over_seeds([x["ceiling_acc"] for x in v]), median_over_seeds([x.get("pgr") for x in v])]
                      for m, v in by_method.items()], ["method", "runs", "weak", "student", "ceiling", "median PGR"]))
    store.close()
    return 0 if all(r[2] == "done" for r in results) else 1


def cmd_runs(args: argparse.Namespace) -> int:
    engine = _engine_for(args.db)
    if engine is not None:
        import pandas as pd

        df = pd.DataFrame(engine.runs(status=args.status).data)
    else:
        df = _open_store(args.db).runs(status=args.status)
    if df.empty:
        print("no runs yet; start one with `w2s run assets/configs/demo.yaml`")
        return 0
    rows = [[r.id, r.status, r.task, r.weak, r.strong, r.method, r.seed, r.pgr, r.student_acc,
             str(r.created)[:19]] for r in df.itertuples()]
    print(_table(rows, ["run", "status", "task", "weak", "strong", "method", "seed", "PGR", "student", "created"]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from engine.client import EngineError

    engine = _engine_for(args.db)
    if engine is not None:
        try:
            run, metrics = engine.run(args.run).model_dump(), engine.metrics(args.run)
        except EngineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        store = _open_store(args.db)
        run = store.run(args.run)
        metrics = store.run_metrics(args.run) if run is not None else {}
    if run is None:
        print(f"error: no run '{args.run}'; list runs with `w2s runs`", file=sys.stderr)
        return 2
    print(f"run {run['id']}  {run['status']}  {run['task']}  {run['weak']} -> {run['strong']}  {run['method']}  "
          f"seed {run['seed']}")
    if run.get("error"):
        print(f"error: {run['error']}")
    print("\nstages")
    print(_table([[s["role"], s["model"], s["status"], "yes" if s["cached"] else "no", s["seconds"]]
                  for s in run["stages"]], ["role", "model", "status", "cached", "seconds"]))
    if run.get("progress"):
        p = run["progress"]
        eta = f", ETA {p['eta']:.0f} s" if p.get("eta") is not None else ""
        print(f"\nprogress: {p['stage']} {p['step']}/{p['total']} {p.get('unit', 'step')}{eta}")
    if metrics:
        print("\nmetrics")
        print(_table([[k, v] for k, v in metrics.items()], ["name", "value"]))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    engine = _engine_for(args.db)
    if engine is not None:
        return _export_via(engine, args)
    store = _open_store(args.db)
    if not store.run_exists(args.run):
        print(f"error: no run '{args.run}'; list runs with `w2s runs`", file=sys.stderr)
        return 2
    out = Path(args.out or f"{args.run}.{args.format}")
    store.export(args.run, out, args.format)
    print(f"wrote {out}")
    return 0


def _export_via(engine: Any, args: argparse.Namespace) -> int:
    import pandas as pd

    from engine.client import EngineError

    frames, offset = [], 0
    try:
        while True:
            page = engine.predictions(args.run, split="test", limit=20_000, offset=offset)
            frames.append(pd.DataFrame(page.data, columns=page.columns))
            offset += page.limit
            if offset >= page.total:
                break
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or f"{args.run}.{args.format}")
    df = pd.concat(frames, ignore_index=True)
    df.to_csv(out, index=False) if args.format == "csv" else df.to_parquet(out, index=False)
    print(f"wrote {out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Re-execute a run in a scratch database and compare: exit 0 when every prediction came back, 1 when not."""
    from engine.client import EngineError
    from engine.runner import USER_ERRORS
    from engine.verify import stored_result, verify_run

    engine = _engine_for(args.db)
    source = engine if engine is not None else _open_store(args.db)
    try:
        if engine is None:  # read the stored result, then let go of the file while the run re-executes
            snapshot = stored_result(source, args.run)
            source.close()
            source = _Snapshot(args.run, *snapshot)
        report = verify_run(source, args.run, atol=args.atol, progress=not args.quiet)
    except (ValueError, EngineError, *USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    return 0 if report.ok else 1


class _Snapshot:
    """A stored run read once (run, predictions by role, metrics), answering what verify_run asks of a store."""

    def __init__(self, run_id: str, run: dict, preds: dict, metrics: dict):
        self.run_id, self._run, self._metrics = run_id, run, metrics
        self._preds = {s["stage_key"]: preds[s["role"]] for s in run["stages"]}

    def run(self, run_id: str) -> dict:
        return self._run

    def stage_lookup(self, key: str) -> dict:
        return self._preds[key]

    def run_metrics(self, run_id: str) -> dict:
        return self._metrics


# ---------------------------------------------------------------------------- the engine
def cmd_serve(args: argparse.Namespace) -> int:
    from engine.server import serve

    return serve(args.db, port=args.port, workers=args.workers, grace=args.grace)


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
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    try:
        engine = ensure_engine(db=args.db) if args.start else _client_or_exit()
        reply = engine.submit(config)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"sweep {reply.sweep}: {len(reply.run_ids)} run(s) queued on {engine.url}: {' '.join(reply.run_ids)}")
    if not args.wait:
        print(f"follow with `w2s runs` or `w2s logs {reply.run_ids[0]} --follow`")
        return 0
    runs = engine.wait_for(reply.run_ids)
    print(_table([[r.id, r.method, r.seed, r.status, r.error or ""] for r in runs],
                 ["run", "method", "seed", "status", "error"]))
    return 0 if all(r.status == "done" for r in runs) else 1


def _run_action(args: argparse.Namespace, action: str) -> int:
    from engine.client import EngineError

    try:
        run = getattr(_client_or_exit(), action)(args.run)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from engine.methods import METHODS
    from engine.models import MODELS
    from engine.tasks import TASKS

    kinds = [args.kind] if args.kind else ["tasks", "models", "methods"]
    for kind in kinds:
        reg = {"tasks": TASKS, "models": MODELS, "methods": METHODS}[kind]
        print(f"{kind}:")
        for name, obj in reg.items():
            doc = (getattr(obj, "description", "") or (obj.__doc__ or "")).strip().splitlines()
            print(f"  {name:<24} {doc[0] if doc else ''}")
    return 0


def cmd_zoo_build(args: argparse.Namespace) -> int:
    from engine.world.build import build_zoo

    out = Path(args.out) if args.out else None
    kwargs = {"seed": args.seed}
    if out is None:
        from engine.zoo.world import ZOO_DIR

        out = ZOO_DIR
    build_zoo(out, **kwargs)
    print(f"zoo written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="w2s", description="Weak-to-Strong Studio command line")
    sub = p.add_subparsers(dest="command", required=True)
    db_help = "DuckDB file (default: $W2S_HOME/runs.duckdb, W2S_HOME defaults to ~/.w2s)"

    r = sub.add_parser("run", help="run an experiment config in this process")
    r.add_argument("config")
    r.add_argument("--db", help=db_help)
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(fn=cmd_run)

    r = sub.add_parser("serve", help="start the engine: owns the database, runs queued jobs in worker processes")
    r.add_argument("--db", help=db_help)
    r.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    r.add_argument("--workers", type=int, help="runs at once (default: one per GPU, 1 on CPU; 0 = only queue)")
    r.add_argument("--grace", type=float, default=5.0, help="seconds a cancelled worker gets before SIGKILL")
    r.set_defaults(fn=cmd_serve)

    r = sub.add_parser("submit", help="queue an experiment config on the running engine")
    r.add_argument("config")
    r.add_argument("--wait", action="store_true", help="wait until every run finished")
    r.add_argument("--start", action="store_true", help="start an engine if none is running")
    r.add_argument("--db", help=db_help + " (with --start)")
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

    r = sub.add_parser("runs", help="list runs")
    r.add_argument("--db", help=db_help)
    r.add_argument("--status")
    r.set_defaults(fn=cmd_runs)

    r = sub.add_parser("show", help="show a run")
    r.add_argument("run")
    r.add_argument("--db", help=db_help)
    r.set_defaults(fn=cmd_show)

    r = sub.add_parser("export", help="export a run's per-example outputs")
    r.add_argument("run")
    r.add_argument("--format", choices=["csv", "parquet"], default="csv")
    r.add_argument("--out")
    r.add_argument("--db", help=db_help)
    r.set_defaults(fn=cmd_export)

    r = sub.add_parser("verify", help="re-execute a finished run with the stage cache off and compare every "
                                      "stored prediction (exit 0: reproduced, 1: not)")
    r.add_argument("run")
    r.add_argument("--atol", type=float, default=1e-4, help="largest allowed change of a probability (default 1e-4)")
    r.add_argument("--db", help=db_help)
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(fn=cmd_verify)

    r = sub.add_parser("ls", help="list registered tasks, models and methods")
    r.add_argument("kind", nargs="?", choices=["tasks", "models", "methods"])
    r.set_defaults(fn=cmd_ls)

    z = sub.add_parser("zoo", help="the offline model zoo")
    zs = z.add_subparsers(dest="zoo_command", required=True)
    r = zs.add_parser("build", help="pretrain the offline model family")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", help="output folder (default: the shipped zoo folder)")
    r.set_defaults(fn=cmd_zoo_build)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
