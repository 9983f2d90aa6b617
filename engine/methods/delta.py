"""`delta`: delta learning (Geng et al. 2025), preference pairs made only of weak models' outputs.

`pairs: generate` (the default) makes the pairs as below; `pairs: task` takes the preference task's own pairs of
half B, and `pairs: <file or hub id>` a released pair dataset read whole (the paper's own pairs, e.g. its model-ladder
data): the student then trains on those, and the two weak models only answer the test prompts.

For each prompt of half B, the chosen response is the greedy completion of the run's weak model and the
rejected one that of an even smaller model (`rejected_model`); both are weaker than the student. Pairs
whose two completions are identical carry no preference and are dropped. The student (the strong model)
trains on the pairs with length-normalised DPO (`dpo_norm`, Geng et al.'s loss; `dpo` and `simpo`
selectable), and, as the baseline the paper argues against, with SFT on the chosen side alone.

Every model is evaluated the same way: its greedy completions of the test prompts, rated by the gold
scorer (a disclosed choice: the world's fact checker on the world tasks, or `reward_model:<model>`, whose
scores always go through a sigmoid: each scorer declares its scale, engine.ml.scorers.as_prob). Each role's mean
gold score on its test completions is reported as `<role>_gold_reward` (the number Geng et al. report) beside
its thresholded accuracy `<role>_acc`. Roles: `weak` = the chosen-side model, `rejected` = the
smaller one, `base` = the student before training, `student` = after DPO, `sft` = after SFT on the chosen
side, `ceiling` = the student after SFT on half A's gold completions (for the PGR). Per training pair the
stage stores the student's implicit margin before and after training.
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.config import ConfigError, MethodConfig
from engine.methods import Method
from engine.ml.generation import generate
from engine.ml.losses import PolicyLoss
from engine.ml.pairs import Pairs
from engine.ml.scorers import as_prob, check_scorer_name, resolve_scorer
from engine.ml.scoring import margin, pair_margins, sigmoid
from engine.registry import METHODS
from engine.run.policy_stages import digest, generation_stage, pairs_digest

# Code version of the trained stages (engine.run.stages.Experiment.cached); 2: fp32 master weights, chat templates,
# stop strings, per-role settings.
TRAINED_VERSION = 2


@dataclass
class DeltaConfig(MethodConfig):
    rejected_model: str = field(default="world-xs", metadata={
        "help": "The smaller model whose completions are the rejected side (the run's weak model gives the chosen)."})
    loss: Literal["dpo_norm", "dpo", "simpo"] = field(default="dpo_norm", metadata={
        "help": "dpo_norm: length-normalised DPO (Geng et al.); dpo: summed log-ratios; simpo: no reference."})
    beta: float = field(default=5.0, metadata={"help": "Preference-loss beta (Geng et al.: 5 with dpo_norm)."})
    epochs: float = field(default=1.0, metadata={"help": "Epochs of preference training (Geng et al.: 1)."})
    sft_baseline: bool = field(default=True, metadata={"help": "Also train the SFT-on-chosen baseline."})
    gold_scorer: str = field(default="auto", metadata={
        "help": "Judge of every model's test completions: auto (the world's fact checker on world tasks), "
                "world_facts, or reward_model:<folder or hub id>."})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "Length of every greedy completion; empty = the task's default (8 on the world, 256 on gsm8k)."})
    pairs: str = field(default="generate", metadata={
        "help": "Where the training pairs come from. generate: the weak model's (chosen) and rejected_model's "
                "completions of half B; task: the preference task's own pairs of half B (a released pair dataset as "
                "pairs_file or a hub task); or a pairs file (CSV / JSONL / Parquet) or hub dataset id with prompt, "
                "chosen and rejected columns (text or chat messages), used whole: the paper's own data."})
    chosen_column: str = field(default="chosen", metadata={
        "help": "Column of the given pairs' chosen side (Geng et al.'s model-ladder data has one column per model: "
                "qwen-2.5-3b-instruct)."})
    rejected_column: str = field(default="rejected", metadata={
        "help": "Column of the given pairs' rejected side (e.g. qwen-2.5-1.5b-instruct)."})
    max_pairs: int | None = field(default=None, metadata={
        "help": "Use at most this many of the given pairs (a seeded sample; Geng et al. cap at 100k-150k)."})

    def __post_init__(self):
        if self.loss not in ("dpo_norm", "dpo", "simpo"):
            raise ValueError(f"loss={self.loss!r} must be dpo_norm, dpo or simpo")
        if self.beta <= 0 or self.epochs <= 0:
            raise ValueError("beta and epochs must be > 0")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={self.max_new_tokens} must be >= 1")
        if not str(self.pairs).strip():
            raise ValueError("pairs is empty; use generate, task, a pairs file or a hub dataset id")
        if self.max_pairs is not None and self.max_pairs < 2:
            raise ValueError(f"max_pairs={self.max_pairs} must be >= 2 (empty = all)")
        if self.gold_scorer == "none":
            raise ValueError("gold_scorer='none': delta rates every model's completions with a gold scorer; use auto, "
                             "world_facts or reward_model:<model>")
        check_scorer_name(self.gold_scorer)


def gold_completion(example) -> str | None:
    """The reference completion of an example: meta `completion` (generation tasks), else the chosen response."""
    return example.meta.get("completion") or example.meta.get("chosen")


def trained_stage(exp, role: str, model: str, mode: str, train: Pairs, loss: PolicyLoss, epochs: float,
                  labels: str, test: tuple[list[str], list[str]], scorer, max_new_tokens: int, pairs_split: str = "B"):
    """A cached stage: `model` trained on `train` by DPO-style preference optimisation (`mode` 'po') or SFT on the
    chosen side ('sft'); B rows = every training pair's margin before and after (prob = s(beta * margin after);
    under `pairs_split` "pairs" for a released pair file, whose pairs are no examples of the run), test rows = greedy
    completions of the test prompts rated by `scorer` (prob = the gold score)."""
    from engine.ml.loading import load_policy
    from engine.ml.trl_trainers import optimize, sft
    from engine.models import resolve_model

    lr = exp.lr_for(model, role)
    test_ids, test_prompts = test
    payload = {"mode": mode, "loss": [loss.kind, loss.beta, loss.gamma], "epochs": epochs, "lr": lr,
               "train": exp.train_identity(role, epochs=False), "labels": labels, "train_pairs": pairs_digest(train),
               "test": digest(test_ids, test_prompts), "scorer": scorer.name, "max_new_tokens": max_new_tokens}

    def compute(key: str):
        cfg, ctx, seed = exp.train_for(role), exp.ctx, exp.spec.seed
        policy, tok = load_policy(resolve_model(model), cfg)
        before = margin(pair_margins(policy, tok, train, cfg, loss.bos, ctx, f"{role}: margins before"), loss.mean)
        if mode == "po":
            policy = optimize(policy, tok, train, loss, cfg, lr, epochs, seed, ctx, role, key)
        else:
            policy = sft(policy, tok, train.prompts, train.chosen, cfg, lr, epochs, seed, ctx, role, key)
        after = margin(pair_margins(policy, tok, train, cfg, loss.bos, ctx, f"{role}: margins after"), loss.mean)
        texts = generate(policy, tok, test_prompts, max_new_tokens, cfg, ctx, f"{role}: generate test", stop=exp.stop)
        gold = scorer.score(test_prompts, texts, [e.meta for e in exp.examples(test_ids)])
        rows = {
            pairs_split: {"id": list(train.ids), "prob": sigmoid(loss.beta * after).tolist(), "gold": [1] * len(train),
                  "output": [{"chosen": c, "rejected": r, "margin_before": float(b), "margin_after": float(a)}
                             for c, r, b, a in zip(train.chosen, train.rejected, before, after)]},
            "test": {"id": list(test_ids), "prob": as_prob(scorer, gold).tolist(), "gold": [1] * len(test_ids),
                     "output": [{"completion": t, "gold_score": float(g)} for t, g in zip(texts, gold)]},
        }
        return rows, {"n_train_pairs": float(len(train)), "margin_before_mean": float(before.mean()),
                      "margin_after_mean": float(after.mean())}

    return exp.cached(role, f"policy_{mode}", model, payload, compute, version=TRAINED_VERSION)


def given_pairs(exp, cfg: DeltaConfig) -> tuple[Pairs, str]:
    """The training pairs delta is given instead of making them, and where they came from: the preference task's own
    pairs of half B, or a released pair dataset (a file or a hub id) read whole; at most `max_pairs` of them, a
    sample seeded by the run's seed."""
    import random

    if cfg.pairs == "task":
        if exp.examples(exp.ids("B")[:1])[0].meta.get("chosen") is None:
            raise ConfigError(f"settings.delta.pairs=task: task '{exp.spec.task}' has no pairs. Fix: use a preference "
                              "task (pairs_file, anthropic_hh_pairs) or pairs: <file or hub id>")
        pairs, where = Pairs.of(exp.examples(exp.ids("B"))), "task:B"
    else:
        from engine.tasks.pairs_file import read_pairs

        # "given": their content is keyed through the training pairs' digest (trained_stage)
        pairs, where = Pairs.of(read_pairs(cfg.pairs, cfg.chosen_column, cfg.rejected_column)), "given"
    if cfg.max_pairs and len(pairs) > cfg.max_pairs:
        keep = set(random.Random(f"delta-pairs:{exp.spec.seed}").sample(range(len(pairs)), cfg.max_pairs))
        pairs = pairs.subset(np.array([i in keep for i in range(len(pairs))]))
    return pairs, where


