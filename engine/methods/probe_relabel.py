"""`probe_relabel`: fix or filter the weak labels with a probe on the strong model's frozen activations.

EleutherAI's idea (EleutherAI/w2s): fit a kNN or logistic-regression probe on the *pretrained* strong
model's middle-layer activations for half B, using the weak labels as targets; then either replace
each weak label by the probe's out-of-sample prediction ("relabel") or drop the `contamination` share
of examples where probe and weak label disagree most ("filter"). The student trained on the result is
reported against the plain naive student (role `student_plain`), which a naive run shares by cache.
Gold labels are used only to report the probe's label accuracy, never to train."""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.config import MethodConfig
from engine.methods import Method
from engine.ml.losses import LossSpec
from engine.models import resolve_model
from engine.registry import METHODS
from engine.run.stages import Labels, stage_key


@dataclass
class ProbeRelabelConfig(MethodConfig):
    probe: Literal["knn", "logreg"] = field(default="knn", metadata={"help": "kNN (mean of neighbours' labels) or logistic regression."})
    mode: Literal["relabel", "filter"] = field(default="relabel", metadata={
        "help": "relabel: train on the probe's predictions; filter: drop the examples the probe disputes most."})
    k: int = field(default=50, metadata={"help": "Neighbours for the kNN probe."})
    contamination: float = field(default=0.1, metadata={"help": "Share of examples dropped in filter mode."})
    layer: int | None = field(default=None, metadata={"help": "Hidden layer to probe; empty = the middle layer."})
    l2: float = field(default=1.0, metadata={"help": "Inverse L2 strength (C) of the logistic probe."})

    def __post_init__(self):
        if self.probe not in ("knn", "logreg") or self.mode not in ("relabel", "filter"):
            raise ValueError(f"probe={self.probe!r} must be knn or logreg and mode={self.mode!r} relabel or filter")
        if self.k < 1:
            raise ValueError(f"k={self.k} must be >= 1")
        if not 0.0 <= self.contamination < 1.0:
            raise ValueError(f"contamination={self.contamination} must be in [0, 1)")


def probe_predictions(feats: np.ndarray, weak_p1: np.ndarray, cfg: ProbeRelabelConfig, seed: int) -> np.ndarray:
    """Out-of-sample probe outputs p(1) for every row: kNN leaves the row itself out; the logistic
    probe is cross-fitted over 5 folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(feats)
    if cfg.probe == "knn":
        k = min(cfg.k, len(x) - 1)
        _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
        return weak_p1[idx[:, 1:]].mean(axis=1)  # column 0 is the row itself
    hard = (weak_p1 >= 0.5).astype(int)
    clf = LogisticRegression(C=cfg.l2, max_iter=1000, random_state=seed)
    return cross_val_predict(clf, x, hard, cv=5, method="predict_proba")[:, 1]


@METHODS.register("probe_relabel")
class ProbeRelabel(Method):
    """Relabel or filter weak labels with a probe on the strong model's own representations."""

    Config = ProbeRelabelConfig

    def run(self, exp, cfg: ProbeRelabelConfig):
        from engine.ml.scoring import hidden_states

        weak, ceiling = exp.train_weak(), exp.train_ceiling()
        weak_labels = exp.labels_from(weak, "B")
        plain = exp.stage("student_plain", exp.spec.strong, "B", weak_labels, LossSpec("xent"))
        feats = hidden_states(resolve_model(exp.spec.strong), exp.train_for("student"), exp.texts(weak_labels.ids),
                              cfg.layer, exp.ctx, "probe: activations")
        probe_p1 = probe_predictions(feats, weak_labels.p1, cfg, exp.spec.seed)
        gold = exp.gold_array(weak_labels.ids)
        ident = f"{weak_labels.identity}|probe:{stage_key({'cfg': vars(cfg)})}"
        if cfg.mode == "relabel":
            labels = Labels(weak_labels.ids, probe_p1, ident)
        else:
            n_drop = int(round(cfg.contamination * len(probe_p1)))
            keep = np.sort(np.argsort(-np.abs(probe_p1 - weak_labels.p1), kind="stable")[n_drop:])
            labels = Labels([weak_labels.ids[i] for i in keep], weak_labels.p1[keep], ident)
        student = exp.stage("student", exp.spec.strong, "B", labels, LossSpec("xent"))
        kept_gold = exp.gold_array(labels.ids)
        ids = weak.preds["test"].ids
        extra = {
            "weak_label_acc": float(((weak_labels.p1 >= 0.5) == gold).mean()),
            "probe_label_acc": float(((probe_p1 >= 0.5) == gold).mean()),
            "train_label_acc": float(((labels.p1 >= 0.5) == kept_gold).mean()),
            "n_student_train": len(labels.ids),
            "plain_student_acc": float(((plain.preds["test"].aligned(ids) >= 0.5) == exp.gold_array(ids)).mean()),
        }
        return exp.summarize(weak, student, ceiling, extra)
