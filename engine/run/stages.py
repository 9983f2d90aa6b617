"""Content-addressed stages: train a model on a half with some labels, predict splits, cache the result.

    exp = Experiment(spec, ctx, splits, task_version, split_key)
    weak = exp.train_weak()                                  # weak model on A with ground truth
    ceiling = exp.train_ceiling()                            # strong model on A with ground truth
    student = exp.stage("student", spec.strong, "B", exp.labels_from(weak, "B"), LossSpec())
    exp.summarize(weak, student, ceiling)

A stage's cache key hashes exactly what changes its result: task version, split, model (and its
files), the training labels' identity (ground truth, or the key of the stage that produced them plus
any transform), the loss, the training settings, seed and the splits it predicts. A run that shares a
weak model or ceiling with an earlier run reuses it; a stage that did not finish is never reused
(the store commits predictions and the "done" mark in one transaction). Two runs that miss the same key at once
do not both train it: the context's claim_stage lets one train while the other waits and then reads the cache.
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
from engine.models import ModelSpec, resolve_model
from engine.registry import MODELS
from engine.tasks.base import Example, Splits

STAGE_FORMAT = 1  # bump when stage outputs change meaning


@dataclass
class Labels:
    """Training labels for a half: p(class 1) per example id, and where they came from."""

    ids: list[str]
    p1: np.ndarray
    identity: str  # "gold", or a stage key (plus transform) — part of the consumer's cache key


@dataclass
class Preds:
    ids: list[str]
    prob: np.ndarray
    gold: np.ndarray

    def aligned(self, ids: list[str]) -> np.ndarray:
        index = {i: k for k, i in enumerate(self.ids)}
        return self.prob[[index[i] for i in ids]]


@dataclass
class StageResult:
    key: str
    role: str
    preds: dict[str, Preds]
    cached: bool


@dataclass
class RowsResult(StageResult):
    """A stage written by `Experiment.cached`: predictions plus each row's output record (parsed JSON)."""

    outputs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # split -> example id -> record

    def output(self, split: str, ids: list[str]) -> list[dict[str, Any]]:
        """The output records of `ids` in that order ({} where a row has none)."""
        rows = self.outputs.get(split, {})
        return [rows.get(i) or {} for i in ids]


def _model_identity(spec: ModelSpec) -> dict[str, Any]:
    ident: dict[str, Any] = {"source": spec.source if spec.kind == "hub" else spec.name, "kind": spec.kind}
    if spec.kind != "hub":
        folder = Path(spec.source)
        ident["files"] = sorted((p.name, p.stat().st_size) for p in folder.glob("*") if p.is_file())
        weights = sorted(folder.glob("*.safetensors"))
        if weights:  # content hash of weights: rebuilt zoo models get new keys
            ident["weights"] = hashlib.sha1(b"".join(w.read_bytes()[:1 << 20] for w in weights)).hexdigest()
    return ident


