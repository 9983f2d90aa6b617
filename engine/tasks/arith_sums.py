"""Offline reasoning task: multi-step sums written as text (engine.worlds.arith), solved step by step.

Question `Q: 12 + 7 - 5 + 3 A:`; meta `answer` is the final result and `completion` the worked solution
(" 12 + 7 = 19 . 19 - 5 = 14 . 14 + 3 = 17 . #### 17"). The answer is read after '####'. The arith zoo
(arith-s weak, arith-l strong) is pretrained on this format, so progressive_refine runs on CPU in minutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from engine.registry import TASKS
from engine.tasks.base import Example, Task, TaskConfig, make_example
from engine.worlds.arith import extract_answer, make_problem, question, solution, solve


@TASKS.register("arith_sums")
class ArithSums(Task):
    """Three-step sums of numbers 1-20 as text (offline); a generation task with worked solutions and '####' answers."""

    kind = "generation"
    version = "1"
    max_new_tokens = 32
    label_names = ("wrong", "right")
    loads_locally = True

    @dataclass
    class Config(TaskConfig):
        """How many problems, from which seed."""

        n: int = field(default=1600, metadata={"help": "Number of distinct problems generated."})
        seed: int = field(default=7, metadata={"help": "Problem generator seed (the split seed is separate)."})

    def load(self, limit: int | None = None) -> dict[str, list[Example]]:
        rng = random.Random(f"arith_sums:{self.config.seed}")
        seen, out = set(), []
        while len(out) < min(self.config.n, limit or self.config.n):
            p = make_problem(rng)
            if p in seen:
                continue
            seen.add(p)
            out.append(make_example(question(p), 1, answer=str(solve(p)), completion=solution(p)))
        return {"train": out}

    @staticmethod
    def extract_answer(text: str) -> str:
        return extract_answer(text)
