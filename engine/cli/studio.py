"""`w2s studio`: the studio in its own process (`python -m studio`), which starts an engine if none runs.

The engine never imports the studio (it stays free of gradio); the command replaces itself with the studio's
process, so signals and the exit code are the studio's own.
"""

from __future__ import annotations

import argparse
import os
import sys


def run_studio(options: list[str]) -> int:
    os.execv(sys.executable, [sys.executable, "-m", "studio", *options])
    return 0  # not reached


def cmd_studio(args: argparse.Namespace) -> int:
    return run_studio(args.rest)


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("studio", help="start the engine (if none runs) and the studio (--host, --port, --workers)",
                       add_help=False)
    r.add_argument("rest", nargs=argparse.REMAINDER, help="options passed to the studio (see w2s studio --help)")
    r.set_defaults(fn=cmd_studio)
