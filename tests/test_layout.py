"""House rules that keep the project's shape: the import direction between layers, no import cycles, short
files, light catalogues, documented registries, a package that installs."""

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


PACKAGES = ("engine", "studio")
# Which internal modules each layer may not import (prefix match). studio reaches the engine only through its
# client and the wire types; the server never runs ML; the ML layer knows nothing of runs, the server or methods;
# catalogues (tasks, models, worlds) sit below everything that trains.
FORBIDDEN = {
    "studio": ("engine",),
    "engine.api": ("engine",),
    "engine.paths": ("engine",),
    "engine.registry": ("engine",),
    "engine.client": ("engine",),
    "engine.discovery": ("engine",),
    "engine.analyses_client": ("engine",),
    "engine.server": ("engine.run", "engine.ml", "engine.methods", "engine.cli"),
    "engine.run": ("engine.server", "engine.cli"),
    "engine.ml": ("engine.server", "engine.run", "engine.methods", "engine.cli", "engine.plan"),
    "engine.methods": ("engine.server", "engine.cli"),
    "engine.tasks": ("engine.server", "engine.run", "engine.ml", "engine.methods", "engine.cli"),
    "engine.models": ("engine.server", "engine.run", "engine.ml", "engine.methods", "engine.cli", "engine.tasks"),
    "engine.worlds": ("engine.server", "engine.run", "engine.ml", "engine.methods", "engine.cli", "engine.tasks"),
    "engine.config": ("engine.server", "engine.run", "engine.ml", "engine.methods", "engine.cli"),
    "engine.plan": ("engine.server", "engine.run", "engine.ml", "engine.methods", "engine.cli"),
}
ALLOWED = {"studio": ("engine.api", "engine.client"),
           "engine.client": ("engine.api", "engine.paths", "engine.discovery", "engine.analyses_client"),
           "engine.discovery": ("engine.paths",), "engine.analyses_client": ("engine.api",)}
