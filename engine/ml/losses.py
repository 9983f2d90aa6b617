"""The losses: Burns et al. 2023's student losses on 2-class logits and soft targets p(class 1), and the
preference-loss spec the trl trainers are configured from (`PolicyLoss`).

- `xent`: cross-entropy against the (soft) labels.
- `aux_conf`: the auxiliary confidence loss
      L = CE(z, (1 - a) * y + a * hard(student))
  with a = aux_coef * min(1, progress / warmup_frac) — a linear warm-up that really reaches aux_coef
  (openai/weak-to-strong's reaches 0.1 * aux_coef, then jumps: its open PR #33). hard(student) is the
  student's own prediction hardened at a threshold: the batch quantile that gives the weak labels'
  positive rate ("quantile"), or 0.5 ("fixed"). Because CE is linear in the target this equals
  (1 - a) * CE(z, y) + a * CE(z, hard), the paper's form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class LossSpec:
    name: Literal["xent", "aux_conf"] = "xent"
    aux_coef: float = 0.75
    warmup_frac: float = 0.2
    threshold: Literal["quantile", "fixed"] = "quantile"


def _targets(p1):
    import torch

    return torch.stack([1.0 - p1, p1], dim=-1)


def xent(logits, p1):
    import torch.nn.functional as F

    return F.cross_entropy(logits.float(), _targets(p1.float()))


def aux_weight(progress: float, aux_coef: float, warmup_frac: float) -> float:
    """Weight of the confidence term at `progress` in [0, 1] of training."""
    if warmup_frac <= 0:
        return aux_coef
    return aux_coef * min(1.0, progress / warmup_frac)


def hardened(logits, p1_labels, threshold: str = "quantile"):
    """The student's detached prediction as a hard p(class 1) in {0, 1}."""
    import torch

    student_p1 = logits.detach().float().softmax(-1)[:, 1]
    if threshold == "fixed":
        return (student_p1 > 0.5).float()
    prior = p1_labels.float().mean().clamp(0.0, 1.0)
    # Label the top `prior` share of the batch (by student p1) as class 1: the hardened predictions
    # then have the weak labels' class balance, as in Burns et al.
    cut = torch.quantile(student_p1, 1.0 - prior)
    return (student_p1 >= cut).float() if prior > 0 else torch.zeros_like(student_p1)


def aux_conf(logits, p1, progress: float, aux_coef: float = 0.75, warmup_frac: float = 0.2,
             threshold: str = "quantile"):
    import torch.nn.functional as F

    a = aux_weight(progress, aux_coef, warmup_frac)
    target = (1.0 - a) * p1.float() + a * hardened(logits, p1, threshold)
    return F.cross_entropy(logits.float(), _targets(target))


def compute(spec: LossSpec, logits, p1, progress: float):
    if spec.name == "xent":
        return xent(logits, p1)
    return aux_conf(logits, p1, progress, spec.aux_coef, spec.warmup_frac, spec.threshold)


@dataclass(frozen=True)
class PolicyLoss:
    """A preference loss on a policy. dpo: -log s(beta * (Δ log-ratio)); dpo_norm: the same on per-token
    log-ratios (length-normalised DPO, Geng et al. 2025); simpo: -log s(beta * Δ mean log-prob - gamma),
    no reference model (Meng et al. 2024); orpo: NLL on the chosen side plus beta * the odds-ratio term, no
    reference model (Hong et al. 2024)."""

    kind: Literal["dpo", "dpo_norm", "simpo", "orpo"] = "dpo"
    beta: float = 0.1
    gamma: float = 1.0

    @property
    def mean(self) -> bool:
        """Whether the loss compares per-token (mean) rather than summed log-probs."""
        return self.kind in ("dpo_norm", "simpo", "orpo")

    @property
    def bos(self) -> bool:
        """Whether the trainer puts a BOS token before the prompt (trl's CPOTrainer and ORPOTrainer do)."""
        return self.kind in ("simpo", "orpo")
