"""Commands for the researcher's own tools, through the engine when one holds the database, else on the file:
`w2s sql`, `w2s snapshot`, `w2s weights`, `w2s gc`, and the many-run form of `w2s export` (engine.reading).

    w2s sql "SELECT method, count(*) FROM runs GROUP BY method"     # read-only; --format csv|json|parquet --out F
    w2s snapshot copy.duckdb                                        # a consistent copy any process can open
    w2s export --tag baseline --format parquet --out exports/       # runs.parquet + predictions.parquet
    w2s weights RUN [--role student --out DIR]                     # list kept weights / download one folder
    w2s gc [--older-than DAYS] [--runs R ...] [--all] [--dry-run]   # remove kept weights
"""

from __future__ import annotations

import argparse
import json
import numbers
import sys
import time
from pathlib import Path

from engine.cli._format import DB_HELP, fail, table

FILTERS = ("status", "task", "method", "sweep", "tag")


def _reader(args: argparse.Namespace):
    from engine.reading import open_reader

    return open_reader(args.db)


def size(n: float | None) -> str:
    """Bytes as text: 1.4 MB."""
    if not isinstance(n, numbers.Real) or n != n:  # None, NaN, pandas' NA: nothing kept
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def cmd_sql(args: argparse.Namespace) -> int:
    from engine.reading import ReadError

    query = sys.stdin.read() if args.query == "-" else args.query
    try:
        df, truncated = _reader(args).sql(query, limit=args.limit, timeout=args.timeout)
    except ReadError as exc:
        return fail(str(exc))
    if args.format == "parquet" and not args.out:
        return fail("--format parquet writes a file: add --out FILE.parquet")
    if args.format == "parquet":
        df.to_parquet(args.out, index=False)
    elif args.format in ("csv", "json"):
        text = df.to_csv(index=False) if args.format == "csv" else df.to_json(orient="records", lines=True,
                                                                                 date_format="iso")
        Path(args.out).write_text(text) if args.out else print(text, end="")
    else:
        print(table([[_cell(v) for v in row] for row in df.itertuples(index=False)], [str(c) for c in df.columns]))
    note = f"{len(df)} row(s)" + (f"; more rows matched: raise --limit (now {args.limit})" if truncated else "")
    print(("wrote " + str(args.out) + ", " if args.out else "") + note, file=sys.stderr)
    return 0


def _cell(value):
    text = value if isinstance(value, float | int) or value is None else str(value)
    return text[:60] + "..." if isinstance(text, str) and len(text) > 63 else text


def cmd_snapshot(args: argparse.Namespace) -> int:
    from engine.client import EngineError
    from engine.reading import ReadError

    out = Path(args.out or f"runs-snapshot-{time.strftime('%Y%m%d-%H%M%S')}.duckdb")
    if out.exists():
        return fail(f"{out} already exists; pick a new file name")
    started = time.monotonic()
    try:
        reader = _reader(args)
        path = reader.snapshot(out)
    except (ReadError, EngineError) as exc:
        return fail(str(exc))
    print(f"wrote {path} ({size(path.stat().st_size)}, {time.monotonic() - started:.1f} s) from {reader.where}; "
          f"open it with duckdb.connect('{path}', read_only=True)")
    return 0


