"""`prompting`: the strong model prompted instead of finetuned, zero-shot and few-shot with weak or gold labels.

Burns et al. 2023 (§5) compare weak-to-strong finetuning with in-context learning: the strong causal LM classifies a
test example by which label word it finds likelier after the example, with no demonstrations (zero-shot) or with k
demonstrations from half B labelled by the weak model (in-context weak-to-strong: the role `student`) or by the
ground truth (`fewshot_gold`, the in-context ceiling). Each test example gets its own k demonstrations, drawn with a
seed from half B; the weak and the gold prompts use the same ones, so they differ only in the labels shown. The
weak model and the finetuned ceiling are the usual stages (shared with every other method of the run), so PGR is
against the finetuned ceiling, and `pgr_icl` against the gold-demonstration prompt. Scoring: engine.ml.prompting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from engine.config import MethodConfig
from engine.methods import Method
from engine.metrics import pgr
from engine.registry import METHODS, TASKS
from engine.run.stages import digest

PROMPT_VERSION = 1


@dataclass
class PromptingConfig(MethodConfig):
    k: int = field(default=5, metadata={"help": "Demonstrations per few-shot prompt, drawn from half B per test example."})
    label_words: list[str] = field(default_factory=list, metadata={
        "help": "The two words whose log-probabilities decide (class 0, class 1), each with its leading space; empty "
                "= the task's label names (world_size: ' small', ' big')."})
    template: str = field(default="{text} {label}", metadata={
        "help": "How a demonstration reads, with {text} and {label}; the query is its part before {label}."})
    separator: str = field(default="\n", metadata={"help": "Between demonstrations and before the query."})

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"k={self.k} must be >= 1 (zero-shot is always reported as well)")
        if self.label_words and len(self.label_words) != 2:
            raise ValueError(f"label_words={self.label_words} must name two words (class 0, class 1), or be empty")
        if "{text}" not in self.template or "{label}" not in self.template:
            raise ValueError(f"template={self.template!r} must contain {{text}} and {{label}}, e.g. '{{text}} {{label}}'")


def demonstrations(pool: list[str], queries: list[str], k: int, seed: int) -> list[list[str]]:
    """k ids of `pool` per query, drawn without replacement by a generator seeded with (seed, query id): the same
    query gets the same demonstrations whatever else is asked."""
    out = []
    for q in queries:
        rng = np.random.default_rng(int.from_bytes(hashlib.sha1(f"demos:{seed}:{q}".encode()).digest()[:8], "big"))
        out.append([pool[i] for i in rng.choice(len(pool), size=min(k, len(pool)), replace=False)])
    return out


@METHODS.register("prompting")
class Prompting(Method):
    """Zero-shot and k-shot prompting of the strong model, the k demonstrations labelled by the weak model (the
    student) or by the ground truth; scored by the label words' log-probabilities (Burns et al. §5)."""

    Config = PromptingConfig

    def run(self, exp, cfg: PromptingConfig):
        weak, ceiling = exp.train_weak(), exp.train_ceiling()
        words = list(cfg.label_words) or [f" {w}" for w in TASKS.get(exp.spec.task).label_names]
        test, pool = exp.ids("test"), exp.ids("B")
        shots = demonstrations(pool, test, cfg.k, exp.spec.seed)
        weak_labels = exp.labels_from(weak, "B", hard=True)
        by_id = dict(zip(weak_labels.ids, weak_labels.p1))
        gold = dict(zip(pool, exp.gold_array(pool)))
        labellers = {"zeroshot": (None, "none"), "student": (by_id, weak_labels.identity), "fewshot_gold": (gold, "gold")}
        stages = {}
        for role, (labels, identity) in labellers.items():
            demos = [[] if labels is None else [(exp.texts([i])[0], words[int(labels[i] >= 0.5)]) for i in ids]
                     for ids in shots]
            stages[role] = self.prompt_stage(exp, cfg, role, words, test, demos, identity,
                                             digest(shots) if labels is not None else None)
        acc = {role: float(((r.preds["test"].aligned(test) >= 0.5) == exp.gold_array(test)).mean())
               for role, r in {**stages, "weak": weak}.items()}
        extra = {"zeroshot_acc": acc["zeroshot"], "fewshot_gold_acc": acc["fewshot_gold"], "k": float(cfg.k),
                 "pgr_icl": pgr(acc["weak"], acc["student"], acc["fewshot_gold"], exp.spec.pgr_min_gap).value}
        return exp.summarize(weak, stages["student"], ceiling, extra)

    @staticmethod
    def prompt_stage(exp, cfg: PromptingConfig, role: str, words: list[str], ids: list[str],
                     demos: list[list[tuple[str, str]]], labels: str, shots: str | None):
        """One cached stage: the strong model's label-word scores on `ids` after their demonstrations."""
        from engine.ml.prompting import few_shot_prompts

        prompts = few_shot_prompts(exp.texts(ids), demos, cfg.template, cfg.separator)
        train = exp.spec.train
        payload = {"words": words, "template": cfg.template, "separator": cfg.separator, "demo_labels": labels,
                   "demos": shots, "predict": digest(ids), "max_length": train.max_length, "dtype": train.dtype}

        def compute(key):
            from engine.ml.loading import load_policy
            from engine.ml.prompting import label_logprobs, label_probs
            from engine.models import resolve_model

            model, tok = load_policy(resolve_model(exp.spec.strong), train, trainable=False)
            logp = label_logprobs(model, tok, prompts, words, train, exp.ctx, f"{role}: prompting")
            p1 = label_probs(logp)
            return {"test": {"id": ids, "prob": p1.tolist(), "gold": exp.gold_array(ids).tolist(),
                             "output": [{"logp_0": float(a), "logp_1": float(b)} for a, b in logp]}}, {}

        return exp.cached(role, "prompt", exp.spec.strong, payload, compute, version=PROMPT_VERSION)
