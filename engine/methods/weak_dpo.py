"""`weak_dpo`: weak-to-strong preference optimisation (Yang et al. 2024's DPO / SimPO scenario).

Every policy is first finetuned (SFT) on the chosen responses of its training pairs, then trained with DPO
(trl DPOTrainer, the SFT model as reference) or SimPO (trl CPOTrainer, no reference). The weak policy learns
half A's ground-truth pairs; its own preference on half B (summed log-prob margin for DPO, mean for SimPO)
orients each pair, swapping those it gets backwards; the strong student learns the oriented pairs; the
ceiling is the strong policy on A's ground truth. A policy is right on a test pair when it gives the
ground-truth chosen response the higher (summed or mean) log-probability, as in the paper's evaluation.

Deception settings (engine.methods._conflict): implicit conflict (ground-truth pairs of a conflicting objective
added to the student's pairs) and the confidence filter on the weak preference, P = s(beta * margin). The
explicit conflict term is implemented for weak_rm only.
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.methods import Method
from engine.methods._conflict import ConflictConfig, conflict_pairs, filtered, split_pairs, with_conflict
from engine.ml.losses import PolicyLoss
from engine.registry import METHODS
from engine.run.policy_stages import Recipe, policy_stage


@dataclass
class WeakDPOConfig(ConflictConfig):
    loss: Literal["dpo", "simpo"] = field(default="dpo", metadata={
        "help": "dpo: -log s(beta * Δ log(pi/pi_ref)); simpo: -log s(beta * Δ mean log pi - gamma), no reference."})
    beta: float = field(default=0.1, metadata={"help": "DPO / SimPO beta (paper: 0.1 for DPO, 2.0 for SimPO)."})
    gamma: float = field(default=1.0, metadata={"help": "SimPO's target margin gamma (ignored by DPO)."})
    sft_epochs: float = field(default=1.0, metadata={"help": "Epochs of SFT on the chosen responses first."})
    po_epochs: float = field(default=3.0, metadata={"help": "Epochs of preference optimisation (paper: DPO 3, SimPO 1)."})

    def __post_init__(self):
        super().__post_init__()
        if self.conflict == "explicit":
            raise ValueError("conflict='explicit' is implemented for weak_rm only; use implicit or none with weak_dpo")
        if self.loss not in ("dpo", "simpo"):
            raise ValueError(f"loss={self.loss!r} must be dpo or simpo")
        if self.beta <= 0:
            raise ValueError(f"beta={self.beta} must be > 0")
        if self.sft_epochs < 0 or self.po_epochs <= 0:
            raise ValueError("sft_epochs must be >= 0 and po_epochs > 0")


@METHODS.register("weak_dpo")
class WeakDPO(Method):
    """Policies: SFT then DPO (or SimPO). The weak policy trained on A's ground truth orients B's pairs by its own
    preference; the strong student learns them; the ceiling is the strong policy on A. Right = gold-chosen likelier."""

    Config = WeakDPOConfig
    task_kinds = ("preference",)

    def run(self, exp, cfg: WeakDPOConfig):
        spec = exp.spec
        pairs_a, pairs_b, pairs_test = split_pairs(exp, "A", "B", "test")
        recipe = Recipe(PolicyLoss(cfg.loss, beta=cfg.beta, gamma=cfg.gamma), cfg.sft_epochs, cfg.po_epochs)
        weak = policy_stage(exp, "weak", spec.weak, recipe, pairs_a, {"B": pairs_b, "test": pairs_test})
        ceiling = policy_stage(exp, "ceiling", spec.strong, recipe, pairs_a, {"test": pairs_test})
        p_weak = weak.preds["B"].aligned(pairs_b.ids)
        prefer = p_weak >= 0.5
        extra = {"weak_label_acc": float(prefer.mean()), "weak_flipped_pairs": float((~prefer).sum())}
        train, p, labels, info = filtered(pairs_b, p_weak, f"{weak.key}:B", cfg.conf_threshold)
        extra.update(info)
        oriented = train.oriented(p >= 0.5)
        test = {"test": pairs_test}
        plain = policy_stage(exp, "student_noconflict" if cfg.conflict != "none" else "student", spec.strong, recipe,
                             oriented, test, labels=labels, train_labels=dict(zip(train.ids, p.tolist())))
        if cfg.conflict == "none":
            return exp.summarize(weak, plain, ceiling, extra)
        extra_pairs = conflict_pairs(exp, cfg, len(train))
        extra["conflict_pairs"] = float(len(extra_pairs))
        train_c, p_c, labels_c = with_conflict(oriented, np.ones(len(oriented)), labels, extra_pairs)
        student = policy_stage(exp, "student", spec.strong, recipe, train_c, test, labels=labels_c,
                               train_labels=dict(zip(train.ids, p.tolist())))
        extra["student_noconflict_acc"] = float((plain.preds["test"].aligned(pairs_test.ids) >= 0.5).mean())
        return exp.summarize(weak, student, ceiling, extra, noconflict=plain)
