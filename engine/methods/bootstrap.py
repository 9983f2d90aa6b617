"""`bootstrap`: weak -> intermediate model(s) -> strong, each trained on the previous one's labels (Burns et al. 2023).

Every model in the chain learns half B from the previous model's labels. So that each model labels
examples it did not train on, an intermediate model is cross-fitted: trained on one fold of B and
labelling the other, both ways (2 finetunes per intermediate). The final strong student then trains
on all of B, exactly like the naive student, so the two are comparable. Every step joins labels and
predictions by example id, so a cached weak model or intermediate gives the same labels as a fresh one."""

from dataclasses import dataclass, field
from typing import Literal

from engine.config import MethodConfig
from engine.methods import Method
from engine.methods._crossfit import relay
from engine.ml.losses import LossSpec
from engine.registry import METHODS
from engine.run.stages import Labels


@dataclass
class BootstrapConfig(MethodConfig):
    via: list[str] = field(default_factory=lambda: ["world-s"], metadata={
        "help": "Intermediate models, weakest first (zoo names, hub ids or folders)."})
    loss: Literal["xent", "aux_conf"] = field(default="xent", metadata={
        "help": "Loss for every model trained on the previous model's labels."})
    aux_coef: float = field(default=0.5, metadata={"help": "Confidence-loss weight when loss is aux_conf."})
    warmup_frac: float = field(default=0.2, metadata={"help": "Confidence-loss warm-up when loss is aux_conf."})

    def __post_init__(self):
        if not self.via:
            raise ValueError("via is empty; name at least one intermediate model, e.g. [world-s]")
        if self.loss not in ("xent", "aux_conf"):
            raise ValueError(f"loss={self.loss!r} must be xent or aux_conf")


@METHODS.register("bootstrap")
class Bootstrap(Method):
    """Bootstrapping through intermediate models: each step closes a smaller gap than weak -> strong."""

    Config = BootstrapConfig

    def run(self, exp, cfg: BootstrapConfig):
        weak, ceiling = exp.train_weak(), exp.train_ceiling()
        loss = LossSpec(cfg.loss, aux_coef=cfg.aux_coef, warmup_frac=cfg.warmup_frac)
        ids_b = exp.ids("B")
        weak_labels = exp.labels_from(weak, "B")
        extra = {}

        def fit(step, k, model, train_ids, train_p1, identity, other, other_ids):
            return exp.stage(f"intermediate{step}_fold{k}", model, f"B_fold{k}", Labels(train_ids, train_p1, identity),
                             loss, predict=(other, "test"))

        def record(step, p1):
            extra[f"intermediate{step}_label_acc"] = float(((p1 >= 0.5) == exp.gold_array(ids_b)).mean())

        p1, identity = relay(exp, ids_b, weak_labels.p1, weak_labels.identity, cfg.via, fit, record)
        labels = Labels(ids_b, p1, identity)
        student = exp.stage("student", exp.spec.strong, "B", labels, loss)
        extra["weak_label_acc"] = float(((weak_labels.p1 >= 0.5) == exp.gold_array(weak_labels.ids)).mean())
        return exp.summarize(weak, student, ceiling, extra)
