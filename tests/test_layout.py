"""House rules that keep the project's shape: dependency direction, light catalogues, documented registries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_never_imports_the_ui():
    offenders = {str(p.relative_to(ROOT)): _imports(p) & {"gradio", "plotly", "studio"}
                 for p in (ROOT / "engine").rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_catalogues_import_without_the_ml_stack():
    code = ("import sys; from engine.registry import METHODS, MODELS, SCORERS, TASKS; "
            "TASKS.names(); MODELS.names(); METHODS.names(); SCORERS.names(); "
            "print(sorted(m for m in ('torch', 'transformers', 'duckdb', 'gradio', 'trl', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def _registered():
    from engine.registry import METHODS, TASKS

    return [("task", n, c) for n, c in TASKS.items()] + [("method", n, c) for n, c in METHODS.items()]


@pytest.mark.parametrize("kind,name,obj", _registered(), ids=lambda x: x if isinstance(x, str) else "")
def test_registered_entries_are_documented(kind, name, obj):
    assert (obj.__doc__ or "").strip(), f"{kind} '{name}' has no docstring"
    readme = (ROOT / "README.md").read_text()
    assert f"`{name}`" in readme, f"{kind} '{name}' has no row in README.md"
    from engine.config import field_docs

    for field in field_docs(obj.Config):
        assert field["help"], f"{kind} '{name}': setting '{field['name']}' has no help text"


def test_readme_front_matter_makes_a_gradio_space_on_the_pinned_version():
    import yaml

    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "README.md must open with the Space's YAML front matter"
    meta = yaml.safe_load(text.split("---\n")[1])
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == pins["gradio"]
    assert (ROOT / meta["app_file"]).is_file() and meta["app_file"] == "launch.py"
    assert meta["python_version"] == "3.12"
    for shot in ("experiment", "runs", "results", "inspector"):
        assert f"docs/screenshots/{shot}.png" in text and (ROOT / "docs" / "screenshots" / f"{shot}.png").is_file()
