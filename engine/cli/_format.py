"""Plain-text tables and one-line errors for the command line."""

from __future__ import annotations

import math
import sys
from typing import Any

DB_HELP = "DuckDB file (default: $W2S_HOME/runs.duckdb, W2S_HOME defaults to ~/.w2s)"


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fail(message: str, code: int = 2) -> int:
    """Print `error: message` to stderr and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    return code
