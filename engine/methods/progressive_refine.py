"""`progressive_refine`: weak-to-strong reasoning by progressive refinement (Yang, Ma, Liu 2024).

Stage I, selection by final-answer consistency: the weak model (SFT on half A's gold solutions) solves every
half-B question; the strong base model solves it in-context with `icl_k` demonstrations drawn from the weak
model's own solutions to other questions; questions whose two final answers are non-empty and equal are
kept. The strong model is finetuned on the kept weak solutions, the kept in-context ones, or both
("hybrid"); with `iterations: 2` that model regenerates both views and the selection runs again.
Stage II, contrastive pairs: the Stage I model samples `n_samples` solutions per B question (temperature 1);
the majority answer and its share c decide (`build_pairs`): skip when c < min_conf or the majority is empty;
if the weak answer is the majority, the weak solution is chosen and a non-majority sample rejected (none:
"too easy", skipped); else, if c >= tau, a majority sample is chosen and the weak solution rejected; up to
`max_pairs` per question. The Stage I model is then trained with DPO or ORPO (trl) on the pairs.

Gold answers of half B are never used for training, only to report the label accuracy of the selected set
and of the chosen side. Every model is scored on test by exact match of its greedy final answer (the task's
extractor) and pass@k over `pass_k` samples. The weak model is the floor, the strong model SFT'd on A's gold
solutions the ceiling; PGR is reported for each stage. The models' weights are not kept: Stage II retrains
the Stage I model from its (cached, deterministic) data before preference training.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from engine.config import ConfigError, MethodConfig
from engine.methods import Method
from engine.metrics import pgr
from engine.ml.chat import Format
from engine.ml.generation import Sampling, generate
from engine.ml.losses import PolicyLoss
from engine.ml.pairs import Pairs
from engine.registry import METHODS
from engine.run.policy_stages import digest

# Code version of this method's stages (engine.run.stages.Experiment.cached); 2: fp32 master weights, chat templates,
# stop strings, answer equivalence.
REASONER_VERSION = 2


@dataclass
class ProgressiveRefineConfig(MethodConfig):
    icl_k: int = field(default=3, metadata={"help": "In-context demonstrations (weak solutions) per question."})
    stage1_data: Literal["weak", "icl", "hybrid"] = field(default="hybrid", metadata={
        "help": "Stage I finetuning set: the selected weak solutions, the in-context ones, or both (hybrid)."})
    iterations: int = field(default=1, metadata={"help": "Stage I rounds (2: the finetuned model regenerates both "
                                                         "views and selection runs again)."})
    n_samples: int = field(default=10, metadata={"help": "Stage II samples per question (temperature below)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of Stage II and pass@k."})
    min_conf: float = field(default=0.6, metadata={"help": "Skip a question whose majority share is below this."})
    tau: float = field(default=0.8, metadata={"help": "Majority share needed to reject the weak solution."})
    max_pairs: int = field(default=1, metadata={"help": "Contrastive pairs per question (paper: 1 GSM8K, 3 MATH)."})
    po_loss: Literal["dpo", "orpo"] = field(default="dpo", metadata={"help": "Stage II loss (trl DPO or ORPO)."})
    beta: float = field(default=0.1, metadata={"help": "DPO beta / ORPO lambda."})
    sft_epochs: float = field(default=3.0, metadata={"help": "Epochs of every SFT (weak, Stage I, ceiling)."})
    po_epochs: float = field(default=2.0, metadata={"help": "Epochs of Stage II preference training."})
    po_lr_scale: float = field(default=0.1, metadata={
        "help": "Stage II learning rate as a share of the SFT rate (preference training at the SFT rate collapses "
                "small models' generations; DPO recipes use about a tenth)."})
    pass_k: int = field(default=10, metadata={"help": "Samples per test question for pass@k (0 = skip)."})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "Length of every generated solution; empty = the task's default (arith_sums 32, gsm8k 256, "
                "hendrycks_math 512)."})

    def __post_init__(self):
        if self.stage1_data not in ("weak", "icl", "hybrid"):
            raise ValueError(f"stage1_data={self.stage1_data!r} must be weak, icl or hybrid")
        if self.po_loss not in ("dpo", "orpo"):
            raise ValueError(f"po_loss={self.po_loss!r} must be dpo or orpo")
        if self.iterations not in (1, 2):
            raise ValueError(f"iterations={self.iterations} must be 1 or 2")
        if self.icl_k < 0 or self.n_samples < 2 or self.max_pairs < 1 or self.pass_k < 0:
            raise ValueError("icl_k >= 0, n_samples >= 2, max_pairs >= 1 and pass_k >= 0 are needed")
        if not 0 < self.min_conf <= self.tau <= 1:
            raise ValueError(f"need 0 < min_conf ({self.min_conf}) <= tau ({self.tau}) <= 1")
        if self.temperature <= 0:
            raise ValueError(f"temperature={self.temperature} must be > 0 (samples must differ)")
        if not 0 < self.po_lr_scale <= 1:
            raise ValueError(f"po_lr_scale={self.po_lr_scale} must be in (0, 1]")


# ---------------------------------------------------------------------------------------------- the two rules
def _equal(a: str, b: str) -> bool:
    return a == b


def select_consistent(weak_answers: list[str], icl_answers: list[str], same=_equal) -> np.ndarray:
    """Stage I: keep a question when both final answers are non-empty and the same (`same`: the task's equivalence,
    e.g. math-verify's for MATH, else equality after normalisation)."""
    return np.array([bool(w) and bool(i) and same(w, i) for w, i in zip(weak_answers, icl_answers)])


def canonical(answers: list[str], same=_equal) -> list[str]:
    """Each answer replaced by the first earlier answer it is the same as (votes count equivalent answers together:
    "0.5" and "\\frac{1}{2}" are one vote for MATH)."""
    reps: list[str] = []
    out = []
    for a in answers:
        rep = next((r for r in reps if a and r and same(r, a)), None) if a else ""
        if rep is None:
            reps.append(rep := a)
        out.append(rep)
    return out


def build_pairs(weak_solution: str, weak_answer: str, samples: list[str], answers: list[str], min_conf: float,
                tau: float, max_pairs: int, same=_equal) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    """Stage II for one question: [(chosen, rejected, role)] and what the vote said (equivalent answers vote
    together). Roles: weak_chosen, weak_rejected. Outcomes: low_conf / empty_majority (skipped), too_easy (weak =
    majority, no other sample), weak_chosen, weak_rejected, weak_disagrees (weak not the majority and c < tau)."""
    answers = canonical(answers, same)
    votes = Counter(answers)
    majority, count = votes.most_common(1)[0] if votes else ("", 0)
    conf = count / len(answers) if answers else 0.0
    info: dict[str, Any] = {"votes": dict(votes), "majority": majority, "confidence": conf}
    if not majority:
        return [], {**info, "outcome": "empty_majority"}
    if conf < min_conf:
        return [], {**info, "outcome": "low_conf"}
    if weak_answer and same(weak_answer, majority):
        others = list(dict.fromkeys(s for s, a in zip(samples, answers) if a != majority))
        if not others:
            return [], {**info, "outcome": "too_easy"}
        return [(weak_solution, r, "weak_chosen") for r in others[:max_pairs]], {**info, "outcome": "weak_chosen"}
    if conf >= tau:
        winners = list(dict.fromkeys(s for s, a in zip(samples, answers) if a == majority))
        return [(c, weak_solution, "weak_rejected") for c in winners[:max_pairs]], {**info, "outcome": "weak_rejected"}
    return [], {**info, "outcome": "weak_disagrees"}


def pass_at_k(answers: list[list[str]], gold: list[str], same=_equal) -> float:
    """Share of questions with at least one sampled answer the same as the gold one."""
    return float(np.mean([any(x and same(g, x) for x in a) for a, g in zip(answers, gold)])) if gold else 0.0


# ---------------------------------------------------------------------------------------------- the stages
class Refinement:
    """A run's shared pieces: prompts, gold answers, the task's answer extractor, and training helpers."""

    def __init__(self, exp, cfg: ProgressiveRefineConfig):
        from engine.registry import TASKS

        self.exp, self.cfg = exp, cfg
        task = TASKS.get(exp.spec.task)
        self.extract = getattr(task, "extract_answer", None)
        self.same = getattr(task, "same_answer", None) or _equal  # gold first, as math-verify takes them
        self.tokens = exp.max_new_tokens(cfg.max_new_tokens)
        if self.extract is None:
            raise ConfigError(f"task '{exp.spec.task}' has no answer extractor; progressive_refine runs on reasoning "
                              "tasks (arith_sums, gsm8k, hendrycks_math)")
        self.ids = {s: exp.ids(s) for s in ("A", "B", "test")}
        self.prompts = {s: exp.texts(ids) for s, ids in self.ids.items()}
        self.gold = {s: [e.meta.get("answer", "") for e in exp.examples(ids)] for s, ids in self.ids.items()}
        refs = [e.meta.get("completion") for e in exp.examples(self.ids["A"])]
        if any(r is None for r in refs):
            raise ConfigError(f"task '{exp.spec.task}' gives no reference solution (meta 'completion') for half A")
        self.refs = refs

    # -- models --------------------------------------------------------------------------------------------
    def finetuned(self, model: str, role: str, prompts: list[str], completions: list[str], key: str):
        from engine.ml.loading import load_policy
        from engine.ml.trl_trainers import sft
        from engine.models import resolve_model

        exp = self.exp
        policy, tok = load_policy(resolve_model(model), exp.train_for(role))
        if prompts:
            policy = sft(policy, tok, prompts, completions, exp.train_for(role), exp.lr_for(model, role),
                         self.cfg.sft_epochs, exp.spec.seed, exp.ctx, role, key)
        return policy, tok

    def solve(self, policy, tok, prompts: list[str], role: str, what: str) -> tuple[list[str], list[str]]:
        texts = generate(policy, tok, prompts, self.tokens, self.exp.train_for(role), self.exp.ctx,
                         f"{role}: {what}", stop=self.exp.stop)
        return texts, [self.extract(t) for t in texts]

    def sample(self, policy, tok, prompts: list[str], n: int, role: str, what: str, keys: list[str]):
        sampling = Sampling(n=n, temperature=self.cfg.temperature, seed=self.exp.spec.seed)
        groups = generate(policy, tok, prompts, self.tokens, self.exp.train_for(role), self.exp.ctx,
                          f"{role}: {what}", sampling, keys=[f"{what}:{k}" for k in keys], stop=self.exp.stop)
        return groups, [[self.extract(t) for t in g] for g in groups]

    def icl_prompts(self, solutions: list[str], seed_salt: str, sep: str) -> list[str]:
        """Each B question after `icl_k` demonstrations (other B questions with the given solutions), each
        demonstration closed by `sep` (the tokenizer's end-of-text: how documents are separated in pretraining)."""
        k, prompts = self.cfg.icl_k, self.prompts["B"]
        rng = random.Random(f"icl:{self.exp.spec.seed}:{seed_salt}")
        out = []
        for i, question in enumerate(prompts):
            others = [j for j in range(len(prompts)) if j != i]
            demos = rng.sample(others, min(k, len(others)))
            out.append("".join(prompts[j] + solutions[j] + sep for j in demos) + question)
        return out

    def right(self, answers: list[str], gold: list[str]) -> list[float]:
        """1.0 where an answer is non-empty and the same as the gold one (the task's equivalence), else 0.0."""
        return [float(bool(a) and bool(g) and self.same(g, a)) for a, g in zip(answers, gold)]

    # -- test rows -----------------------------------------------------------------------------------------
    def test_rows(self, policy, tok, role: str) -> tuple[dict[str, list], dict[str, float]]:
        texts, answers = self.solve(policy, tok, self.prompts["test"], role, "solve test")
        gold = self.gold["test"]
        correct = self.right(answers, gold)
        records = [{"solution": t, "answer": a} for t, a in zip(texts, answers)]
        facts = {"acc": float(np.mean(correct))}
        if self.cfg.pass_k:
            _, sampled = self.sample(policy, tok, self.prompts["test"], self.cfg.pass_k, role, "pass@k samples",
                                     self.ids["test"])
            for r, a in zip(records, sampled):
                r["pass_k_answers"] = a
            facts["pass_k"] = pass_at_k(sampled, gold, self.same)
        ids = self.ids["test"]
        return {"id": ids, "prob": correct, "gold": [1] * len(ids), "output": records}, facts

    def b_rows(self, records: list[dict[str, Any]], correct: list[float]) -> dict[str, list]:
        ids = self.ids["B"]
        return {"id": ids, "prob": correct, "gold": [1] * len(ids), "output": records}

    def payload(self, model: str, role: str, **extra: Any) -> dict[str, Any]:
        """What every stage of this method keys on, with the learning rate `role` trains `model` at."""
        c = self.cfg
        return {"train": self.exp.train_identity(role, epochs=False), "lr": self.exp.lr_for(model, role),
                "sft_epochs": c.sft_epochs, "max_new_tokens": self.tokens, "pass_k": c.pass_k,
                "temperature": c.temperature, **extra}




@METHODS.register("progressive_refine")
class ProgressiveRefine(Method):
    """Weak-to-strong reasoning: Stage I keeps the questions where the weak model's and the strong model's
    in-context answers agree and finetunes on them; Stage II builds contrastive pairs from the finetuned model's
    own samples against the weak solutions and trains with DPO or ORPO (Yang, Ma, Liu 2024)."""

    Config = ProgressiveRefineConfig
    task_kinds = ("generation",)

    def run(self, exp, cfg: ProgressiveRefineConfig):
        spec, r = exp.spec, Refinement(exp, cfg)
        weak = self._weak(exp, r)
        weak_sol = [o["solution"] for o in weak.output("B", r.ids["B"])]
        stage1 = self._stage1(exp, r, weak.key, weak_sol)
        student = self._stage2(exp, r, weak.key, weak_sol, stage1)
        ceiling = self._ceiling(exp, r)

        out_b = student.output("B", r.ids["B"])
        sel = stage1.output("B", r.ids["B"])  # derived from the stored rows, so a cached stage reports the same
        keep = [i for i, x in enumerate(sel) if x["selected"]]
        extra: dict[str, Any] = {
            "stage1_selected": float(len(keep)),
            "stage1_selected_label_acc": float(np.mean(r.right([sel[i]["weak_answer"] for i in keep],
                                                                [r.gold["B"][i] for i in keep]))),
            "stage1_icl_acc_B": float(np.mean(r.right([x["icl_answer"] for x in sel], r.gold["B"]))),
            "weak_acc_B": float(np.mean(r.right([x["weak_answer"] for x in sel], r.gold["B"])))}
        outcomes = Counter(o["outcome"] for o in out_b)
        pairs = [p for o in out_b for p in o["pairs"]]
        extra.update({f"stage2_{k}": float(v) for k, v in outcomes.items()})
        extra["stage2_pairs"] = float(len(pairs))
        chosen_right = [p["chosen_right"] for p in pairs]
        extra["stage2_chosen_label_acc"] = float(np.mean(chosen_right)) if chosen_right else None
        for role, res in (("weak", weak), ("stage1", stage1), ("student", student), ("ceiling", ceiling)):
            recs = res.output("test", r.ids["test"])
            if cfg.pass_k:
                extra[f"{role}_pass_k"] = pass_at_k([x.get("pass_k_answers", []) for x in recs], r.gold["test"],
                                                    r.same)
        accs = {role: float(np.mean(res.preds["test"].aligned(r.ids["test"]) >= 0.5))
                for role, res in (("weak", weak), ("stage1", stage1), ("ceiling", ceiling))}
        extra["stage1_acc"] = accs["stage1"]
        result = pgr(accs["weak"], accs["stage1"], accs["ceiling"], spec.pgr_min_gap)
        extra["stage1_pgr"] = result.value
        if result.value is None:
            extra["stage1_pgr_reason"] = result.reason
        return exp.summarize(weak, student, ceiling, extra)

    # Stage 0: the weak model finetuned on A's gold solutions, solving B and test.
    def _weak(self, exp, r: Refinement):
        def compute(key):
            policy, tok = r.finetuned(exp.spec.weak, "weak", r.prompts["A"], r.refs, key)
            texts, answers = r.solve(policy, tok, r.prompts["B"], "weak", "solve B")
            test, facts = r.test_rows(policy, tok, "weak")
            rows = {"B": r.b_rows([{"solution": t, "answer": a} for t, a in zip(texts, answers)],
                                  r.right(answers, r.gold["B"])), "test": test}
            return rows, {"weak_acc_B": float(np.mean(r.right(answers, r.gold["B"])))}

        return exp.cached("weak", "reasoner", exp.spec.weak, r.payload(exp.spec.weak, "weak", data="gold-A",
                                                                       pass_k_on="test"), compute,
                          version=REASONER_VERSION)

    # Stage I: in-context solutions, consistency selection, finetuning (one or two rounds).
    def _stage1_data(self, r: Refinement, weak_sol: list[str], weak_ans: list[str], icl_sol: list[str],
                     icl_ans: list[str]) -> tuple[list[str], list[str], np.ndarray]:
        keep = select_consistent(weak_ans, icl_ans, r.same)
        prompts, completions = [], []
        for i in np.flatnonzero(keep):
            if r.cfg.stage1_data in ("weak", "hybrid"):
                prompts.append(r.prompts["B"][i])
                completions.append(weak_sol[i])
            if r.cfg.stage1_data in ("icl", "hybrid") and (r.cfg.stage1_data == "icl" or icl_sol[i] != weak_sol[i]):
                prompts.append(r.prompts["B"][i])
                completions.append(icl_sol[i])
        return prompts, completions, keep

    def _stage1_model(self, exp, r: Refinement, weak_sol: list[str], key: str):
        """Train the Stage I model from the weak solutions (the same steps whenever it is needed), returning it with
        the per-question record of the last round and its facts."""
        from engine.ml.loading import load_policy
        from engine.models import resolve_model

        cfg = r.cfg
        strong = exp.spec.strong
        base, tok = load_policy(resolve_model(strong), exp.train_for("stage1"), trainable=False)
        view_weak, solver, facts, records = weak_sol, base, {}, []
        for round_ in range(1, cfg.iterations + 1):
            weak_ans = [r.extract(t) for t in view_weak]
            # Demonstrations end with the end-of-text token, as pretraining separates documents (a chat turn: a
            # blank line, since the whole few-shot prompt is one user turn).
            sep = "\n\n" if Format.of(tok, exp.train_for("stage1")).chat else tok.eos_token or "\n\n"
            icl_sol, icl_ans = r.solve(solver, tok, r.icl_prompts(view_weak, f"round{round_}", sep), "stage1",
                                       f"in-context solutions, round {round_}")
            prompts, completions, keep = self._stage1_data(r, view_weak, weak_ans, icl_sol, icl_ans)
            if len(prompts) < 2:
                raise ConfigError(f"Stage I kept {int(keep.sum())} of {len(keep)} questions: the weak and in-context "
                                  "answers almost never agree. Fix: more icl_k, a stronger model or more weak training")
            gold_b = r.gold["B"]
            facts.update({f"stage1_selected_r{round_}": float(keep.sum()),
                          f"stage1_selected_label_acc_r{round_}": float(np.mean(
                              r.right([weak_ans[i] for i in np.flatnonzero(keep)],
                                      [gold_b[i] for i in np.flatnonzero(keep)]))),
                          f"stage1_icl_acc_B_r{round_}": float(np.mean(r.right(icl_ans, gold_b)))})
            records = [{"weak_solution": w, "weak_answer": wa, "icl_solution": s, "icl_answer": a, "selected": bool(k)}
                       for w, wa, s, a, k in zip(view_weak, weak_ans, icl_sol, icl_ans, keep)]
            solver, tok = r.finetuned(strong, "stage1", prompts, completions, f"{key}:r{round_}")
            facts[f"stage1_train_size_r{round_}"] = float(len(prompts))
            if round_ < cfg.iterations:  # the finetuned model regenerates the zero-shot view for the next round
                view_weak, _ = r.solve(solver, tok, r.prompts["B"], "stage1", "zero-shot solutions")
        facts["stage1_selected"] = facts[f"stage1_selected_r{cfg.iterations}"]
        facts["stage1_selected_label_acc"] = facts[f"stage1_selected_label_acc_r{cfg.iterations}"]
        return solver, tok, records, facts

    def _stage1(self, exp, r: Refinement, weak_key: str, weak_sol: list[str]):
        cfg = r.cfg
        payload = r.payload(exp.spec.strong, "stage1", weak=weak_key, icl_k=cfg.icl_k, data=cfg.stage1_data,
                            iterations=cfg.iterations, n_samples=cfg.n_samples)

        def compute(key):
            policy, tok, records, facts = self._stage1_model(exp, r, weak_sol, key)
            groups, answers = r.sample(policy, tok, r.prompts["B"], cfg.n_samples, "stage1", "Stage II samples",
                                       r.ids["B"])
            for rec, g, a in zip(records, groups, answers):
                rec["samples"], rec["sample_answers"] = g, a
            test, test_facts = r.test_rows(policy, tok, "stage1")
            correct_b = r.right([rec["icl_answer"] for rec in records], r.gold["B"])
            return {"B": r.b_rows(records, correct_b), "test": test}, facts

        return exp.cached("stage1", "reasoner", exp.spec.strong, payload, compute, version=REASONER_VERSION)

    # Stage II: contrastive pairs from the Stage I samples against the weak solutions, DPO or ORPO.
    def _stage2(self, exp, r: Refinement, weak_key: str, weak_sol: list[str], stage1):
        cfg = r.cfg
        recs = stage1.output("B", r.ids["B"])
        rows, pairs = [], []
        for i, rec in enumerate(recs):
            made, info = build_pairs(weak_sol[i], r.extract(weak_sol[i]), rec["samples"], rec["sample_answers"],
                                     cfg.min_conf, cfg.tau, cfg.max_pairs, r.same)
            gold = r.gold["B"][i]
            info["pairs"] = [{"chosen": c, "rejected": j, "role": role,
                              "chosen_right": bool(r.right([r.extract(c)], [gold])[0])}
                             for c, j, role in made]
            rows.append(info)
            pairs += [(r.ids["B"][i], r.prompts["B"][i], c, j) for c, j, _ in made]
        if len(pairs) < 2:
            raise ConfigError(f"Stage II built {len(pairs)} contrastive pairs: the Stage I model's samples rarely "
                              "reach a confident majority. Fix: lower min_conf / tau or sample more (n_samples)")
        train = Pairs([f"{p[0]}#{k}" for k, p in enumerate(pairs)], [p[1] for p in pairs], [p[2] for p in pairs],
                      [p[3] for p in pairs])
        loss = PolicyLoss(cfg.po_loss, beta=cfg.beta)
        payload = r.payload(exp.spec.strong, "student", stage1=stage1.key,
                            pairs=digest(train.prompts, train.chosen, train.rejected),
                            loss=[loss.kind, loss.beta], po_epochs=cfg.po_epochs, po_lr_scale=cfg.po_lr_scale)

        def compute(key):
            from engine.ml.scoring import margin, pair_margins
            from engine.ml.trl_trainers import optimize

            policy, tok, _, _ = self._stage1_model(exp, r, weak_sol, stage1.key)
            tcfg = exp.train_for("student")
            before = margin(pair_margins(policy, tok, train, tcfg, loss.bos, exp.ctx, "student: margins"),
                            loss.mean)
            policy = optimize(policy, tok, train, loss, tcfg,
                              cfg.po_lr_scale * exp.lr_for(exp.spec.strong, "student"), cfg.po_epochs, exp.spec.seed,
                              exp.ctx, "student", key)
            after = margin(pair_margins(policy, tok, train, tcfg, loss.bos, exp.ctx, "student: margins"),
                           loss.mean)
            k = 0
            for row in rows:
                for p in row["pairs"]:
                    p["margin_before"], p["margin_after"] = float(before[k]), float(after[k])
                    k += 1
            test, facts = r.test_rows(policy, tok, "student")
            correct_b = [float(bool(row["pairs"]) and all(p["chosen_right"] for p in row["pairs"])) for row in rows]
            return {"B": r.b_rows(rows, correct_b), "test": test}, {
                "stage2_margin_up": float(np.mean(after > before)), "stage2_margin_before": float(before.mean()),
                "stage2_margin_after": float(after.mean())}

        return exp.cached("student", "reasoner", exp.spec.strong, payload, compute, version=REASONER_VERSION)

    # The ceiling: the strong model finetuned on A's gold solutions.
    def _ceiling(self, exp, r: Refinement):
        def compute(key):
            policy, tok = r.finetuned(exp.spec.strong, "ceiling", r.prompts["A"], r.refs, key)
            test, facts = r.test_rows(policy, tok, "ceiling")
            return {"test": test}, {}

        return exp.cached("ceiling", "reasoner", exp.spec.strong, r.payload(exp.spec.strong, "ceiling", data="gold-A"),
                          compute, version=REASONER_VERSION)

