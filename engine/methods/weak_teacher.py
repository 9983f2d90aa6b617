"""`weak_teacher`: a weak LLM as the preference teacher (Tao & Li 2024).

The training pool (halves A and B together) is split into a labelled part D_l (`labelled_frac` of it) and
an unlabelled rest D_u. The weak policy is SFT'd on D_l's chosen responses and DPO-trained on D_l; it labels
every pair of D_u by its implicit reward r(x, y) = beta * log(pi(y|x) / pi_ref(y|x)) (pi_ref = the weak
policy after SFT): the response with the higher reward becomes chosen. The student (the strong model) is
trained the same way (SFT on the chosen side, then DPO) on the weak-labelled D_u; the reference student is
trained on D_u's human (ground-truth) labels and takes the ceiling's place in the PGR.

Reported: the three models' accuracy on test pairs (right = the policy gives the gold-chosen response the
higher log-probability), the weak labels' agreement with the human labels on D_u, and on the mismatched
pairs the share where the weak choice is better by the gold scorer (a disclosed choice: the world's fact
checker on the world tasks, or `reward_model:<model>`). With a gold scorer, each policy also completes the
test prompts and the gold scorer rates them (gold reward; the paper's headline), with the student's win
rate against the human-labelled policy.
"""

from dataclasses import dataclass, field

import numpy as np

from engine.config import MethodConfig
from engine.methods import Method
from engine.ml.losses import PolicyLoss
from engine.ml.pairs import Pairs
from engine.ml.scorers import check_scorer_name, resolve_scorer
from engine.registry import METHODS
from engine.run.policy_stages import Recipe, policy_stage


@dataclass
class WeakTeacherConfig(MethodConfig):
    labelled_frac: float = field(default=0.25, metadata={
        "help": "Share of the training pool with human labels (D_l) for the weak teacher; the paper's "
                "ablation spans 1/16 to 1/2."})
    beta: float = field(default=0.1, metadata={"help": "DPO beta, for the teacher's implicit reward and both students."})
    sft_epochs: float = field(default=1.0, metadata={"help": "Epochs of SFT on the chosen responses first."})
    po_epochs: float = field(default=2.0, metadata={"help": "Epochs of DPO."})
    gold_scorer: str = field(default="auto", metadata={
        "help": "Judge of the gold reward: auto (the world's fact checker on world tasks, else none), none, "
                "world_facts, or reward_model:<folder or hub id>."})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "Length of each test completion the gold scorer rates; empty = the task's default (8 on the world)."})

    def __post_init__(self):
        if not 0 < self.labelled_frac < 1:
            raise ValueError(f"labelled_frac={self.labelled_frac} must be in (0, 1), e.g. 0.25")
        if self.beta <= 0 or self.po_epochs <= 0 or self.sft_epochs < 0:
            raise ValueError("beta and po_epochs must be > 0, sft_epochs >= 0")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={self.max_new_tokens} must be >= 1")
        check_scorer_name(self.gold_scorer)


def gold_reward_metrics(role_records: dict[str, list[dict]]) -> dict[str, float]:
    """Mean gold score of each role's test completions, and the student's win rate over the ceiling (ties 1/2)."""
    out: dict[str, float] = {}
    scores = {role: np.array([r.get("gold_score") for r in recs], dtype=np.float64)
              for role, recs in role_records.items()}
    for role, s in scores.items():
        if len(s) and not np.isnan(s).any():
            out[f"{role}_gold_reward"] = float(s.mean())
    if "student_gold_reward" in out and "ceiling_gold_reward" in out:
        a, b = scores["student"], scores["ceiling"]
        out["student_win_rate"] = float(((a > b) + 0.5 * (a == b)).mean())
    return out


@METHODS.register("weak_teacher")
class WeakTeacher(Method):
    """A DPO-trained weak policy labels unlabelled pairs by its implicit reward; the strong student learns them by
    DPO, compared with the same student on the human labels (Tao & Li 2024)."""

    Config = WeakTeacherConfig
    task_kinds = ("preference",)

    def run(self, exp, cfg: WeakTeacherConfig):
        spec = exp.spec
        pool = exp.ids("A") + exp.ids("B")
        n_labelled = min(len(pool) - 2, max(2, int(round(cfg.labelled_frac * len(pool)))))
        exp.add_split("L", pool[:n_labelled])
        exp.add_split("U", pool[n_labelled:])
        labelled, unlabelled, test = (Pairs.of(exp.examples(exp.ids(s))) for s in ("L", "U", "test"))
        scorer = resolve_scorer(cfg.gold_scorer, spec.task_config)
        generate_on = ("test",) if scorer is not None else ()
        loss = PolicyLoss("dpo", beta=cfg.beta)
        teacher = Recipe(loss, cfg.sft_epochs, cfg.po_epochs, score="implicit")
        student_recipe = Recipe(loss, cfg.sft_epochs, cfg.po_epochs, score="policy")
        gen = {"generate_on": generate_on, "scorer": scorer, "max_new_tokens": exp.max_new_tokens(cfg.max_new_tokens)}

        weak = policy_stage(exp, "weak", spec.weak, teacher, labelled, {"U": unlabelled, "test": test}, **gen)
        p_weak = weak.preds["U"].aligned(unlabelled.ids)  # P(gold chosen > gold rejected) by the implicit reward
        agree = p_weak >= 0.5
        student = policy_stage(exp, "student", spec.strong, student_recipe, unlabelled.oriented(agree),
                               {"test": test}, labels=f"{weak.key}:U",
                               train_labels=dict(zip(unlabelled.ids, p_weak.tolist())), **gen)
        human = policy_stage(exp, "ceiling", spec.strong, student_recipe, unlabelled, {"test": test}, **gen)

        extra: dict[str, float | str] = {"n_labelled": float(len(labelled)), "n_unlabelled": float(len(unlabelled)),
                                         "label_agreement": float(agree.mean()),
                                         "gold_scorer": getattr(scorer, "description", "none")}
        mismatched = unlabelled.subset(~agree)
        if scorer is not None and len(mismatched):
            metas = [e.meta for e in exp.examples(mismatched.ids)]
            weak_choice = scorer.score(mismatched.prompts, mismatched.rejected, metas)
            human_choice = scorer.score(mismatched.prompts, mismatched.chosen, metas)
            extra["mismatch_weak_better"] = float((weak_choice > human_choice).mean())
        else:
            extra["mismatch_weak_better_reason"] = ("no mismatched pair" if scorer is not None else
                                                   "no gold scorer: set gold_scorer to judge the mismatched pairs")
        if scorer is not None:
            ids = test.ids
            extra.update(gold_reward_metrics({role: r.output("test", ids) for role, r in
                                              (("weak", weak), ("student", student), ("ceiling", human))}))
        return exp.summarize(weak, student, human, extra)
