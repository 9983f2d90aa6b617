"""SciQ: is this the right answer to a science exam question?

Source: allenai/sciq (Welbl et al. 2017; parquet with question, distractor1-3, correct_answer, support;
train 11,679 / test 1,000 questions). Format as openai/weak-to-strong:

    Q: Which particle of an atom carries a negative charge? A: electron

Label 1 = the answer shown is the correct answer, 0 = it is one of the three distractors.

Per question a seeded coin flip (`seeded_rng(seed, question)`) picks which of the two to show, and the same
generator picks the distractor, so a question always gives the same example. With `pairs` on, both
the correct answer and that distractor are emitted. The flip is the default because split_examples places
examples independently: with pairs, the weak model could train on a question in half A and then label the
same question in half B, which would flatter its labels. The support paragraph is kept in meta but not
shown (Burns et al. show question and answer only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.registry import TASKS
from engine.tasks._hub import HubTask, PairedHubConfig, clean
from engine.tasks.base import Example, make_example, seeded_rng


@TASKS.register("sciq")
class SciQ(HubTask):
    """SciQ science questions (allenai/sciq) as "Q: {question} A: {answer}"; label 1 = correct answer,
    0 = a distractor. One seeded coin flip per question, or both with `pairs`."""

    version = "1"
    label_names = ("wrong answer", "correct answer")
    hub_id = "allenai/sciq"
    hub_splits = {"train": "train", "test": "test"}
    columns = ("question", "distractor1", "distractor2", "distractor3", "correct_answer", "support")

    @dataclass
    class Config(PairedHubConfig):
        """Settings of the sciq task (the shared hub settings plus `pairs`)."""

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        question, correct = clean(row["question"]), clean(row["correct_answer"])
        distractors = [d for d in (clean(row[f"distractor{i}"]) for i in (1, 2, 3)) if d and d != correct]
        if not question or not correct or not distractors:
            return []
        rng = seeded_rng(self.config.seed, question)
        wrong = rng.choice(distractors)
        show_correct = rng.random() < 0.5
        meta = {"question": question, "correct_answer": correct, "support": clean(row["support"])}
        right_ex = make_example(f"Q: {question} A: {correct}", 1, answer=correct, **meta)
        wrong_ex = make_example(f"Q: {question} A: {wrong}", 0, answer=wrong, **meta)
        if self.config.pairs:
            return [right_ex, wrong_ex]
        return [right_ex if show_correct else wrong_ex]
