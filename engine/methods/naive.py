"""`naive`: the strong student finetuned on the weak model's soft labels with cross-entropy (Burns et al. 2023)."""

from dataclasses import dataclass, field

from engine.config import MethodConfig
from engine.methods import Method
from engine.ml.losses import LossSpec
from engine.registry import METHODS


@dataclass
class NaiveConfig(MethodConfig):
    hard_labels: bool = field(default=False, metadata={
        "help": "Train on the weak model's argmax labels instead of its probabilities (soft labels work better)."})


@METHODS.register("naive")
class Naive(Method):
    """Weak model on half A (ground truth) labels half B; the strong student learns those labels with
    cross-entropy; weak, student and ceiling (strong on A, ground truth) are scored on test."""

    Config = NaiveConfig

    def run(self, exp, cfg: NaiveConfig):
        weak, ceiling = exp.train_weak(), exp.train_ceiling()
        student = exp.stage("student", exp.spec.strong, "B", exp.labels_from(weak, "B", hard=cfg.hard_labels),
                            LossSpec("xent"))
        return exp.summarize(weak, student, ceiling)
