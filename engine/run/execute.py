"""Execute a validated run spec: load the task, split it, store the examples, hand the method its Experiment.

    from engine.run.execute import run_local
    run_id, status, summary = run_local(spec, store)      # in-process (the CLI); the engine's worker
                                                           # calls execute() with a remote context
Every failure ends with the run marked failed and its message stored; what was written stays.
"""

from __future__ import annotations

import importlib.metadata
import platform
import traceback
from typing import Any

from engine.config import RunSpec
from engine.plan import USER_ERRORS, load_splits, split_key, validate
from engine.registry import METHODS
from engine.run.context import Cancelled, LocalContext, RunContext


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "duckdb", "w2s-studio"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def execute(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    """Run one spec against a context (in-process or remote). Raises on failure; the caller records it."""
    import json

    from engine.ml.loading import set_threads
    from engine.run.generative import generative_finetune
    from engine.run.stages import Experiment

    set_threads()
    ctx.spec = spec  # trackers and kept weights name what they write after the run
    # The spec was validated when it was submitted (models resolve, data loads); only the cheap structural check
    # is repeated here, so a worker never re-fetches hub configs it was already shown to reach.
    validate(spec, check_models=False, check_data=False)
    task_version, splits = load_splits(spec)
    skey = split_key(spec, task_version)
    ctx.run_info(task_version, skey, library_versions())
    cols: dict[str, list] = {"id": [], "source": [], "text": [], "gold": [], "meta": [], "split": []}
    for split, examples in splits.by_name().items():
        for e in examples:
            for col, val in (("id", e.id), ("source", spec.task), ("text", e.text), ("gold", e.label),
                             ("meta", json.dumps(e.meta, default=str)), ("split", split)):
                cols[col].append(val)
    ctx.examples(task_version, skey, cols)
    ctx.metrics(model_sizes(spec))
    exp = Experiment(spec, ctx, splits, task_version, skey)
    generative_finetune(exp)  # a no-op unless train.generative_epochs > 0
    return METHODS.get(spec.method)().run(exp, spec.method_config)


def model_sizes(spec: RunSpec) -> list[dict[str, Any]]:
    """The run's weak_params and strong_params (parameter counts), which the PGR-vs-size figure plots; a model
    whose size cannot be read without loading it is left out."""
    from engine.models import ModelError, param_count

    rows = []
    for role, model in (("weak", spec.weak), ("strong", spec.strong)):
        try:
            count = param_count(model)
        except ModelError:
            count = None
        if count is not None:
            rows.append({"name": f"{role}_params", "value": float(count)})
    return rows


def describe_error(exc: BaseException) -> str:
    """The one line a user sees: our own errors as they are, others with their type."""
    from engine.ml.callbacks import ResourceError

    if isinstance(exc, USER_ERRORS + (ResourceError,)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_local(spec: RunSpec, store: Any, progress: bool = True, sweep: str | None = None
              ) -> tuple[str, str, dict[str, Any] | str]:
    """Run in this process, writing to `store`. Returns (run_id, status, summary or error message)."""
    run_id = store.create_run(spec.to_dict(), status="running", sweep=sweep)
    store.set_status(run_id, "running")
    ctx = LocalContext(store, run_id, show_progress=progress)
    try:
        summary = execute(spec, ctx)
    except (Cancelled, KeyboardInterrupt):
        store.set_status(run_id, "cancelled", error="stopped by the user")
        raise
    except Exception as exc:
        message = describe_error(exc)
        store.set_status(run_id, "failed", error=message, log_tail=traceback.format_exc()[-4000:])
        return run_id, "failed", message
    finally:
        ctx.close()
    store.set_status(run_id, "done")
    return run_id, "done", summary
