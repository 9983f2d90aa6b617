"""engine.ml.callbacks.freeze_import_heap: the import heap leaves the collector's reach while training, and comes
back at exit (a frozen heap made DuckDB's bindings print hundreds of "leaked" lines after every `w2s run`)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc, duckdb
from engine.ml.callbacks import freeze_import_heap
con = duckdb.connect()
con.execute("SELECT 1").fetchall()
freeze_import_heap()
frozen = gc.get_freeze_count()
freeze_import_heap()  # once per process
assert gc.get_freeze_count() == frozen > 1000, (frozen, gc.get_freeze_count())
"""


def test_the_frozen_heap_is_released_at_exit_without_leak_reports():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "leaked" not in out.stderr, out.stderr[:500]
