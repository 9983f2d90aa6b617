"""Training dynamics: when a finetune is evaluated, how a checkpoint is selected without gold labels, and the
per-example statistics of a trajectory (dataset cartography). Pure numpy (sklearn.metrics for AUROC), no
torch.

    steps = checkpoint_steps(max_steps=40, points=5)          # [8, 16, 24, 32, 40]
    k = select_checkpoint(val_probs, val_labels, "auroc")     # index of the chosen checkpoint (rows = checkpoints)
    conf, var = cartography(probs_over_checkpoints, gold)     # Swayamdipta et al. 2020, per example

During every classifier finetune the stage predicts each example of its training rows and of every split it
labels at `checkpoints` evenly spaced steps (default one per epoch, at least 5, at most 20;
engine.config.TrainConfig), the last one at the final step, so the last checkpoint is the stage's stored
prediction. Early stopping without gold
labels (`val_frac` > 0) holds out a slice of half B, labelled like the rest of the student's rows, and picks the
checkpoint whose predictions on it score best by the `select` rule: AUROC against the slice's hard labels (what
EleutherAI/w2s selects by), agreement with them, or cross-entropy on the soft labels. The oracle variants use
gold labels (of the same slice, or of the test set itself) and are reported as upper bounds, never as results.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.api import MAP_AMBIGUOUS, MAP_EASY

RULES = ("auroc", "agreement", "loss")
MIN_POINTS = 5  # Burns et al.'s curves need a few points per run: never fewer, unless there are fewer steps
MAX_POINTS = 20  # the default's cap: one point per epoch of a 300-epoch run would label every split 300 times


def n_checkpoints(checkpoints: int | None, epochs: float) -> int:
    """How many evaluation points a finetune gets: `checkpoints`, or one per epoch, at least MIN_POINTS and at most
    MAX_POINTS (an explicit `checkpoints` may ask for more)."""
    if checkpoints is not None:
        return int(checkpoints)
    return min(max(int(math.ceil(epochs)), MIN_POINTS), MAX_POINTS)


def checkpoint_steps(max_steps: int, points: int) -> list[int]:
    """`points` optimizer steps evenly spaced over 1..max_steps, the last at max_steps (fewer when there are fewer
    steps than points; none when points is 0)."""
    if points <= 0 or max_steps <= 0:
        return []
    return sorted({max(1, int(round(max_steps * k / points))) for k in range(1, points + 1)})


def holdout_ids(ids: list[str], frac: float, seed: int) -> list[str]:
    """The `frac` share of `ids` held out for validation, chosen by a hash of (seed, id) so that it does not depend
    on the order of `ids` and every method of one seed holds out the same examples; in the order of `ids`."""
    if frac <= 0:
        return []
    n = min(len(ids) - 2, max(2, int(round(frac * len(ids)))))
    ranked = sorted(ids, key=lambda i: hashlib.sha1(f"val:{seed}:{i}".encode()).digest())
    chosen = set(ranked[:n])
    return [i for i in ids if i in chosen]


@dataclass
class DynamicsSettings:
    """The training settings of this module (engine.config.TrainConfig inherits them; each with its help text)."""

    checkpoints: int | None = field(default=None, metadata={"help": "Evaluation points per classifier finetune (every "
                                    "example's p(1) stored); empty = one per epoch, 5 to 20; 0 = none."})
    val_frac: float = field(default=0.0, metadata={"help": "Share of half B held out from the student, labelled by its "
                            "supervisor (never gold), to select its checkpoint by `select`; 0 = off."})
    select: Literal["auroc", "agreement", "loss"] = field(default="auroc", metadata={"help": "Checkpoint rule on the "
                                                         "held-out slice: AUROC (EleutherAI/w2s), agreement or loss."})
    generative_epochs: float = field(default=0.0, metadata={"help": "Epochs of language-model finetuning of the strong "
                                     "model on the text of halves A and B before its stages (Burns et al.); 0 = off."})


def check_settings(train) -> None:
    """The dynamics settings of an engine.config.TrainConfig, each bad one named with its fix (ValueError)."""
    for bad, message in (
            (train.checkpoints is not None and train.checkpoints < 0, f"checkpoints={train.checkpoints} must be >= 0"),
            (not 0.0 <= train.val_frac < 1.0, f"val_frac={train.val_frac} must be in [0, 1), e.g. 0.2"),
            (train.val_frac > 0 and train.checkpoints == 0, "val_frac > 0 selects a checkpoint, but checkpoints=0 "
                                                            "records none; leave checkpoints empty or set it >= 2"),
            (train.select not in RULES, f"select={train.select!r} is not one of {', '.join(RULES)}"),
            (train.generative_epochs < 0, f"generative_epochs={train.generative_epochs} must be >= 0")):
        if bad:
            raise ValueError(message)


# ---------------------------------------------------------------------------------------------- selection rules
def rule_scores(probs: np.ndarray, labels: np.ndarray, rule: str) -> np.ndarray:
    """The score of each checkpoint (row of `probs`, checkpoints x examples) on a validation slice with soft labels
    p(1) `labels`, oriented so that higher is better: AUROC against the hard labels, agreement with them, or minus
    the mean cross-entropy on the soft labels. AUROC is NaN where the hard labels hold only one class."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(labels) or probs.shape[0] == 0:
        raise ValueError(f"probs must be checkpoints x {len(labels)} examples, got shape {probs.shape}")
    hard = (labels >= 0.5).astype(np.int64)
    if rule == "auroc":
        from engine.metrics import rank_auc

        if hard.min() == hard.max():
            return np.full(len(probs), np.nan)
        return np.array([rank_auc(hard, p) for p in probs])
    if rule == "agreement":
        return ((probs >= 0.5) == hard[None, :]).mean(axis=1)
    if rule == "loss":
        p = np.clip(probs, 1e-7, 1 - 1e-7)
        return (labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean(axis=1)
    raise ValueError(f"rule {rule!r} is not one of {', '.join(RULES)} (or 'gold')")


def select_checkpoint(probs: np.ndarray, labels: np.ndarray, rule: str) -> int:
    """Index of the checkpoint the rule picks: the best score, the earliest among ties (stop as soon as it is
    reached); the last checkpoint when every score is undefined."""
    scores = rule_scores(probs, labels, rule)
    if np.all(np.isnan(scores)):
        return len(scores) - 1
    best = np.nanmax(scores)
    return int(np.flatnonzero(np.isclose(scores, best, rtol=0, atol=1e-12) & ~np.isnan(scores))[0])


def early_stopping(steps: list[int], epochs: list[float], val_probs: np.ndarray, val_labels: np.ndarray,
                   val_gold: np.ndarray, test_probs: np.ndarray, test_gold: np.ndarray, rule: str
                   ) -> dict[str, float | str]:
    """Every early-stopping number of one student: its test accuracy at the checkpoint each rule picks (the
    `rule` of the run as `student_acc_selected`), the step and epoch picked, and the two cheating bounds:
    `student_acc_oracle` (picked by gold accuracy on the same held-out slice) and `student_acc_best_test` (the best
    test accuracy of any checkpoint). Rows of the prob arrays are checkpoints, in the order of `steps`."""
    test_probs, test_gold = np.asarray(test_probs, dtype=np.float64), np.asarray(test_gold)
    acc = ((test_probs >= 0.5) == test_gold[None, :]).mean(axis=1)
    out: dict[str, float | str] = {"selected_rule": rule, "n_val": float(len(val_labels))}
    picks = {r: select_checkpoint(val_probs, val_labels, r) for r in RULES}
    picks["oracle"] = select_checkpoint(val_probs, np.asarray(val_gold, dtype=np.float64), "agreement")
    for name, k in picks.items():
        out[f"student_acc_selected_{name}" if name != "oracle" else "student_acc_oracle"] = float(acc[k])
        out[f"selected_step_{name}" if name != "oracle" else "oracle_step"] = float(steps[k])
    k = picks[rule]
    out["student_acc_selected"], out["selected_step"], out["selected_epoch"] = float(acc[k]), float(steps[k]), float(
        epochs[k])
    best = int(np.argmax(acc))
    out["student_acc_best_test"], out["best_test_step"] = float(acc[best]), float(steps[best])
    return out


# ---------------------------------------------------------------------------------------------- cartography
def cartography(probs: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Swayamdipta et al. 2020's map of a trajectory: per example (column of `probs`, checkpoints x examples) the
    mean over checkpoints of p(label) (confidence) and its standard deviation (variability)."""
    probs = np.asarray(probs, dtype=np.float64)
    label = np.asarray(label)
    p_label = np.where(label[None, :] == 1, probs, 1 - probs)
    return p_label.mean(axis=0), p_label.std(axis=0)


def cartography_region(confidence: float, variability: float) -> str:
    """Swayamdipta et al.'s three regions: ambiguous (variability >= 0.2), else easy to learn (confidence >= 0.5)
    or hard to learn."""
    if variability >= MAP_AMBIGUOUS:
        return "ambiguous"
    return "easy" if confidence >= MAP_EASY else "hard"
