"""`aux_conf`: the auxiliary confidence loss of Burns et al. 2023 (their "logconf").

The student's target mixes the weak label with its own hardened prediction,
(1 - a) * weak + a * hard(student), where a warms up linearly from 0 to `aux_coef` over the first
`warmup_frac` of training (engine/ml/losses.py has the formula). The hardening threshold is a quantile over
the logical batch of each optimizer step, the same whatever `grad_accum` splits it into (openai/weak-to-strong
computes it over the batch it accumulates; EleutherAI/w2s uses a rolling window instead)."""

from dataclasses import dataclass, field
from typing import Literal

from engine.config import MethodConfig
from engine.methods import Method
from engine.ml.losses import LossSpec
from engine.registry import METHODS


@dataclass
class AuxConfConfig(MethodConfig):
    aux_coef: float = field(default=0.75, metadata={
        "help": "Final weight of the confidence term (paper: 0.75 for large weak-strong gaps, 0.5 for small)."})
    warmup_frac: float = field(default=0.2, metadata={
        "help": "Fraction of training over which the weight rises linearly from 0 (paper: 0.2)."})
    threshold: Literal["quantile", "fixed"] = field(default="quantile", metadata={
        "help": "Hardening threshold: the quantile matching the weak labels' positive rate over the logical batch "
                "of each optimizer step (all grad_accum micro-batches, as openai/weak-to-strong), or 0.5."})

    def __post_init__(self):
        if not 0.0 <= self.aux_coef <= 1.0:
            raise ValueError(f"aux_coef={self.aux_coef} must be in [0, 1]")
        if not 0.0 <= self.warmup_frac <= 1.0:
            raise ValueError(f"warmup_frac={self.warmup_frac} must be in [0, 1]")
        if self.threshold not in ("quantile", "fixed"):
            raise ValueError(f"threshold={self.threshold!r} must be 'quantile' or 'fixed'")


@METHODS.register("aux_conf")
class AuxConf(Method):
    """Like naive, but the student is trained with the auxiliary confidence loss, which lets it
    disagree with the weak labels where it is confident."""

    Config = AuxConfConfig

    def run(self, exp, cfg: AuxConfConfig):
        weak, ceiling = exp.train_weak(), exp.train_ceiling()
        loss = LossSpec("aux_conf", aux_coef=cfg.aux_coef, warmup_frac=cfg.warmup_frac, threshold=cfg.threshold)
        student = exp.stage("student", exp.spec.strong, "B", exp.labels_from(weak, "B"), loss)
        return exp.summarize(weak, student, ceiling)
