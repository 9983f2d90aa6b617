"""engine.ml.callbacks.freeze_import_heap and exit_process: the import heap leaves the collector's reach while
training, and a process that froze it (through exit_process, or a script's own end) still runs its exit handlers and
exits with its code, without the "leaked" reports DuckDB's bindings printed at every shutdown of a frozen heap."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import atexit, gc, sys, duckdb
from engine.ml.callbacks import exit_process, freeze_import_heap
con = duckdb.connect()
con.execute("SELECT 1").fetchall()
freeze_import_heap()
frozen = gc.get_freeze_count()
freeze_import_heap()  # once per process
assert gc.get_freeze_count() == frozen > 1000, (frozen, gc.get_freeze_count())
atexit.register(lambda: print("exit handler ran", flush=True))
print("buffered output", end="")
exit_process(int(sys.argv[1]))
"""


def _run(code: int, script: str = SCRIPT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, str(code)], capture_output=True, text=True, timeout=120)


def test_a_frozen_process_exits_with_its_code_and_handlers_and_no_leak_reports():
    out = _run(3)
    assert out.returncode == 3, out.stderr
    assert out.stdout == "buffered outputexit handler ran\n"
    assert "leaked" not in out.stderr, out.stderr[:500]
    assert _run(0).returncode == 0


def test_a_script_that_trained_through_the_library_ends_without_leak_reports():
    """A researcher's script or notebook ends through the interpreter's own shutdown, not exit_process."""
    out = _run(4, SCRIPT.replace("exit_process(int(sys.argv[1]))", "sys.exit(int(sys.argv[1]))"))
    assert out.returncode == 4, out.stderr
    assert out.stdout == "buffered outputexit handler ran\n"
    assert "leaked" not in out.stderr, out.stderr[:500]


def test_the_w2s_command_ends_through_exit_process():
    import tomllib
    from pathlib import Path

    scripts = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["w2s"] == "engine.cli:entry"
    out = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage: w2s run")


def test_accelerates_per_step_package_probe_is_answered_once(monkeypatch):
    import importlib.util

    import accelerate.optimizer
    from accelerate.utils import imports

    from engine.ml.callbacks import settle_package_probes

    expected = imports.is_lomo_available()
    settle_package_probes()
    settle_package_probes()  # idempotent
    searched = []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda *a, **k: searched.append(a) or real(*a, **k))
    assert [accelerate.optimizer.is_lomo_available() for _ in range(3)] == [expected] * 3
    assert searched == []  # without the settling, every call searched sys.path for lomo_optim
    assert imports.is_lomo_available() == expected and searched  # the library's own probe is left as it is
