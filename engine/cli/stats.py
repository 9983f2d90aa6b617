"""`w2s compare`: two methods on the same seeds (engine.comparison), through the engine or from the file.

    w2s compare naive aux_conf                  # aux_conf - naive on PGR, per setup pair: mean, t interval, sign test
    w2s compare naive --metric student_acc      # every other method against naive
    w2s compare naive --seeds                   # per setup: mean and median over seeds with intervals

Setups pair when their configs differ only in the method (same task, models, split and training), so seed s of
one and seed s of the other saw the same data; where a seed was run twice the newest run counts.
"""

from __future__ import annotations

import argparse

from engine.cli._format import DB_HELP, fail, fmt, table


def cmd_compare(args: argparse.Namespace) -> int:
    from engine.reading import ReadError, open_reader

    try:
        reader = open_reader(args.db)
        df = reader.seed_stats(args.metric, args.task) if args.seeds else reader.compare(args.a, args.b, args.metric,
                                                                                         args.task)
    except ReadError as exc:
        return fail(str(exc))
    if args.seeds:
        df = df[df["method"] == args.a] if args.a != "all" else df
        if df.empty:
            return fail(f"no finished runs of '{args.a}' with {args.metric}; list runs with `w2s runs`")
        print(table([[r.task, r.weak, r.strong, r.method, r.seeds, r.n, r.mean, f"[{fmt(r.mean_ci_low)}, "
                      f"{fmt(r.mean_ci_high)}]", r.median, f"[{fmt(r.median_ci_low)}, {fmt(r.median_ci_high)}]"]
                     for r in df.itertuples()],
                    ["task", "weak", "strong", "method", "seeds", "n", f"mean {args.metric}", "95% t interval",
                     "median", "median interval"]))
        return 0
    if df.empty:
        other = f"'{args.b}'" if args.b else "another method"
        return fail(f"no setups where '{args.a}' and {other} ran on the same task, models and training; run both "
                    "(e.g. `methods: [naive, aux_conf]` with `seeds: [0, 1, 2]`) first")
    print(table([[r.task, r.weak, r.strong, r.b, r.seeds, r.a_mean, r.b_mean, r.mean_diff,
                  f"[{fmt(r.diff_ci_low)}, {fmt(r.diff_ci_high)}]", f"{r.wins}/{r.losses}/{r.ties}", r.sign_p]
                 for r in df.itertuples()],
                ["task", "weak", "strong", "b", "seeds", f"{args.a}", "b", "b - a", "95% t interval", "wins/losses/ties",
                 "sign test p"]))
    print(f"\n{args.metric}: b - a on the seeds both ran (paired); wins: b > a.")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("compare", help="compare two methods on the same seeds (difference with interval, sign test)")
    r.add_argument("a", help="the reference method (or 'all' with --seeds)")
    r.add_argument("b", nargs="?", help="the method compared with it; empty = every other one")
    r.add_argument("--metric", default="pgr", help="a run-level metric (default pgr)")
    r.add_argument("--task", help="only this task")
    r.add_argument("--seeds", action="store_true", help="per setup of `a`: mean and median over seeds instead")
    r.add_argument("--db", help=DB_HELP)
    r.set_defaults(fn=cmd_compare)