@METHODS.register("delta")
class Delta(Method):
    """Delta learning: DPO on pairs of two weak models' completions (the larger one's chosen) against SFT on the
    chosen side; every model rated by the gold scorer on its test completions (Geng et al. 2025)."""

    Config = DeltaConfig
    task_kinds = ("generation", "preference")

    def run(self, exp, cfg: DeltaConfig):
        spec = exp.spec
        scorer = resolve_scorer(cfg.gold_scorer, spec.task_config)
        if scorer is None:
            raise ConfigError(f"delta needs a gold scorer on task '{spec.task}': set settings.delta.gold_scorer to "
                              "world_facts or reward_model:<model>")
        split = {s: (exp.ids(s), exp.texts(exp.ids(s))) for s in ("B", "test")}
        tokens = exp.max_new_tokens(cfg.max_new_tokens)
        made = cfg.pairs == "generate"
        on = split if made else {"test": split["test"]}  # given pairs: the two models only answer the test prompts
        chosen = generation_stage(exp, "weak", spec.weak, on, scorer, tokens)
        rejected = generation_stage(exp, "rejected", cfg.rejected_model, on, scorer, tokens)
        base = generation_stage(exp, "base", spec.strong, {"test": split["test"]}, scorer, tokens)

        if made:
            ids_b, prompts_b = split["B"]
            chosen_text = [r["completion"] for r in chosen.output("B", ids_b)]
            rejected_text = [r["completion"] for r in rejected.output("B", ids_b)]
            differ = np.array([c.strip() != r.strip() for c, r in zip(chosen_text, rejected_text)])
            pairs = Pairs(ids_b, prompts_b, chosen_text, rejected_text).subset(differ)
            labels = f"{chosen.key}>{rejected.key}"
        else:
            pairs, labels = given_pairs(exp, cfg)
            differ = np.ones(len(pairs), dtype=bool)
        if len(pairs) < 2:
            raise ConfigError(f"{spec.weak} and {cfg.rejected_model} wrote the same completion for all but "
                              f"{len(pairs)} prompts: no preference to learn. Fix: pick models further apart")
        loss = PolicyLoss(cfg.loss, beta=cfg.beta)
        where = "pairs" if cfg.pairs not in ("generate", "task") else "B"
        student = trained_stage(exp, "student", spec.strong, "po", pairs, loss, cfg.epochs, labels, split["test"],
                                scorer, tokens, where)
        roles = {"weak": chosen, "rejected": rejected, "base": base, "student": student}
        if cfg.sft_baseline:
            roles["sft"] = trained_stage(exp, "sft", spec.strong, "sft", pairs, loss, cfg.epochs, labels,
                                         split["test"], scorer, tokens, where)
        examples_a = exp.examples(exp.ids("A"))
        gold_a = [gold_completion(e) for e in examples_a]
        if any(g is None for g in gold_a):
            raise ConfigError(f"task '{spec.task}' gives no gold completion (meta 'completion' or 'chosen') for the "
                              "ceiling; delta runs on generation tasks with reference answers or on preference tasks")
        gold_pairs = Pairs([e.id for e in examples_a], [e.text for e in examples_a], gold_a, gold_a)
        ceiling = trained_stage(exp, "ceiling", spec.strong, "sft", gold_pairs, loss, cfg.epochs, "gold",
                                split["test"], scorer, tokens)

        if made:
            g_chosen = np.array([r["gold_score"] for r in chosen.output("B", pairs.ids)], dtype=np.float64)
            g_rejected = np.array([r["gold_score"] for r in rejected.output("B", pairs.ids)], dtype=np.float64)
        else:  # the given pairs' two sides, rated by the same judge
            metas = [exp.examples([i])[0].meta for i in pairs.ids] if cfg.pairs == "task" else [{}] * len(pairs)
            g_chosen = np.asarray(scorer.score(pairs.prompts, pairs.chosen, metas), dtype=np.float64)
            g_rejected = np.asarray(scorer.score(pairs.prompts, pairs.rejected, metas), dtype=np.float64)
        out_b = student.output(where, pairs.ids)
        extra = {"n_pairs": float(len(pairs)), "n_tied_dropped": float((~differ).sum()),
                 "pair_chosen_better": float((g_chosen > g_rejected).mean()),
                 "pair_rejected_better": float((g_chosen < g_rejected).mean()),
                 "student_margin_before": float(np.mean([r["margin_before"] for r in out_b])),
                 "student_margin_after": float(np.mean([r["margin_after"] for r in out_b])),
                 "student_margin_up": float(np.mean([r["margin_after"] > r["margin_before"] for r in out_b])),
                 "gold_scorer": scorer.description, "pairs_source": cfg.pairs}
        test_ids = split["test"][0]
        for role in ("rejected", "base", "sft"):
            if role in roles:
                extra[f"{role}_acc"] = float(np.mean(roles[role].preds["test"].aligned(test_ids) >= 0.5))
        roles["ceiling"] = ceiling
        for role, result in roles.items():  # the raw gold score, beside the thresholded accuracy
            extra[f"{role}_gold_reward"] = float(np.mean([r["gold_score"] for r in result.output("test", test_ids)]))
        summary = exp.summarize(chosen, student, ceiling, extra)
        return summary
