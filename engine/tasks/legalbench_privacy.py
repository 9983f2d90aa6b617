"""LegalBench privacy-policy QA (Ye et al. 2024's legal reasoning task): is this clause relevant to the question?

Source: nguha/legalbench, configuration privacy_policy_qa (Guha et al. 2023; columns `question`, `text` = a
privacy-policy clause, `answer` = "Relevant" or "Irrelevant"). The hub's train split holds only a few
few-shot examples, so every pool is read from its test split and split_examples carves the run's own test
set out of it. Text = "Clause: ...\\nQuestion: ...\\nIs the clause relevant to the question?", label 1 = relevant.
"""

from __future__ import annotations

from typing import Any

from engine.registry import TASKS
from engine.tasks._hub import HubTask, clean
from engine.tasks.base import Example, TaskError, make_example


@TASKS.register("legalbench_privacy")
class LegalBenchPrivacy(HubTask):
    """LegalBench privacy_policy_qa (nguha/legalbench): a privacy-policy clause and a question; label 1 = the clause
    is relevant to the question. Balanced accuracy and weighted F1 are reported with accuracy."""

    version = "1"
    label_names = ("irrelevant", "relevant")
    hub_id = "nguha/legalbench"
    hub_config = "privacy_policy_qa"
    hub_splits = {"train": "test"}
    columns = ("question", "text", "answer")

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        question, clause, answer = clean(row["question"]), clean(row["text"]), clean(row["answer"]).lower()
        if not question or not clause:
            return []
        if answer not in ("relevant", "irrelevant"):
            raise TaskError(f"column 'answer' holds {row['answer']!r}; expected Relevant or Irrelevant. Fix: check the "
                            "data_files copy")
        text = f"Clause: {clause}\nQuestion: {question}\nIs the clause relevant to the question?"
        return [make_example(text, answer == "relevant", question=question)]
