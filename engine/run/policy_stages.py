"""Cached stages of preference and generation methods: a policy, a reward model or a generator, trained on some
pairs and scored on others, with every pair's outputs stored as the stage's per-example records.

    weak = policy_stage(exp, "weak", spec.weak, Recipe(PolicyLoss("dpo")), train=pairs_a, predict={"B": b, "test": t})
    rm = reward_stage(exp, "weak", spec.weak, train=pairs_a, p_chosen=ones, labels="gold", predict={...})
    gen = generation_stage(exp, "chosen_model", "world-s", {"B": (ids, prompts)}, scorer, max_new_tokens=8)

Each stage is content-addressed like the classifier stages (engine.run.stages.Experiment.cached): its key hashes
the model, the recipe, the training pairs' content and where their labels came from, the pairs it scores and
the training settings it reads (a policy stage takes its epochs from its recipe, so `train.epochs` is not one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from engine.ml.chat import Format
from engine.ml.generation import generate
from engine.ml.loading import load_policy
from engine.ml.losses import LossSpec, PolicyLoss
from engine.ml.pairs import Pairs, fit_prompts
from engine.ml.scorers import as_prob
from engine.ml.scoring import margin, pair_margins, reward_scores, sigmoid
from engine.ml.trl_trainers import optimize, sft, train_reward_model
from engine.run.stages import digest

# Code versions of the stage kinds this module writes (engine.run.stages.Experiment.cached): bump on a change of outputs.
# 2: fp32 master weights, chat templates, stop strings, per-role settings, generation facts.
POLICY_VERSION = 2
GENERATION_VERSION = 2
REWARD_VERSION = 2


@dataclass(frozen=True)
class Recipe:
    """How a policy stage trains and scores. SFT on the training pairs' chosen side, then preference
    optimisation; a pair's prediction is P(policy prefers the first response) = s(z), with z the policy's own
    margin beta * Δ log-prob (`policy`, Yang et al.'s evaluation) or the implicit reward margin
    beta * Δ log(pi / pi_ref), pi_ref = the policy after SFT (`implicit`, Tao & Li's labeller)."""

    loss: PolicyLoss = PolicyLoss()
    sft_epochs: float = 1.0
    po_epochs: float = 1.0
    score: Literal["policy", "implicit"] = "policy"


def pairs_digest(pairs: Pairs | None) -> str | None:
    return None if pairs is None else digest(pairs.ids, pairs.prompts, pairs.chosen, pairs.rejected)


def policy_stage(exp: Any, role: str, model: str, recipe: Recipe, train: Pairs | None, predict: dict[str, Pairs],
                 labels: str = "gold", train_labels: dict[str, float] | None = None, generate_on: tuple[str, ...] = (),
                 scorer: Any = None, max_new_tokens: int = 16) -> Any:
    """A cached stage: `model` finetuned on `train` (chosen preferred; None = no training) by `recipe`, then
    scored on every pair of `predict` (prob = P(prefers chosen), gold = 1) and, for the splits in `generate_on`,
    its greedy completion of each prompt judged by `scorer`. Output records per pair: logp_/n_ chosen and
    rejected, margin_init (before any training), margin_ref (after SFT), margin (final) and implicit_margin,
    plus completion and gold_score where generated. `labels` names where the training pairs' orientation came
    from; `train_labels` (id -> P(chosen) used in training) fills the label_prob column."""
    lr = exp.lr_for(model, role)
    payload = {"recipe": dataclasses.asdict(recipe), "lr": lr, "train": exp.train_identity(role, epochs=False),
               "labels": labels,
               "train_pairs": pairs_digest(train), "predict": {s: pairs_digest(p) for s, p in predict.items()},
               "generate_on": sorted(generate_on), "scorer": getattr(scorer, "name", None),
               "max_new_tokens": max_new_tokens if generate_on else None}

    def compute(key: str):
        return _policy_rows(exp, key, role, model, recipe, lr, train, predict, train_labels or {}, generate_on,
                            scorer, max_new_tokens)

    return exp.cached(role, "policy", model, payload, compute, version=POLICY_VERSION)


def _fitted(tok: Any, pairs: Pairs, cfg: Any) -> tuple[Pairs, int]:
    prompts, cut = fit_prompts(tok, pairs.prompts, [[c, r] for c, r in zip(pairs.chosen, pairs.rejected)],
                               cfg.max_length, Format.of(tok, cfg))
    return Pairs(pairs.ids, prompts, pairs.chosen, pairs.rejected), cut


def _policy_rows(exp, key, role, model_name, recipe, lr, train, predict, train_labels, generate_on, scorer,
                 max_new_tokens):
    from engine.models import resolve_model

    cfg, ctx, seed = exp.train_for(role), exp.ctx, exp.spec.seed
    spec = resolve_model(model_name)
    model, tok = load_policy(spec, cfg)
    loss, bos = recipe.loss, recipe.loss.bos
    truncated = 0
    if train is not None:
        train, cut = _fitted(tok, train, cfg)
        truncated += cut
    fitted = {}
    for split, pairs in predict.items():
        fitted[split], cut = _fitted(tok, pairs, cfg)
        truncated += cut

    def score(label: str) -> dict[str, dict[str, np.ndarray]]:
        return {s: pair_margins(model, tok, p, cfg, bos, ctx, f"{role}: score {s} ({label})") for s, p in fitted.items()}

    init = score("before")
    ref = init
    if train is not None and recipe.sft_epochs > 0:
        model = sft(model, tok, train.prompts, train.chosen, cfg, lr, recipe.sft_epochs, seed, ctx, role, key)
        ref = score("reference")
    if train is not None and recipe.po_epochs > 0:
        model = optimize(model, tok, train, loss, cfg, lr, recipe.po_epochs, seed, ctx, role, key)
    final = score("after") if train is not None else init
    if train is not None and cfg.keep_weights:
        from engine.ml.weights import keep

        keep(model, tok, ctx, key, role, spec.source)
    rows: dict[str, dict[str, list]] = {}
    for split, pairs in fitted.items():
        m_init, m_ref, m_final = (margin(x[split], loss.mean) for x in (init, ref, final))
        implicit = loss.beta * (m_final if loss.kind == "simpo" else m_final - m_ref)  # SimPO has no reference
        z = implicit if recipe.score == "implicit" else loss.beta * m_final
        records = [{"logp_chosen": float(final[split]["logp_chosen"][k]),
                    "logp_rejected": float(final[split]["logp_rejected"][k]),
                    "n_chosen": int(final[split]["n_chosen"][k]), "n_rejected": int(final[split]["n_rejected"][k]),
                    "margin_init": float(m_init[k]), "margin_ref": float(m_ref[k]), "margin": float(m_final[k]),
                    "implicit_margin": float(implicit[k])} for k in range(len(pairs))]
        if split in generate_on:
            texts = generate(model, tok, pairs.prompts, max_new_tokens, cfg, ctx, f"{role}: generate {split}",
                             stop=exp.stop)
            gold = _judge(scorer, exp, pairs, texts)
            for k, rec in enumerate(records):
                rec["completion"] = texts[k]
                rec["gold_score"] = None if gold is None else float(gold[k])
        rows[split] = {"id": list(pairs.ids), "prob": sigmoid(z).tolist(), "gold": [1] * len(pairs),
                       "label_prob": [train_labels.get(i) for i in pairs.ids], "output": records}
    facts = {"truncated": float(truncated), "n_train_pairs": float(len(train) if train is not None else 0)}
    return rows, facts


def _judge(scorer: Any, exp: Any, pairs: Pairs, texts: list[str]) -> np.ndarray | None:
    if scorer is None:
        return None
    metas = [e.meta for e in exp.examples(pairs.ids)]
    return np.asarray(scorer.score(pairs.prompts, texts, metas), dtype=np.float64)


def generation_stage(exp: Any, role: str, model: str, prompts: dict[str, tuple[list[str], list[str]]],
                     scorer: Any, max_new_tokens: int) -> Any:
    """A cached stage: `model`'s greedy completions of the prompts of each split ({split: (ids, prompts)}),
    stored as output records {completion, gold_score}; prob = the gold score as a probability by the scorer's
    declared scale (None without a scorer), gold = 1."""
    cfg = exp.train_for(role)
    payload = {"prompts": {s: digest(ids, texts) for s, (ids, texts) in prompts.items()},
               "scorer": getattr(scorer, "name", None), "max_new_tokens": max_new_tokens,
               "max_length": cfg.max_length, "generation": {k: v for k, v in exp.train_identity(role).items() if k in (
                   "chat_template", "generation_backend", "stop", "dtype", "quantization", "trust_remote_code")}}

    def compute(key: str):
        from engine.models import resolve_model

        policy, tok = load_policy(resolve_model(model), cfg, trainable=False)
        rows = {}
        for split, (ids, texts) in prompts.items():
            out = generate(policy, tok, texts, max_new_tokens, cfg, exp.ctx, f"{role}: generate {split}",
                           stop=exp.stop)
            gold = _judge(scorer, exp, Pairs(list(ids), list(texts), [], []), out)
            prob = [None] * len(ids) if gold is None else as_prob(scorer, gold).tolist()
            rows[split] = {"id": list(ids), "prob": prob,
                           "gold": [1] * len(ids),
                           "output": [{"completion": t, "gold_score": None if gold is None else float(g)}
                                      for t, g in zip(out, gold if gold is not None else [None] * len(out))]}
        return rows, {}

    return exp.cached(role, "generation", model, payload, compute, version=GENERATION_VERSION)



def reward_stage(exp: Any, role: str, model: str, train: Pairs, p_chosen: np.ndarray, labels: str, loss: LossSpec,
                 predict: dict[str, Pairs], reverse_alpha: float = 0.0) -> Any:
    """A cached stage: a reward model finetuned from `model` on `train` with soft labels `p_chosen` = P(chosen
    better) (1.0 = ground truth; `labels` names where they came from), then scored on every pair of `predict`:
    prob = s(r(chosen) - r(rejected)), gold = 1. Output records per pair: reward_chosen, reward_rejected, margin.
    `reverse_alpha` > 0 adds the explicit-conflict term (engine.ml.trl_trainers.SoftRewardTrainer)."""
    lr = exp.lr_for(model, role)
    payload = {"loss": dataclasses.asdict(loss), "lr": lr,
               "train": exp.train_identity(role, grad_accum=False, generates=False),
               "labels": labels,
               "train_pairs": pairs_digest(train), "predict": {s: pairs_digest(p) for s, p in predict.items()}}
    if reverse_alpha:
        payload["reverse_alpha"] = reverse_alpha  # absent when 0, so stages of earlier runs keep their keys
    train_labels = dict(zip(train.ids, (float(p) for p in p_chosen)))

    def compute(key: str):
        from engine.models import resolve_model

        cfg, ctx = exp.train_for(role), exp.ctx
        rm, tok = train_reward_model(resolve_model(model), cfg, lr, train, np.asarray(p_chosen, dtype=np.float64),
                                     loss, exp.spec.seed, ctx, role, key, reverse_alpha)
        if cfg.keep_weights:
            from engine.ml.weights import keep

            keep(rm, tok, ctx, key, role, resolve_model(model).source)
        rows = {}
        for split, pairs in predict.items():
            r_c, r_r = reward_scores(rm, tok, pairs, cfg, ctx, f"{role}: score {split}")
            rows[split] = {"id": list(pairs.ids), "prob": sigmoid(r_c - r_r).tolist(), "gold": [1] * len(pairs),
                           "label_prob": [train_labels.get(i) for i in pairs.ids],
                           "output": [{"reward_chosen": float(c), "reward_rejected": float(r), "margin": float(c - r)}
                                      for c, r in zip(r_c, r_r)]}
        return rows, {"n_train_pairs": float(len(train))}

    return exp.cached(role, "reward_model", model, payload, compute, version=REWARD_VERSION)
