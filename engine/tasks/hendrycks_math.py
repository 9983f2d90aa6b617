"""MATH (Hendrycks et al. 2021): competition problems with LaTeX solutions whose answer sits in \\boxed{}.

Source: EleutherAI/hendrycks_math (columns `problem`, `solution`, `level`, `type`; one configuration per subject,
`subject` picks one, e.g. algebra). Prompt as in Yang, Ma, Liu 2024: "Question: {problem}\\nAnswer:"; the
reference completion is the solution followed by "The answer is: <answer>", the format the paper trains
on; answers are read from "The answer is" (else the last \\boxed{}) and compared by mathematical equivalence
(math-verify). Generation stops at the next "Question:".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.registry import TASKS
from engine.tasks._answers import math_answer, math_equal
from engine.tasks._hub import HubConfig, HubTask, clean
from engine.tasks.base import Example, TaskError, make_example

SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory", "prealgebra",
            "precalculus")


@TASKS.register("hendrycks_math")
class HendrycksMath(HubTask):
    """MATH (EleutherAI/hendrycks_math): competition problems; a generation task answered with 'The answer is: X'."""

    kind = "generation"
    version = "2"  # 2: a boxed answer after "The answer is" is read as its content
    label_names = ("wrong", "right")
    stop = ("Question:",)  # a base model runs on into the next question; the answer is before it
    max_length = 2048  # room for the in-context demonstrations of progressive_refine and a solution
    max_new_tokens = 512
    hub_id = "EleutherAI/hendrycks_math"
    hub_splits = {"train": "train", "test": "test"}
    columns = ("problem", "solution")
    hub_config: ClassVar[str | None] = "algebra"

    @dataclass
    class Config(HubConfig):
        """Settings of the MATH task (the shared hub settings and the subject)."""

        subject: str = field(default="algebra", metadata={"help": f"One of {', '.join(SUBJECTS)}."})

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.subject not in SUBJECTS:
                raise TaskError(f"subject={self.subject!r} is not one of {', '.join(SUBJECTS)}")

    def __init__(self, config=None):
        super().__init__(config)
        self.hub_config = self.config.subject

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        problem, sol = clean(row["problem"]), clean(row["solution"])
        answer = math_answer(sol)
        if not problem or not answer:
            return []
        return [make_example(f"Question: {problem}\nAnswer:", 1, answer=answer,
                             completion=f" {sol}\nThe answer is: {answer}", level=row.get("level"),
                             type=row.get("type"))]

    @staticmethod
    def extract_answer(text: str) -> str:
        return math_answer(text)

    @staticmethod
    def same_answer(gold: str, answer: str) -> bool:
        """Mathematical equivalence (math-verify), not string equality."""
        return math_equal(gold, answer)
