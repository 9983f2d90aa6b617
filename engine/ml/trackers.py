"""Trackers for every trainer (TensorBoard, MLflow, Weights & Biases), named after the studio's run.

    with tracking(trainer, ctx, "student", key, "train"):     # engine.ml.callbacks.train_with_progress
        trainer.train()
    reused(ctx, "weak", key)                                   # a stage from the cache: a marker, never a curve

`train.report_to` lists the trackers. Trainer's own integrations (TensorBoardCallback, MLflowCallback,
WandbCallback) log the curves; this module opens, names and closes the tracker run around them, so that each
trained stage of a studio run is one tracker run carrying the run's id, role, stage key, tags and config:

| tracker | writes to (when its own variable is unset) | one stage is | studio run mapped to |
|---|---|---|---|
| tensorboard | TENSORBOARD_LOGGING_DIR, else $W2S_HOME/trackers/tensorboard | `<name>/<run id>/<role>[-<phase>]` | text `w2s/config`, `w2s/tags` |
| mlflow | MLFLOW_TRACKING_URI, else `file:$W2S_HOME/trackers/mlruns` | a run of experiment `<name>` (MLFLOW_EXPERIMENT_NAME) | run name `<run id>/<role>[/<phase>]`, tags `w2s.*`, params `w2s.*` |
| wandb | WANDB_PROJECT (default w2s-studio), WANDB_DIR, WANDB_MODE | a run in group `<run id>` | name, tags (the run's + role), config `w2s` |

`<name>` is the experiment config's `name`. A stage that comes from the cache logs a run marked reused (tag
`w2s.reused`, text `w2s/reused`) with the config and no metrics: its curves are in the run that trained it.
tensorboard, mlflow and wandb are imported only when asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine import paths

MAX_PARAM = 250  # MLflow refuses longer parameter values
MLFLOW_BATCH = 100  # and more than this many parameters per call


class TrackerError(RuntimeError):
    """A tracker could not start a run; the message names the tracker, where it writes and the fix."""


@dataclass(frozen=True)
class Identity:
    """What a tracker run is called and carries: the studio run, role, stage and config."""

    name: str          # the experiment config's name (MLflow experiment, TensorBoard top folder)
    run_id: str
    label: str         # <run id>/<role>[/<phase>]
    folder: str        # TensorBoard: <name>/<run id>/<role>[-<phase>]
    tags: dict[str, str]
    user_tags: list[str]
    config: dict[str, Any]


def identity(ctx: Any, role: str, stage_key: str, phase: str = "train") -> Identity:
    """The tracker identity of one stage of `ctx`'s run (ctx.spec, ctx.run_id and ctx.tags when it has them)."""
    spec = getattr(ctx, "spec", None)
    run_id = str(getattr(ctx, "run_id", None) or "local")
    name = getattr(spec, "name", None) or "w2s"
    suffix = "" if phase in ("", "train") else phase
    tags = {"w2s.run_id": run_id, "w2s.role": role, "w2s.stage_key": stage_key, "w2s.phase": phase or "train",
            "w2s.experiment": name}
    if spec is not None:
        tags.update({f"w2s.{k}": str(getattr(spec, k)) for k in ("task", "method", "weak", "strong", "seed")})
    user = [t for t in re.split(r"[,\s]+", getattr(ctx, "tags", None) or "") if t]
    if user:
        tags["w2s.tags"] = ", ".join(user)
    config = flatten(spec.to_dict()) if spec is not None else {}
    return Identity(name, run_id, f"{run_id}/{role}" + (f"/{suffix}" if suffix else ""),
                    "/".join(_safe(p) for p in (name, run_id, role + (f"-{suffix}" if suffix else ""))),
                    tags, user, config)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 2}} -> {"train.epochs": 2}; lists stay values."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _safe(part: str) -> str:
    return re.sub(r"[^\w.-]+", "_", str(part)).strip("_") or "_"


def tensorboard_root() -> str:
    return os.path.expanduser(os.environ.get("TENSORBOARD_LOGGING_DIR") or str(paths.trackers_dir() / "tensorboard"))


def mlflow_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    # mlflow 3's own default is a sqlite file, which mlflow-skinny cannot open; its file store needs this opt-in.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return (paths.trackers_dir() / "mlruns").resolve().as_uri()


