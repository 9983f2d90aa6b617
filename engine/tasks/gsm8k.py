"""GSM8K (Cobbe et al. 2021): grade-school math word problems with worked solutions ending in '#### <number>'.

Source: openai/gsm8k, configuration main (columns `question`, `answer`). Prompt as in Yang, Ma, Liu 2024:
"Question: {question}\\nAnswer:"; meta `completion` = " " + the reference solution, `answer` = the normalised
number after '####' (commas and $ removed). Generated solutions are read the same way, and end before the next
"Question:" (the reference's stop string).
"""

from __future__ import annotations

from typing import Any

from engine.registry import TASKS
from engine.tasks._answers import gsm8k_answer
from engine.tasks._hub import HubTask, clean
from engine.tasks.base import Example, make_example


@TASKS.register("gsm8k")
class GSM8K(HubTask):
    """GSM8K (openai/gsm8k): math word problems; a generation task whose answer follows '####'."""

    kind = "generation"
    version = "1"
    label_names = ("wrong", "right")
    stop = ("Question:",)  # a base model runs on into a next "Question: ... #### 42" that would override its answer
    max_length = 1024  # three demonstrations, the question and a solution (about 200 tokens each) fit
    max_new_tokens = 256
    hub_id = "openai/gsm8k"
    hub_config = "main"
    hub_splits = {"train": "train", "test": "test"}
    columns = ("question", "answer")

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        q, a = clean(row["question"]), clean(row["answer"])
        answer = gsm8k_answer(a)
        if not q or not answer:
            return []
        return [make_example(f"Question: {q}\nAnswer:", 1, answer=answer, completion=" " + a)]

    @staticmethod
    def extract_answer(text: str) -> str:
        return gsm8k_answer(text)
