"""BoolQ: does the passage say yes to the question?

Source: google/boolq (Clark et al. 2019; parquet with question, passage, answer (bool); train 9,427 /
validation 3,270). The hub has no labelled test split, so the test pool is validation, as in
openai/weak-to-strong. Format:

    Passage: The Danube flows through ten countries, more than any other river in the world ...
    Question: does the danube flow through more than five countries?

Label 1 = the answer is yes (true), 0 = no. BoolQ questions are stored lower case without a question
mark; one is added when missing (openai/weak-to-strong shows the bare question). About 62% of the
answers are yes; split_examples balances the classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.registry import TASKS
from engine.tasks._hub import HubConfig, HubTask, as_bool, clean
from engine.tasks.base import Example, make_example


@TASKS.register("boolq")
class BoolQ(HubTask):
    """BoolQ yes/no questions (google/boolq) as "Passage: ...\\nQuestion: ...?"; label 1 = yes.
    Test pool = the validation split."""

    version = "1"
    label_names = ("no", "yes")
    hub_id = "google/boolq"
    hub_splits = {"train": "train", "test": "validation"}
    columns = ("question", "passage", "answer")

    @dataclass
    class Config(HubConfig):
        """Settings of the boolq task (the shared hub settings)."""

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        passage, question = clean(row["passage"]), clean(row["question"])
        if not passage or not question:
            return []
        if not question.endswith("?"):
            question += "?"
        answer = as_bool(row["answer"], "answer")
        return [make_example(f"Passage: {passage}\nQuestion: {question}", int(answer), answer=answer)]
