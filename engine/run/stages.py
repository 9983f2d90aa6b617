"""Content-addressed stages: train a model on a half with some labels, predict splits, cache the result.

    exp = Experiment(spec, ctx, splits, task_version, split_key)
    weak = exp.train_weak()                                  # weak model on A with ground truth
    ceiling = exp.train_ceiling()                            # strong model on A with ground truth
    student = exp.stage("student", spec.strong, "B", exp.labels_from(weak, "B"), LossSpec())
    exp.summarize(weak, student, ceiling)

A stage's cache key hashes exactly what changes its result: the stage format and the stage kind's code
version, task version, split, the model's content (every file of a local folder, the resolved commit of a
hub id), the training rows in their order and where their labels came from (ground truth, or the key of
the stage that produced them plus any transform; not the float values, which move by 1e-7 with batching),
the loss, the training settings the stage reads (the learning rate it uses, not `lr` and `weak_lr`; never
`eval_batch_size`; `grad_accum` only where the trainer is not invariant to it), seed and the ids of every
split it predicts. A run that shares a weak model or ceiling with an earlier run reuses it; a stage that did
not finish is never reused (the store commits predictions and the "done" mark in one transaction). Two runs that
miss the same key at once do not both train it: the context's claim_stage lets one train while the other waits
and then reads the cache.

Predictions come back in one order whether a stage ran now or came from the cache: the order the stage
produced them in (the store keeps each row's position), which its key fixes. Consumers still join by
example id (`Preds.aligned`, `labels_from`), never by position.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import RunSpec
from engine.ml.losses import LossSpec
from engine.models import ModelSpec, hub_revision, resolve_model
from engine.registry import MODELS, TASKS
from engine.run.trajectories import Recorder, Trajectory
from engine.tasks.base import Example, Splits, files_digest

# Bump STAGE_FORMAT when every stage's outputs or keys change meaning; a change to one kind of stage's code bumps
# that kind's version (CLASSIFIER_VERSION here, the `version` each caller of `Experiment.cached` passes).
STAGE_FORMAT = 2  # 2: rows keep their order, keys name the training rows, content-hashed models, per-kind versions
CLASSIFIER_VERSION = 3  # 2: trainable weights in fp32 whatever the checkpoint's dtype; 3: training dynamics kept
# Training settings no stage key holds: the learning rate a stage uses is keyed instead of `lr` / `weak_lr`, the
# role overrides are keyed resolved (train_identity), labelling batches change no output (sampling draws per
# example, engine.ml.generation.generate), and trackers and kept weights only record what a stage computed (a stage
# trained with keep_weights is the same computation). The dynamics and early-stopping settings are keyed only by
# the stages that read them: a classifier keys its number of evaluation points and its held-out ids, the
# generative-finetuning stage its epochs; `select` is read after every stage.
UNKEYED = ("eval_batch_size", "lr", "weak_lr", "roles", "report_to", "keep_weights", "checkpoints", "val_frac",
           "select", "generative_epochs")
# Settings only policies read (chat template, generation backend): not in a classifier's or reward model's key.
POLICY_ONLY = ("chat_template", "generation_backend")
VAL = "val"  # the split name of the student's held-out slice of B (early stopping without gold labels)


@dataclass
class Labels:
    """Training labels for a half: p(class 1) per example id, and where they came from."""

    ids: list[str]
    p1: np.ndarray
    identity: str  # "gold", or a stage key (plus transform) — part of the consumer's cache key


@dataclass
class Preds:
    """A stage's predictions on one split, row k for example `ids[k]`; read them by id with `aligned`."""

    ids: list[str]
    prob: np.ndarray
    gold: np.ndarray

    def aligned(self, ids: list[str]) -> np.ndarray:
        """p of each example in `ids`, in that order (a join by id, never by position)."""
        index = {i: k for k, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in index]
        if missing:
            raise KeyError(f"{len(missing)} of {len(ids)} examples have no prediction here (e.g. {missing[0]!r})")
        return self.prob[[index[i] for i in ids]]


@dataclass
class StageResult:
    key: str
    role: str
    preds: dict[str, Preds]
    cached: bool
    trajectory: Trajectory | None = None  # evaluation points (classifier stages); Experiment.trajectory reads them
    val: Labels | None = None  # the held-out slice of B and its labels, when the stage held one out


