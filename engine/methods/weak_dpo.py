"""`weak_dpo`: weak-to-strong preference optimisation (Yang et al. 2024's DPO / SimPO scenario).

Every policy is first finetuned (SFT) on the chosen responses of its training pairs, then trained with DPO
(trl DPOTrainer, the SFT model as reference) or SimPO (trl CPOTrainer, no reference). The weak policy learns
half A's ground-truth pairs; its own preference on half B (summed log-prob margin for DPO, mean for SimPO)
orients each pair, swapping those it gets backwards; the strong student learns the oriented pairs; the
ceiling is the strong policy on A's ground truth. A policy is right on a test pair when it gives the
ground-truth chosen response the higher (summed or mean) log-probability, as in the paper's evaluation.
"""

from dataclasses import dataclass, field
from typing import Literal

from engine.config import MethodConfig
from engine.methods import METHODS, Method
from engine.methods.weak_rm import split_pairs
from engine.pref_stages import Recipe, policy_stage
from engine.preference import PolicyLoss


@dataclass
class WeakDPOConfig(MethodConfig):
    loss: Literal["dpo", "simpo"] = field(default="dpo", metadata={
        "help": "dpo: -log s(beta * Δ log(pi/pi_ref)); simpo: -log s(beta * Δ mean log pi - gamma), no reference."})
    beta: float = field(default=0.1, metadata={"help": "DPO / SimPO beta (paper: 0.1 for DPO, 2.0 for SimPO)."})
    gamma: float = field(default=1.0, metadata={"help": "SimPO's target margin gamma (ignored by DPO)."})
    sft_epochs: float = field(default=1.0, metadata={"help": "Epochs of SFT on the chosen responses first."})
    po_epochs: float = field(default=3.0, metadata={"help": "Epochs of preference optimisation (paper: DPO 3, SimPO 1)."})

    def __post_init__(self):
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
        student = policy_stage(exp, "student", spec.strong, recipe, pairs_b.oriented(prefer),
                               {"test": pairs_test}, labels=f"{weak.key}:B",
                               train_labels=dict(zip(pairs_b.ids, p_weak.tolist())))
        return exp.summarize(weak, student, ceiling, {"weak_label_acc": float(prefer.mean()),
                                                      "weak_flipped_pairs": float((~prefer).sum())})
