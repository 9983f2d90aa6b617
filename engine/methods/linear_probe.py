"""`linear_probe`: a logistic-regression probe on the strong model's frozen activations, trained on weak labels.

Burns et al. 2023 report linear probing beside finetuning: the strong model's weights stay frozen and a linear
classifier on its activations (pooled at the last real token, engine.ml.scoring.hidden_states) learns the weak
labels of half B (the role `student`), against the same probe on half A's ground truth (`probe_gold`, the probe's
own ceiling). Soft labels are learned exactly: each row enters twice, as class 1 with weight p and as class 0 with
weight 1 - p, so the probe minimises the same soft cross-entropy as the finetuned student. Reported against the
usual weak model and finetuned ceiling (PGR), and `pgr_probe` against the gold probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.config import MethodConfig
from engine.methods import Method
from engine.metrics import pgr
from engine.models import resolve_model
from engine.registry import METHODS
from engine.run.stages import Labels, digest

PROBE_VERSION = 1


@dataclass
class LinearProbeConfig(MethodConfig):
    layer: int | None = field(default=None, metadata={
        "help": "Hidden layer to probe (0 = embeddings); empty = the last layer."})
    l2: float = field(default=1.0, metadata={"help": "Inverse L2 strength (C) of the logistic regression."})
    hard_labels: bool = field(default=False, metadata={
        "help": "Train on the weak model's argmax labels instead of its probabilities."})

    def __post_init__(self):
        if self.l2 <= 0:
            raise ValueError(f"l2={self.l2} must be > 0")


def fit_probe(x_train: np.ndarray, p1: np.ndarray, x_test: np.ndarray, l2: float, seed: int) -> np.ndarray:
    """p(1) on x_test of a standardised logistic regression fit to soft labels p1 (each row twice, weighted)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    xs = scaler.transform(x_train)
    x2 = np.vstack([xs, xs])
    y2 = np.r_[np.ones(len(xs), dtype=int), np.zeros(len(xs), dtype=int)]
    w2 = np.r_[p1, 1 - p1]
    keep = w2 > 0
    clf = LogisticRegression(C=l2, max_iter=2000, random_state=seed)
    clf.fit(x2[keep], y2[keep], sample_weight=w2[keep])
    return clf.predict_proba(scaler.transform(x_test))[:, 1]


@METHODS.register("linear_probe")
class LinearProbe(Method):
    """Logistic-regression probe on the frozen strong model's activations, trained on half B's weak labels (the
    student) and on half A's ground truth (probe_gold) (Burns et al.'s probing baseline)."""

    Config = LinearProbeConfig

    def run(self, exp, cfg: LinearProbeConfig):
        weak, ceiling = exp.train_weak(), exp.train_ceiling()
        student = self.probe_stage(exp, cfg, "student", "B", exp.labels_from(weak, "B", hard=cfg.hard_labels))
        gold = self.probe_stage(exp, cfg, "probe_gold", "A", exp.gold("A"))
        test = exp.ids("test")
        acc = {r: float(((s.preds["test"].aligned(test) >= 0.5) == exp.gold_array(test)).mean())
               for r, s in (("weak", weak), ("student", student), ("probe_gold", gold))}
        extra = {"probe_gold_acc": acc["probe_gold"],
                 "pgr_probe": pgr(acc["weak"], acc["student"], acc["probe_gold"], exp.spec.pgr_min_gap).value}
        return exp.summarize(weak, student, ceiling, extra)

    @staticmethod
    def probe_stage(exp, cfg: LinearProbeConfig, role: str, split: str, labels: Labels):
        """One cached stage: activations of `split` and test, the probe fit on `labels`, p(1) on test."""
        train = exp.spec.train
        test = exp.ids("test")
        payload = {"probe": {"layer": cfg.layer, "l2": cfg.l2}, "train_split": split, "labels": labels.identity,
                   "train_rows": digest(labels.ids), "predict": digest(test), "max_length": train.max_length,
                   "dtype": train.dtype}

        def compute(key):
            from engine.ml.scoring import hidden_states

            layer = -1 if cfg.layer is None else cfg.layer
            spec = resolve_model(exp.spec.strong)
            feats = hidden_states(spec, train, exp.texts(labels.ids + test), layer, exp.ctx, f"{role}: activations")
            n = len(labels.ids)
            p1 = fit_probe(feats[:n], labels.p1, feats[n:], cfg.l2, exp.spec.seed)
            return {"test": {"id": test, "prob": p1.tolist(), "gold": exp.gold_array(test).tolist()}}, {}

        return exp.cached(role, "probe", exp.spec.strong, payload, compute, version=PROBE_VERSION)