@dataclass
class RowsResult(StageResult):
    """A stage written by `Experiment.cached`: predictions plus each row's output record (parsed JSON)."""

    outputs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # split -> example id -> record

    def output(self, split: str, ids: list[str]) -> list[dict[str, Any]]:
        """The output records of `ids` in that order ({} where a row has none)."""
        rows = self.outputs.get(split, {})
        return [rows.get(i) or {} for i in ids]


def _model_identity(spec: ModelSpec) -> dict[str, Any]:
    """A hub model is its id and the commit loading it uses; a local or zoo folder is the content of its files
    (a rebuilt or edited model gets new keys, the same files under another path or name share them)."""
    if spec.kind == "hub":
        return {"source": spec.source, "kind": "hub", "revision": hub_revision(spec.source)}
    folder = Path(spec.source)
    return {"kind": "folder", "files": files_digest(sorted(folder.rglob("*")), folder)}


def stage_key(payload: dict[str, Any]) -> str:
    blob = json.dumps({"format": STAGE_FORMAT, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def digest(*parts: Any) -> str:
    """A short content hash (cache keys hash the rows a stage trains and predicts on, not just their names)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Experiment:
    """A run in progress: its splits and context, and the cached `stage` primitive methods build on."""

    def __init__(self, spec: RunSpec, ctx: Any, splits: Splits, task_version: str, split_key: str):
        self.spec, self.ctx, self.splits = spec, ctx, splits
        self.task_version, self.split_key = task_version, split_key
        self._by_split = splits.by_name()
        self._examples: dict[str, Example] = {e.id: e for part in self._by_split.values() for e in part}
        self._derived: dict[str, tuple[str, str]] = {}  # folder -> (stage key, the model it was made from)
        task = TASKS.get(spec.task) if spec.task in TASKS else None
        # Where a generated answer ends (the next question, for reasoning tasks) and how long it may be, by task.
        self.stop: tuple[str, ...] = tuple(getattr(task, "stop", ()))
        self._max_new_tokens: int = getattr(task, "max_new_tokens", 8)

    def max_new_tokens(self, setting: int | None) -> int:
        """A method's max_new_tokens: its setting, or where that is empty, the task's default."""
        return self._max_new_tokens if setting is None else setting

    # ------------------------------------------------------------------ data
    def add_split(self, name: str, ids: list[str]) -> None:
        """A derived subset (e.g. a fold of B) that stages can train on or predict."""
        self._by_split[name] = [self._examples[i] for i in ids]

    def ids(self, split: str) -> list[str]:
        return [e.id for e in self._by_split[split]]

    def texts(self, ids: list[str]) -> list[str]:
        return [self._examples[i].text for i in ids]

    def gold_array(self, ids: list[str]) -> np.ndarray:
        return np.array([self._examples[i].label for i in ids], dtype=np.int64)

    def gold(self, split: str) -> Labels:
        ids = self.ids(split)
        return Labels(ids, self.gold_array(ids).astype(np.float64), "gold")

    def labels_from(self, result: StageResult, split: str, hard: bool = False) -> Labels:
        """`result`'s predictions on `split` as training labels, in the split's own order (joined by id), so the
        student sees the same rows in the same order whether `result` ran now or came from the cache."""
        ids = self.ids(split)
        p = result.preds[split].aligned(ids).astype(np.float64)
        return Labels(ids, (p >= 0.5).astype(np.float64) if hard else p,
                      f"{result.key}:{split}" + (":hard" if hard else ""))

    def train_for(self, role: str) -> Any:
        """The training settings of a stage of `role`: the run's, with that role's overrides (TrainConfig.for_role)."""
        return self.spec.train.for_role(role)

    def lr_for(self, model: str, role: str) -> float:
        """The learning rate a stage uses: the role's own (`train.roles`), else `weak_lr` for the weak model and `lr`
        for every other, and where the one that applies is empty, the model's catalogue default (1e-5 for a model
        outside the catalogue), as openai/weak-to-strong's weak_lr / strong_lr default to each model's own."""
        chosen = self.train_for(role).lr
        if chosen is not None:
            return chosen
        model = self._derived[model][1] if model in self._derived else model  # a derived model keeps its origin's
        return MODELS.get(model).default_lr if model in MODELS else 1e-5

    def train_identity(self, role: str, epochs: bool = True, grad_accum: bool = True, generates: bool = True
                       ) -> dict[str, Any]:
        """The training settings of `role` (its overrides resolved) a stage's key holds: all but the unkeyed ones
        (UNKEYED), the LoRA shape when LoRA is off, `epochs` for a stage that takes its epochs from its method
        (epochs=False), `grad_accum` for a stage whose trainer averages over the logical batch (grad_accum=False),
        and the policy-only settings (chat template, generation backend) for classifiers and reward models
        (generates=False). The generation backend is keyed as resolved on this machine (auto -> hf or vllm): the
        two sample differently."""
        train = dataclasses.asdict(self.train_for(role))
        for name in UNKEYED + (() if train["lora"] else ("lora_r", "lora_alpha")) + (
                () if epochs else ("epochs",)) + (() if grad_accum else ("grad_accum",)) + (
                () if generates else POLICY_ONLY):
            train.pop(name)
        if generates:
            from engine.ml.backends import resolve_backend

            train["generation_backend"] = resolve_backend(train["generation_backend"], train["quantization"] == "4bit")
            train["stop"] = list(self.stop)
        return train

    # ------------------------------------------------------------------ the stage primitive
    def classifier_key(self, role: str, model: str, train_split: str, labels: Labels, loss: LossSpec,
                       predict: tuple[str, ...], val: Labels | None = None) -> str:
        """The cache key of a classifier stage (`stage`): everything its outputs depend on, its evaluation points
        (how many, and the held-out rows they also label) included."""
        return stage_key({
            "kind": "classifier", "version": CLASSIFIER_VERSION, "task": self.task_version, "split": self.split_key,
            "train_split": train_split, "model": self.model_identity(model), "labels": labels.identity,
            "train_rows": digest(labels.ids), "loss": dataclasses.asdict(loss),
            "train": self.train_identity(role, grad_accum=False, generates=False), "lr": self.lr_for(model, role),
            "seed": self.spec.seed,
            "predict": {s: digest(self.ids(s)) for s in sorted(predict)}, "checkpoints": self.checkpoints(role),
            **({"val": digest(val.ids)} if val is not None else {}),
        })

    def checkpoints(self, role: str = "student") -> int:
        """Evaluation points of a classifier finetune of `role` (engine.dynamics.n_checkpoints of its settings)."""
        from engine.dynamics import n_checkpoints

        train = self.train_for(role)
        return n_checkpoints(train.checkpoints, train.epochs)

    def holdout(self, role: str, train_split: str, labels: Labels) -> tuple[Labels, Labels | None]:
        """With `val_frac` > 0, a student trained on half B (role student*) leaves out a seeded slice of B, labelled
        like the rest of its rows: (training labels, held-out labels). Otherwise (labels, None)."""
        from engine.dynamics import holdout_ids

        if self.spec.train.val_frac <= 0 or train_split != "B" or not role.startswith("student"):
            return labels, None
        held = set(holdout_ids(self.ids("B"), self.spec.train.val_frac, self.spec.seed))
        keep = [k for k, i in enumerate(labels.ids) if i not in held]
        out = [k for k, i in enumerate(labels.ids) if i in held]
        return (Labels([labels.ids[k] for k in keep], labels.p1[keep], labels.identity),
                Labels([labels.ids[k] for k in out], labels.p1[out], labels.identity))

    def stage(self, role: str, model: str, train_split: str, labels: Labels, loss: LossSpec = LossSpec(),
              predict: tuple[str, ...] = ("test",)) -> StageResult:
        """A classifier finetuned on `train_split` with `labels` and `loss`, predicting the splits in `predict`."""
        lr = self.lr_for(model, role)
        labels, val = self.holdout(role, train_split, labels)
        key = self.classifier_key(role, model, train_split, labels, loss, predict, val)
        # Tracked at every evaluation point: the split it labels, its own training rows and the held-out slice.
        tracked = {**{s: self.ids(s) for s in predict}, train_split: labels.ids, **({VAL: val.ids} if val else {})}
        recorder = Recorder(self.ctx, key, tracked)

        def compute(key: str):
            from engine.ml.classifier import fit_and_predict

            probs, facts = fit_and_predict(
                resolve_model(model), self.train_for(role), lr, self.texts(labels.ids), labels.p1, loss,
                {s: self.texts(self.ids(s)) for s in predict}, self.spec.seed, self.ctx, role, key,
                track={s: self.texts(ids) for s, ids in tracked.items() if s not in predict},
                points=self.checkpoints(role), on_checkpoint=recorder)
            return {s: {"id": self.ids(s), "prob": probs[s].tolist(), "gold": self.gold_array(self.ids(s)).tolist()}
                    for s in predict}, facts

        rows, hit = self._sequence(key, role, "classifier", model, {"model": model, "train_split": train_split,
                                                                    "labels": labels.identity, "loss": loss, "lr": lr},
                                   compute)
        return StageResult(key, role, {s: self._preds(c) for s, c in rows.items()}, cached=hit,
                           trajectory=None if hit else recorder.trajectory(), val=val)

    def trajectory(self, result: StageResult) -> Trajectory:
        """A stage's evaluation points: recorded while it trained, or read from the cache (once)."""
        if result.trajectory is None:
            result.trajectory = Trajectory.from_rows(self.ctx.dynamics_lookup(result.key))
        return result.trajectory

    def _sequence(self, key: str, role: str, kind: str, model: str, config: dict[str, Any],
                  compute: Callable[[str], tuple[dict[str, dict[str, list]], dict[str, float]]]
                  ) -> tuple[dict[str, dict[str, list]], bool]:
        """The one cache sequence every stage kind goes through: a finished stage under `key` is reused as it is;
        otherwise the stage is started, computed, and its rows committed with the done mark (a failure is
        recorded and never reused). Returns the rows by split (output records as JSON text when they came from
        the cache, as computed otherwise) and whether they were cached."""
        found = self.ctx.stage_lookup(key)
        if found is None and not self.ctx.claim_stage(key, role):  # another run trained it while we waited
            found = self.ctx.stage_lookup(key)
        if found is not None:
            self.ctx.stage_cached(key, role)
            self.ctx.log(f"{role}: reusing cached stage {key} ({model})")
            return found, True
        self.ctx.check_cancelled()
        self.ctx.stage_start(key, role, kind, model, config)
        started = time.monotonic()
        self.ctx.tally = {}
        try:
            rows, facts = compute(key)
        except BaseException as exc:
            self.ctx.stage_failed(key, "".join(traceback.format_exception_only(exc)).strip()[-2000:])
            raise
        facts = {**self.ctx.tally, **(facts or {})}  # what generation counted: prompts cut, tokens, seconds
        stored = {split: {**cols, "output": None if cols.get("output") is None else
                          [None if o is None else json.dumps(o, default=float) for o in cols["output"]]}
                  if "output" in cols else cols for split, cols in rows.items()}
        if facts:
            self.ctx.metrics([{"stage_key": key, "name": k, "value": v} for k, v in facts.items()])
        self.ctx.stage_done(key, stored, time.monotonic() - started)
        return rows, False

    # ------------------------------------------------------------------ stages of any kind (preference, generation)
    def examples(self, ids: list[str]) -> list[Example]:
        """The examples behind `ids` (text, label and meta, e.g. a preference pair's chosen and rejected)."""
        return [self._examples[i] for i in ids]

    def model_identity(self, model: str) -> dict[str, Any]:
        """What a cache key records of a model: a hub id with its resolved commit, a folder's file contents, or for
        weights a stage of this run made (derive_strong) the key of that stage."""
        if model in self._derived:
            return {"derived": self._derived[model][0]}
        return _model_identity(resolve_model(model))

    def derive_strong(self, folder: str, key: str) -> None:
        """From now on the run's strong model is `folder`, the weights stage `key` made from it (every later stage
        that trains or probes the strong model starts there; keys name it by `key`)."""
        self._derived[folder] = (key, self.spec.strong)
        self.spec = dataclasses.replace(self.spec, strong=folder)

    def cached(self, role: str, kind: str, model: str, payload: dict[str, Any],
               compute: Callable[[str], tuple[dict[str, dict[str, list]], dict[str, float]]], *,
               version: int) -> RowsResult:
        """A content-addressed stage of any kind, cached exactly like `stage`.

        The key hashes `kind` and its code `version` (bump it when the stage's code changes its outputs), the
        task version, the split, the seed, `model`'s identity and `payload`, which must hold everything else
        that changes the result (other models' identities, the training rows and their labels' identity, the
        rows it predicts, the settings it reads: `train_identity(...)` and the lr it uses). On a miss
        `compute(key)` runs and returns ({split: {id, prob, gold, label_prob?, output?}}, stage facts); `prob`
        is a probability in [0, 1] or None, `output` a JSON-able dict per row. Predictions and the done mark
        are committed together, so a failed stage is never reused; a cached stage's rows come back in the order
        `compute` returned them.
        """
        key = stage_key({"kind": kind, "version": version, "task": self.task_version, "split": self.split_key,
                         "seed": self.spec.seed, "model": self.model_identity(model), **payload})
        rows, hit = self._sequence(key, role, kind, model, {"model": model, **payload}, compute)
        outputs = {s: {i: (json.loads(o) if isinstance(o, str) else o) for i, o in zip(c["id"], c["output"])}
                   if c.get("output") is not None else {} for s, c in rows.items()}
        return RowsResult(key, role, {s: self._preds(c) for s, c in rows.items()}, hit, outputs=outputs)

    def _preds(self, cols: dict[str, list]) -> Preds:
        prob = [np.nan if p is None else p for p in cols["prob"]]  # a stage without a score stores None
        return Preds(list(cols["id"]), np.asarray(prob, dtype=np.float64), np.asarray(cols["gold"]))

    # ------------------------------------------------------------------ the Burns et al. building blocks
    def train_weak(self) -> StageResult:
        return self.stage("weak", self.spec.weak, "A", self.gold("A"), LossSpec("xent"), predict=("B", "test"))

    def train_ceiling(self) -> StageResult:
        return self.stage("ceiling", self.spec.strong, "A", self.gold("A"), LossSpec("xent"), predict=("test",))

    def early_stopping(self, student: StageResult, summary: dict[str, Any]) -> dict[str, Any]:
        """The student's checkpoint picked on its held-out slice (engine.dynamics.early_stopping) and its PGR, with
        the cheating bounds (gold labels of the slice, of the test set) marked as such by their names."""
        from engine.dynamics import early_stopping
        from engine.metrics import pgr

        traj, ids, val = self.trajectory(student), self.ids("test"), student.val
        out = early_stopping(traj.steps, traj.epochs, traj.probs(VAL, val.ids), val.p1, self.gold_array(val.ids),
                             traj.probs("test", ids), self.gold_array(ids), self.spec.train.select)
        for name in ("selected", "oracle", "best_test"):
            out[f"pgr_{name}"] = pgr(summary["weak_acc"], out[f"student_acc_{name}"], summary["ceiling_acc"],
                                     self.spec.pgr_min_gap).value
        return out

    def summarize(self, weak: StageResult, student: StageResult, ceiling: StageResult,
                  extra: dict[str, Any] | None = None, noconflict: StageResult | None = None) -> dict[str, Any]:
        """Compute and record the run's headline metrics on the test split (with `noconflict`, the same student
        trained without the conflicting objective, the deception metrics include ds_c and the conflict tax)."""
        from engine.metrics import summarize_run

        ids = self.ids("test")
        summary = summarize_run(weak.preds["test"].aligned(ids), student.preds["test"].aligned(ids),
                                ceiling.preds["test"].aligned(ids), self.gold_array(ids),
                                min_gap=self.spec.pgr_min_gap, seed=self.spec.seed,
                                noconflict_prob=None if noconflict is None else noconflict.preds["test"].aligned(ids))
        summary.update(extra or {})
        if student.val is not None:
            summary.update(self.early_stopping(student, summary))
        summary["n_train_a"], summary["n_train_b"], summary["n_test"] = (
            len(self.splits.a), len(self.splits.b), len(self.splits.test))
        # Which test set: one per task version whatever the seed (split_examples), named by its ids' hash.
        summary["test_set"] = digest(sorted(ids))
        self.ctx.metrics([{"name": k, "value": v} for k, v in summary.items()])
        return summary