# ------------------------------------------------------------------------------------------ one opener per tracker
@contextlib.contextmanager
def _tensorboard(ident: Identity, trainer: Any, note: str | None) -> Iterator[None]:
    from torch.utils.tensorboard import SummaryWriter

    folder = os.path.join(tensorboard_root(), ident.folder + ("-reused" if note else ""))
    writer = SummaryWriter(log_dir=folder)
    writer.add_text("w2s/config", "\n".join(f"    {k}: {v}" for k, v in ident.config.items()))
    writer.add_text("w2s/tags", json.dumps(ident.tags, indent=1))
    if note:
        writer.add_text("w2s/reused", note)
    for cb in _callbacks(trainer, "TensorBoardCallback"):
        cb.tb_writer, cb.logging_dir = writer, folder  # the integration logs its curves into this run
    try:
        yield
    finally:
        writer.close()


@contextlib.contextmanager
def _mlflow(ident: Identity, trainer: Any, note: str | None) -> Iterator[None]:
    import mlflow

    uri = mlflow_uri()
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or ident.name)
        tags = {**ident.tags, **({"w2s.reused": "true", "mlflow.note.content": note} if note else {})}
        mlflow.start_run(run_name=ident.label + (" (reused)" if note else ""), tags=tags,
                         nested=mlflow.active_run() is not None)
    except Exception as exc:
        raise TrackerError(f"report_to mlflow: cannot start a run at {uri} ({type(exc).__name__}: {exc}). Fix: set "
                           "MLFLOW_TRACKING_URI to a reachable server or a file: folder") from None
    try:
        params = [(f"w2s.{k}", str(v)[:MAX_PARAM]) for k, v in ident.config.items()]
        for i in range(0, len(params), MLFLOW_BATCH):
            mlflow.log_params(dict(params[i:i + MLFLOW_BATCH]))
        yield  # MLflowCallback finds this run active: it logs into it and leaves ending it to us
    finally:
        mlflow.end_run()


@contextlib.contextmanager
def _wandb(ident: Identity, trainer: Any, note: str | None) -> Iterator[None]:
    import wandb

    folder = os.environ.get("WANDB_DIR") or str(paths.trackers_dir() / "wandb")
    os.makedirs(folder, exist_ok=True)
    try:
        run = wandb.init(project=os.environ.get("WANDB_PROJECT", "w2s-studio"), name=ident.label, group=ident.run_id,
                         tags=[*ident.user_tags, ident.tags["w2s.role"], *(["reused"] if note else [])],
                         config={"w2s": ident.config, "w2s_tags": ident.tags}, dir=folder)
    except Exception as exc:
        raise TrackerError(f"report_to wandb: cannot start a run ({type(exc).__name__}: {exc}). Fix: `wandb login`, "
                           "or WANDB_MODE=offline") from None
    try:
        if note:
            run.summary["w2s/reused"] = note
        yield  # WandbCallback finds wandb.run set and logs into it
    finally:
        run.finish()


OPENERS = {"tensorboard": _tensorboard, "mlflow": _mlflow, "wandb": _wandb}


def _callbacks(trainer: Any, name: str) -> list[Any]:
    handler = getattr(trainer, "callback_handler", None)
    return [cb for cb in getattr(handler, "callbacks", []) if type(cb).__name__ == name]


@contextlib.contextmanager
def _opened(names: list[str], ident: Identity, trainer: Any, note: str | None) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(OPENERS[name](ident, trainer, note))
        yield


@contextlib.contextmanager
def tracking(trainer: Any, ctx: Any, role: str, stage_key: str, phase: str = "train") -> Iterator[None]:
    """Around `trainer.train()`: one tracker run per tracker in trainer.args.report_to, named after the stage."""
    names = [n for n in (getattr(trainer.args, "report_to", None) or []) if n in OPENERS]
    if not names:
        yield
        return
    ident = identity(ctx, role, stage_key, phase)
    trainer.args.run_name = ident.label
    with _opened(names, ident, trainer, None):
        yield


def reused(ctx: Any, role: str, stage_key: str, report_to: list[str]) -> None:
    """A stage that came from the cache: a tracker run marked reused (config and tags, no curve)."""
    names = [n for n in report_to if n in OPENERS]
    if names:
        note = f"stage {stage_key} came from the stage cache; its curves are in the run that trained it"
        with _opened(names, identity(ctx, role, stage_key, "train"), None, note):
            pass
