"""Cosmos QA: is this the most plausible answer to a commonsense question about a short story?

Source: allenai/cosmos_qa (Huang et al. 2019; context, question, answer0-3, label = index of the right
answer; train 25,262 / validation 2,985; the test split has no labels). The test pool is validation, as
in openai/weak-to-strong. Should the repo's main branch still hold a loading script, the hub's parquet
conversion (revision refs/convert/parquet) is read instead. Format:

    Context: I forgot my umbrella at home and the walk to the office took twenty minutes ...
    Question: What may have happened on my way to work ?
    Answer: I got wet in the rain .

Label 1 = the answer shown is the right one, 0 = one of the other candidates. A seeded coin flip per
question (`seeded_rng(seed, context, question)`) picks which; with `pairs` both are emitted.

"None of the above choices ." refers to a list of choices that the binary format never shows, so it is
never shown: questions whose right answer is it are dropped, and it is never picked as the wrong
candidate. openai/weak-to-strong instead forces label 0 on every such question,
which skews the labels and teaches "this answer is wrong" for answers that are right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.registry import TASKS
from engine.tasks._hub import HubTask, PairedHubConfig, clean
from engine.tasks.base import Example, make_example, seeded_rng


def _none_of_the_above(answer: str) -> bool:
    return answer.lower().startswith("none of the above")


@TASKS.register("cosmos_qa")
class CosmosQA(HubTask):
    """Cosmos QA (allenai/cosmos_qa) as "Context: ...\\nQuestion: ...\\nAnswer: ..."; label 1 = right answer,
    0 = another candidate. "None of the above" is never shown. Test pool = the validation split."""

    version = "1"
    label_names = ("wrong answer", "right answer")
    hub_id = "allenai/cosmos_qa"
    hub_splits = {"train": "train", "test": "validation"}
    columns = ("context", "question", "answer0", "answer1", "answer2", "answer3", "label")

    @dataclass
    class Config(PairedHubConfig):
        """Settings of the cosmos_qa task (the shared hub settings plus `pairs`)."""

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        context, question = clean(row["context"]), clean(row["question"])
        answers = [clean(row[f"answer{i}"]) for i in range(4)]
        try:
            right_index = int(row["label"])
        except (TypeError, ValueError):
            return []
        if not context or not question or right_index not in range(4):  # unlabelled rows carry -1
            return []
        right = answers[right_index]
        others = [i for i, a in enumerate(answers) if a and a != right and not _none_of_the_above(a)]
        if not right or _none_of_the_above(right) or not others:
            return []
        rng = seeded_rng(self.config.seed, context, question)
        wrong_index = rng.choice(others)
        show_right = rng.random() < 0.5
        prompt = f"Context: {context}\nQuestion: {question}\nAnswer: "
        meta = {"question": question, "right_index": right_index}
        if "id" in row:
            meta["source_id"] = row["id"]
        right_ex = make_example(prompt + right, 1, shown_index=right_index, **meta)
        wrong_ex = make_example(prompt + answers[wrong_index], 0, shown_index=wrong_index, **meta)
        if self.config.pairs:
            return [right_ex, wrong_ex]
        return [right_ex if show_right else wrong_ex]
