"""Run an experiment spec: load the task, split it, store the examples, hand the method its Experiment.

    from engine.runner import run_local
    run_id, status, summary = run_local(spec, store)      # in-process (the CLI); the engine's worker
                                                           # calls execute() with a remote context
Every failure ends with the run marked failed and its message stored; what was written stays.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import traceback
from pathlib import Path
from typing import Any

from engine.config import ConfigError, RunSpec
from engine.context import Cancelled, LocalContext, RunContext
from engine.models import ModelError, check_model
from engine.tasks import TASKS
from engine.tasks.base import Splits, TaskError, split_examples

USER_ERRORS = (ConfigError, TaskError, ModelError)


def data_home() -> Path:
    """Where the database, engine files and logs live: $W2S_HOME, default ~/.w2s."""
    return Path(os.environ.get("W2S_HOME") or Path.home() / ".w2s")


def default_db() -> Path:
    return data_home() / "runs.duckdb"


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "duckdb", "w2s-studio"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def validate(spec: RunSpec, check_models: bool = True, check_data: bool = True) -> None:
    """Checks that need no training: method fits the task kind, models resolve (and, for hub ids,
    their config is reachable), a local task's data loads and splits. Raises ConfigError / ModelError /
    TaskError with a one-line message."""
    from engine.methods import METHODS

    task_cls = TASKS.get(spec.task)
    method = METHODS.get(spec.method)
    if task_cls.kind not in method.task_kinds:
        raise ConfigError(f"method '{spec.method}' works on {', '.join(method.task_kinds)} tasks, but task "
                          f"'{spec.task}' is a {task_cls.kind} task; pick a matching method or task")
    for model in [spec.weak, spec.strong, *method_models(spec.method_config)]:
        check_model(model, spec.train.trust_remote_code) if check_models else None
    if check_data and task_cls.loads_locally:
        load_splits(spec)  # columns, label values, class counts: the errors a worker would hit first


def method_models(cfg: Any) -> list[str]:
    """The models a method's settings name besides weak and strong: `via` (bootstrap) and every `*_model` field."""
    import dataclasses

    out: list[str] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "via":
            out += list(value)
        elif f.name.endswith("_model") and isinstance(value, str) and value:
            out.append(value)
    return out


def split_key(spec: RunSpec, task_version: str) -> str:
    blob = f"{task_version}|{spec.seed}|{spec.n_train}|{spec.n_test}|{spec.balance}|{spec.test_frac}"
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def load_splits(spec: RunSpec) -> tuple[str, Splits]:
    task = TASKS.get(spec.task)(spec.task_config)
    limit = 2 * (spec.n_train + spec.n_test) if spec.n_train and spec.n_test else None
    pools = task.load(limit=limit)
    splits = split_examples(pools, spec.seed, spec.n_train, spec.n_test, spec.balance, spec.test_frac, spec.task,
                            kind=task.kind)
    return task.cache_version(), splits


def execute(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    """Run one spec against a context (in-process or remote). Raises on failure; the caller records it."""
    import json

    from engine.methods import METHODS
    from engine.stages import Experiment
    from engine.training import set_threads

    set_threads()
    validate(spec, check_data=False)  # the data is loaded and split next
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
    exp = Experiment(spec, ctx, splits, task_version, skey)
    return METHODS.get(spec.method)().run(exp, spec.method_config)


def describe_error(exc: BaseException) -> str:
    """The one line a user sees: our own errors as they are, others with their type."""
    from engine.training import ResourceError

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
