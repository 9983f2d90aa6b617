"""Commands that work in this process, without an engine: `w2s run`, `w2s ls`, `w2s zoo build`."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from engine.cli._format import DB_HELP, fail, fmt, table


def cmd_run(args: argparse.Namespace) -> int:
    from engine.config import load_config
    from engine.metrics import median_over_seeds
    from engine.plan import USER_ERRORS, validate
    from engine.reading import ReadError, engine_client, open_store
    from engine.run.execute import run_local

    try:
        specs = load_config(args.config).expand()
        notes = list(dict.fromkeys(n for spec in specs for n in validate(spec)))
    except USER_ERRORS as exc:
        return fail(str(exc))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    engine = engine_client(args.db)
    if engine is not None:
        return fail(f"engine running at {engine.url} holds {engine.info.db}; use `w2s submit {args.config}` "
                    "(or stop the engine, or pass another --db)")
    try:
        store = open_store(args.db)
    except ReadError as exc:
        return fail(str(exc))
    sweep = uuid.uuid4().hex[:8]
    pairs = list(dict.fromkeys((s.weak, s.strong) for s in specs))
    models = f"{specs[0].weak} -> {specs[0].strong}" if len(pairs) == 1 else f"{len(pairs)} weak x strong pairs"
    print(f"{len(specs)} run(s): {', '.join(sorted({s.method for s in specs}))} x seeds "
          f"{sorted({s.seed for s in specs})} on {', '.join(dict.fromkeys(s.task for s in specs))} ({models}); "
          f"db {store.path}", file=sys.stderr)
    outcomes = []
    for spec in specs:
        print(f"\n== {spec.method} seed {spec.seed}" + (f", {spec.weak} -> {spec.strong}" if len(pairs) > 1 else ""),
              file=sys.stderr)
        run_id, status, out = run_local(spec, store, progress=not args.quiet, sweep=sweep)
        if status == "failed":
            print(f"run {run_id} failed: {out}", file=sys.stderr)
        outcomes.append((spec, run_id, status, out))
    rows = []
    for spec, run_id, status, out in outcomes:
        m = out if isinstance(out, dict) else {}
        ci = f"[{fmt(m.get('pgr_ci_low'), 2)}, {fmt(m.get('pgr_ci_high'), 2)}]" if m.get("pgr_ci_low") is not None else "-"
        rows.append([run_id, *pair_of(spec, pairs), spec.method, spec.seed, status, m.get("weak_acc"), m.get("student_acc"),
                     m.get("ceiling_acc"), m.get("pgr") if m.get("pgr") is not None else m.get("pgr_reason"), ci])
    print()
    print(table(rows, ["run", *(["weak model", "strong model"] if len(pairs) > 1 else []), "method", "seed", "status",
                       "weak", "student", "ceiling", "PGR", "PGR 95% CI"]))
    by_setup: dict[tuple, list] = {}  # (weak, strong,) method: a grid is never pooled over its pairs
    for spec, _, status, out in outcomes:
        if isinstance(out, dict):
            by_setup.setdefault((*pair_of(spec, pairs), spec.method), []).append(out)
    if by_setup:
        print("\nmedians over seeds")
        print(table([[*k, len(v), median_over_seeds([x["weak_acc"] for x in v]),
                      median_over_seeds([x["student_acc"] for x in v]),
                      median_over_seeds([x["ceiling_acc"] for x in v]), median_over_seeds([x.get("pgr") for x in v])]
                     for k, v in by_setup.items()], [*(["weak model", "strong model"] if len(pairs) > 1 else []),
                                                     "method", "runs", "weak", "student", "ceiling", "median PGR"]))
    store.close()
    return 0 if all(r[2] == "done" for r in outcomes) else 1


def pair_of(spec, pairs: list) -> list[str]:
    """The weak and strong model of a run, for the tables of a sweep over several pairs (nothing for one pair)."""
    return [spec.weak, spec.strong] if len(pairs) > 1 else []


def cmd_ls(args: argparse.Namespace) -> int:
    from engine.registry import METHODS, MODELS, TASKS

    kinds = [args.kind] if args.kind else ["tasks", "models", "methods"]
    for kind in kinds:
        reg = {"tasks": TASKS, "models": MODELS, "methods": METHODS}[kind]
        print(f"{kind}:")
        for name, obj in reg.items():
            doc = (getattr(obj, "description", "") or (obj.__doc__ or "")).strip().splitlines()
            print(f"  {name:<24} {doc[0] if doc else ''}")
    return 0


def cmd_zoo_build(args: argparse.Namespace) -> int:
    from engine.paths import zoo_dir
    from engine.worlds.facts.build import build_zoo

    out = Path(args.out) if args.out else zoo_dir()
    build_zoo(out, seed=args.seed)
    print(f"zoo written to {out}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="run an experiment config in this process")
    r.add_argument("config")
    r.add_argument("--db", help=DB_HELP)
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(fn=cmd_run)

    r = sub.add_parser("ls", help="list registered tasks, models and methods")
    r.add_argument("kind", nargs="?", choices=["tasks", "models", "methods"])
    r.set_defaults(fn=cmd_ls)

    z = sub.add_parser("zoo", help="the offline model zoo")
    zs = z.add_subparsers(dest="zoo_command", required=True)
    r = zs.add_parser("build", help="pretrain the offline model family")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", help="output folder (default: the shipped zoo folder)")
    r.set_defaults(fn=cmd_zoo_build)
