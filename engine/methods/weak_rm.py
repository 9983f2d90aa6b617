"""`weak_rm`: weak-to-strong reward modelling (Yang et al. 2024's RM scenario, on Burns et al.'s protocol).

A weak reward model learns ground-truth preference pairs of half A and labels half B with soft labels
p = s(r(chosen) - r(rejected)); the strong reward model learns those soft labels (Bradley-Terry with a soft
target, or Burns et al.'s auxiliary confidence loss); the ceiling is the strong reward model trained on the
ground truth of A. A model is right on a test pair when it scores the ground-truth chosen response higher.

Deception settings (engine.methods._conflict): a conflicting objective (implicit pairs or the explicit
term), and the two mitigations: the confidence filter on weak labels and bootstrapping through
intermediate reward models (`via`), each cross-fitted on two folds of B so it labels pairs it did not train on.
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.methods import Method
from engine.methods._conflict import ConflictConfig, conflict_pairs, filtered, split_pairs, with_conflict
from engine.methods._crossfit import relay
from engine.ml.losses import LossSpec
from engine.ml.pairs import Pairs
from engine.registry import METHODS
from engine.run.policy_stages import reward_stage


@dataclass
class WeakRMConfig(ConflictConfig):
    loss: Literal["xent", "aux_conf"] = field(default="xent", metadata={
        "help": "Student loss on the weak soft labels: xent (soft Bradley-Terry) or aux_conf (Burns et al.)."})
    aux_coef: float = field(default=0.5, metadata={"help": "Confidence-loss weight when loss is aux_conf."})
    warmup_frac: float = field(default=0.2, metadata={"help": "Confidence-loss warm-up when loss is aux_conf."})
    via: list[str] = field(default_factory=list, metadata={
        "help": "Mitigation: intermediate reward models between weak and strong, weakest first (empty = none)."})

    def __post_init__(self):
        super().__post_init__()
        if self.loss not in ("xent", "aux_conf"):
            raise ValueError(f"loss={self.loss!r} must be xent or aux_conf")


def bootstrap_labels(exp, models: list[str], pairs_b: Pairs, p: np.ndarray, labels: str) -> tuple[np.ndarray, str]:
    """Labels on B relayed through intermediate reward models, cross-fitted on two folds of B (methods/_crossfit)."""

    def fit(step, k, model, train_ids, train_p1, identity, other, other_ids):
        train = pairs_b.subset(np.isin(pairs_b.ids, train_ids))
        order = {i: n for n, i in enumerate(train_ids)}
        p_train = train_p1[[order[i] for i in train.ids]]
        return reward_stage(exp, f"intermediate{step}_fold{k}", model, train, p_train, identity, LossSpec("xent"),
                            {other: pairs_b.subset(np.isin(pairs_b.ids, other_ids))})

    return relay(exp, pairs_b.ids, p, labels, models, fit)


@METHODS.register("weak_rm")
class WeakRM(Method):
    """Reward models: a weak RM trained on ground-truth pairs of A gives soft labels on B; the strong RM learns
    them; the ceiling is the strong RM on A's ground truth. Right on a pair = the gold-chosen response scores higher."""

    Config = WeakRMConfig
    task_kinds = ("preference",)

    def run(self, exp, cfg: WeakRMConfig):
        spec = exp.spec
        pairs_a, pairs_b, pairs_test = split_pairs(exp, "A", "B", "test")
        gold = np.ones(len(pairs_a))
        weak = reward_stage(exp, "weak", spec.weak, pairs_a, gold, "gold", LossSpec("xent"),
                            {"B": pairs_b, "test": pairs_test})
        ceiling = reward_stage(exp, "ceiling", spec.strong, pairs_a, gold, "gold", LossSpec("xent"),
                               {"test": pairs_test})
        p_weak = weak.preds["B"].aligned(pairs_b.ids)
        extra: dict[str, float] = {"weak_label_acc": float((p_weak >= 0.5).mean())}
        p, labels = p_weak, f"{weak.key}:B"
        if cfg.via:
            p, labels = bootstrap_labels(exp, cfg.via, pairs_b, p, labels)
            extra["relayed_label_acc"] = float((p >= 0.5).mean())
        train, p, labels, info = filtered(pairs_b, p, labels, cfg.conf_threshold)
        extra.update(info)
        loss = LossSpec(cfg.loss, aux_coef=cfg.aux_coef, warmup_frac=cfg.warmup_frac)
        test = {"test": pairs_test}
        plain = reward_stage(exp, "student_noconflict" if cfg.conflict != "none" else "student", spec.strong, train,
                             p, labels, loss, test)
        if cfg.conflict == "none":
            return exp.summarize(weak, plain, ceiling, extra)
        if cfg.conflict == "implicit":
            extra_pairs = conflict_pairs(exp, cfg, len(train))
            extra["conflict_pairs"] = float(len(extra_pairs))
            train_c, p_c, labels_c = with_conflict(train, p, labels, extra_pairs)
            student = reward_stage(exp, "student", spec.strong, train_c, p_c, labels_c, loss, test)
        else:
            student = reward_stage(exp, "student", spec.strong, train, p, labels, loss, test,
                                   reverse_alpha=cfg.conflict_alpha)
        extra["student_noconflict_acc"] = float((plain.preds["test"].aligned(pairs_test.ids) >= 0.5).mean())
        return exp.summarize(weak, student, ceiling, extra, noconflict=plain)
