"""The plan of a run before anything trains: its checks (method fits the task, models resolve, local data loads)
and its data split.

    notes = validate(spec)               # ConfigError / ModelError / TaskError with a one-line message; notes say
                                         # what loading the data did (rows skipped, labels mapped)
    local_paths(spec)                    # [("weak model folder", "/models/w"), ("data file (path)", "d.csv")]
    task_version, splits = load_splits(spec)
    key = split_key(spec, task_version)  # identity of the split: part of every stage's cache key

Submitting a config (CLI or engine) runs `validate` once; the worker executes the validated spec.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from engine.config import ConfigError, RunSpec
from engine.models import ModelError, check_model, resolve_model
from engine.registry import METHODS, TASKS
from engine.tasks.base import Splits, TaskError, split_examples

USER_ERRORS = (ConfigError, TaskError, ModelError)


def validate(spec: RunSpec, check_models: bool = True, check_data: bool = True,
             splits: list | None = None) -> list[str]:
    """Checks that need no training: method fits the task kind, models resolve (and, for hub ids,
    their config is reachable), a local task's data loads and splits. Raises ConfigError / ModelError /
    TaskError with a one-line message; returns the task's notes (rows skipped, labels mapped). `splits`, when
    given, receives the Splits of a task that was loaded."""
    task_cls = TASKS.get(spec.task)
    method = METHODS.get(spec.method)
    if task_cls.kind not in method.task_kinds:
        raise ConfigError(f"method '{spec.method}' works on {', '.join(method.task_kinds)} tasks, but task "
                          f"'{spec.task}' is a {task_cls.kind} task; pick a matching method or task")
    for model in [spec.weak, spec.strong, *method_models(spec.method_config)]:
        check_model(model, spec.train.trust_remote_code) if check_models else None
    notes: list[str] = []
    if check_data and task_cls.loads_locally:
        _, loaded = load_splits(spec, notes)  # columns, label values, class counts: the errors a worker hits first
        if splits is not None:
            splits.append(loaded)
    return notes


def method_models(cfg: Any) -> list[str]:
    """The models a method's settings name besides weak and strong: `via` (bootstrap) and every `*_model` field."""
    out: list[str] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "via":
            out += list(value)
        elif f.name.endswith("_model") and isinstance(value, str) and value:
            out.append(value)
    return out


def local_paths(spec: RunSpec) -> list[tuple[str, str]]:
    """What the run reads from this machine's disk, as (what, path): every model given as a local or zoo folder
    and every data file its task names (the fields path, data_files and *_path). Hub ids are not paths."""
    out: list[tuple[str, str]] = []
    models = [("weak model", spec.weak), ("strong model", spec.strong)]
    for model in method_models(spec.method_config):
        models.append(("model", model))
    for what, model in models:
        try:
            source = resolve_model(model)
        except ModelError:  # a folder that does not exist here
            out.append((f"{what} folder", model))
            continue
        if source.kind != "hub":
            out.append((f"{what} folder", source.source))
    for f in dataclasses.fields(spec.task_config):
        value = getattr(spec.task_config, f.name)
        if (f.name in ("path", "data_files") or f.name.endswith("_path")) and isinstance(value, str) and value:
            if not any(c in value for c in "*?["):  # a glob names files, not one path
                out.append((f"data file ({f.name})", value))
    return out


def split_key(spec: RunSpec, task_version: str) -> str:
    blob = f"{task_version}|{spec.seed}|{spec.n_train}|{spec.n_test}|{spec.balance}|{spec.test_frac}"
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def load_splits(spec: RunSpec, notes: list[str] | None = None) -> tuple[str, Splits]:
    task = TASKS.get(spec.task)(spec.task_config)
    limit = 2 * (spec.n_train + spec.n_test) if spec.n_train and spec.n_test else None
    pools = task.load(limit=limit)
    if notes is not None:
        notes.extend(task.notes)
    splits = split_examples(pools, spec.seed, spec.n_train, spec.n_test, spec.balance, spec.test_frac, spec.task,
                            kind=task.kind)
    return task.cache_version(), splits
