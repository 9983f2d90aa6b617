"""Commands that read results, through the engine when one holds the database, else from the file:
`w2s runs`, `w2s show` (with its setup's statistics across seeds), `w2s export` (engine.reading; many runs at
once: engine.cli.toolbox.export_many)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli._format import DB_HELP, fail, fmt, table
from engine.cli.toolbox import add_export_filters


def _reader(args: argparse.Namespace):
    from engine.reading import open_reader

    return open_reader(args.db)


def cmd_runs(args: argparse.Namespace) -> int:
    from engine.reading import ReadError

    try:
        reader = _reader(args)
        df = reader.runs(status=args.status)
    except ReadError as exc:
        return fail(str(exc))
    if df.empty:
        print("no runs yet; start one with `w2s run assets/configs/demo.yaml`")
        return 0
    rows = [[r.id, r.status, r.task, r.weak, r.strong, r.method, r.seed, r.pgr, r.student_acc,
             str(r.created)[:19]] for r in df.itertuples()]
    print(table(rows, ["run", "status", "task", "weak", "strong", "method", "seed", "PGR", "student", "created"]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from engine.reading import ReadError

    try:
        reader = _reader(args)
        run = reader.run(args.run)
        metrics = reader.metrics(args.run) if run is not None else {}
        seeds = reader.seed_stats("pgr", run["task"]) if run is not None and run["status"] == "done" else None
    except ReadError as exc:
        return fail(str(exc))
    if run is None:
        return fail(f"no run '{args.run}'; list runs with `w2s runs`")
    print(f"run {run['id']}  {run['status']}  {run['task']}  {run['weak']} -> {run['strong']}  {run['method']}  "
          f"seed {run['seed']}")
    if run.get("error"):
        print(f"error: {run['error']}")
    print("\nstages")
    print(table([[s["role"], s["model"], s["status"], "yes" if s["cached"] else "no", s["seconds"],
                  _kept(s.get("weights_bytes"))] for s in run["stages"]],
                ["role", "model", "status", "cached", "seconds", "weights kept"]))
    if run.get("progress"):
        p = run["progress"]
        eta = f", ETA {p['eta']:.0f} s" if p.get("eta") is not None else ""
        print(f"\nprogress: {p['stage']} {p['step']}/{p['total']} {p.get('unit', 'step')}{eta}")
    if metrics:
        print("\nmetrics")
        print(table([[k, v] for k, v in metrics.items()], ["name", "value"]))
    mine = None if seeds is None else next((r for r in seeds.itertuples() if run["id"] in r.runs.split(",")), None)
    if mine is not None:
        print(f"\nPGR across the seeds of this setup ({mine.seeds}): n {mine.n}, mean {fmt(mine.mean)} "
              f"[{fmt(mine.mean_ci_low)}, {fmt(mine.mean_ci_high)}] (95% t interval), median {fmt(mine.median)}"
              + (f" [{fmt(mine.median_ci_low)}, {fmt(mine.median_ci_high)}] ({fmt(mine.median_ci_coverage)} "
                 "order-statistic interval)" if fmt(mine.median_ci_low) != "-" else
                 " (too few seeds for a median interval)")
              + (f"; {mine.n_undefined} undefined" if mine.n_undefined else ""))
    return 0


def _kept(size_bytes) -> str:
    from engine.cli.toolbox import size

    return size(size_bytes)


def cmd_export(args: argparse.Namespace) -> int:
    import pandas as pd

    from engine.cli.toolbox import FILTERS, export_many
    from engine.reading import ReadError

    if len(args.run) != 1 or args.all or any(getattr(args, k) for k in FILTERS) or args.runs_only:
        if not (args.run or args.all or any(getattr(args, k) for k in FILTERS)):
            return fail("name runs, a filter (--tag, --task, --method, --sweep, --status) or --all")
        return export_many(args)
    args.run = args.run[0]

    try:
        reader = _reader(args)
        if reader.run(args.run) is None:
            return fail(f"no run '{args.run}'; list runs with `w2s runs`")
        frames, offset, total = [], 0, 1
        while offset < total:
            page, total = reader.predictions(args.run, split="test", limit=20_000, offset=offset)
            frames.append(page)
            offset += 20_000
    except ReadError as exc:
        return fail(str(exc))
    out = Path(args.out or f"{args.run}.{args.format}")
    df = pd.concat(frames, ignore_index=True)
    df.to_csv(out, index=False) if args.format == "csv" else df.to_parquet(out, index=False)
    print(f"wrote {out} ({len(df)} rows)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("runs", help="list runs")
    r.add_argument("--db", help=DB_HELP)
    r.add_argument("--status")
    r.set_defaults(fn=cmd_runs)

    r = sub.add_parser("show", help="show a run")
    r.add_argument("run")
    r.add_argument("--db", help=DB_HELP)
    r.set_defaults(fn=cmd_show)

    r = sub.add_parser("export", help="export a run's per-example outputs, or many runs as tidy tables")
    r.add_argument("run", nargs="*", help="one run: its test examples, one row each; several runs or a filter: "
                                          "a folder with runs.<format> and predictions.<format>")
    r.add_argument("--format", choices=["csv", "parquet"], default="csv")
    r.add_argument("--out", help="the file (one run) or folder (many; default w2s-export)")
    r.add_argument("--db", help=DB_HELP)
    add_export_filters(r)
    r.set_defaults(fn=cmd_export)