def stage_key(payload: dict[str, Any]) -> str:
    blob = json.dumps({"format": STAGE_FORMAT, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class Experiment:
    """A run in progress: its splits and context, and the cached `stage` primitive methods build on."""

    def __init__(self, spec: RunSpec, ctx: Any, splits: Splits, task_version: str, split_key: str):
        self.spec, self.ctx, self.splits = spec, ctx, splits
        self.task_version, self.split_key = task_version, split_key
        self._by_split = splits.by_name()
        self._examples: dict[str, Example] = {e.id: e for part in self._by_split.values() for e in part}

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
        preds = result.preds[split]
        p1 = (preds.prob >= 0.5).astype(np.float64) if hard else preds.prob.astype(np.float64)
        return Labels(list(preds.ids), p1, f"{result.key}:{split}" + (":hard" if hard else ""))

    def lr_for(self, model: str, role: str) -> float:
        train = self.spec.train
        if role == "weak" and train.weak_lr is not None:
            return train.weak_lr
        if train.lr is not None:
            return train.lr
        return MODELS.get(model).default_lr if model in MODELS else 1e-5

    # ------------------------------------------------------------------ the stage primitive
    def stage(self, role: str, model: str, train_split: str, labels: Labels, loss: LossSpec = LossSpec(),
              predict: tuple[str, ...] = ("test",)) -> StageResult:
        spec = resolve_model(model)
        train = dataclasses.asdict(self.spec.train)
        train.pop("eval_batch_size")  # does not change results
        lr = self.lr_for(model, role)
        key = stage_key({
            "kind": "classifier", "task": self.task_version, "split": self.split_key, "train_split": train_split,
            "model": _model_identity(spec), "labels": labels.identity, "loss": dataclasses.asdict(loss),
            "train": train, "lr": lr, "seed": self.spec.seed, "predict": sorted(predict),
        })
        cached = self.ctx.stage_lookup(key)
        if cached is None and not self.ctx.claim_stage(key, role):  # another run trained it while we waited
            cached = self.ctx.stage_lookup(key)
        if cached is not None:
            self.ctx.stage_cached(key, role)
            self.ctx.log(f"{role}: reusing cached stage {key} ({model})")
            return StageResult(key, role, {s: self._preds(c) for s, c in cached.items()}, cached=True)
        self.ctx.check_cancelled()
        self.ctx.stage_start(key, role, "classifier", model, {"model": model, "train_split": train_split,
                                                              "labels": labels.identity, "loss": loss, "lr": lr})
        started = time.monotonic()
        try:
            from engine.ml.classifier import fit_and_predict

            probs, facts = fit_and_predict(
                spec, self.spec.train, lr, self.texts(labels.ids), labels.p1, loss,
                {s: self.texts(self.ids(s)) for s in predict}, self.spec.seed, self.ctx, role, key)
        except BaseException as exc:
            self.ctx.stage_failed(key, "".join(traceback.format_exception_only(exc)).strip()[-2000:])
            raise
        preds = {s: Preds(self.ids(s), probs[s], self.gold_array(self.ids(s))) for s in predict}
        self.ctx.metrics([{"stage_key": key, "name": k, "value": v} for k, v in facts.items()])
        self.ctx.stage_done(key, {s: {"id": p.ids, "prob": p.prob.tolist(), "gold": p.gold.tolist()}
                                  for s, p in preds.items()}, time.monotonic() - started)
        return StageResult(key, role, preds, cached=False)

    # ------------------------------------------------------------------ stages of any kind (preference, generation)
    def examples(self, ids: list[str]) -> list[Example]:
        """The examples behind `ids` (text, label and meta, e.g. a preference pair's chosen and rejected)."""
        return [self._examples[i] for i in ids]

    def model_identity(self, model: str) -> dict[str, Any]:
        """What a cache key records of a model: its source and, for local folders, a hash of its files."""
        return _model_identity(resolve_model(model))

    def train_identity(self) -> dict[str, Any]:
        """The run's training settings that change a trained model (all but the labelling batch size)."""
        train = dataclasses.asdict(self.spec.train)
        train.pop("eval_batch_size")
        return train

    def cached(self, role: str, kind: str, model: str, payload: dict[str, Any],
               compute: Callable[[str], tuple[dict[str, dict[str, list]], dict[str, float]]]) -> RowsResult:
        """A content-addressed stage of any kind, cached exactly like `stage`.

        The key hashes `kind`, the task version, the split, the seed, `model`'s identity and `payload`, which
        must hold everything else that changes the result (other models' identities, the training labels'
        identity, settings). On a miss `compute(key)` runs and returns ({split: {id, prob, gold, label_prob?,
        output?}}, stage facts); `prob` is a probability in [0, 1] or None, `output` a JSON-able dict per row.
        Predictions and the done mark are committed together, so a failed stage is never reused.
        """
        key = stage_key({"kind": kind, "task": self.task_version, "split": self.split_key, "seed": self.spec.seed,
                         "model": self.model_identity(model), **payload})
        found = self.ctx.stage_lookup(key)
        if found is None and not self.ctx.claim_stage(key, role):  # another run trained it while we waited
            found = self.ctx.stage_lookup(key)
        if found is not None:
            self.ctx.stage_cached(key, role)
            self.ctx.log(f"{role}: reusing cached stage {key} ({model})")
            outputs = {s: {i: json.loads(o) if isinstance(o, str) else None for i, o in zip(c["id"], c["output"])}
                       for s, c in found.items()}
            return RowsResult(key, role, {s: self._preds(c) for s, c in found.items()}, True, outputs)
        self.ctx.check_cancelled()
        self.ctx.stage_start(key, role, kind, model, {"model": model, **payload})
        started = time.monotonic()
        try:
            rows, facts = compute(key)
        except BaseException as exc:
            self.ctx.stage_failed(key, "".join(traceback.format_exception_only(exc)).strip()[-2000:])
            raise
        stored: dict[str, dict[str, list]] = {}
        outputs: dict[str, dict[str, dict[str, Any]]] = {}
        for split, cols in rows.items():
            out = cols.get("output")
            stored[split] = {**cols, "output": None if out is None else
                             [None if o is None else json.dumps(o, default=float) for o in out]}
            outputs[split] = dict(zip(cols["id"], out)) if out is not None else {}
        if facts:
            self.ctx.metrics([{"stage_key": key, "name": k, "value": v} for k, v in facts.items()])
        self.ctx.stage_done(key, stored, time.monotonic() - started)
        preds = {s: Preds(list(c["id"]), np.asarray([np.nan if p is None else p for p in c["prob"]], dtype=np.float64),
                          np.asarray(c["gold"])) for s, c in rows.items()}
        return RowsResult(key, role, preds, False, outputs)

    def _preds(self, cols: dict[str, list]) -> Preds:
        return Preds(list(cols["id"]), np.asarray(cols["prob"], dtype=np.float64), np.asarray(cols["gold"]))

    # ------------------------------------------------------------------ the Burns et al. building blocks
    def train_weak(self) -> StageResult:
        return self.stage("weak", self.spec.weak, "A", self.gold("A"), LossSpec("xent"), predict=("B", "test"))

    def train_ceiling(self) -> StageResult:
        return self.stage("ceiling", self.spec.strong, "A", self.gold("A"), LossSpec("xent"), predict=("test",))

    def summarize(self, weak: StageResult, student: StageResult, ceiling: StageResult,
                  extra: dict[str, Any] | None = None, noconflict: StageResult | None = None) -> dict[str, Any]:
        """Compute and record the run's headline metrics on the test split (with `noconflict`, the same student
        trained without the conflicting objective, the deception metrics include ds_c and the conflict tax)."""
        from engine.metrics import summarize_run

        ids = weak.preds["test"].ids
        summary = summarize_run(weak.preds["test"].prob, student.preds["test"].aligned(ids),
                                ceiling.preds["test"].aligned(ids), self.gold_array(ids),
                                min_gap=self.spec.pgr_min_gap, seed=self.spec.seed,
                                noconflict_prob=None if noconflict is None else noconflict.preds["test"].aligned(ids))
        summary.update(extra or {})
        summary["n_train_a"], summary["n_train_b"], summary["n_test"] = (
            len(self.splits.a), len(self.splits.b), len(self.splits.test))
        self.ctx.metrics([{"name": k, "value": v} for k, v in summary.items()])
        return summary
