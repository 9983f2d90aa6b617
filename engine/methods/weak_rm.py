"""`weak_rm`: weak-to-strong reward modelling (Yang et al. 2024's RM scenario, on Burns et al.'s protocol).

A weak reward model learns ground-truth preference pairs of half A and labels half B with soft labels
p = s(r(chosen) - r(rejected)); the strong reward model learns those soft labels (Bradley-Terry with a soft
target, or Burns et al.'s auxiliary confidence loss); the ceiling is the strong reward model trained on the
ground truth of A. A model is right on a test pair when it scores the ground-truth chosen response higher.
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.config import MethodConfig
from engine.losses import LossSpec
from engine.methods import METHODS, Method
from engine.pref_stages import reward_stage
from engine.preference import Pairs


@dataclass
class WeakRMConfig(MethodConfig):
    loss: Literal["xent", "aux_conf"] = field(default="xent", metadata={
        "help": "Student loss on the weak soft labels: xent (soft Bradley-Terry) or aux_conf (Burns et al.)."})
    aux_coef: float = field(default=0.5, metadata={"help": "Confidence-loss weight when loss is aux_conf."})
    warmup_frac: float = field(default=0.2, metadata={"help": "Confidence-loss warm-up when loss is aux_conf."})

    def __post_init__(self):
        if self.loss not in ("xent", "aux_conf"):
            raise ValueError(f"loss={self.loss!r} must be xent or aux_conf")


def split_pairs(exp, *splits: str) -> list[Pairs]:
    """The preference pairs of each split (prompt, chosen, rejected as the task gives them: chosen = better)."""
    return [Pairs.of(exp.examples(exp.ids(s))) for s in splits]


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
        loss = LossSpec(cfg.loss, aux_coef=cfg.aux_coef, warmup_frac=cfg.warmup_frac)
        student = reward_stage(exp, "student", spec.strong, pairs_b, p_weak, f"{weak.key}:B", loss,
                               {"test": pairs_test})
        return exp.summarize(weak, student, ceiling, {"weak_label_acc": float((p_weak >= 0.5).mean())})
