"""The losses: Burns et al. 2023's student losses on 2-class logits and soft targets p(class 1), and the
preference-loss spec the trl trainers are configured from (`PolicyLoss`).

- `xent`: cross-entropy against the (soft) labels.
- `aux_conf`: the auxiliary confidence loss
      L = CE(z, (1 - a) * y + a * hard(student))
  with a = aux_coef * min(1, progress / warmup_frac) — a linear warm-up that really reaches aux_coef
  (openai/weak-to-strong's reaches 0.1 * aux_coef, then jumps: its open PR #33). hard(student) is the
  student's own prediction hardened at a threshold: the quantile of the student's p(class 0) at the weak
  labels' positive rate, taken over the *logical* batch of one optimizer step ("quantile", the reference's
  `logconf_loss_fn`, including its tie rule: class 1 where p(class 0) < threshold), or 0.5 ("fixed").
  Because CE is linear in the target this equals (1 - a) * CE(z, y) + a * CE(z, hard), the paper's form.

Gradient accumulation: a trainer that splits a logical batch into micro-batches computes the threshold once
over the whole logical batch (`batch_threshold`, engine.ml.classifier.logical_batch_trainer) and sums the
per-example losses of each micro-batch divided by the logical batch size (`per_example`), so the
accumulated gradient is the reference's gradient on the logical batch whatever `grad_accum` is.
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

    @property
    def needs_batch(self) -> bool:
        """Whether the loss of one example depends on the rest of its logical batch (the quantile threshold)."""
        return self.name == "aux_conf" and self.threshold == "quantile"


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


def batch_threshold(logits, p1_labels):
    """The reference's hardening threshold of a batch: the quantile of the student's p(class 0) at the weak
    labels' mean p(class 1), so that about that share of the batch is hardened to class 1."""
    import torch

    p0 = logits.detach().float().softmax(-1)[:, 0]
    return torch.quantile(p0, p1_labels.float().mean().clamp(0.0, 1.0))


def hardened(logits, p1_labels, threshold: str = "quantile", cut=None):
    """The student's detached prediction as a hard p(class 1) in {0, 1}. With `threshold` "quantile" the cut is
    `cut` (from `batch_threshold` over the logical batch) or, when None, computed over these rows."""
    probs = logits.detach().float().softmax(-1)
    if threshold == "fixed":
        return (probs[:, 1] > 0.5).float()
    if cut is None:
        cut = batch_threshold(logits, p1_labels)
    return (probs[:, 0] < cut).float()


def per_example(spec: LossSpec, logits, p1, progress: float, cut=None):
    """Each row's loss (no reduction): the sum over a micro-batch divided by the logical batch size is the
    logical batch's mean. `cut` is the logical batch's threshold (None: these rows are the whole batch)."""
    import torch.nn.functional as F

    target = p1.float()
    if spec.name == "aux_conf":
        a = aux_weight(progress, spec.aux_coef, spec.warmup_frac)
        target = (1.0 - a) * target + a * hardened(logits, p1, spec.threshold, cut)
    return F.cross_entropy(logits.float(), _targets(target), reduction="none")


def aux_conf(logits, p1, progress: float, aux_coef: float = 0.75, warmup_frac: float = 0.2,
             threshold: str = "quantile"):
    """The mean auxiliary confidence loss of one whole (logical) batch."""
    return per_example(LossSpec("aux_conf", aux_coef, warmup_frac, threshold), logits, p1, progress).mean()


def compute(spec: LossSpec, logits, p1, progress: float):
    """The mean loss of one whole (logical) batch."""
    return per_example(spec, logits, p1, progress).mean()


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

