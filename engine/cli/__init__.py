"""The `w2s` command line: one module per group of commands, each adding its subcommands to the parser.

    w2s run CONFIG.yaml [--db PATH]      run an experiment (a sweep of methods x seeds) in this process
    w2s ls [tasks|models|methods]        what is registered
    w2s zoo build [--seed S] [--out DIR] pretrain the offline model family
    w2s serve [--db PATH] [--port N] [--workers K] [--backend ray --ray-address ADDR]
                                         start the engine (owns the database, runs jobs here or on Ray)
    w2s stop                             stop the running engine (running runs become interrupted)
    w2s submit CONFIG.yaml [--wait]      queue an experiment on the running engine
    w2s cancel RUN | requeue RUN         stop a run / queue an interrupted, failed or cancelled run again
    w2s delete RUN [--collect]           delete a finished run (--collect: and its stages no other run uses)
    w2s logs RUN [--follow]              a run's worker log
    w2s runs [--db PATH]                 list runs (through the engine when one is running)
    w2s show RUN                         a run's metrics, PGR and stages
    w2s export RUN --format csv|parquet  per-example outputs of a run
    w2s export --tag T [--task ...]      many runs: runs.<format> (one row per run), predictions.<format>
    w2s sql "SELECT ..."                 a read-only query on the runs database (engine or file)
    w2s snapshot [OUT]                   a consistent copy of the database for offline analysis
    w2s weights RUN [--role R --out DIR] kept weights of a run: list them, download one folder
    w2s gc [--older-than DAYS] [--all]   remove kept weights
    w2s verify RUN [--atol 1e-4]         re-execute a finished run with the cache off; do its predictions return?
    w2s studio                           the engine (if none runs) and the studio in a browser

Reading commands go through engine.reading, the same interface whether an engine runs or not.
"""

from __future__ import annotations

import argparse
import sys

from engine.cli import experiments, jobs, results, stats, studio, toolbox, verify

GROUPS = (experiments, jobs, results, stats, verify, studio, toolbox)  # each has add_commands(subparsers)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="w2s", description="Weak-to-Strong Studio command line")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["studio"]:  # every option after it is the studio's own (argparse cannot pass "--help" on)
        return studio.run_studio(argv[1:])
    args = build_parser().parse_args(argv)
    return args.fn(args)


def entry() -> None:
    """The `w2s` command: main(), then the process ends (engine.ml.callbacks.exit_process after a training)."""
    from engine.ml.callbacks import exit_process

    exit_process(main())


if __name__ == "__main__":
    entry()
