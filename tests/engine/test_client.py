"""engine.client stays light: it imports without the ML stack or duckdb."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_client_imports_without_the_ml_stack_or_duckdb():
    code = ("import sys; import engine.client, engine.api; "
            "print(sorted(m for m in ('torch', 'transformers', 'duckdb', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