def export_many(args: argparse.Namespace) -> int:
    """`w2s export` of every run matching the filters: runs.<fmt> (one row per run) and predictions.<fmt>."""
    from engine.reading import ReadError

    filters = {k: getattr(args, k) for k in FILTERS if getattr(args, k)}
    if args.run:
        filters["run"] = list(args.run)
    try:
        runs, rows = _reader(args).export(predictions=not args.runs_only, **filters)
    except ReadError as exc:
        return fail(str(exc))
    if runs.empty:
        return fail("no run matches " + (json.dumps(filters) if filters else "(no runs yet)"))
    out = Path(args.out or "w2s-export")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in (("runs", runs), ("predictions", rows)):
        if df is None:
            continue
        path = out / f"{name}.{args.format}"
        df.to_parquet(path, index=False) if args.format == "parquet" else df.to_csv(path, index=False)
        written.append(f"{path} ({len(df):,} rows x {len(df.columns)} columns, {size(path.stat().st_size)})")
    print(f"{len(runs)} run(s): " + "; ".join(written))
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from engine.client import EngineError
    from engine.reading import ReadError

    try:
        reader = _reader(args)
        if args.role:
            folder = reader.download_weights(args.run, args.role, Path(args.out or "."))
            print(f"wrote {folder} ({size(sum(p.stat().st_size for p in folder.rglob('*') if p.is_file()))}); "
                  "load it with engine.ml.weights.load_kept(folder) or the class named in its w2s.json")
            return 0
        df = reader.weights(args.run)
    except (ReadError, EngineError) as exc:
        return fail(str(exc))
    if df.empty:
        return fail(f"run '{args.run}' has no stages (or no such run); list runs with `w2s runs`")
    print(table([[r.role, "yes" if r.kept else "no", _text(r.kind), size(r.bytes), _text(r.path) or _text(r.note)]
                 for r in df.itertuples()], ["role", "kept", "kind", "size", "folder / why not"]))
    kept = df[df["kept"]]
    print(f"\n{len(kept)} of {len(df)} role(s) kept, {size(kept['bytes'].sum())}; download one with "
          f"`w2s weights {args.run} --role ROLE --out DIR`")
    return 0


def _text(value) -> str:
    """A cell as text; missing (None, NaN, pandas' NA) is empty."""
    import pandas as pd

    return "" if value is None or pd.isna(value) else str(value)


def cmd_gc(args: argparse.Namespace) -> int:
    from engine.client import EngineError
    from engine.reading import ReadError

    try:
        out = _reader(args).gc(older_than_days=args.older_than, runs=args.runs, everything=args.all,
                               dry_run=args.dry_run)
    except (ReadError, EngineError) as exc:
        return fail(str(exc))
    verb = "would remove" if out["dry_run"] else "removed"
    for r in out["removed"]:
        print(f"{verb} {r['folder']} ({size(r['bytes'])}): {r['reason']}")
    print(f"{verb} {len(out['removed'])} folder(s), {size(out['freed'])}; {out['kept']} kept "
          f"({size(out['kept_bytes'])})")
    return 0


def add_export_filters(r: argparse.ArgumentParser) -> None:
    """The many-run options of `w2s export` (engine/cli/results.py declares the command)."""
    for name in FILTERS:
        r.add_argument(f"--{name}", help=f"only runs with this {name}" + (" (one of its tags)" if name == "tag" else ""))
    r.add_argument("--all", action="store_true", help="every run (with no RUN and no filter)")
    r.add_argument("--runs-only", action="store_true", help="only the one-row-per-run table")


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("sql", help="run a read-only SQL query on the runs database")
    r.add_argument("query", help="one SELECT / EXPLAIN statement ('-' reads it from stdin)")
    r.add_argument("--limit", type=int, default=1000, help="at most this many rows (default 1000)")
    r.add_argument("--timeout", type=float, default=30.0, help="seconds before the query is stopped")
    r.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    r.add_argument("--out", help="write the rows to this file")
    r.add_argument("--db", help=DB_HELP)
    r.set_defaults(fn=cmd_sql)

    r = sub.add_parser("snapshot", help="write a consistent copy of the database (while the engine runs)")
    r.add_argument("out", nargs="?", help="the new DuckDB file (default runs-snapshot-<time>.duckdb)")
    r.add_argument("--db", help=DB_HELP)
    r.set_defaults(fn=cmd_snapshot)

    r = sub.add_parser("weights", help="a run's kept weights: list them, or download one role's folder")
    r.add_argument("run")
    r.add_argument("--role", help="download this role's Hugging Face folder")
    r.add_argument("--out", help="where the folder goes (default: here)")
    r.add_argument("--db", help=DB_HELP)
    r.set_defaults(fn=cmd_weights)

    r = sub.add_parser("gc", help="remove kept weights: leftovers always, and old ones, a run's or all")
    r.add_argument("--older-than", type=float, metavar="DAYS", help="weights kept longer than DAYS")
    r.add_argument("--runs", nargs="+", metavar="RUN", help="these runs' weights (stages others use stay)")
    r.add_argument("--all", action="store_true", help="every kept weight")
    r.add_argument("--dry-run", action="store_true", help="only say what would go")
    r.add_argument("--db", help=DB_HELP)
    r.set_defaults(fn=cmd_gc)
