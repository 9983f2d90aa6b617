"""Settings and data steps the weak-to-strong preference methods share (weak_rm, weak_dpo): the conflicting
objective of Yang et al. 2024 and the confidence filter on weak labels, their mitigation.

    cfg.conflict: none | implicit (add ground-truth pairs of a conflicting objective) | explicit (a loss term
    that pays the student for staying wrong where it already is; weak_rm). A run with a conflict also trains
    the same student without it (a stage shared with the no-conflict run: same cache key), so the deception
    score ds_c and the conflict tax compare the two on the same examples.
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.config import MethodConfig
from engine.deception import confidence_filter
from engine.ml.pairs import Pairs
from engine.run.policy_stages import digest


@dataclass
class ConflictConfig(MethodConfig):
    conflict: Literal["none", "implicit", "explicit"] = field(default="none", metadata={
        "help": "none; implicit: add ground-truth pairs of a conflicting objective (the world's 'eager' pairs, "
                "HH helpful-base); explicit: a loss term rewarding staying wrong where the model already is."})
    conflict_pairs: int = field(default=0, metadata={
        "help": "How many conflicting pairs implicit adds; 0 = as many as the student's weak-labelled pairs."})
    conflict_alpha: float = field(default=0.5, metadata={"help": "Weight alpha of the explicit conflict term."})
    conf_threshold: float = field(default=0.0, metadata={
        "help": "Mitigation: keep only weak labels with confidence max(p, 1 - p) >= this (0 = keep all; the paper "
                "used 0.75). Implicit conflict pairs are cut to the kept count."})

    def __post_init__(self):
        if self.conflict not in ("none", "implicit", "explicit"):
            raise ValueError(f"conflict={self.conflict!r} must be none, implicit or explicit")
        if self.conflict_pairs < 0:
            raise ValueError(f"conflict_pairs={self.conflict_pairs} must be >= 0 (0 = as many as the weak pairs)")
        if self.conflict_alpha <= 0:
            raise ValueError(f"conflict_alpha={self.conflict_alpha} must be > 0")
        if self.conf_threshold and not 0.5 <= self.conf_threshold <= 1:
            raise ValueError(f"conf_threshold={self.conf_threshold} must be 0 (off) or in [0.5, 1], e.g. 0.75")


def split_pairs(exp, *splits: str) -> list[Pairs]:
    """The preference pairs of each split (prompt, chosen, rejected as the task gives them: chosen = better)."""
    return [Pairs.of(exp.examples(exp.ids(s))) for s in splits]


def filtered(pairs: Pairs, p_weak: np.ndarray, labels: str, tau: float) -> tuple[Pairs, np.ndarray, str, dict]:
    """The weak-labelled pairs the student learns after the confidence filter, their labels, the labels' identity
    and what the filter did."""
    if not tau:
        return pairs, p_weak, labels, {}
    keep = confidence_filter(p_weak, tau)
    if keep.sum() < 2:
        raise ValueError(f"conf_threshold={tau} keeps {int(keep.sum())} of {len(pairs)} weak labels; lower it")
    return pairs.subset(keep), p_weak[keep], f"{labels}|conf>={tau}", {"conf_kept": float(keep.mean()),
                                                                       "conf_kept_label_acc": float((p_weak[keep] >= 0.5).mean())}


def conflict_pairs(exp, cfg: ConflictConfig, n_weak: int) -> Pairs:
    """Ground-truth pairs of the task's conflicting objective, built on half A (never on B or test)."""
    from engine.registry import TASKS

    task = TASKS.get(exp.spec.task)(exp.spec.task_config)
    k = min(cfg.conflict_pairs or n_weak, n_weak) if cfg.conf_threshold else (cfg.conflict_pairs or n_weak)
    pairs = Pairs.of(task.conflict_examples(exp.examples(exp.ids("A")), k, exp.spec.seed))
    if not len(pairs):
        raise ValueError(f"task '{exp.spec.task}' gave no conflicting pairs")
    return pairs


def with_conflict(train: Pairs, p: np.ndarray, labels: str, extra: Pairs) -> tuple[Pairs, np.ndarray, str]:
    """The student's pairs plus the conflicting ones (ground truth: chosen preferred, p = 1)."""
    joined = Pairs(train.ids + extra.ids, train.prompts + extra.prompts, train.chosen + extra.chosen,
                   train.rejected + extra.rejected)
    return joined, np.concatenate([p, np.ones(len(extra))]), f"{labels}+conflict:{digest(extra.ids, extra.chosen)}"