UI = ("gradio", "plotly", "studio")
ML = ("torch", "transformers", "trl", "peft", "duckdb", "accelerate", "datasets")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imported(path: Path) -> set[str]:
    """Every module name an import statement in `path` names, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _layer(module: str, table: dict) -> str | None:
    hits = [k for k in table if _under(module, k)]
    return max(hits, key=len) if hits else None


def _internal_edges() -> dict[str, set[str]]:
    mods = _modules()
    return {m: {n for n in _imported(p) if n in mods and n != m} for m, p in mods.items()}


def test_each_layer_imports_only_what_it_may():
    broken = []
    for module, targets in _internal_edges().items():
        layer = _layer(module, FORBIDDEN)
        if layer is None:
            continue
        allowed = ALLOWED.get(layer, ())
        for target in targets:
            if any(_under(target, a) for a in allowed) or target == "engine":
                continue
            if any(_under(target, f) for f in FORBIDDEN[layer]):
                broken.append(f"{module} -> {target}")
    assert not broken, "imports against the layer rules:\n" + "\n".join(sorted(broken))


def test_nothing_but_the_cli_imports_the_cli():
    offenders = [f"{m} -> {t}" for m, ts in _internal_edges().items() if not _under(m, "engine.cli")
                 for t in ts if _under(t, "engine.cli")]
    assert not offenders


def test_no_import_cycles():
    edges, color, cycles = _internal_edges(), {}, []

    def visit(node: str, stack: list[str]) -> None:
        color[node] = "open"
        stack.append(node)
        for nxt in edges.get(node, ()):
            if color.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in color:
                visit(nxt, stack)
        stack.pop()
        color[node] = "done"

    for module in sorted(edges):
        if module not in color:
            visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_studio_never_imports_the_ml_stack():
    offenders = {m: sorted(n for n in _imported(p) if n.split(".")[0] in ML)
                 for m, p in _modules().items() if m.startswith("studio")}
    assert not {k: v for k, v in offenders.items() if v}


@pytest.mark.parametrize("folder", ["engine", "studio", "benchmarks", "scripts"])
def test_no_file_is_longer_than_about_400_lines(folder):
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 420}
    assert not long, f"split these along a seam: {long}"


def test_engine_never_imports_the_ui():
    offenders = {str(p.relative_to(ROOT)): _imports(p) & set(UI) for p in (ROOT / "engine").rglob("*.py")}
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


# Modules whose behaviour is held by a test file with another name (the test named after the module would only
# repeat it). Every other module has tests/<its folder>/test_<its name>.py.
COVERED_BY = {
    "engine/api.py": "tests/engine/server/test_app.py",
    "engine/discovery.py": "tests/engine/test_client.py",
    "engine/fields.py": "tests/engine/test_config.py",
    "engine/cli/_format.py": "tests/engine/cli/test_results.py",
    "engine/ml/callbacks.py": "tests/engine/run/test_execute.py",
    "engine/ml/classifier.py": "tests/engine/run/test_execute.py",
    "engine/ml/generation.py": "tests/engine/methods/test_progressive_refine.py",
    "engine/ml/vllm_worker.py": "tests/engine/ml/test_backends.py",
    "engine/ml/pairs.py": "tests/engine/ml/test_trl_trainers.py",
    "engine/ml/scoring.py": "tests/engine/ml/test_loading.py",
    "engine/models/hub.py": "tests/engine/models/test_models.py",
    "engine/run/context.py": "tests/engine/run/test_execute.py",
    "engine/run/policy_stages.py": "tests/engine/methods/test_weak_dpo.py",
    "engine/run/worker.py": "tests/engine/server/test_scheduler.py",
    "engine/server/queries.py": "tests/engine/server/test_app.py",
    "engine/server/schema.py": "tests/engine/server/test_store.py",
    "engine/server/backends/base.py": "tests/engine/server/backends/test_local.py",
    "engine/presets.py": "tests/engine/test_config.py",
    "engine/sweep.py": "tests/engine/test_config.py",
    "engine/tasks/_files.py": "tests/engine/tasks/test_file.py",
    "engine/methods/naive.py": "tests/engine/methods/test_invariance.py",
    "engine/methods/aux_conf.py": "tests/engine/methods/test_invariance.py",
    "engine/methods/bootstrap.py": "tests/engine/methods/test_invariance.py",
    "engine/methods/probe_relabel.py": "tests/engine/methods/test_invariance.py",
    "engine/methods/_crossfit.py": "tests/engine/methods/test_invariance.py",
    "engine/tasks/toy.py": "tests/engine/run/test_execute.py",
    "engine/worlds/facts/build.py": "tests/engine/worlds/test_facts.py",
    "engine/worlds/facts/generator.py": "tests/engine/worlds/test_facts.py",
    "engine/worlds/facts/tokenizer.py": "tests/engine/worlds/test_facts.py",
    "engine/worlds/pretrain.py": "tests/engine/worlds/test_facts.py",
    "engine/worlds/arith/build.py": "tests/engine/worlds/test_arith.py",
    "studio/common.py": "tests/studio/test_app.py",
    "studio/source.py": "tests/studio/test_app.py",
    "studio/tabs/experiment_values.py": "tests/studio/test_app.py",
    "studio/plots_deception.py": "tests/studio/test_plots.py",
    "studio/tabs/experiment.py": "tests/studio/test_app.py",
    "studio/tabs/inspector.py": "tests/studio/test_app.py",
    "studio/tabs/results.py": "tests/studio/test_browser.py",
    "studio/tabs/dynamics.py": "tests/studio/test_dynamics_views.py",
    "engine/analyses_client.py": "tests/engine/server/test_analyses_api.py",
    "studio/tabs/runs.py": "tests/studio/test_browser.py",
    **{f"engine/tasks/{t}.py": "tests/engine/tasks/test_hub.py" for t in (
        "amazon_polarity", "anthropic_hh", "anthropic_hh_pairs", "boolq", "cosmos_qa", "gsm8k", "hendrycks_math",
        "legalbench_privacy", "real_toxicity_prompts", "sciq")},
}


def test_every_module_has_a_test_file():
    missing = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path.name in ("__init__.py", "__main__.py"):
                continue
            rel = path.relative_to(ROOT)
            named = ROOT / "tests" / rel.parent / f"test_{path.stem.lstrip('_')}.py"
            other = COVERED_BY.get(str(rel))
            if not named.is_file() and not (other and (ROOT / other).is_file()):
                missing.append(f"{rel} (add {named.relative_to(ROOT)})")
    assert not missing, "modules without a test file:\n" + "\n".join(missing)
    stale = [k for k in COVERED_BY if not (ROOT / k).is_file()]
    assert not stale, f"COVERED_BY names modules that no longer exist: {stale}"
